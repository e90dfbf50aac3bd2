"""Exactly-once in effect, proven against the real broker and store, one test per way an event
can arrive more than once: redelivered at the same offsets, published twice at different
offsets, redelivered with other batch boundaries after a consumer was killed, and consumed by
two replicas through rebalances. (The broker restarting empty is in test_failures.py; a tally
killed between any two of its writes is in tests/integration/test_tally.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bpu_devstack.inprocess import running
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.events import (
    BenefitProgramme,
    ClaimPaid,
    ClaimPaidPayload,
    Event,
    WorkerRegistered,
    WorkerRegisteredPayload,
)
from bpu_shared.metrics import EVENTS_CONSUMED
from bpu_shared.topics import create_topics, plan_topics
from tests.e2e.procs import ServiceProcess
from tests.e2e.test_slice import coverage, wait_committed
from tests.harness import eventually, settings_for, village_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

KAUR_DISTRICTS = [f"17.04.{d:02d}" for d in range(1, 8)]


def new_prefix() -> str:
    return f"x{uuid.uuid4().hex[:8]}."


def worker_events(count: int, tag: str) -> list[WorkerRegistered]:
    events = []
    for i in range(count):
        village = village_in(KAUR_DISTRICTS[i % len(KAUR_DISTRICTS)])
        events.append(
            WorkerRegistered.create(
                WorkerRegisteredPayload(
                    worker_id=f"WK-{tag}-{i:05d}",
                    sponsor_id="SP-kaur",
                    programme_id="PG-kaur-2026",
                    province_code="17",
                    regency_code="17.04",
                    district_code=village.rsplit(".", 1)[0],
                    village_code=village,
                    occupation="farmer",
                    gender="P",
                    declared_monthly_income=1_000_000,
                    benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
                    cover_start="2026-01",
                    registered_at=datetime(2026, 1, 5, tzinfo=UTC),
                ),
                producer="test",
            )
        )
    return events


async def produce(infra, prefix: str, events: Sequence[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        for event in events:
            await producer.send(prefix + event.TOPIC, event.to_wire(), key=event.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def topics_for(infra, prefix: str) -> None:
    settings = settings_for(ReportingSettings, infra, prefix)
    await create_topics(settings, plan_topics(prefix=prefix))


def consumed(group: str, topic: str = WorkerRegistered.TOPIC) -> float:
    return EVENTS_CONSUMED.labels(topic, group)._value.get()


async def kaur_count(service) -> int:
    return int((await coverage(service, "17.04"))["registered_workers"])


async def test_events_redelivered_at_the_same_offsets_count_once(infra):
    prefix = new_prefix()
    settings = settings_for(ReportingSettings, infra, prefix)
    await topics_for(infra, prefix)
    await produce(infra, prefix, worker_events(60, "a"))
    async with running(build_reporting, settings) as rep:
        await eventually(lambda: kaur_count(rep), lambda n: n == 60, timeout=30)
        await wait_committed(infra, rep, prefix + WorkerRegistered.TOPIC)
        group = rep.runtime.group_id

    # Every committed offset back to 0, by a member of the group: it receives all 60 again.
    topic = prefix + WorkerRegistered.TOPIC
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await eventually(
            lambda: consumer.getmany(timeout_ms=200), lambda _: bool(consumer.assignment())
        )
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in consumer.assignment()})
    finally:
        await consumer.stop()

    before = consumed(group)
    async with running(build_reporting, settings) as rep:
        await eventually(lambda: asyncio.sleep(0, consumed(group) - before), lambda n: n >= 60)
        await wait_committed(infra, rep, prefix + WorkerRegistered.TOPIC)
        await asyncio.sleep(1)  # a tally pass after the redelivery
        assert await kaur_count(rep) == 60
        assert await rep.repository.workers.coll.count_documents({}) == 60


async def test_the_same_events_published_twice_at_different_offsets_count_once(infra):
    prefix = new_prefix()
    await topics_for(infra, prefix)
    first = worker_events(40, "b")
    # What a relay killed between publishing and marking does: the same events again, later in
    # their partitions, after others.
    await produce(infra, prefix, first + worker_events(10, "c") + first[:20])
    settings = settings_for(ReportingSettings, infra, prefix)
    group = prefix + settings.service_name
    before = consumed(group)  # read before the consumer starts
    async with running(build_reporting, settings) as rep:
        assert rep.runtime.group_id == group
        await wait_committed(infra, rep, prefix + WorkerRegistered.TOPIC)
        assert consumed(group) - before == 70  # every copy was consumed
        await eventually(lambda: kaur_count(rep), lambda n: n == 50)
        await asyncio.sleep(1)
        assert await kaur_count(rep) == 50


async def test_a_consumer_killed_mid_stream_and_redelivered_in_other_batches_counts_once(
    infra, tmp_path: Path
):
    prefix = new_prefix()
    topic = prefix + WorkerRegistered.TOPIC
    await topics_for(infra, prefix)
    await produce(infra, prefix, worker_events(600, "d"))
    # Small batches, so the kill lands in the middle of the stream, between two batches'
    # writes or inside one (the consumer's, or its tally's).
    replica = ServiceProcess(infra, prefix, "reporting", tmp_path, consumer_max_records=7)
    try:
        replica.wait_ready()
        async with replica.client() as client:

            async def recorded() -> float:
                text = (await client.get("/metrics")).text
                return sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("bpu_events_consumed_total{")
                    and f'topic="{WorkerRegistered.TOPIC}"' in line
                )

            await eventually(recorded, lambda n: n >= 30, timeout=60)
        replica.kill()
    finally:
        replica.stop()
    group = prefix + "reporting"
    assert 0 < await committed_records(infra, group, topic) < 600, "the kill must land mid-stream"

    # Restarted with batches of 500: the uncommitted records come again with other boundaries.
    settings = settings_for(ReportingSettings, infra, prefix, consumer_max_records=500)
    async with running(build_reporting, settings) as rep:
        assert rep.runtime.group_id == group
        await wait_committed(infra, rep, topic)
        await eventually(lambda: kaur_count(rep), lambda n: n == 600, timeout=30)
        await asyncio.sleep(1)
        assert await kaur_count(rep) == 600
        assert await rep.repository.workers.coll.count_documents({}) == 600


async def committed_records(infra, group: str, topic: str) -> int:
    """How many records of ``topic`` the consumer group has committed, over its partitions."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in partitions])
    finally:
        await consumer.stop()


