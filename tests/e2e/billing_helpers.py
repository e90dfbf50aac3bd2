"""What the billing e2e modules share: the running billing service, the clock the tests move,
a Paser programme written to billing's roster, producing to and reading from the topics, and
paying through the API."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bpu_billing.app import BillingSettings
from bpu_billing.app import build_app as build_billing
from bpu_billing.store.invoices import INVOICE_LINES, INVOICES
from bpu_billing.store.roster import PROGRAMMES
from bpu_devstack.inprocess import Running, running
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.enrolments import NEVER
from bpu_shared.events import Event
from bpu_shared.messaging.broker import true_end_offsets
from tests.harness import eventually, settings_for

PASER = "64.01"
PASER_DISTRICTS = [f"64.01.{d:02d}" for d in range(1, 11)]
PASER_WORKERS = 32_268
MONTHLY = 16_800  # JKK Rp10,000 + JKM Rp6,800 at the lowest income
#: The background jobs a test wakes itself (an hour apart: never on their own in a test).
WOKEN_BY_THE_TEST = {
    "payment_sweep_seconds": 3600,
    "coverage_lapse_check_seconds": 3600,
    "billing_monthly_check_seconds": 3600,
}


def unique_prefix(letter: str) -> str:
    """The module's topic and database prefix (modules share the broker and the store)."""
    return f"{letter}{uuid.uuid4().hex[:8]}."


def october_2022() -> FixedClock:
    """A clock in October 2022, not on a 1st: the monthly run starts only when a test asks."""
    return FixedClock(datetime(2022, 10, 3, 9, tzinfo=JAKARTA))


def set_today(clock: FixedClock, day: str) -> None:
    clock.at = datetime.fromisoformat(day).replace(hour=9, tzinfo=JAKARTA)


def billing_fixtures(letter: str, **settings: Any) -> tuple[Any, Any, Any]:
    """A module's fixtures (module scope), to assign as ``prefix, clock, billing``: its topic
    and database prefix (``letter`` and a unique tag), a clock in October 2022 the tests move,
    and the billing service running on that clock with ``settings``."""

    @pytest.fixture(scope="module")
    def prefix() -> str:
        return unique_prefix(letter)

    @pytest.fixture(scope="module")
    def clock() -> FixedClock:
        return october_2022()

    @pytest.fixture(scope="module")
    async def billing(infra: Any, prefix: str, clock: FixedClock) -> AsyncIterator[Running]:
        async with billing_service(infra, prefix, clock, **settings) as svc:
            yield svc

    return prefix, clock, billing


@asynccontextmanager
async def billing_service(
    infra: Any, prefix: str, clock: FixedClock, **settings: Any
) -> AsyncIterator[Running]:
    """The billing service running on the real broker and store, on ``clock``."""
    config = settings_for(BillingSettings, infra, prefix, **settings)
    async with running(functools.partial(build_billing, clock=clock), config) as svc:
        yield svc


async def programme(
    billing: Running, workers: int, *, start: str = "2022-10", end: str = "2023-12"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Paser programme in billing's roster with ``workers`` enrolled from ``start``: what
    registration's events make (store/roster.py)."""
    tag = uuid.uuid4().hex[:6]
    doc = {
        "_id": f"PG-paser-{tag}",
        "sponsor_id": f"SP-paser-{tag}",
        "name": "Perlindungan Pekerja Rentan Paser",
        "region_code": PASER,
        "budget_year": 2022,
        "budget_rupiah": 12 * workers * MONTHLY,
        "quota": workers,
        "benefits": ["JKK", "JKM"],
        "start_month": start,
        "end_month": end,
        "funding_source": "apbd_regency",
        "status": "open",
        "occupations": [],
        "as_of": "2022-09-01T00:00:00+00:00",
    }
    await billing.repository.db[PROGRAMMES].insert_one(doc)
    enrolments = []
    for i in range(workers):
        district = PASER_DISTRICTS[i % len(PASER_DISTRICTS)]
        enrolments.append(
            {
                "_id": f"EN-{tag}-{i:06d}",
                "worker_id": f"WK-{tag}-{i:06d}",
                "programme_id": doc["_id"],
                "sponsor_id": doc["sponsor_id"],
                "first_month": start,
                "last_month": None,
                "benefits": ["JKK", "JKM"],
                "occupation": "farmer",
                "province_code": "64",
                "regency_code": PASER,
                "district_code": district,
                "village_code": f"{district}.2001",
                "income": 1_000_000,
                "as_of": "2022-09-01T00:00:00+00:00",
                "ended_as_of": NEVER,
                "registered": True,
            }
        )
    # Through the roster's own writer (the layout is the roster's), in batches as the
    # consumer's, two at a time.
    batches = [enrolments[i : i + 4_000] for i in range(0, len(enrolments), 4_000)]
    for pair in range(0, len(batches), 2):
        await asyncio.gather(*map(billing.repository.add_enrolments, batches[pair : pair + 2]))
    return doc, enrolments


async def produce(infra: Any, prefix: str, events: Sequence[Event]) -> None:
    """The events on their topics, in order, as their producers publish them."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers, linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(prefix + event.TOPIC, event.to_wire(), key=event.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def published(infra: Any, prefix: str, event_type: type[Event]) -> list[dict[str, Any]]:
    """Every event of the topic now, as JSON (read to the partitions' true ends)."""
    topic = prefix + event_type.TOPIC
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await true_end_offsets(consumer, partitions)
        wanted = {tp: end for tp, end in ends.items() if end > 0}
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, 0)
        found: list[dict[str, Any]] = []
        while wanted:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                found += [json.loads(r.value) for r in records if r.offset < ends[tp]]
                if records and records[-1].offset + 1 >= ends[tp]:
                    wanted.pop(tp, None)
        return found
    finally:
        await consumer.stop()


async def all_published(billing: Running) -> None:
    """Until the relay has published every event billing wrote."""
    db = billing.repository.db

    async def pending() -> int:
        return sum(
            [
                await db[name].count_documents({"outbox_pending": {"$gt": 0}})
                for name in (INVOICES, INVOICE_LINES, PROGRAMMES)
            ]
        )

    await eventually(pending, lambda n: n == 0, timeout=20)


async def pay(billing: Running, expect: int = 201, **body: Any) -> dict[str, Any]:
    """A payment through ``POST /payments`` (a unique bank reference unless given)."""
    body.setdefault("paid_at", "2022-10-14T10:00:00+08:00")
    body.setdefault("reference", f"BPD-KALTIM-{uuid.uuid4().hex[:10]}")
    answer = await billing.client.post("/payments", json=body)
    assert answer.status_code == expect, answer.text
    return dict(answer.json())
