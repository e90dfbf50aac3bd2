"""The batch consumer's validate / retry / dead-letter logic and the outbox helpers, with fakes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from bpu_shared.events import (
    SponsorKind,
    SponsorRegistered,
    SponsorRegisteredPayload,
)
from bpu_shared.logging import correlation_id
from bpu_shared.messaging.consumer import BatchConsumer
from bpu_shared.messaging.outbox import (
    OUTBOX_FIELDS,
    merge_updates,
    outbox_entry,
    outbox_push,
    read_entry,
    with_outbox,
)

TOPIC = SponsorRegistered.TOPIC


@dataclass
class FakeRecord:
    """What ``BatchConsumer`` reads of an ``aiokafka.ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class FakeDeadLetters:
    group_id: str = "test-group"
    sent: list[tuple[FakeRecord, str]] = field(default_factory=list)

    async def send(self, record: FakeRecord, error: str) -> None:
        self.sent.append((record, error))


class Applier:
    """An ``apply`` that records every call and fails as its ``fail`` function says."""

    def __init__(self, fail: Any = None) -> None:
        self.calls: list[list[SponsorRegistered]] = []
        self.correlation_ids: list[str | None] = []
        self.fail = fail

    @property
    def attempts(self) -> int:
        return len(self.calls)

    async def __call__(self, events: Sequence[SponsorRegistered]) -> None:
        self.calls.append(list(events))
        self.correlation_ids.append(correlation_id.get())
        if self.fail:
            self.fail(self.attempts, list(events))


def sponsor_event(n: int) -> SponsorRegistered:
    return SponsorRegistered.create(
        SponsorRegisteredPayload(
            sponsor_id=f"SP-{n}", name=f"Sponsor {n}", kind=SponsorKind.REGENCY, region_code="17.04"
        ),
        producer="test",
        correlation_id=f"corr-{n}",
    )


def record_of(value: bytes | None, offset: int) -> FakeRecord:
    return FakeRecord(TOPIC, 0, offset, f"k{offset}".encode(), value)


def records_of(*events: SponsorRegistered) -> list[FakeRecord]:
    return [record_of(e.to_wire(), i) for i, e in enumerate(events)]


def consumer(apply: Applier, dead: FakeDeadLetters, attempts: int = 3) -> BatchConsumer:
    return BatchConsumer(SponsorRegistered, apply, dead, attempts=attempts, backoff=0.001)  # type: ignore[arg-type]


# -- BatchConsumer.handle ----------------------------------------------------------------------


async def test_valid_records_are_applied_in_one_call() -> None:
    events = [sponsor_event(n) for n in range(3)]
    apply, dead = Applier(), FakeDeadLetters()
    await consumer(apply, dead).handle(records_of(*events))
    assert apply.calls == [events]
    assert dead.sent == []


async def test_an_empty_batch_applies_nothing() -> None:
    apply, dead = Applier(), FakeDeadLetters()
    await consumer(apply, dead).handle([])
    assert apply.calls == []
    assert dead.sent == []


async def test_invalid_json_goes_to_dead_letters_and_the_rest_is_applied() -> None:
    good = [sponsor_event(1), sponsor_event(2)]
    broken = record_of(b"{not json", 1)
    records = [record_of(good[0].to_wire(), 0), broken, record_of(good[1].to_wire(), 2)]
    apply, dead = Applier(), FakeDeadLetters()
    await consumer(apply, dead).handle(records)
    assert apply.calls == [good]
    assert len(dead.sent) == 1
    record, error = dead.sent[0]
    assert record is broken
    assert error.startswith("invalid event: (event): Invalid JSON")


@pytest.mark.parametrize("value", [None, b"", b"\xff\xfe", b"[]", b"42"])
async def test_values_that_are_no_event_go_to_dead_letters(value: bytes | None) -> None:
    apply, dead = Applier(), FakeDeadLetters()
    await consumer(apply, dead).handle([record_of(value, 7)])
    assert apply.calls == []
    assert [(r.offset, e.startswith("invalid event: ")) for r, e in dead.sent] == [(7, True)]


