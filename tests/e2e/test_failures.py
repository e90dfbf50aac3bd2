"""The failures the messaging kit must survive, each against the real broker and store:
a consumer dying between its write and its commit, the relay dying between publishing and
marking, the embedded broker restarting empty, and the store going away for a few seconds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bpu_devstack.inprocess import running
from bpu_devstack.servers import EmbeddedKafka, free_port
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_registration.domain import Occupation, Programme, Sponsor, Worker
from bpu_registration.events import worker_registered
from bpu_registration.store import RegistrationRepository
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_reporting.handlers import covered_worker_facts
from bpu_reporting.store import COVERED_WORKERS
from bpu_shared.events import BenefitProgramme, SponsorKind, WorkerRegistered, dlq_topic
from bpu_shared.messaging.exactly_once import Facts
from bpu_shared.messaging.outbox import read_entry
from bpu_shared.metrics import CONSUMER_RETRIES, OUTBOX_REPUBLISHED
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from tests.e2e.test_slice import coverage, enrol, wait_committed
from tests.harness import CuttableProxy, eventually, nik, settings_for, village_in

pytestmark = pytest.mark.e2e


def new_prefix() -> str:
    return f"f{uuid.uuid4().hex[:8]}."


def kaur_worker(village: str) -> Worker:
    sponsor = Sponsor.register("Pemkab Kaur", SponsorKind.REGENCY, "17.04")
    programme = Programme.open(
        sponsor,
        {
            "name": "PPR",
            "region_code": None,
            "budget_year": 2026,
            "budget_rupiah": 10_000_000,
            "quota": 10,
            "benefits": [BenefitProgramme.JKK, BenefitProgramme.JKM],
            "start_month": Month(2026, 1),
            "end_month": Month(2026, 12),
            "min_age": 15,
            "max_age": 64,
        },
    )
    return Worker.enrol(
        programme,
        nik=nik(),
        name="Siti",
        phone=None,
        occupation=Occupation.FARMER,
        village_code=village,
        declared_monthly_income=1_000_000,
        min_declared_income=1_000_000,
        cover_start=Month(2026, 3),
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )


async def read_topic(bootstrap: str, topic: str, at_least: int, timeout: float = 10) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list = []
    try:

        async def fetch() -> int:
            for recs in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(recs)
            return len(records)

        await eventually(fetch, lambda n: n >= at_least, timeout=timeout)
        await asyncio.sleep(0.5)
        await fetch()
    finally:
        await consumer.stop()
    return records


async def test_consumer_killed_after_its_write_and_before_its_commit_counts_once(infra):
    prefix = new_prefix()
    reporting_settings = settings_for(ReportingSettings, infra, prefix)
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix)
    ) as reg:
        await enrol(reg, "17.04", village_in("17.04.02"))
        [record] = await read_topic(
            infra.kafka_bootstrap_servers, prefix + WorkerRegistered.TOPIC, 1
        )

        # What a consumer had done when it was killed: the write, and no offset commit.
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
        try:
            db = client[reporting_settings.database_name]
            await Facts(db[COVERED_WORKERS]).insert_once(
                covered_worker_facts([WorkerRegistered.from_wire(record.value)])
            )
            assert await db["covered_workers"].count_documents({}) == 1
        finally:
            await client.close()

        # Restarted, the consumer gets the event again from the last commit (none).
        async with running(build_reporting, reporting_settings) as rep:
            await wait_committed(infra, rep, prefix + WorkerRegistered.TOPIC)
            assert (await coverage(rep, "17.04"))["registered_workers"] == 1
            assert await rep.repository.workers.coll.count_documents({}) == 1


async def test_relay_killed_after_publishing_and_before_marking_counts_once(infra):
    prefix = new_prefix()
    reg_settings = settings_for(RegistrationSettings, infra, prefix)
    worker = kaur_worker(village_in("17.04.03"))
    event = worker_registered(worker)

    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        db = client[reg_settings.database_name]
        uow = UnitOfWork(db, RegistrationRepository.OUTBOX_COLLECTIONS)
        store = RegistrationRepository(SimpleNamespace(db=db, uow=uow, api_keys=None))  # type: ignore[arg-type]
        await store.add_worker(worker, [event])
        # The relay published the pending entry and died before marking it sent.
        [entry] = [
            read_entry(e)
            for e in (await store.workers.find_one({"_id": worker.worker_id}))["outbox"]
        ]
        await producer.send_and_wait(
            prefix + entry["topic"], entry["value"].encode(), key=entry["key"].encode()
        )
    finally:
        await producer.stop()
        await client.close()

    async with (
        running(build_registration, reg_settings) as reg,
        running(build_reporting, settings_for(ReportingSettings, infra, prefix)) as rep,
    ):
        # The restarted relay publishes the still-pending entry again.
        await eventually(
            lambda: reg.repository.workers.find_one({"_id": worker.worker_id}),
            lambda d: d["outbox_pending"] == 0,
        )
        records = await read_topic(
            infra.kafka_bootstrap_servers, prefix + WorkerRegistered.TOPIC, 2
        )
        assert [WorkerRegistered.from_wire(r.value).event_id for r in records] == [
            event.event_id
        ] * 2
        await wait_committed(infra, rep, prefix + WorkerRegistered.TOPIC)
        assert (await coverage(rep, "17.04"))["registered_workers"] == 1


async def test_events_survive_a_broker_restart_exactly_once(infra, tmp_path: Path):
    kafka = EmbeddedKafka(port=free_port(), log_path=tmp_path / "kafka.log")
    kafka.start()
    prefix = new_prefix()
    overrides = {"kafka_bootstrap_servers": kafka.bootstrap_servers}
    try:
        async with (
            running(
                build_registration, settings_for(RegistrationSettings, infra, prefix, **overrides)
            ) as reg,
            running(
                build_reporting, settings_for(ReportingSettings, infra, prefix, **overrides)
            ) as rep,
        ):
            await enrol(reg, "17.04", village_in("17.04.04"))
            await eventually(lambda: coverage(rep, "17.04"), lambda b: b["registered_workers"] == 1)

            republished_before = OUTBOX_REPUBLISHED._value.get()
            kafka.kill()  # memory only: every topic, record and committed offset is gone
            await enrol(reg, "17.04", village_in("17.04.05"))  # written while down
            kafka.start()

            _, seconds = await eventually(
                lambda: coverage(rep, "17.04"), lambda b: b["registered_workers"] == 2, timeout=60
            )
            print(f"converged {seconds:.1f}s after the broker came back")
            # The relay saw the loss and published every retained event again (the first
            # worker's included); once it is done and the consumer has caught up, the count is
            # still 2: applied exactly once.
            state = reg.runtime.db["outbox_relay_state"]
            await eventually(
                lambda: state.find_one({"_id": "republish"}),
                lambda doc: doc is not None and not doc["due"],
                timeout=60,
            )
            republished = OUTBOX_REPUBLISHED._value.get() - republished_before
            assert republished >= 4  # sponsor, programme, both workers (and any key events)
            await wait_committed_on(kafka.bootstrap_servers, rep)
            assert (await coverage(rep, "17.04"))["registered_workers"] == 2
            assert await rep.repository.workers.coll.count_documents({}) == 2
    finally:
        kafka.stop()


async def wait_committed_on(bootstrap: str, service) -> None:
    class _Infra:
        kafka_bootstrap_servers = bootstrap

    await wait_committed(
        _Infra, service, service.runtime.settings.kafka_topic_prefix + WorkerRegistered.TOPIC
    )


async def test_store_unreachable_for_seconds_loses_no_event(infra):
    prefix = new_prefix()
    host, port = infra.mongodb_url.removeprefix("mongodb://").split(":")
    proxy = CuttableProxy(host, int(port))
    await proxy.start()
    try:
        cut_url = f"mongodb://127.0.0.1:{proxy.port}"
        async with (
            running(build_registration, settings_for(RegistrationSettings, infra, prefix)) as reg,
            running(
                build_reporting, settings_for(ReportingSettings, infra, prefix, mongodb_url=cut_url)
            ) as rep,
        ):
            await enrol(reg, "17.04", village_in("17.04.06"))
            await eventually(lambda: coverage(rep, "17.04"), lambda b: b["registered_workers"] == 1)

            retries = CONSUMER_RETRIES.labels(WorkerRegistered.TOPIC, rep.runtime.group_id)
            retried_before = retries._value.get()
            proxy.cut()
            await enrol(reg, "17.04", village_in("17.04.07"), count=3)

            async def retried() -> float:
                return float(retries._value.get())

            # The consumer's batch fails against the cut store (after its 3 s server-selection
            # timeout) and is retried, uncommitted: the outage is felt, not missed. How soon
            # depends on when the batch arrives, so wait for it rather than a fixed time.
            await eventually(retried, lambda n: n > retried_before, timeout=30)
            proxy.restore()

            await eventually(
                lambda: rep.repository.workers.coll.count_documents({}),
                lambda n: n == 4,
                timeout=30,
            )
            # The tally counts the facts once the store is back.
            await eventually(
                lambda: coverage(rep, "17.04"), lambda b: b["registered_workers"] == 4, timeout=30
            )
        dead = await dead_letter_count(
            infra.kafka_bootstrap_servers, prefix + WorkerRegistered.TOPIC
        )
        assert dead == 0
    finally:
        await proxy.stop()


async def dead_letter_count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        if dlq_topic(topic) not in await consumer.topics():
            return 0
        partitions = consumer.partitions_for_topic(dlq_topic(topic)) or set()
        from aiokafka import TopicPartition

        ends = await consumer.end_offsets([TopicPartition(dlq_topic(topic), p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()
