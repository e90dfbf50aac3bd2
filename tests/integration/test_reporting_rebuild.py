"""Reporting's projections replayed against the real store through the rebuild's replay (the
service's own bus and handlers, records decoded as the live consumer decodes them): the same
events, from every topic reporting projects, in two interleavings across topics and once more
all delivered twice, give identical projections; a record that is not an event is skipped and
counted. Which collections a rebuild drops is found from the repository, never the targets,
the API keys or the leases."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_reporting.handlers import EVENT_HANDLERS
from bpu_reporting.rebuild import (
    NEVER_DROPPED,
    REBUILD_ID,
    REBUILD_LEASE,
    REBUILDS,
    Replay,
    _count_all,
    _Leases,
    projected_topics,
    projection_collections,
    rebuild_status,
)
from bpu_reporting.store import ReportingRepository
from bpu_shared.clock import FixedClock
from bpu_shared.events import (
    ApiKeyIssued,
    BenefitProgramme,
    Event,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    WaitingListEntryPayload,
    WaitingListLeft,
    WaitingListLeftPayload,
    WaitingListReason,
    WorkerWaitlisted,
)
from bpu_shared.kafka_clients import AdminError
from bpu_shared.messaging.lease import Lease
from bpu_shared.service_layer.bus import bootstrap
from tests.harness import village_in
from tests.integration.test_reporting_projections import repository_of
from tests.registration_events import Programme
from tests.reporting_events import all_events, expected_counters, nonzero

KAUR = Programme(
    programme_id="PG-17.04",
    sponsor_id="SP-17.04",
    name="Perlindungan Pekerja Rentan Kaur 2026",
    region_code="17.04",
    budget_year=2026,
    quota=30,
    benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
    start_month="2026-01",
    end_month="2026-12",
    villages=[village_in(f"17.04.{d:02d}") for d in (1, 2, 3)],
    occupation="petani",
)
JAN = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def waiting_entry(i: int) -> dict[str, Any]:
    village = KAUR.villages[i % len(KAUR.villages)]
    return {
        "entry_id": f"WL-{i:03d}",
        "programme_id": KAUR.programme_id,
        "sponsor_id": KAUR.sponsor_id,
        "province_code": "17",
        "regency_code": "17.04",
        "district_code": village.rsplit(".", 1)[0],
        "village_code": village,
        "occupation": KAUR.occupation,
        "requested_on": date(2026, 2, 1),
    }


def replay_events() -> list[Event]:
    """One of every kind reporting projects: Kaur's programme opened, its quota raised and
    the programme closed; 12 workers registered in
    January and February, 3 of their enrolments ended; 4 workers waitlisted and 1 of them
    left the list; and billing's and claims' events (Kaur's March invoiced and paid,
    Kepahiang's April lapsed, claims filed, approved, rejected and paid)."""
    events: list[Event] = [
        ProgrammeOpened.create(
            ProgrammeOpenedPayload(**KAUR.terms()), producer="t", occurred_at=JAN
        )
    ]
    events.append(
        ProgrammeChanged.create(
            ProgrammeChangedPayload(**KAUR.terms(quota=40), changed=["quota"]),
            producer="t",
            occurred_at=datetime(2026, 2, 1, tzinfo=UTC),
        )
    )
    events.append(
        ProgrammeClosed.create(
            ProgrammeClosedPayload(
                **KAUR.terms(quota=40, end_month="2026-06"),
                status="closed",
                closed_on=date(2026, 6, 1),
            ),
            producer="t",
            occurred_at=datetime(2026, 6, 1, tzinfo=UTC),
        )
    )
    for i in range(12):
        at = datetime(2026, 1 + i % 2, 5 + i, 2, 0, tzinfo=UTC)
        events.append(KAUR.registered(i, at=at, occurred_at=at))
    for i in range(3):
        at = datetime(2026, 3, 20 + i, 2, 0, tzinfo=UTC)
        events.append(KAUR.ended(i, last_month="2026-03", effective_on=at.date(), occurred_at=at))
    for i in range(4):
        events.append(
            WorkerWaitlisted.create(
                WaitingListEntryPayload(**waiting_entry(i)), producer="t", occurred_at=JAN
            )
        )
    events.append(
        WaitingListLeft.create(
            WaitingListLeftPayload(**waiting_entry(0), reason=WaitingListReason.WITHDRAWN),
            producer="t",
            occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        )
    )
    return events + all_events()


def bus_on(repository: ReportingRepository) -> Any:
    return bootstrap(
        repository=repository,
        publisher=SimpleNamespace(wake=lambda: None),
        clock=FixedClock(datetime(2026, 4, 2, tzinfo=UTC)),
        settings=SimpleNamespace(),
        commands={},
        events=EVENT_HANDLERS,
    )


async def replayed(
    db, records: Sequence[tuple[str, bytes]], batch_size: int
) -> tuple[Replay, dict[str, list[dict[str, Any]]]]:
    """``records`` replayed into a fresh repository on ``db`` and counted: the replay, and
    every projection collection's documents (see ``projections``)."""
    repository = repository_of(db, "rebuild")
    await repository.ensure_indexes()
    for tally in repository.tallies:
        await tally.ensure_indexes()
    replay = Replay(bus_on(repository), projected_topics(), batch_size=batch_size)
    for topic, value in records:
        await replay.add(topic, value)
    await replay.flush()
    await _count_all(repository.tallies)
    return replay, await projections(db, repository)


#: What differs between two deliveries of the same events: the tallies' batch numbers (on
#: facts and counters) and when the event was applied.
def _kept(field: str) -> bool:
    return not field.startswith("tally") and field != "applied_at"


async def projections(db, repository: ReportingRepository) -> dict[str, list[dict[str, Any]]]:
    """Every projection collection's documents, by ``_id``, without their tally bookkeeping.
    The last event applied per topic to the second: the embedded store compares ISO times
    within one second as equal (see the store conformance suite), so of a topic's events of
    one second the one kept depends on the order they came in."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in projection_collections(repository):
        docs = await db[name].find({}).sort("_id", 1).to_list()
        out[name] = [{k: v for k, v in doc.items() if _kept(k)} for doc in docs]
    out["projection_state"] = [
        {"_id": doc["_id"], "second": doc["occurred_at"][:19]} for doc in out["projection_state"]
    ]
    return out


def records_of(events: Sequence[Event]) -> list[tuple[str, bytes]]:
    return [(e.TOPIC, e.to_wire()) for e in events]


def round_robin(events: Sequence[Event]) -> list[Event]:
    """One event of each topic in turn, topics in reverse order: every topic's events keep
    their order, the topics are interleaved."""
    by_topic: dict[str, list[Event]] = {}
    for event in events:
        by_topic.setdefault(event.TOPIC, []).append(event)
    queues = [list(reversed(q)) for _, q in sorted(by_topic.items(), reverse=True)]
    out: list[Event] = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop())
    return out


async def test_two_interleavings_and_every_event_twice_give_identical_projections(mongo_client):
    events = replay_events()
    assert {e.TOPIC for e in events} == set(projected_topics()), "one event of every kind"
    dbs = [mongo_client[f"t_rebuild_{i}_{random.getrandbits(32):08x}"] for i in range(3)]
    try:
        # Topic after topic, in large batches.
        in_order = sorted(records_of(events), key=lambda r: r[0])
        first, a = await replayed(dbs[0], in_order, batch_size=500)
        # Topics interleaved one event at a time, with a record that is not an event.
        mixed = records_of(round_robin(events))
        mixed.insert(5, ("billing.contribution-invoiced.v1", b'{"not": "an event"}'))
        second, b = await replayed(dbs[1], mixed, batch_size=1)
        # Everything twice, shuffled across topics and within them, in batches of 3.
        twice = records_of(events) * 2
        random.Random(9).shuffle(twice)
        third, c = await replayed(dbs[2], twice, batch_size=3)
    finally:
        for db in dbs:
            await mongo_client.drop_database(db.name)

    assert (first.read, first.applied, first.skipped, first.failed) == (
        len(events),
        len(events),
        0,
        0,
    )
    assert (second.read, second.applied, second.skipped) == (len(events) + 1, len(events), 1)
    assert (third.applied, third.failed) == (2 * len(events), 0)
    assert a == b == c
    counters = {doc["_id"]: doc for doc in a["coverage_counters"]}
    # The billing's and claims' figures are those one delivery of each makes, …
    for cid, figures in nonzero(expected_counters(all_events())).items():
        assert {name: counters[cid].get(name) for name in figures} == figures, cid
    # … and the workers': 12 registered in Kaur, 3 of them ended.
    kaur = counters["17.04"]
    assert (kaur["workers"], kaur["enrolments_ended"]) == (12, 3)
    assert (kaur["waitlisted"], kaur["waiting_left"]) == (4, 1)
    assert [p["quota"] for p in a["programmes"]] == [40]
    assert {name: len(docs) for name, docs in a.items() if name.endswith("_inbox")} == {
        name: 0 for name in a if name.endswith("_inbox")
    }
    assert a["tally_batches"] == []


async def test_the_collections_dropped_are_the_repositorys_projections_never_admin_data(mongo_db):
    repository = repository_of(mongo_db, "rebuild")
    names = set(projection_collections(repository))
    assert {
        "coverage_counters",
        "tally_batches",
        "covered_workers",
        "covered_workers_inbox",
        "invoiced_contributions_inbox",
        "paid_claims",
        "projection_state",
        "programmes",
    } <= names
    assert not names & NEVER_DROPPED
    assert not names & {"targets", "api_keys", "leases", "rebuilds"}
    # Every tally's facts, inbox and counters are there.
    for tally in repository.tallies:
        assert {tally.facts.name, tally.inbox.name, tally.counters.name} <= names
    # The API keys' topics are not replayed: the keys are kept, not rebuilt.
    assert ApiKeyIssued.TOPIC not in projected_topics()


async def test_the_rebuild_pauses_the_live_tallies_until_it_gives_their_leases_back(mongo_db):
    """The live service's tallies hold their leases; the rebuild takes them (a second rebuild
    is refused meanwhile): facts the live consumers record wait, uncounted, until the leases
    are given back, and the live tallies count them then."""
    live = repository_of(mongo_db, "live", ttl=0.6)
    await live.ensure_indexes()
    for tally in live.tallies:
        assert await tally.run_once() == 0  # each holds its lease now
    building = repository_of(mongo_db, "rebuild", ttl=0.6)
    leases = _Leases(
        Lease(mongo_db["leases"], REBUILD_LEASE, "rebuild", ttl=0.6),
        [t.lease for t in building.tallies],
    )
    await leases.take()
    try:
        other = _Leases(Lease(mongo_db["leases"], REBUILD_LEASE, "another", ttl=0.6), [])
        with pytest.raises(AdminError, match="a rebuild is running already"):
            await other.take()
        replay = Replay(bus_on(live), projected_topics())
        await replay_all(replay, all_events())
        assert [await tally.run_once() for tally in live.tallies] == [0] * len(live.tallies)
        assert await mongo_db["coverage_counters"].find_one({}) is None
        assert await live.invoice_tally.inbox.find_one({}) is not None
    finally:
        await leases.release()
    assert sum([await tally.run_once() for tally in live.tallies]) > 0
    counters = await mongo_db["coverage_counters"].find({}).to_list()
    counted = {doc["_id"]: doc for doc in counters}
    for cid, figures in nonzero(expected_counters(all_events())).items():
        assert {name: counted[cid].get(name) for name in figures} == figures, cid


async def replay_all(replay: Replay, events: Sequence[Event]) -> None:
    for event in events:
        await replay.add(event.TOPIC, event.to_wire())
    await replay.flush()


async def test_a_rebuild_whose_process_died_is_not_running(mongo_db):
    """The state says running while its process holds the rebuild lease, not after."""
    lease = Lease(mongo_db["leases"], REBUILD_LEASE, "rebuild-1", ttl=0.6)
    assert await lease.acquire()
    await mongo_db[REBUILDS].insert_one(
        {"_id": REBUILD_ID, "running": True, "owner": "rebuild-1", "phase": "replaying"}
    )
    assert (await rebuild_status(mongo_db))["running"] is True
    await mongo_db["leases"].update_one({"_id": REBUILD_LEASE}, {"$set": {"expires": 0.0}})
    status = await rebuild_status(mongo_db)
    assert status["running"] is False and status["phase"] == "replaying"
    assert status["outcome"] == "stopped before the end (its process died)"
