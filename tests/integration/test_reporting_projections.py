"""Reporting's projections of billing's and claims' events against the real store: invoices,
payments, lapses, claim steps and claim payments, each delivered twice (again at other
offsets, in other batches, in another order) and across a tally killed between two of its
writes, count once in every region, all time and per month; a region's month reads as two
lookups whose child rows add up to it."""

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
    MONTHLY,
    all_events,
    counters_in,
    expected_counters,
    nonzero,
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


async def assert_counted_once(db) -> None:
    assert nonzero(await counters_in(db)) == nonzero(expected_counters(all_events()))
    for facts in (
        "claim_steps",
        "invoiced_contributions",
        "paid_contributions",
        "lapsed_programmes",
        "paid_claims",
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