async def test_a_schema_invalid_record_is_dead_lettered_naming_the_field() -> None:
    good = sponsor_event(1)
    data = json.loads(sponsor_event(2).to_wire())
    del data["payload"]["sponsor_id"]
    data["payload"]["region_code"] = "17.4"
    bad = record_of(json.dumps(data).encode(), 1)
    apply, dead = Applier(), FakeDeadLetters()
    await consumer(apply, dead).handle([record_of(good.to_wire(), 0), bad])
    assert apply.calls == [[good]]
    assert len(dead.sent) == 1
    record, error = dead.sent[0]
    assert record is bad
    assert error.startswith("invalid event: ")
    assert "payload.sponsor_id: Field required" in error
    assert "payload.region_code: String should match pattern" in error


async def test_a_batch_that_fails_twice_then_succeeds_is_retried() -> None:
    events = [sponsor_event(n) for n in range(3)]

    def fail(attempt: int, _: list[SponsorRegistered]) -> None:
        if attempt <= 2:
            raise RuntimeError(f"write conflict {attempt}")

    apply, dead = Applier(fail), FakeDeadLetters()
    await consumer(apply, dead, attempts=3).handle(records_of(*events))
    assert apply.attempts == 3
    assert apply.calls == [events, events, events]
    assert dead.sent == []


async def test_a_store_blip_then_success_is_retried() -> None:
    events = [sponsor_event(n) for n in range(2)]

    def fail(attempt: int, _: list[SponsorRegistered]) -> None:
        if attempt == 1:
            raise AutoReconnect("primary stepped down")

    apply, dead = Applier(fail), FakeDeadLetters()
    await consumer(apply, dead, attempts=3).handle(records_of(*events))
    assert apply.attempts == 2
    assert dead.sent == []


async def test_one_event_that_can_never_succeed_is_dead_lettered_alone() -> None:
    events = [sponsor_event(n) for n in range(4)]
    poison = events[2]

    def fail(_: int, batch: list[SponsorRegistered]) -> None:
        if poison in batch:
            raise ValueError(f"sponsor {poison.payload.sponsor_id} breaks a rule")

    apply, dead = Applier(fail), FakeDeadLetters()
    records = records_of(*events)
    await consumer(apply, dead, attempts=3).handle(records)
    # Three attempts with the whole batch, then one call per event.
    assert apply.calls == [events] * 3 + [[e] for e in events]
    assert dead.sent == [(records[2], "ValueError: sponsor SP-2 breaks a rule")]


async def test_events_applied_one_by_one_carry_their_correlation_id() -> None:
    events = [sponsor_event(n) for n in range(2)]

    def fail(_: int, batch: list[SponsorRegistered]) -> None:
        if len(batch) > 1:
            raise ValueError("only one at a time")

    apply, dead = Applier(fail), FakeDeadLetters()
    assert correlation_id.get() is None
    await consumer(apply, dead, attempts=2).handle(records_of(*events))
    assert apply.correlation_ids[2:] == ["corr-0", "corr-1"]
    assert correlation_id.get() is None
    assert dead.sent == []


async def test_an_unreachable_store_keeps_the_batch_and_dead_letters_nothing() -> None:
    events = [sponsor_event(n) for n in range(3)]

    def fail(_: int, __: list[SponsorRegistered]) -> None:
        raise AutoReconnect("connection refused")

    apply, dead = Applier(fail), FakeDeadLetters()
    with pytest.raises(AutoReconnect, match="connection refused"):
        await consumer(apply, dead, attempts=4).handle(records_of(*events))
    assert apply.attempts == 4
    assert apply.calls == [events] * 4
    assert dead.sent == []


