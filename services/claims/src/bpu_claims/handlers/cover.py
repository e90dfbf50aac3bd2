"""Claims' view of cover from registration's and billing's events, each applied exactly once in
effect, and the ``CoverView`` of a worker as of an incident date that eligibility reads.

- ``ProgrammeOpened``/``ProgrammeChanged``/``ProgrammeClosed``: the programme's benefits and
  months, applied only when newer than what is stored (an ``as_of`` guard in the filter); and
  the benefits of each opening or change kept by when it happened (set by value, so once), from
  which eligibility reads the benefits in force in the incident's month.
- ``WorkerRegistered``: the enrolment (programme, benefits, months, declared income, regions),
  inserted once by its deterministic id, a batch in one unordered bulk insert.
- ``EnrolmentEnded``: the enrolment's last month, set by value unless a newer end was applied.
- ``WorkerChanged``: the change (declared income, regions) kept once by its event id, from its
  effective month on: the income history.
- ``ContributionInvoiced``: the programme-month invoiced and its due date, set by value.
- ``CoverPaid``: one fact per worker-month paid (up to 10,000 workers an event), inserted once
  in bulk.
- ``CoverageLapsed``: the month the programme's cover lapsed from, added to a set.

Every write is idempotent by key or by value, so a batch delivered again, at other boundaries,
or after a crash between two of its writes, leaves the same state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bpu_claims.domain import CoverView, MonthStatus
from bpu_claims.handlers.base import Claims
from bpu_claims.store import ClaimsRepository
from bpu_claims.store.cover import MonthInvoiced, MonthsPaid, ProgrammeTerms, paid_key
from bpu_shared.calendar import due_date
from bpu_shared.clock import JAKARTA
from bpu_shared.enrolments import (
    REGIONS,
    as_of,
    enrolment_ends,
    registered_enrolments,
    worker_changes,
)
from bpu_shared.events import (
    BenefitProgramme,
    ContributionInvoiced,
    CoverageLapsed,
    CoverPaid,
    EnrolmentEnded,
    ProgrammeChanged,
    ProgrammeClosed,
    ProgrammeOpened,
    WorkerChanged,
    WorkerRegistered,
)
from bpu_shared.month import Month

#: The programme terms claims keeps.
TERMS = ("sponsor_id", "region_code", "benefits", "start_month", "end_month", "status")


# -- registration's events ----------------------------------------------------------------------


async def programmes_changed(
    events: Sequence[ProgrammeOpened | ProgrammeChanged | ProgrammeClosed], deps: Claims
) -> None:
    writes = []
    for event in events:
        fields = event.payload.model_dump(mode="json")
        writes.append(
            ProgrammeTerms(
                event.payload.programme_id,
                {k: fields[k] for k in TERMS if k in fields},
                as_of(event),
                str(Month.of(event.occurred_at.astimezone(JAKARTA).date())),
                keeps_benefits=not isinstance(event, ProgrammeClosed),
            )
        )
    await deps.repository.apply_programme_terms(writes)


async def workers_registered(events: Sequence[WorkerRegistered], deps: Claims) -> None:
    await deps.repository.add_enrolments(registered_enrolments(events))


async def enrolments_ended(events: Sequence[EnrolmentEnded], deps: Claims) -> None:
    for end in enrolment_ends(events):
        await deps.repository.end_enrolment(end.key, end.last_month, end.as_of, end.stub)


async def workers_changed(events: Sequence[WorkerChanged], deps: Claims) -> None:
    await deps.repository.add_worker_changes(worker_changes(events))


# -- billing's events ---------------------------------------------------------------------------


async def months_invoiced(events: Sequence[ContributionInvoiced], deps: Claims) -> None:
    await deps.repository.add_months_invoiced(
        MonthInvoiced(e.payload.programme_id, str(e.payload.period), e.payload.due_date.isoformat())
        for e in events
    )


async def cover_paid(events: Sequence[CoverPaid], deps: Claims) -> None:
    await deps.repository.add_months_paid(
        MonthsPaid(
            e.payload.programme_id,
            str(e.payload.period),
            e.payload.invoice_id,
            e.payload.worker_ids,
        )
        for e in events
    )


async def coverage_lapsed(events: Sequence[CoverageLapsed], deps: Claims) -> None:
    await deps.repository.add_lapses(
        (e.payload.programme_id, str(e.payload.lapsed_from)) for e in events
    )


COVER_EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    ProgrammeOpened: [programmes_changed],
    ProgrammeChanged: [programmes_changed],
    ProgrammeClosed: [programmes_changed],
    WorkerRegistered: [workers_registered],
    EnrolmentEnded: [enrolments_ended],
    WorkerChanged: [workers_changed],
    ContributionInvoiced: [months_invoiced],
    CoverPaid: [cover_paid],
    CoverageLapsed: [coverage_lapsed],
}


# -- the view eligibility reads -----------------------------------------------------------------


@dataclass(frozen=True)
class WorkerCover:
    """The enrolment a claim is about, the worker's regions then, and the cover view (None
    when claims knows no enrolment of the worker)."""

    enrolment: Mapping[str, Any]
    regions: Mapping[str, str]
    view: CoverView


def _due_on(programme: Mapping[str, Any], month: Month) -> date:
    """The month's due date as billing's invoice gave it; for a month not invoiced yet, the
    same rule billing invoices with (the 15th or the next working day, public holidays too)."""
    due = programme.get("due", {}).get(str(month))
    if due:
        return date.fromisoformat(due)
    return due_date(month)


def benefits_in_force(programme: Mapping[str, Any], month: Month) -> list[str] | None:
    """The programme's benefits in force in ``month``: those of the latest programme event that
    happened in that month or before (Asia/Jakarta), else of the earliest (the programme as
    opened, which holds from its start). None when no programme event is known."""
    history = programme.get("benefits_at") or {}
    if not history:
        benefits = programme.get("benefits")
        return list(benefits) if benefits else None
    entries = sorted(history.values(), key=lambda e: e["as_of"])
    then = [e for e in entries if Month.parse(e["month"]) <= month]
    return list((then[-1] if then else entries[0])["benefits"])


def month_status(
    programme: Mapping[str, Any] | None,
    month: Month,
    paid: bool,
    today: date,
    window: int,
) -> MonthStatus:
    """A month of an enrolment as billing's events tell it: paid; lapsed (from a month the
    programme's cover lapsed, unpaid); not invoiced; or invoiced and unpaid, in arrears until
    the due date ``window`` months later, past the window after."""
    if paid:
        return MonthStatus.PAID
    programme = programme or {}
    if any(Month.parse(m) <= month for m in programme.get("lapsed", {})):
        return MonthStatus.LAPSED
    if str(month) not in programme.get("due", {}):
        return MonthStatus.NOT_INVOICED
    # Billing's last payable day: the due date of the month ``window`` months later.
    payable_until = _due_on(programme, month.plus(window))
    return MonthStatus.UNPAID_PAST_WINDOW if today > payable_until else MonthStatus.ARREARS


def _covers(enrolment: Mapping[str, Any], month: str, end: str | None) -> bool:
    last = enrolment.get("last_month") or end
    return bool(enrolment["first_month"] <= month and (last is None or month <= last))


async def cover_of(
    repository: ClaimsRepository,
    worker_id: str,
    benefit: BenefitProgramme,
    incident: date,
    today: date,
    window: int,
) -> WorkerCover | None:
    """What claims knows of ``worker_id`` as of ``incident``, for a ``benefit`` claim: the
    enrolment covering the incident month (one with the benefit first), else the latest that
    began by then, else the first; None when no enrolment of the worker is known."""
    enrolments = await repository.cover_enrolments(worker_id)
    if not enrolments:
        return None
    month = Month.of(incident)
    period = str(month)
    programmes = {
        pid: await repository.cover_programme(pid)
        for pid in dict.fromkeys(e["programme_id"] for e in enrolments)
    }

    def benefits(e: Mapping[str, Any]) -> list[str]:
        programme = programmes.get(e["programme_id"]) or {}
        return benefits_in_force(programme, month) or list(e.get("benefits") or [])

    def end(e: Mapping[str, Any]) -> str | None:
        return (programmes.get(e["programme_id"]) or {}).get("end_month")

    covering = [e for e in enrolments if _covers(e, period, end(e))]
    begun = [e for e in enrolments if e["first_month"] <= period]
    chosen = (
        next((e for e in covering if str(benefit) in benefits(e)), None)
        or (covering[-1] if covering else None)
        or (begun[-1] if begun else enrolments[0])
    )
    programme_id = chosen["programme_id"]
    paid_months = await repository.months_paid(worker_id)
    paid_here = (programme_id, period) in set(paid_months)
    changes = [
        c for c in await repository.cover_changes(worker_id) if c["effective_month"] <= period
    ]
    latest = changes[-1] if changes else None
    income = int(latest["income"]) if latest else int(chosen["income"])
    regions = {k: str((latest or chosen)[k]) for k in REGIONS}
    last = chosen.get("last_month") or end(chosen)
    covered = _covers(chosen, period, end(chosen))
    status = (
        month_status(programmes.get(programme_id), month, paid_here, today, window)
        if covered
        else MonthStatus.NOT_ENROLLED
    )
    view = CoverView(
        benefits=frozenset(BenefitProgramme(b) for b in benefits(chosen)),
        first_month=Month.parse(chosen["first_month"]),
        last_month=Month.parse(last) if last else None,
        declared_income=income,
        membership_start=Month.parse(min(e["first_month"] for e in enrolments)).first_day(),
        month_status=status,
        contribution_months=len({m for _, m in paid_months if m <= period}),
        programme_id=programme_id,
    )
    return WorkerCover(enrolment=chosen, regions=regions, view=view)


__all__ = [
    "COVER_EVENT_HANDLERS",
    "WorkerCover",
    "benefits_in_force",
    "cover_of",
    "month_status",
    "paid_key",
]
