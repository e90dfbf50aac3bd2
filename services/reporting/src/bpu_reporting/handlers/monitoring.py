"""Monitoring across regencies: what a province's monitoring meeting reads, one row per
regency — budgeted or not and how much (its programmes of the year), workers covered against
its target and its workforce, contributions invoiced and paid, benefits paid and the waiting
list — and a totals row (the province's own counters and target). Read from the counters, the
programmes projection and the targets: a few lookups, never a scan of workers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from bpu_reporting.domain import enrolled_now, region_view, waiting_now
from bpu_reporting.handlers.base import Reporting, add, as_of
from bpu_reporting.targets import target_figures
from bpu_shared.auth import Principal, Role
from bpu_shared.errors import InvalidInput
from bpu_shared.month import Month
from bpu_shared.regions import ancestors

#: The counter fields monitoring reads (absent ones read as 0): all time, and per month.
ALL_TIME = ("workers", "enrolments_ended", "waitlisted", "waiting_left")
MONEY = ("contributions_invoiced_rupiah", "contributions_paid_rupiah", "benefits_paid_rupiah")
READ = (*ALL_TIME, "workers_covered", *MONEY)


@dataclass(frozen=True)
class GetMonitoring:
    province: str | None
    year: int | None = None
    period: Month | None = None


@dataclass(frozen=True)
class MonitoringRow:
    """One regency (or the totals). Flat, so a CSV row and a JSON row are the same thing."""

    region: str
    name: str
    budgeted: bool
    budget_rupiah: int
    programmes: int
    covered: int
    target_workers: int | None
    covered_pct_of_target: float | None
    to_target: int | None
    workforce: int | None
    covered_pct_of_workforce: float | None
    contributions_invoiced_rupiah: int
    contributions_paid_rupiah: int
    benefits_paid_rupiah: int
    waiting: int
    target_sentence: str | None


COLUMNS = tuple(f.name for f in fields(MonitoringRow))


@dataclass(frozen=True)
class Monitoring:
    province: str
    province_name: str
    year: int
    period: Month | None
    covered_means: str
    rows: list[MonitoringRow]
    totals: MonitoringRow
    generated_at: datetime
    programme_names: dict[str, list[str]] = field(default_factory=dict)
    #: The newest event applied over every topic: what the figures are as of.
    as_of: datetime | None = None


def _year_and_period(q: GetMonitoring, today_year: int) -> tuple[int, Month | None]:
    if q.period is not None and q.year is not None and q.period.year != q.year:
        raise InvalidInput("period", f"{q.period} is not in {q.year}")
    year = q.year or (q.period.year if q.period else today_year)
    if not 2015 <= year <= 2100:
        raise InvalidInput("year", f"must be between 2015 and 2100, not {year}")
    return year, q.period


def _regency_of(region_code: str) -> str | None:
    parts = ancestors(region_code)
    return parts[2] if len(parts) > 2 else None


async def _counted(
    repository: Any, province: str, regencies: Sequence[str], year: int, period: Month | None
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The province's and each regency's figures: covered and money of the month asked, or
    of the year's twelve months; enrolled and waiting now. Three lookups: the
    province's all-time counter, its children's, and every month counter of them all."""
    own, children = await repository.figures(province)
    codes = sorted(set(regencies) | set(children))
    months = [str(period)] if period else [str(Month(year, m)) for m in range(1, 13)]
    in_months = await repository.figures_many([province, *codes], months=months)
    counted = {
        code: {k: int(figures.get(k, 0)) for k in ALL_TIME}
        for code, figures in [(province, own), *((c, children.get(c, {})) for c in codes)]
    }
    for key, figures in in_months.items():
        doc = counted[key.split("|")[0]]
        for name in MONEY:
            doc[name] = doc.get(name, 0) + int(figures.get(name, 0))
        if period:
            doc["workers_covered"] = int(figures.get("workers_covered", 0))
    totals = counted.pop(province)
    return totals, counted