async def test_a_store_outage_while_sorting_out_a_bad_batch_keeps_the_batch() -> None:
    events = [sponsor_event(n) for n in range(3)]

    def fail(attempt: int, batch: list[SponsorRegistered]) -> None:
        if len(batch) > 1:
            raise ValueError("bad batch")
        if batch[0] == events[1]:
            raise AutoReconnect("store went away")

    apply, dead = Applier(fail), FakeDeadLetters()
    with pytest.raises(AutoReconnect):
        await consumer(apply, dead, attempts=2).handle(records_of(*events))
    assert apply.calls == [events, events, [events[0]], [events[1]]]
    assert dead.sent == []


# -- the outbox --------------------------------------------------------------------------------


def test_outbox_entry_round_trips_through_read_entry() -> None:
    event = sponsor_event(5)
    before = datetime.now(UTC)
    entry = outbox_entry(event)
    after = datetime.now(UTC)
    assert isinstance(entry, str)
    data = read_entry(entry)
    assert set(data) == {
        "event_id",
        "event_type",
        "topic",
        "key",
        "value",
        "correlation_id",
        "created_at",
    }
    assert data["event_id"] == str(event.event_id)
    assert data["event_type"] == "SponsorRegistered"
    assert data["topic"] == TOPIC
    assert data["key"] == "SP-5"
    assert data["correlation_id"] == "corr-5"
    assert data["value"] == event.to_wire().decode()
    assert SponsorRegistered.from_wire(data["value"]) == event
    assert before <= datetime.fromisoformat(data["created_at"]) <= after


def test_with_outbox_adds_the_events_to_a_new_document() -> None:
    first, second = sponsor_event(1), sponsor_event(2)
    document = {"_id": "SP-1", "name": "Sponsor 1"}
    stored = with_outbox(document, first, second)
    assert document == {"_id": "SP-1", "name": "Sponsor 1"}  # not changed in place
    assert stored["_id"] == "SP-1"
    assert stored["name"] == "Sponsor 1"
    assert stored["outbox_pending"] == 2
    assert stored["outbox_sent"] == []
    assert [read_entry(e)["event_id"] for e in stored["outbox"]] == [
        str(first.event_id),
        str(second.event_id),
    ]
    assert set(stored) == {"_id", "name"} | set(OUTBOX_FIELDS)


def test_with_outbox_and_no_events() -> None:
    assert with_outbox({"_id": 1}) == {
        "_id": 1,
        "outbox": [],
        "outbox_pending": 0,
        "outbox_sent": [],
    }


def test_outbox_push_adds_events_to_an_existing_document() -> None:
    first, second = sponsor_event(1), sponsor_event(2)
    update = outbox_push(first, second)
    assert set(update) == {"$push", "$inc"}
    assert update["$inc"] == {"outbox_pending": 2}
    entries = update["$push"]["outbox"]["$each"]
    assert [read_entry(e)["key"] for e in entries] == ["SP-1", "SP-2"]


def test_merge_updates_combines_operators() -> None:
    event = sponsor_event(1)
    push = outbox_push(event)
    merged = merge_updates({"$set": {"name": "X"}, "$inc": {"version": 1}}, push)
    assert merged == {
        "$set": {"name": "X"},
        "$inc": {"version": 1, "outbox_pending": 1},
        "$push": push["$push"],
    }


def test_merge_updates_refuses_a_field_set_twice() -> None:
    with pytest.raises(ValueError, match=r"^\$inc sets \['outbox_pending'\] twice$"):
        merge_updates({"$inc": {"outbox_pending": 1}}, outbox_push(sponsor_event(1)))
    with pytest.raises(ValueError, match=r"^\$set sets \['a', 'b'\] twice$"):
        merge_updates({"$set": {"a": 1, "b": 2, "c": 3}}, {"$set": {"b": 0, "a": 0}})


def test_merge_updates_does_not_change_its_arguments() -> None:
    first = {"$set": {"a": 1}}
    merge_updates(first, {"$set": {"b": 2}})
    assert first == {"$set": {"a": 1}}
