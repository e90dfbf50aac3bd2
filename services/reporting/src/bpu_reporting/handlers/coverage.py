"""Coverage: the enrolments registered per region (``WorkerRegistered``), and the coverage
answer: workers registered, enrolled, covered (paid), in arrears, lapsed and waiting, against
the region's target, with the claims and benefits paid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bpu_reporting.domain import (
    CLAIM_PROGRAMMES,
    LEVEL_NAMES,
    RegionView,
    benefits_paid_field,
    breakdown,
    claims_paid_field,
    enrolled_now,
    region_view,
    waiting_now,
)
from bpu_reporting.handlers.base import (
    COUNTED_UNDER,
    Reader,
    Reporting,
    ReportQuery,
    Totals,
    as_of,
    check_query,
    filters_of,
    months_between,
    provenance,
    slices_for,
    sum_of,
)
from bpu_reporting.targets import TargetFigures, target_figures
from bpu_shared.auth import Principal, Role
from bpu_shared.calendar import due_date
from bpu_shared.events import (
    WorkerRegistered,
)
from bpu_shared.month import Month

_WORKER_FIELDS = {*COUNTED_UNDER, "cover_start", "registered_at"}


def enrolment_key(event: WorkerRegistered) -> str:
    """An enrolment registered is one fact: its enrolment id (a worker may enrol in several
    programmes over the years), or the worker's id for events from before enrolments had ids."""
    return event.payload.enrolment_id or event.payload.worker_id


def covered_worker_facts(events: Sequence[WorkerRegistered]) -> dict[str, dict[str, Any]]:
    """One fact per enrolment registered (see ``enrolment_key``); no personal data."""
    return {
        enrolment_key(e): {
            **e.payload.model_dump(mode="json", include=_WORKER_FIELDS),
            "registered_at": e.payload.registered_at,
            **provenance(e),
        }
        for e in events
    }


async def record_workers_covered(events: Sequence[WorkerRegistered], deps: Reporting) -> None:
    """The batch's facts, recorded in one write for the tally, which stores each once: the same
    enrolment arriving again (redelivered, published twice, replayed) finds its fact there and
    changes nothing; the tally counts each fact once."""
    await deps.repository.add_covered_workers(covered_worker_facts(events))


@dataclass(frozen=True)
class GetCoverage(ReportQuery):
    pass


@dataclass(frozen=True)
class CoverageFigures:
    """What the coverage answer says of a region or a month.

    ``registered``: enrolments registered (all time, or in the month or months asked);
    ``enrolled``: enrolled now (registered less ended) all time, or the worker-months invoiced
    in the month; ``covered``: workers whose month was paid in full; ``in_arrears``: invoiced
    but not paid once the month's due date has passed; ``lapsed``: workers whose programme's
    cover lapsed; ``waiting``: on the waiting list now (for a month's row: at its end)."""

    registered: int
    enrolled: int
    covered: int
    in_arrears: int
    lapsed: int
    waiting: int
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int
    claims_paid_by_programme: dict[str, int]
    benefits_paid_by_programme: dict[str, int]
    target: TargetFigures | None = None


@dataclass(frozen=True)
class RegionFigures(CoverageFigures):
    code: str = ""
    name: str = ""


@dataclass(frozen=True)
class CoverageReport(CoverageFigures):
    view: RegionView = field(default_factory=lambda: region_view(None))
    level: str = "country"
    breakdown: list[RegionFigures] = field(default_factory=list)
    as_of: datetime | None = None
    period: Month | None = None
    start: Month | None = None
    end: Month | None = None
    by: str = "region"
    #: The month covered, enrolled and in arrears are of (the month asked, the range's last,
    #: or this month for an all-time answer).
    month: Month | None = None
    breakdown_level: str | None = None
    filters: dict[str, str] = field(default_factory=dict)


def in_arrears(month_totals: Mapping[str, int], month: Month, today: date) -> int:
    """Worker-months invoiced and not paid in full, once the month's due date has passed."""
    if today <= due_date(month):
        return 0
    return max(
        month_totals.get("worker_months_invoiced", 0) - month_totals.get("workers_covered", 0), 0
    )


