"""Billing's roster against the real store: every handler of registration's events fed the same
events once, twice at other batch boundaries, out of order, and after a crash part-way through
a batch, leaves the same state; payments' fields of a programme survive its changes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_billing.handlers.roster import ROSTER_EVENT_HANDLERS
from bpu_billing.store import BillingRepository
from bpu_billing.store.roster import ENROLMENTS, PROGRAMMES, WORKER_CHANGES
from bpu_shared.clock import FixedClock
from bpu_shared.events import (
    BenefitProgramme,
    EnrolmentEnded,
    Event,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    WorkerChanged,
    WorkerRegistered,
)
from bpu_shared.service_layer.bus import Deps
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from tests.registration_events import Programme

T0 = datetime(2022, 9, 1, 8, tzinfo=UTC)
PASER = Programme(
    programme_id="PG-paser-2022",
    sponsor_id="SP-paser",
    name="Pekerja Rentan Paser 2022",
    region_code="64.01",
    budget_year=2022,
    quota=1000,
    benefits=(BenefitProgramme.JKK, BenefitProgramme.JKM),
    start_month="2022-10",
    end_month="2022-12",
    villages=("64.01.01.2001", "64.01.02.2001", "64.01.03.2001"),
    occupation="farmer",
)
PROGRAMME = PASER.programme_id
terms = PASER.terms


def programme_events() -> list[Event]:
    return [
        ProgrammeOpened.create(ProgrammeOpenedPayload(**terms()), producer="t", occurred_at=T0),
        ProgrammeChanged.create(
            ProgrammeChangedPayload(**terms(quota=2000), changed=["quota"]),
            producer="t",
            occurred_at=T0 + timedelta(days=1),
        ),
        ProgrammeClosed.create(
            ProgrammeClosedPayload(
                **terms(quota=2000, end_month="2022-11", status="closed"),
                closed_on=date(2022, 11, 20),
            ),
            producer="t",
            occurred_at=T0 + timedelta(days=60),
        ),
    ]


def registered(count: int) -> list[WorkerRegistered]:
    return [
        PASER.registered(i, T0, T0 + timedelta(minutes=i), cover_end="2022-12")
        for i in range(count)
    ]


def ended(indexes: Sequence[int]) -> list[EnrolmentEnded]:
    # Two ends of one enrolment: the later one (October) must win whatever the order.
    return [
        PASER.ended(i, last, date(2022, 10, 5), T0 + timedelta(days=30 + n, hours=hours))
        for n, i in enumerate(indexes)
        for last, hours in (("2022-11", 1), ("2022-10", 2))
    ]


def changed(indexes: Sequence[int]) -> list[WorkerChanged]:
    return [
        PASER.changed(
            i,
            "2022-11",
            T0 + timedelta(days=40, minutes=i),
            changed=("declared_monthly_income", "domicile_code"),
            like=i + 1,
        )
        for i in indexes
    ]


def all_events(workers: int = 60) -> dict[type, list[Any]]:
    return {
        ProgrammeOpened: [e for e in programme_events() if isinstance(e, ProgrammeOpened)],
        ProgrammeChanged: [e for e in programme_events() if isinstance(e, ProgrammeChanged)],
        ProgrammeClosed: [e for e in programme_events() if isinstance(e, ProgrammeClosed)],
        WorkerRegistered: registered(workers),
        EnrolmentEnded: ended(range(0, workers, 7)),
        WorkerChanged: changed(range(0, workers, 5)),
    }


@pytest.fixture
def deps(mongo_db) -> Deps[BillingRepository, Any]:
    uow = UnitOfWork(mongo_db, BillingRepository.OUTBOX_COLLECTIONS)
    runtime = SimpleNamespace(db=mongo_db, uow=uow, api_keys=None)
    repo = BillingRepository(runtime)  # type: ignore[arg-type]
    return Deps(repo, uow.publisher, FixedClock(T0), SimpleNamespace(rates_file=None))


async def apply(deps, events: Sequence[Any], batch: int) -> None:
    """What the consumer does: the events of one type in batches of ``batch``."""
    if not events:
        return
    for handler in ROSTER_EVENT_HANDLERS[type(events[0])]:
        for start in range(0, len(events), batch):
            await handler(events[start : start + batch], deps)


async def state(db) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(await db[name].find({}).to_list(), key=lambda d: d["_id"])
        for name in (PROGRAMMES, ENROLMENTS, WORKER_CHANGES)
    }


ORDER = [
    ProgrammeOpened,
    ProgrammeChanged,
    ProgrammeClosed,
    WorkerRegistered,
    EnrolmentEnded,
    WorkerChanged,
]


async def feed_once(deps, events: dict[type, list[Any]], batch: int = 1000) -> None:
    for kind in ORDER:
        await apply(deps, events[kind], batch)


async def reference_state(mongo_client, events) -> dict[str, list[dict[str, Any]]]:
    """The state one clean delivery leaves, in a database of its own."""
    name = f"t_ref_{random.randrange(1 << 30):x}"
    db = mongo_client[name]
    try:
        uow = UnitOfWork(db, BillingRepository.OUTBOX_COLLECTIONS)
        repo = BillingRepository(SimpleNamespace(db=db, uow=uow, api_keys=None))  # type: ignore[arg-type]
        await repo.ensure_indexes()
        await feed_once(Deps(repo, uow.publisher, FixedClock(T0), None), events)
        return await state(db)
    finally:
        await mongo_client.drop_database(name)


async def test_one_delivery_builds_the_roster(deps, mongo_db):
    events = all_events()
    await deps.repository.ensure_indexes()
    await feed_once(deps, events)
    repo = deps.repository
    programme = await repo.programme_doc(PROGRAMME)
    assert programme is not None
    assert (programme["quota"], programme["end_month"], programme["status"]) == (
        2000,
        "2022-11",
        "closed",
    )
    assert programme["closed_on"] == "2022-11-20"
    assert await mongo_db[ENROLMENTS].count_documents({}) == 60
    # Ends: the later event (October) stands, whatever came first.
    assert (await mongo_db[ENROLMENTS].find_one({"_id": "EN-00007"}))["last_month"] == "2022-10"
    assert (await mongo_db[ENROLMENTS].find_one({"_id": "EN-00001"}))["last_month"] == "2022-12"
    mine = await repo.enrolments_of_worker("WK-00005")
    assert [c["income"] for c in mine[0]["changes"]] == [2_500_000]
    assert mine[0]["income"] == 1_000_000


@pytest.mark.parametrize("first,second", [(1000, 1000), (7, 13), (1, 1000), (17, 3)])
async def test_every_event_delivered_twice_at_other_batch_boundaries_applies_once(
    deps, mongo_db, mongo_client, first, second
):
    events = all_events()
    expected = await reference_state(mongo_client, events)
    await feed_once(deps, events, first)
    await feed_once(deps, events, second)
    assert await state(mongo_db) == expected


async def test_events_out_of_order_leave_the_same_roster(deps, mongo_db, mongo_client):
    """Topics are not ordered among themselves: ends and changes before their registrations,
    an older programme event after a newer one, each batch shuffled."""
    events = all_events()
    expected = await reference_state(mongo_client, events)
    rng = random.Random(7)
    for kind in reversed(ORDER):
        shuffled = list(events[kind])
        rng.shuffle(shuffled)
        await apply(deps, shuffled, 9)
    assert await state(mongo_db) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_crash_part_way_through_each_batch_then_redelivery_applies_once(
    deps, mongo_db, mongo_client, seed
):
    """A process killed in the middle of a batch's writes has applied some of its events (an
    unordered bulk insert stops anywhere; programme and end writes are one per event); the
    batch then comes again whole."""
    events = all_events()
    expected = await reference_state(mongo_client, events)
    rng = random.Random(seed)
    for kind in ORDER:
        batch = events[kind]
        await apply(deps, rng.sample(batch, k=rng.randrange(len(batch) + 1)), 1000)  # crashed
        await apply(deps, batch, 1000)  # redelivered
    assert await state(mongo_db) == expected


async def test_payments_fields_of_a_programme_survive_its_events(deps, mongo_db):
    opened, changed_, closed = programme_events()
    await apply(deps, [opened], 10)
    await mongo_db[PROGRAMMES].update_one(
        {"_id": PROGRAMME}, {"$set": {"credit_rupiah": 5_000, "lapsed_from": "2022-12"}}
    )
    await apply(deps, [changed_, closed, opened], 10)
    doc = await deps.repository.programme_doc(PROGRAMME)
    assert (doc["credit_rupiah"], doc["lapsed_from"], doc["status"]) == (5_000, "2022-12", "closed")
    assert doc["as_of"] == closed.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")


# -- the billing run over this roster, crashed between its writes -------------------------------


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


async def invoices_in(db) -> list[dict[str, Any]]:
    return sorted(await db["invoices"].find({}).to_list(), key=lambda d: d["_id"])


@pytest.mark.parametrize("point", ["drafted", "blocks-written", "issued"])
async def test_a_run_crashed_between_its_writes_issues_each_invoice_once(deps, mongo_db, point):
    from bpu_billing.handlers.runs import bill_programme
    from bpu_shared.month import Month

    await deps.repository.ensure_indexes()
    for event in programme_events()[:2]:
        await apply(deps, [event], 1)
    await apply(deps, registered(5_001), 1000)
    october = Month(2022, 10)

    async def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    with pytest.raises(Crash):
        await bill_programme(deps, PROGRAMME, october, "run-1", crash)
    billed = await bill_programme(deps, PROGRAMME, october, "run-2")
    again = await bill_programme(deps, PROGRAMME, october, "run-3")
    [invoice] = await invoices_in(mongo_db)
    assert invoice["state"] == "issued"
    assert invoice["worker_count"] == 5_001
    assert len(invoice.get("outbox", [])) + len(invoice.get("outbox_sent", [])) == 1
    assert billed.invoice_id == (None if point == "issued" else invoice["_id"])
    assert again.invoice_id is None
    lines = await deps.repository.lines_of(invoice["_id"])
    assert [line.enrolment_id for line in lines] == sorted(f"EN-{i:05d}" for i in range(5_001))
    assert invoice["amount_rupiah"] == sum(line.amount for line in lines)
    assert await mongo_db["invoice_lines"].count_documents({}) == 2  # 5,000 a block

    # A late enrolment: a supplementary invoice of its line alone, crashed and finished too.
    late = registered(5_002)[-1:]
    await apply(deps, late, 10)
    with pytest.raises(Crash):
        await bill_programme(deps, PROGRAMME, october, "run-4", crash)
    await bill_programme(deps, PROGRAMME, october, "run-5")
    base, supplementary = await invoices_in(mongo_db)
    assert (base["_id"], base["worker_count"]) == (invoice["_id"], 5_001)
    assert (supplementary["sequence"], supplementary["worker_count"]) == (1, 1)
    assert [line.worker_id for line in await deps.repository.lines_of(supplementary["_id"])] == [
        "WK-05001"
    ]


async def test_the_budgets_monthly_cost_is_what_the_run_bills(deps, mongo_db):
    """The budget prices this month's roster as the run bills it: ends, and a change of income
    effective this month (WK-00005 declares Rp2,500,000 from November)."""
    from dataclasses import replace

    from bpu_billing.handlers.budget import GetBudget, programme_budget
    from bpu_billing.handlers.runs import bill_programme
    from bpu_shared.auth import ADMIN
    from bpu_shared.month import Month

    await deps.repository.ensure_indexes()
    await feed_once(deps, all_events())
    november = replace(deps, clock=FixedClock(datetime(2022, 11, 10, 3, tzinfo=UTC)))
    budget = await programme_budget(GetBudget(PROGRAMME), ADMIN, november)
    billed = await bill_programme(november, PROGRAMME, Month(2022, 11))
    [invoice] = await invoices_in(mongo_db)
    assert invoice["_id"] == billed.invoice_id
    assert budget.month == Month(2022, 11)
    assert (budget.enrolled_workers, budget.monthly_cost_rupiah) == (
        invoice["worker_count"],
        invoice["amount_rupiah"],
    )
    lines = {line.worker_id: line for line in await deps.repository.lines_of(invoice["_id"])}
    assert lines["WK-00005"].income == 2_500_000
    assert "WK-00007" not in lines  # ended with October


@pytest.mark.parametrize("backwards", [False, True], ids=["in order", "backwards"])
async def test_a_change_within_the_second_of_the_opening_is_kept(deps, mongo_db, backwards):
    """The newer-only write compares the events' microseconds, not their ISO times (which the
    embedded store orders only to the second): a quota raised 300 ms after the programme opened
    stays, whichever of the two events arrives first."""
    opened = ProgrammeOpened.create(
        ProgrammeOpenedPayload(**terms()), producer="t", occurred_at=T0 + timedelta(seconds=1)
    )
    raised = ProgrammeChanged.create(
        ProgrammeChangedPayload(**terms(quota=2000), changed=["quota"]),
        producer="t",
        occurred_at=T0 + timedelta(seconds=1, milliseconds=300),
    )
    for event in [raised, opened] if backwards else [opened, raised]:
        await apply(deps, [event], 1)
    programme = await deps.repository.programme_doc(PROGRAMME)
    assert programme["quota"] == 2000


async def test_a_programme_stored_before_the_order_field_takes_a_newer_event(deps, mongo_db):
    """A programme document written by the earlier code (an ISO ``as_of``, no order field) is
    compared by its ISO time once, then carries the order."""
    old = {**terms(), "as_of": T0.isoformat()}
    await mongo_db[PROGRAMMES].insert_one({"_id": PROGRAMME, **old})
    await apply(deps, programme_events()[1:2], 1)  # the change, a day later
    stored = await mongo_db[PROGRAMMES].find_one({"_id": PROGRAMME})
    assert stored["quota"] == 2000 and stored["as_of_order"] > "0"
    await apply(deps, programme_events()[:1], 1)  # the older opening again: nothing changes
    assert (await mongo_db[PROGRAMMES].find_one({"_id": PROGRAMME}))["quota"] == 2000


@pytest.mark.parametrize("backwards", [False, True], ids=["in order", "backwards"])
async def test_two_ends_within_one_second_keep_the_later(deps, mongo_db, backwards):
    """An enrolment's end compares the events' microseconds too: of two ends 500 ms apart the
    later stands, whichever arrives first (the store orders ISO times only to the second)."""
    await apply(deps, [PASER.registered(1, T0, T0, cover_end="2022-12")], 1)
    first = PASER.ended(
        1, "2022-11", date(2022, 10, 5), T0 + timedelta(seconds=1, milliseconds=200)
    )
    later = PASER.ended(
        1, "2022-10", date(2022, 10, 5), T0 + timedelta(seconds=1, milliseconds=700)
    )
    for event in [later, first] if backwards else [first, later]:
        await apply(deps, [event], 1)
    assert (await mongo_db[ENROLMENTS].find_one({"_id": "EN-00001"}))["last_month"] == "2022-10"
