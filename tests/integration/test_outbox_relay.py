"""The outbox relay against the real broker and store: what it publishes, in what order, and
what it leaves in the documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from bpu_shared.events import SponsorKind, SponsorRegistered, SponsorRegisteredPayload
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.outbox import outbox_push, read_entry, with_outbox
from bpu_shared.messaging.relay import OutboxRelay


@pytest.fixture
async def broker(infra) -> AsyncIterator[KafkaBroker]:
    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, logger=None)
    await broker.start()
    yield broker
    await broker.stop()


def sponsor_event(sponsor_id: str, name: str) -> SponsorRegistered:
    return SponsorRegistered.create(
        SponsorRegisteredPayload(
            sponsor_id=sponsor_id, name=name, kind=SponsorKind.REGENCY, region_code="17.04"
        ),
        producer="test",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def read_all(bootstrap: str, topic: str, expected: int) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list = []
    try:
        for _ in range(40):
            for batch in (await consumer.getmany(timeout_ms=250)).values():
                records.extend(batch)
            if len(records) >= expected:
                break
    finally:
        await consumer.stop()
    return records


async def test_relay_publishes_every_pending_event_once_in_order_and_keeps_the_newest(
    infra, mongo_db, broker, unique
):
    prefix = f"r{unique}."
    coll = mongo_db["sponsors"]
    # Ten documents with one event each, and one document that gets three more by updates.
    for i in range(10):
        await coll.insert_one(with_outbox({"_id": f"s{i}"}, sponsor_event(f"s{i}", f"v{i}")))
    for version in range(1, 4):
        await coll.update_one(
            {"_id": "s0"},
            {"$set": {"name": f"v{version}"}, **outbox_push(sponsor_event("s0", f"v0.{version}"))},
        )
    relay = OutboxRelay(
        mongo_db,
        ["sponsors"],
        broker,
        lease=Lease(mongo_db["leases"], "outbox-relay", "test"),
        kafka_kwargs={"bootstrap_servers": infra.kafka_bootstrap_servers},
        republish_on_broker_loss=True,
        retained=2,
        topic_prefix=prefix,
    )
    assert await relay.publish_pending() == 10  # documents published
    assert await relay.publish_pending() == 0  # nothing is published twice

    records = await read_all(infra.kafka_bootstrap_servers, prefix + SponsorRegistered.TOPIC, 13)
    assert len(records) == 13
    events = [SponsorRegistered.from_wire(r.value) for r in records]
    assert {r.key.decode() for r in records} == {f"s{i}" for i in range(10)}
    # One aggregate's events share a partition and keep their order.
    s0 = [e.payload.name for e in events if e.payload.sponsor_id == "s0"]
    assert s0 == ["v0", "v0.1", "v0.2", "v0.3"]
    assert len({r.partition for r in records if r.key == b"s0"}) == 1
    assert {dict(r.headers)["event_type"] for r in records} == {b"SponsorRegistered"}

    doc = await coll.find_one({"_id": "s0"})
    assert doc["outbox"] == [] and doc["outbox_pending"] == 0
    assert [read_entry(e)["event_id"] for e in doc["outbox_sent"]] == [
        str(e.event_id) for e in events if e.payload.name in ("v0.2", "v0.3")
    ]
    assert await coll.count_documents({"outbox_pending": {"$gt": 0}}) == 0
    # A healthy broker has everything the relay recorded.
    assert await relay.broker_lost_events() is False


async def test_republish_sends_the_retained_events_again(infra, mongo_db, broker, unique):
    prefix = f"r{unique}."
    coll = mongo_db["sponsors"]
    for i in range(3):
        await coll.insert_one(with_outbox({"_id": f"s{i}"}, sponsor_event(f"s{i}", "x")))
    relay = OutboxRelay(
        mongo_db,
        ["sponsors"],
        broker,
        lease=Lease(mongo_db["leases"], "outbox-relay", "test"),
        kafka_kwargs={"bootstrap_servers": infra.kafka_bootstrap_servers},
        topic_prefix=prefix,
    )
    await relay.publish_pending()
    assert await relay.republish_retained() == 3
    records = await read_all(infra.kafka_bootstrap_servers, prefix + SponsorRegistered.TOPIC, 6)
    ids = [SponsorRegistered.from_wire(r.value).event_id for r in records]
    assert len(ids) == 6 and len(set(ids)) == 3
