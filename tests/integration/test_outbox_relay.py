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
from bpu_shared.messaging.leased_loop import LeaseLost
from bpu_shared.messaging.outbox import outbox_push, read_entry, with_outbox
from bpu_shared.messaging.relay import OutboxRelay
from bpu_shared.service_layer.unit_of_work import UnitOfWork


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


def name_of(entry: str) -> str:
    return SponsorRegistered.from_wire(read_entry(entry)["value"]).payload.name


def sponsors_relay(
    infra, mongo_db, broker, prefix: str, relay_class: type[OutboxRelay] = OutboxRelay, **options
) -> OutboxRelay:
    """A relay of the ``sponsors`` collection under the lease holder ``test``, publishing to
    the topics under ``prefix``."""
    return relay_class(
        mongo_db,
        ["sponsors"],
        broker,
        lease=Lease(mongo_db["leases"], "outbox-relay", "test"),
        kafka_kwargs={"bootstrap_servers": infra.kafka_bootstrap_servers},
        topic_prefix=prefix,
        **options,
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
    relay = sponsors_relay(
        infra, mongo_db, broker, prefix, republish_on_broker_loss=True, retained=2
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
    # A document with its one first event had its outbox moved whole to outbox_sent.
    doc = await coll.find_one({"_id": "s7"})
    assert doc.get("outbox", []) == [] and doc["outbox_pending"] == 0
    assert [read_entry(e)["key"] for e in doc["outbox_sent"]] == ["s7"]
    assert await coll.count_documents({"outbox_pending": {"$gt": 0}}) == 0
    # A healthy broker has everything the relay recorded.
    assert await relay.broker_lost_events() is False


class ChangedBeforeMarking(OutboxRelay):
    """A relay whose batch meets a write it did not see: between its reading and its marking,
    ``s1`` gets another event and ``s2`` a mark by another relay (one that lost its lease
    without noticing, and also read ``s2``)."""

    changed = False

    async def _move_to_sent(self, coll, docs):  # type: ignore[no-untyped-def]
        if self.changed:
            return await super()._move_to_sent(coll, docs)
        self.changed = True
        await coll.update_one(
            {"_id": "s1"},
            outbox_push(sponsor_event("s1", "changed")),
        )
        [entry] = next(d for d in docs if d["_id"] == "s2")["outbox"]
        await coll.update_one(
            {"_id": "s2", "outbox": entry},
            {
                "$pull": {"outbox": entry},
                "$push": {"outbox_sent": {"$each": [entry], "$slice": -20}},
                "$inc": {"outbox_pending": -1},
            },
        )
        await super()._move_to_sent(coll, docs)


async def test_a_document_changed_between_publishing_and_marking_keeps_its_new_event(
    infra, mongo_db, broker, unique
):
    prefix = f"r{unique}."
    coll = mongo_db["sponsors"]
    for i in range(4):
        await coll.insert_one(with_outbox({"_id": f"s{i}"}, sponsor_event(f"s{i}", f"v{i}")))
    relay = sponsors_relay(infra, mongo_db, broker, prefix, ChangedBeforeMarking)
    # The four, then s1 again for the event it got meanwhile: a pass ends with nothing pending.
    assert await relay.publish_pending() == 5
    assert await relay.publish_pending() == 0
    s1 = await coll.find_one({"_id": "s1"})
    assert (s1["outbox"], s1["outbox_pending"]) == ([], 0)
    assert [name_of(e) for e in s1["outbox_sent"]] == ["v1", "changed"]
    s2 = await coll.find_one({"_id": "s2"})
    assert (s2["outbox"], s2["outbox_pending"]) == ([], 0)
    assert [read_entry(e)["key"] for e in s2["outbox_sent"]] == ["s2"]
    for i in (0, 3):
        doc = await coll.find_one({"_id": f"s{i}"})
        assert (doc.get("outbox", []), doc["outbox_pending"]) == ([], 0)
    # The new event was published once, after the first.
    records = await read_all(infra.kafka_bootstrap_servers, prefix + SponsorRegistered.TOPIC, 5)
    names = [SponsorRegistered.from_wire(r.value).payload.name for r in records if r.key == b"s1"]
    assert names == ["v1", "changed"]
    assert len(records) == 5


async def test_documents_handed_over_by_the_unit_of_work_are_published_once_in_order(
    infra, mongo_db, broker, unique
):
    """The unit of work hands new documents to the relay as written: they are published
    without being read back, a later event of one of them after its first, and a document the
    relay found by querying before it was handed over is not published twice."""
    prefix = f"r{unique}."
    relay = sponsors_relay(infra, mongo_db, broker, prefix)
    assert await relay.lease.acquire()
    uow = UnitOfWork(mongo_db, ["sponsors"], relay)
    await uow.insert_many(
        "sponsors", [({"_id": f"s{i}"}, [sponsor_event(f"s{i}", f"v{i}")]) for i in range(5)]
    )
    await uow.update("sponsors", {"_id": "s1"}, {"$set": {"x": 1}}, [sponsor_event("s1", "v1.1")])
    assert await relay.publish_pending() == 6  # five handed over, then s1 again by the query
    # Inserted behind the unit of work's back: found by the query, handed over later anyway.
    await mongo_db["sponsors"].insert_one(with_outbox({"_id": "s9"}, sponsor_event("s9", "v9")))
    assert await relay.publish_pending() == 1
    relay.take("sponsors", [{"_id": "s9", "outbox": ["stale"], "outbox_pending": 1}])
    assert await relay.publish_pending() == 0
    assert await relay.publish_pending() == 0

    records = await read_all(infra.kafka_bootstrap_servers, prefix + SponsorRegistered.TOPIC, 7)
    names = [SponsorRegistered.from_wire(r.value).payload.name for r in records]
    assert sorted(names) == sorted([f"v{i}" for i in range(5)] + ["v1.1", "v9"])
    assert [n for n in names if n.startswith("v1")] == ["v1", "v1.1"]
    for doc in await mongo_db["sponsors"].find({}).to_list():
        assert doc.get("outbox", []) == [] and doc["outbox_pending"] == 0
        assert len(doc["outbox_sent"]) == (2 if doc["_id"] == "s1" else 1)


async def test_a_relay_whose_lease_was_taken_over_publishes_nothing(
    infra, mongo_db, broker, unique
):
    coll = mongo_db["sponsors"]
    await coll.insert_one(with_outbox({"_id": "s0"}, sponsor_event("s0", "v0")))
    leases = mongo_db["leases"]
    assert await Lease(leases, "outbox-relay", "other", ttl=30).acquire()
    relay = sponsors_relay(infra, mongo_db, broker, f"r{unique}.")
    with pytest.raises(LeaseLost):
        await relay.publish_pending()
    assert (await coll.find_one({"_id": "s0"}))["outbox_pending"] == 1


async def test_republish_sends_the_retained_events_again(infra, mongo_db, broker, unique):
    prefix = f"r{unique}."
    coll = mongo_db["sponsors"]
    for i in range(3):
        await coll.insert_one(with_outbox({"_id": f"s{i}"}, sponsor_event(f"s{i}", "x")))
    relay = sponsors_relay(infra, mongo_db, broker, prefix)
    await relay.publish_pending()
    assert await relay.republish_retained() == 3
    records = await read_all(infra.kafka_bootstrap_servers, prefix + SponsorRegistered.TOPIC, 6)
    ids = [SponsorRegistered.from_wire(r.value).event_id for r in records]
    assert len(ids) == 6 and len(set(ids)) == 3