def coverage_figures(
    all_time: Mapping[str, int],
    month_totals: Mapping[str, int],
    month: Month,
    today: date,
    *,
    flows: Mapping[str, int] | None = None,
    waiting: int | None = None,
) -> dict[str, Any]:
    """The coverage figures of a region or a month from its counters: ``all_time``, the
    ``month`` the stocks are of (``month_totals``), and ``flows`` (the counters summed over the
    months asked; None for an all-time answer, whose registered and claims are all time)."""
    registered = all_time.get("workers", 0) if flows is None else flows.get("workers", 0)
    claims = all_time if flows is None else flows
    if flows is None:
        enrolled = enrolled_now(all_time)
    else:
        enrolled = month_totals.get("worker_months_invoiced", 0)
    return {
        "registered": registered,
        "enrolled": enrolled,
        "covered": month_totals.get("workers_covered", 0),
        "in_arrears": in_arrears(month_totals, month, today),
        "lapsed": (month_totals if flows is None else flows).get("workers_lapsed", 0),
        "waiting": waiting if waiting is not None else waiting_now(all_time),
        "registered_workers": registered,
        "claims_paid": claims.get("claims_paid", 0),
        "benefits_paid_rupiah": claims.get("benefits_paid_rupiah", 0),
        "claims_paid_by_programme": {
            p: claims.get(claims_paid_field(p), 0) for p in CLAIM_PROGRAMMES
        },
        "benefits_paid_by_programme": {
            p: claims.get(benefits_paid_field(p), 0) for p in CLAIM_PROGRAMMES
        },
    }


def target_of(
    targets: Mapping[str, Mapping[str, Any]], code: str, figures: Mapping[str, Any], dated: bool
) -> TargetFigures | None:
    """The target block of region ``code``: its workers against its target for the year, the
    workers covered in the month asked (``dated``), or enrolled now for an all-time answer."""
    return target_figures(targets.get(code), int(figures["covered" if dated else "enrolled"]))


async def coverage(q: GetCoverage, principal: Principal, deps: Reporting) -> CoverageReport:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(q.region))  # a sponsor's dashboard starts at its region
    today = deps.clock.today()
    this_month = Month.of(today)
    months = check_query(q, occupation=True, today=this_month)
    slices = await slices_for(q, principal, deps)
    reader = Reader(deps.repository, slices)
    whole = slices == [None]  # targets are a whole region's: none for a slice of it
    all_own, all_children = await reader.figures(view.code, None)
    month = months[-1] if months else this_month
    if q.by == "month" and months is not None:
        own, rows = await _by_month(reader, view.code, all_own, months, today)
        listed: list[tuple[str, str, int]] = []
        breakdown_level: str | None = "month"
    else:
        month_own, month_children = await reader.figures(view.code, month)
        flows_own: Totals | None = None
        flows_children: dict[str, Totals] = {}
        listed = (
            breakdown(view, dict.fromkeys([*all_children, *month_children], 0))
            if view.level < 4
            else []
        )
        if months is not None and len(months) == 1:
            flows_own, flows_children = month_own, month_children
        elif months is not None:
            flows_own = sum_of((await reader.months(view.code, months)).values())
            codes = [code for code, _, _ in listed]
            flows_children = await reader.over_months(codes, months) if codes else {}
        own = coverage_figures(all_own, month_own, month, today, flows=flows_own)
        rows = [
            (
                code,
                name,
                coverage_figures(
                    all_children.get(code, {}),
                    month_children.get(code, {}),
                    month,
                    today,
                    flows=None if months is None else flows_children.get(code, {}),
                ),
            )
            for code, name, _ in listed
        ]
        breakdown_level = view.breakdown_level
    codes = [code for code, _, _ in listed]
    targets = await deps.repository.targets([view.code, *codes], month.year) if whole else {}
    dated = months is not None
    return CoverageReport(
        view=view,
        level=LEVEL_NAMES[view.level],
        breakdown=[
            RegionFigures(
                code=code,
                name=name,
                target=target_of(targets, code, figures, dated)
                if breakdown_level != "month"
                else None,
                **figures,
            )
            for code, name, figures in rows
        ],
        as_of=await as_of(deps),
        period=q.period,
        start=months[0] if months and not q.period else None,
        end=months[-1] if months and not q.period else None,
        by=q.by,
        month=month,
        breakdown_level=breakdown_level,
        filters=filters_of(q),
        target=target_of(targets, view.code, own, dated),
        **own,
    )


async def _by_month(
    reader: Reader, code: str, all_own: Totals, months: Sequence[Month], today: date
) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    """The region's figures summed over ``months``, and each month's: its flows, its stocks,
    and the waiting list's length at its end (its length now less what joined it, net, in the
    months after: one lookup of the months up to now)."""
    later = months_between(months[-1].plus(1), Month.of(today))
    per_month = await reader.months(code, [*months, *later])
    waiting = all_own.get("waitlisted", 0) - all_own.get("waiting_left", 0)
    at_end: dict[str, int] = {}
    for m in sorted(per_month, reverse=True):
        at_end[m] = waiting
        waiting -= per_month[m].get("waitlisted", 0) - per_month[m].get("waiting_left", 0)
    rows = [
        (
            str(m),
            str(m),
            coverage_figures(
                all_own,
                per_month[str(m)],
                m,
                today,
                flows=per_month[str(m)],
                waiting=at_end[str(m)],
            ),
        )
        for m in months
    ]
    flows = sum_of(per_month[str(m)] for m in months)
    last = months[-1]
    return coverage_figures(all_own, per_month[str(last)], last, today, flows=flows), rows
