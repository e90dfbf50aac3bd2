"""Claims' view of cover against the real store: registration's and billing's events delivered
once, twice at other batch boundaries, out of order, and again after a crash part-way through a
batch leave the same state; a CoverPaid of 10,000 workers is one bulk write; the cover view read
back from the store says paid, arrears, past the window, lapsed or not enrolled."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import bpu_claims.store.cover as cover_store
import bpu_shared.store as shared_store
from bpu_claims.domain import MonthStatus
from bpu_claims.handlers.cover import COVER_EVENT_HANDLERS, TERMS, as_of, cover_of
from bpu_claims.store import ClaimsRepository
from bpu_claims.store.cover import (
    COVER_CHANGES,
    COVER_ENROLMENTS,
    COVER_PAID,
    COVER_PROGRAMMES,
    ProgrammeTerms,
)
from bpu_shared.clock import FixedClock
from bpu_shared.events import (
    BenefitProgramme,
    ContributionInvoiced,
    ContributionInvoicedPayload,
    CoverageLapsed,
    CoverageLapsedPayload,
    CoverPaid,
    CoverPaidPayload,
    EnrolmentEnded,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    WorkerChanged,
    WorkerRegistered,
)
from bpu_shared.service_layer.bus import Deps
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from tests.registration_events import Programme

T0 = datetime(2024, 9, 1, 8, tzinfo=UTC)
PROGRAMME = "PG-kaur-2024"
JKK_JKM = [BenefitProgramme.JKK, BenefitProgramme.JKM]
COLLECTIONS = (COVER_PROGRAMMES, COVER_ENROLMENTS, COVER_CHANGES, COVER_PAID)


KAUR = Programme(
    programme_id=PROGRAMME,
    sponsor_id="SP-kaur",
    name="Pekerja Rentan Kaur 2024",
    region_code="17.04",
    budget_year=2024,
    quota=10_000,
    benefits=JKK_JKM,
    start_month="2024-10",
    end_month="2024-12",
    villages=("17.04.01.2001",),
    occupation="fisher",
)
terms = KAUR.terms


def events_of(workers: int) -> dict[type, list[Any]]:
    at = T0
    registered = [KAUR.registered(i, at, at + timedelta(minutes=i)) for i in range(workers)]
    ended = [
        KAUR.ended(i, last, date(2024, 10, 5), at + timedelta(days=30 + hours))
        for i in range(0, workers, 7)
        for last, hours in (("2024-11", 1), ("2024-10", 2))  # the later (October) wins
    ]
    changed = [
        KAUR.changed(i, "2024-11", at + timedelta(days=40, minutes=i)) for i in range(0, workers, 5)
    ]
    invoiced = [
        ContributionInvoiced.create(
            ContributionInvoicedPayload(
                invoice_id=f"IN-{month}",
                sponsor_id="SP-kaur",
                programme_id=PROGRAMME,
                region_code="17.04",
                period=month,
                worker_count=workers,
                amount_by_benefit={BenefitProgramme.JKK: 10_000 * workers},
                amount_rupiah=10_000 * workers,
                due_date=date.fromisoformat(due),
            ),
            producer="t",
            occurred_at=at + timedelta(days=n),
        )
        for n, (month, due) in enumerate(
            (("2024-10", "2024-10-15"), ("2024-11", "2024-11-15"), ("2024-12", "2024-12-16"))
        )
    ]
    ids = [f"WK-{i:05d}" for i in range(workers)]
    paid = [
        CoverPaid.create(
            CoverPaidPayload(
                invoice_id="IN-2024-10",
                programme_id=PROGRAMME,
                sponsor_id="SP-kaur",
                period="2024-10",
                worker_ids=block,
            ),
            producer="t",
            occurred_at=at + timedelta(days=50),
        )
        for block in (ids[: workers // 2], ids[workers // 2 :])
    ]
    lapsed = [
        CoverageLapsed.create(
            CoverageLapsedPayload(
                programme_id=PROGRAMME,
                sponsor_id="SP-kaur",
                region_code="17.04",
                lapsed_from="2024-12",
                unpaid_periods=["2024-12"],
                worker_count=workers,
            ),
            producer="t",
            occurred_at=at + timedelta(days=120),
        )
    ]
    programme = [
        ProgrammeOpened.create(ProgrammeOpenedPayload(**terms()), producer="t", occurred_at=at),
    ]
    change = [
        ProgrammeChanged.create(
            ProgrammeChangedPayload(
                **terms(benefits=[*JKK_JKM, BenefitProgramme.JHT]), changed=["benefits"]
            ),
            producer="t",
            occurred_at=at + timedelta(days=1),
        ),
        # JHT dropped in mid-November: from November on the programme pays JKK and JKM only.
        ProgrammeChanged.create(
            ProgrammeChangedPayload(**terms(), changed=["benefits"]),
            producer="t",
            occurred_at=at + timedelta(days=75),
        ),
    ]
    return {
        ProgrammeOpened: programme,
        ProgrammeChanged: change,
        WorkerRegistered: registered,
        EnrolmentEnded: ended,
        WorkerChanged: changed,
        ContributionInvoiced: invoiced,
        CoverPaid: paid,
        CoverageLapsed: lapsed,
    }


ORDER = list(events_of(1))


def deps_for(db: Any) -> Deps[ClaimsRepository, Any]:
    uow = UnitOfWork(db, ClaimsRepository.OUTBOX_COLLECTIONS)
    repo = ClaimsRepository(SimpleNamespace(db=db, uow=uow, api_keys=None))  # type: ignore[arg-type]
    return Deps(repo, uow.publisher, FixedClock(T0), SimpleNamespace())


@pytest.fixture
async def deps(mongo_db) -> Deps[ClaimsRepository, Any]:
    found = deps_for(mongo_db)
    await found.repository.ensure_indexes()
    return found


async def apply(deps: Any, events: Sequence[Any], batch: int) -> None:
    """What the consumer does: the events of one type in batches of ``batch``."""
    for handler in COVER_EVENT_HANDLERS[type(events[0])] if events else ():
        for start in range(0, len(events), batch):
            await handler(events[start : start + batch], deps)


async def feed(deps: Any, events: dict[type, list[Any]], batch: int = 1000) -> None:
    for kind in ORDER:
        await apply(deps, events[kind], batch)


async def state(db: Any) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for name in COLLECTIONS:
        found[name] = sorted(await db[name].find({}).to_list(), key=lambda d: d["_id"])
    return found


async def reference_state(mongo_client: Any, events: dict[type, list[Any]]) -> dict[str, Any]:
    """The state one clean delivery leaves, in a database of its own."""
    name = f"t_ref_{random.randrange(1 << 30):x}"
    db = mongo_client[name]
    try:
        await feed(deps_for(db), events)
        return await state(db)
    finally:
        await mongo_client.drop_database(name)


async def view(deps: Any, worker: str, day: date, today: date) -> Any:
    found = await cover_of(deps.repository, worker, BenefitProgramme.JKM, day, today, 3)
    return found.view if found else None


async def test_one_delivery_builds_the_cover_view(deps):
    await feed(deps, events_of(40))
    today = date(2025, 1, 10)
    paid = await view(deps, "WK-00001", date(2024, 10, 20), today)
    assert paid.month_status is MonthStatus.PAID and paid.contribution_months == 1
    # The programme's benefits in force in the incident month: JHT added in September (the
    # month it opened), dropped in November; October's claim reads them as they were then.
    assert paid.benefits == {*JKK_JKM, BenefitProgramme.JHT}
    assert (await view(deps, "WK-00001", date(2024, 11, 1), today)).benefits == set(JKK_JKM)
    assert (await view(deps, "WK-00001", date(2024, 12, 20), today)).benefits == set(JKK_JKM)
    stored = await deps.repository.cover_programme(PROGRAMME)
    assert stored["benefits"] == ["JKK", "JKM"] and len(stored["benefits_at"]) == 3
    assert paid.declared_income == 1_000_000
    arrears = await view(deps, "WK-00001", date(2024, 11, 20), today)
    assert arrears.month_status is MonthStatus.ARREARS  # payable until 2025-02-17
    assert (await view(deps, "WK-00001", date(2024, 11, 20), date(2025, 3, 1))).month_status is (
        MonthStatus.UNPAID_PAST_WINDOW
    )
    assert (await view(deps, "WK-00001", date(2024, 12, 20), today)).month_status is (
        MonthStatus.LAPSED
    )
    # WK-00005's income changed from November; WK-00007's enrolment ended with October.
    assert (await view(deps, "WK-00005", date(2024, 10, 20), today)).declared_income == 1_000_000
    assert (await view(deps, "WK-00005", date(2024, 11, 20), today)).declared_income == 2_500_000
    assert (await view(deps, "WK-00007", date(2024, 11, 20), today)).month_status is (
        MonthStatus.NOT_ENROLLED
    )
    assert await view(deps, "WK-nobody", date(2024, 11, 20), today) is None


@pytest.mark.parametrize(("first", "second"), [(1000, 1000), (7, 13), (1, 1000)])
async def test_every_event_delivered_twice_at_other_batch_boundaries_applies_once(
    deps, mongo_db, mongo_client, first, second
):
    events = events_of(60)
    expected = await reference_state(mongo_client, events)
    await feed(deps, events, first)
    await feed(deps, events, second)
    assert await state(mongo_db) == expected


async def test_events_out_of_order_leave_the_same_view(deps, mongo_db, mongo_client):
    """Topics are not ordered among themselves: payments and ends before the registrations,
    an older programme event after a newer one, each batch shuffled."""
    events = events_of(60)
    expected = await reference_state(mongo_client, events)
    rng = random.Random(11)
    for kind in reversed(ORDER):
        shuffled = list(events[kind])
        rng.shuffle(shuffled)
        await apply(deps, shuffled, 9)
    assert await state(mongo_db) == expected


async def test_a_crash_part_way_through_a_batch_then_a_larger_batch(
    deps, mongo_db, mongo_client, monkeypatch
):
    """Each bulk insert writes half its documents and the process dies; the consumer, started
    again, gets the batch again inside a larger one."""
    events = events_of(60)
    expected = await reference_state(mongo_client, events)
    real = cover_store.insert_new

    async def half_then_crash(coll: Any, docs: Sequence[Any]) -> set[int]:
        await real(coll, list(docs)[: len(docs) // 2])
        raise ConnectionError("the process died here")

    for module in (cover_store, shared_store):  # claims' own bulk inserts, the enrolments'
        monkeypatch.setattr(module, "insert_new", half_then_crash)
    for kind in (WorkerRegistered, WorkerChanged, CoverPaid):
        with pytest.raises(ConnectionError):
            await apply(deps, events[kind][:30], 30)
    for module in (cover_store, shared_store):
        monkeypatch.setattr(module, "insert_new", real)
    await feed(deps, events, 1000)
    assert await state(mongo_db) == expected


async def test_a_crash_between_a_programme_s_terms_and_its_benefits_history(
    deps, mongo_db, mongo_client
):
    """The terms were written and the process died before the benefits history: the events
    delivered again (at other boundaries) leave the state one clean delivery leaves."""
    events = events_of(10)
    expected = await reference_state(mongo_client, events)
    programme_events = [*events[ProgrammeOpened], *events[ProgrammeChanged]]
    await deps.repository.apply_programme_terms(
        ProgrammeTerms(e.payload.programme_id, terms_of(e), as_of(e), keeps_benefits=False)
        for e in programme_events
    )
    assert "benefits_at" not in (await deps.repository.cover_programme(PROGRAMME) or {})
    await feed(deps, events, 2)
    assert await state(mongo_db) == expected


def terms_of(event: Any) -> dict[str, Any]:
    fields = event.payload.model_dump(mode="json")
    return {k: fields[k] for k in TERMS if k in fields}


async def test_a_cover_paid_of_ten_thousand_workers_delivered_again(deps, mongo_db):
    ids = [f"WK-{i:05d}" for i in range(10_000)]
    event = CoverPaid.create(
        CoverPaidPayload(
            invoice_id="IN-big",
            programme_id=PROGRAMME,
            sponsor_id="SP",
            period="2024-10",
            worker_ids=ids,
        ),
        producer="t",
    )
    assert await deps.repository.add_months_paid([_block(event)]) == 10_000
    await apply(deps, [event], 1)  # delivered again
    assert await mongo_db[COVER_PAID].count_documents({}) == 10_000
    assert await deps.repository.months_paid("WK-09999") == [(PROGRAMME, "2024-10")]


def _block(event: CoverPaid) -> Any:
    p = event.payload
    return cover_store.MonthsPaid(p.programme_id, str(p.period), p.invoice_id, p.worker_ids)