async def test_two_replicas_through_rebalances_count_each_event_once(infra):
    prefix = new_prefix()
    await topics_for(infra, prefix)
    settings = settings_for(ReportingSettings, infra, prefix, consumer_max_records=20)
    events = worker_events(400, "e")

    async def trickle() -> None:
        for start in range(0, len(events), 10):  # about 15 s of arrivals
            await produce(infra, prefix, events[start : start + 10])
            await asyncio.sleep(0.35)

    async with contextlib.AsyncExitStack() as first_stack:
        first = await first_stack.enter_async_context(running(build_reporting, settings))
        feeding = asyncio.create_task(trickle())
        await eventually(lambda: kaur_count(first), lambda n: n > 0, timeout=30)
        async with running(build_reporting, settings) as second:  # the group rebalances
            await asyncio.sleep(1)
            assert not feeding.done(), "the second replica must join while events arrive"
            await first_stack.aclose()  # and again when the first leaves
            await feeding
            await wait_committed(infra, second, prefix + WorkerRegistered.TOPIC)
            await eventually(lambda: kaur_count(second), lambda n: n == 400, timeout=30)
            await asyncio.sleep(1)
            assert await kaur_count(second) == 400


def claims_paid(count: int, tag: str) -> list[ClaimPaid]:
    """JKM death benefits (Rp42m each) paid in Kaur's districts."""
    return [
        ClaimPaid.create(
            ClaimPaidPayload(
                claim_id=f"CL-{tag}-{i:04d}",
                worker_id=f"WK-{tag}-{i:04d}",
                programme_id="PG-kaur-2026",
                benefit=BenefitProgramme.JKM,
                kind="death",
                province_code="17",
                regency_code="17.04",
                district_code=KAUR_DISTRICTS[i % len(KAUR_DISTRICTS)],
                amount_rupiah=42_000_000,
                paid_at=datetime(2026, 3, 2, tzinfo=UTC),
            ),
            producer="test",
        )
        for i in range(count)
    ]


async def test_claims_paid_twice_at_other_offsets_and_again_after_a_restart_count_once(infra):
    prefix = new_prefix()
    await topics_for(infra, prefix)
    claims = claims_paid(12, "f")
    await produce(infra, prefix, claims + claims[:5])  # five published again, later
    settings = settings_for(ReportingSettings, infra, prefix)
    group = prefix + settings.service_name
    before = consumed(group, ClaimPaid.TOPIC)

    async def kaur(rep) -> tuple[int, int]:
        body = await coverage(rep, "17.04")
        return body["claims_paid"], body["benefits_paid_rupiah"]

    async with running(build_reporting, settings) as rep:
        await wait_committed(infra, rep, prefix + ClaimPaid.TOPIC)
        assert consumed(group, ClaimPaid.TOPIC) - before == 17
        await eventually(lambda: kaur(rep), lambda t: t == (12, 12 * 42_000_000))

    # Restarted, and the same events published once more at new offsets: still twelve claims.
    # (A tally killed between any two of its writes: tests/integration/test_tally.py.)
    async with running(build_reporting, settings) as rep:
        await produce(infra, prefix, claims)
        await wait_committed(infra, rep, prefix + ClaimPaid.TOPIC)
        assert consumed(group, ClaimPaid.TOPIC) - before == 29
        await asyncio.sleep(1)
        assert await kaur(rep) == (12, 12 * 42_000_000)
        districts = {row["region"]: row for row in (await coverage(rep, "17.04"))["breakdown"]}
        assert sum(row["claims_paid"] for row in districts.values()) == 12