def _row(
    code: str,
    name: str,
    figures: Mapping[str, int],
    programmes: Sequence[Mapping[str, Any]],
    target: Mapping[str, Any] | None,
    by_month: bool,
) -> MonitoringRow:
    covered = int(figures.get("workers_covered", 0)) if by_month else enrolled_now(figures)
    block = target_figures(target, covered)
    budget = sum(int(p.get("budget_rupiah", 0)) for p in programmes)
    return MonitoringRow(
        region=code,
        name=name,
        budgeted=budget > 0,
        budget_rupiah=budget,
        programmes=len(programmes),
        covered=covered,
        target_workers=block.target_workers if block else None,
        covered_pct_of_target=block.covered_pct_of_target if block else None,
        to_target=block.to_target if block else None,
        workforce=block.workforce if block else None,
        covered_pct_of_workforce=block.covered_pct_of_workforce if block else None,
        contributions_invoiced_rupiah=int(figures.get("contributions_invoiced_rupiah", 0)),
        contributions_paid_rupiah=int(figures.get("contributions_paid_rupiah", 0)),
        benefits_paid_rupiah=int(figures.get("benefits_paid_rupiah", 0)),
        waiting=waiting_now(figures),
        target_sentence=block.sentence if block else None,
    )


async def monitoring(q: GetMonitoring, principal: Principal, deps: Reporting) -> Monitoring:
    """The province's monitoring table for a budget year (and a month, if asked). A sponsor
    key reads its province with only the regencies of its region, and totals of those."""
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    asked = q.province or (
        ancestors(principal.region_scope)[1]
        if principal.role is Role.SPONSOR and principal.region_scope
        else None
    )
    if not asked:
        raise InvalidInput("province", "name the province: 17 for Bengkulu")
    try:
        view = region_view(asked)
    except InvalidInput as unknown:
        raise InvalidInput("province", unknown.detail) from None
    if view.level != 1:
        raise InvalidInput("province", f"{asked!r} is not a province code (17 is Bengkulu)")
    year, period = _year_and_period(q, deps.clock.today().year)
    whole = principal.can_access(view.code)
    regency_names = view.children()
    totals_figures, counted = await _counted(
        deps.repository, view.code, list(regency_names), year, period
    )
    codes = sorted(set(regency_names) | set(counted))
    visible = [c for c in codes if whole or principal.can_access(c)]
    if not visible:
        principal.require_region(view.code)  # a sponsor outside the province: 403
    programmes = await deps.repository.programmes(region_prefix=view.code, year=year)
    by_regency: dict[str | None, list[dict[str, Any]]] = {}
    for p in programmes:
        by_regency.setdefault(_regency_of(str(p["region_code"])), []).append(p)
    targets = await deps.repository.targets([view.code, *visible], year)
    rows = [
        _row(
            code,
            regency_names.get(code, "(not in the region list)"),
            counted.get(code, {}),
            by_regency.get(code, []),
            targets.get(code),
            period is not None,
        )
        for code in visible
    ]
    if whole:
        totals = _row(
            view.code,
            f"Jumlah {view.name}",
            totals_figures,
            programmes,
            targets.get(view.code),
            period is not None,
        )
    else:
        summed: dict[str, int] = {}
        for code in visible:
            add(summed, {k: v for k, v in counted.get(code, {}).items() if k in READ})
        shown = [p for code in visible for p in by_regency.get(code, [])]
        totals = _row(view.code, f"Jumlah {view.name}", summed, shown, None, period is not None)
    names = {
        code: [str(p.get("name") or p["programme_id"]) for p in by_regency[code]]
        for code in visible
        if by_regency.get(code)
    }
    return Monitoring(
        province=view.code,
        province_name=view.name,
        year=year,
        period=period,
        covered_means="workers covered (paid) in the month"
        if period
        else "workers enrolled now (registered less ended)",
        rows=rows,
        totals=totals,
        generated_at=deps.clock.now(),
        programme_names=names,
        as_of=await as_of(deps),
    )
