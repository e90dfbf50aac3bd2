"""The rebuild's replay with a fake bus: records decoded as the live consumer decodes them
(one that is not an event skipped and counted), applied per topic in batches, a store outage
retried, an event its handlers refuse counted as failed without losing the others; which
topics are replayed and which collections may be dropped."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from pymongo.errors import AutoReconnect

from bpu_reporting.rebuild import NEVER_DROPPED, Replay, projected_topics, projection_collections
from bpu_shared.events import ApiKeyIssued, ApiKeyRevoked, ContributionInvoiced, Event
from bpu_shared.messaging.exactly_once import Facts
from tests.reporting_events import all_events


class FakeBus:
    """Applies batches by remembering them; refuses a batch holding a ``poisoned`` event id,
    and fails ``outages`` times with a store error first."""

    def __init__(self, poisoned: frozenset[str] = frozenset(), outages: int = 0) -> None:
        self.batches: list[list[Event]] = []
        self.poisoned = poisoned
        self.outages = outages

    async def apply(self, events: Sequence[Event]) -> None:
        if self.outages:
            self.outages -= 1
            raise AutoReconnect("store unreachable")
        if any(str(e.event_id) in self.poisoned for e in events):
            raise ValueError("refused")
        self.batches.append(list(events))


def kinds() -> dict[str, type[Event]]:
    return projected_topics()


async def replay_all(replay: Replay, events: Sequence[Event]) -> None:
    for event in events:
        await replay.add(event.TOPIC, event.to_wire())
    await replay.flush()


async def test_events_are_applied_per_topic_in_batches_and_an_invalid_record_is_skipped():
    bus = FakeBus()
    replay = Replay(bus, kinds(), batch_size=2)  # type: ignore[arg-type]
    events = all_events()
    invoices = [e for e in events if isinstance(e, ContributionInvoiced)]
    await replay.add(ContributionInvoiced.TOPIC, b'{"event_id": "not one"}')
    await replay.add(ContributionInvoiced.TOPIC, None)
    await replay_all(replay, events)
    assert (replay.read, replay.applied, replay.skipped, replay.failed) == (
        len(events) + 2,
        len(events),
        2,
        0,
    )
    assert all(len({type(e) for e in batch}) == 1 for batch in bus.batches), "one type a batch"
    assert all(len(batch) <= 2 for batch in bus.batches)
    applied = [e.event_id for batch in bus.batches for e in batch]
    assert sorted(map(str, applied)) == sorted(str(e.event_id) for e in events)
    # A topic's events keep their order.
    assert [e.event_id for b in bus.batches for e in b if isinstance(e, ContributionInvoiced)] == [
        e.event_id for e in invoices
    ]


async def test_a_store_outage_is_retried_and_a_refused_event_fails_alone():
    events = [e for e in all_events() if isinstance(e, ContributionInvoiced)]
    assert len(events) == 3
    bus = FakeBus(poisoned=frozenset({str(events[1].event_id)}), outages=2)
    replay = Replay(bus, kinds(), batch_size=10, backoff=0.01)  # type: ignore[arg-type]
    await replay_all(replay, events)
    assert (replay.applied, replay.failed) == (2, 1)
    assert [e.event_id for b in bus.batches for e in b] == [events[0].event_id, events[2].event_id]


async def test_a_store_that_stays_away_stops_the_replay():
    bus = FakeBus(outages=99)
    replay = Replay(bus, kinds(), batch_size=10, attempts=2, backoff=0.01)  # type: ignore[arg-type]
    with pytest.raises(AutoReconnect):
        await replay_all(replay, all_events()[:1])


def test_the_api_key_topics_are_not_replayed():
    topics = projected_topics()
    assert ContributionInvoiced.TOPIC in topics
    assert ApiKeyIssued.TOPIC not in topics and ApiKeyRevoked.TOPIC not in topics
    assert topics[ContributionInvoiced.TOPIC] is ContributionInvoiced


def test_a_repository_naming_admin_data_as_a_projection_is_refused():
    facts = Facts(
        SimpleNamespace(name="facts", database={"facts_inbox": SimpleNamespace(name="facts_inbox")})
    )  # type: ignore[arg-type]

    class Repository:
        PROJECTION_COLLECTIONS = ("projection_state",)

        def __init__(self) -> None:
            self.facts = facts

    assert projection_collections(Repository()) == ["facts", "facts_inbox", "projection_state"]  # type: ignore[arg-type]
    for kept in sorted(NEVER_DROPPED):
        Repository.PROJECTION_COLLECTIONS = ("projection_state", kept)
        with pytest.raises(ValueError, match=kept):
            projection_collections(Repository())  # type: ignore[arg-type]
