"""Reporting's projections of billing's, claims' and registration's events against the real
store: invoices, payments, lapses, claim steps, claim payments, enrolments registered and
ended, waiting-list entries joined and left, each delivered twice (again at other offsets, in
other batches, in another order) and across a tally killed between two of its writes, count
once in every region, all time and per month, in all and per programme and occupation; a
region's month reads as two lookups whose child rows add up to it; each topic knows the newest
event applied."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bpu_reporting.handlers import EVENT_HANDLERS
from bpu_reporting.store import ReportingRepository
from bpu_shared.clock import FixedClock
from bpu_shared.events import Event
from bpu_shared.messaging.exactly_once import Tally, inbox_of
from bpu_shared.messaging.lease import Lease
from tests.reporting_events import (
    KAUR_DISTRICTS,
    KAUR_PROGRAMME,
    KAUR_SECOND,
    MONTHLY,
    all_events,
    counters_in,
    expected_counters,
    nonzero,
    worker_events,
)


def repository_of(db, owner: str, *, ttl: float = 0.3) -> ReportingRepository:
    """The service's repository on the test's database, its tallies under ``owner``'s
    leases."""
    runtime = SimpleNamespace(
        db=db,
        uow=None,
        api_keys=None,
        lease=lambda name: Lease(db["leases"], name, owner, ttl=ttl),
    )
    return ReportingRepository(runtime)  # type: ignore[arg-type]


async def deliver(repository: ReportingRepository, events: Sequence[Event], size: int) -> None:
    """What the consumers do: each topic's events in batches of ``size``, through the
    service's own event handlers."""
    deps = SimpleNamespace(
        repository=repository, clock=FixedClock(datetime(2026, 4, 2, tzinfo=UTC))
    )
    by_type: dict[type, list[Event]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    for event_type, of_type in by_type.items():
        for start in range(0, len(of_type), size):
            for handler in EVENT_HANDLERS[event_type]:
                await handler(of_type[start : start + size], deps)


async def count_all(repository: ReportingRepository) -> None:
    for tally in repository.tallies:
        await tally.run_once()


async def assert_counted_once(db, events: Sequence[Event] | None = None) -> None:
    events = all_events() if events is None else events
    assert nonzero(await counters_in(db)) == nonzero(expected_counters(events))
    for facts in (
        "claim_steps",
        "invoiced_contributions",
        "paid_contributions",
        "lapsed_programmes",
        "paid_claims",
        "covered_workers",
        "ended_enrolments",
        "waiting_list_entries",
        "waiting_list_left",
    ):
        assert await inbox_of(db[facts]).count_documents({}) == 0
    assert await db["tally_batches"].count_documents({}) == 0


async def test_kaurs_month_reads_as_the_regions_total_and_its_15_districts(mongo_db):
    repository = repository_of(mongo_db, "a")
    await repository.ensure_indexes()
    await deliver(repository, all_events(), size=100)
    await count_all(repository)

    own, children = await repository.figures("17.04", "2026-03")
    assert own["contributions_invoiced_rupiah"] == 119_784_000
    assert own["contributions_paid_rupiah"] == 119_784_000
    assert own["payments_applied_rupiah"] == 119_784_000
    assert (own["worker_months_invoiced"], own["workers_covered"], own["invoices"]) == (
        7_130,
        7_130,
        1,
    )
    assert sorted(children) == KAUR_DISTRICTS
    assert sum(c["contributions_invoiced_rupiah"] for c in children.values()) == 119_784_000
    assert sum(c["contributions_paid_rupiah"] for c in children.values()) == 119_784_000
    assert sum(c["workers_covered"] for c in children.values()) == 7_130

    province, regencies = await repository.figures("17", "2026-03")
    assert province["contributions_invoiced_rupiah"] == 119_784_000 + 42 * MONTHLY
    assert regencies["17.04"] == own
    assert set(regencies) == {"17.04", "17.08"}
    april, _ = await repository.figures("17", "2026-04")
    assert (april["contributions_invoiced_rupiah"], april["contributions_paid_rupiah"]) == (
        42 * MONTHLY,
        0,
    )
    assert (april["programmes_lapsed"], april["workers_lapsed"]) == (1, 42)
    all_time, _ = await repository.figures("17")
    assert all_time["contributions_invoiced_rupiah"] == 119_784_000 + 2 * 42 * MONTHLY

    # Claims: filed in February, decided and paid in March (one approval on 1 April in
    # Jakarta), per programme and kind.
    feb, _ = await repository.figures("17", "2026-02")
    assert (feb["claims_filed"], feb["claims_filed_jkk"], feb["claims_filed_jkm"]) == (3, 2, 1)
    mar, regencies = await repository.figures("17", "2026-03")
    assert (mar["claims_approved"], mar["claims_rejected"], mar["claims_paid"]) == (1, 1, 1)
    assert mar["benefits_paid_rupiah"] == 43_500_000  # the JKM death and one instalment
    assert mar["benefits_paid_kind_scholarship_rupiah"] == 1_500_000
    assert mar["benefits_paid_kind_lump_sum_rupiah"] == 20_000_000
    assert regencies["17.08"]["claims_rejected_jkk"] == 1
    apr, _ = await repository.figures("17.04", "2026-04")
    assert (apr["claims_approved_jkk"], apr["benefits_paid_jkk_rupiah"]) == (1, 3_500_000)
    assert apr["benefits_paid_kind_transport_rupiah"] == 500_000
    everything, _ = await repository.figures("")
    assert everything["benefits_paid_rupiah"] == 47_000_000
    assert everything["claims_paid"] == 2
    await assert_counted_once(mongo_db)


async def test_every_event_again_at_other_offsets_and_batch_boundaries_counts_once(mongo_db):
    """Every event delivered, counted, then published again in another order and other
    consumer batches, some counted in between, with small tally batches: each counts once."""
    repository = repository_of(mongo_db, "a")
    for tally in repository.tallies:
        tally.batch_size = 2
    await repository.ensure_indexes()
    events = all_events()
    await deliver(repository, events, size=3)
    await count_all(repository)
    again = list(events)
    random.Random(9).shuffle(again)
    await deliver(repository, again[:7], size=2)
    await count_all(repository)
    await deliver(repository, again, size=5)  # some a third time
    await deliver(repository, events, size=1)
    await count_all(repository)
    await assert_counted_once(mongo_db)


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


TALLIES = [
    "contributions-invoiced",
    "contributions-paid",
    "coverage-lapsed",
    "claim-steps",
    "coverage-claims",
]


@pytest.mark.parametrize(
    ("name", "point"),
    [(name, point) for name in TALLIES for point in ("counted", "inbox-emptied")]
    + [("contributions-paid", "inserted")],  # every point of the kit: test_tally.py
)
async def test_a_tally_killed_between_two_writes_counts_each_fact_once(mongo_db, name, point):
    """The tally killed after inserting its facts, between two counter writes, or after
    counting all but before emptying its inbox; the events delivered again meanwhile; the next
    holder of the lease finishes the batch: every counter as one delivery makes it."""
    first = repository_of(mongo_db, "first")
    await first.ensure_indexes()
    await deliver(first, all_events(), size=4)
    for tally in first.tallies:
        if tally.tally_name != name:
            await tally.run_once()
    crashing: Tally = next(t for t in first.tallies if t.tally_name == name)
    crashing.counter_chunk = 2  # several counter writes per batch, to crash between them

    async def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    crashing.after_write = crash
    with pytest.raises(Crash):
        await crashing.run_once()

    second = repository_of(mongo_db, "second")
    await deliver(second, list(reversed(all_events())), size=3)
    await asyncio.sleep(0.4)  # the dead process's lease expires
    await count_all(second)
    await count_all(second)
    await assert_counted_once(mongo_db)


# -- registration's events: enrolments registered and ended, the waiting list ---------------------

WORKER_TALLIES = ["coverage-workers", "enrolments-ended", "waitlisted", "waiting-left"]


async def test_worker_events_again_at_other_offsets_and_batch_boundaries_count_once(mongo_db):
    """Enrolments registered and ended, entries joining and leaving the waiting list: delivered,
    counted, then again in another order and other batches (some a third time, some before the
    entry they leave): each counts once, in all and in each slice."""
    repository = repository_of(mongo_db, "a")
    for tally in repository.tallies:
        tally.batch_size = 4
    await repository.ensure_indexes()
    events = worker_events()
    await deliver(repository, events, size=3)
    await count_all(repository)
    again = list(events)
    random.Random(4).shuffle(again)
    await deliver(repository, again[:11], size=2)
    await count_all(repository)
    await deliver(repository, again, size=7)
    await deliver(repository, list(reversed(events)), size=1)
    await count_all(repository)
    await assert_counted_once(mongo_db, events)

    own, districts = await repository.figures("17.04")
    assert (own["workers"], own["enrolments_ended"], own["waitlisted"], own["waiting_left"]) == (
        30,
        3,
        5,
        2,
    )
    assert (districts["17.04.01"]["workers"], districts["17.04.02"]["workers"]) == (20, 10)
    second, _ = await repository.figures("17.04", slice=("programme", KAUR_SECOND))
    assert second["workers"] == 6
    farmers, by_district = await repository.figures("17", slice=("occupation", "farmer"))
    assert (farmers["workers"], farmers["waitlisted"]) == (15, 5)
    assert set(by_district) == {"17.04"}
    # Occupations stop at the district: no village counter of them.
    _, villages = await repository.figures("17.04.01", slice=("occupation", "farmer"))
    assert villages == {}
    _, villages = await repository.figures("17.04.01", slice=("programme", KAUR_PROGRAMME))
    assert sum(v["workers"] for v in villages.values()) == 16  # WK-00..23 in 17.04.01


@pytest.mark.parametrize(
    ("name", "point"),
    [(name, point) for name in WORKER_TALLIES for point in ("counted", "inbox-emptied")],
)
async def test_a_worker_tally_killed_between_two_writes_counts_each_fact_once(
    mongo_db, name, point
):
    first = repository_of(mongo_db, "first")
    await first.ensure_indexes()
    events = worker_events()
    await deliver(first, events, size=4)
    for tally in first.tallies:
        if tally.tally_name != name:
            await tally.run_once()
    crashing: Tally = next(t for t in first.tallies if t.tally_name == name)
    crashing.counter_chunk = 2

    async def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    crashing.after_write = crash
    with pytest.raises(Crash):
        await crashing.run_once()

    second = repository_of(mongo_db, "second")
    await deliver(second, list(reversed(events)), size=3)
    await asyncio.sleep(0.4)  # the dead process's lease expires
    await count_all(second)
    await count_all(second)
    await assert_counted_once(mongo_db, events)


async def test_months_and_many_regions_read_in_one_lookup_each(mongo_db):
    repository = repository_of(mongo_db, "a")
    await repository.ensure_indexes()
    await deliver(repository, worker_events() + all_events(), size=50)
    await count_all(repository)
    months = await repository.months("17.04", ["2026-02", "2026-03", "2026-04", "2026-05"])
    assert [m["workers"] for m in months.values()] == [10, 10, 10, 0]
    assert months["2026-03"]["contributions_paid_rupiah"] == 119_784_000
    assert months["2026-04"]["waiting_left"] == 2
    many = await repository.figures_many(["17.04.01", "17.04.02", "17.04.03"], period="2026-03")
    assert [many[c]["workers_covered"] for c in sorted(many)] == [476, 476, 476]
    sliced = await repository.figures_many(
        ["17.04", "17.08"], slice=("programme", KAUR_PROGRAMME), months=["2026-03", "2026-04"]
    )
    assert sliced["17.04|2026-03"]["contributions_invoiced_rupiah"] == 119_784_000
    assert sliced["17.04|2026-03"]["workers"] == 10  # WK-10..19
    assert sliced["17.04|2026-04"]["workers"] == 4  # WK-20..23 (WK-24..29 are the second's)
    assert sliced["17.08|2026-04"]["workers"] == 0


async def test_each_topic_keeps_the_newest_event_applied_whatever_the_order(mongo_db):
    events = worker_events() + all_events()
    newest: dict[str, Event] = {}
    for event in events:
        best = newest.get(event.TOPIC)
        if best is None or (event.occurred_at, str(event.event_id)) > (
            best.occurred_at,
            str(best.event_id),
        ):
            newest[event.TOPIC] = event
    states = []
    for seed in (1, 2):
        repository = repository_of(mongo_db, f"p{seed}")
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        await mongo_db["projection_state"].delete_many({})
        await deliver(repository, shuffled, size=3)
        await deliver(repository, events, size=5)  # again
        applied = await repository.last_applied()
        states.append({topic: state["event_id"] for topic, state in applied.items()})
    assert states[0] == states[1] == {t: str(e.event_id) for t, e in newest.items()}
    assert applied[newest["registration.waiting-list-left.v1"].TOPIC]["occurred_at"] == (
        newest["registration.waiting-list-left.v1"].occurred_at
    )
