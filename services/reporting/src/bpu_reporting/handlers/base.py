"""What reporting's handlers share: their dependencies, where a fact came from, the questions a
dashboard asks (region, period or range of months, one slice, rows per child region or per
month) and the reads that answer them from the counters, a few lookups each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bpu_reporting.domain import (
    LEVEL_NAMES,
    RegionView,
    Slice,
    breakdown,
    region_view,
)
from bpu_reporting.store import ReportingRepository
from bpu_shared.auth import Principal, Role
from bpu_shared.errors import Forbidden, InvalidInput
from bpu_shared.events import Event
from bpu_shared.month import Month
from bpu_shared.regions import within
from bpu_shared.service_layer.bus import Deps

Reporting = Deps[ReportingRepository, Any]
Totals = dict[str, int]

#: The longest run of months one answer covers (five years of a programme).
MAX_MONTHS = 60
#: The months a by-month answer covers when it names none: this one and the eleven before.
DEFAULT_MONTHS = 12


#: What a worker or waiting-list fact is counted under: its regions, its programme (and
#: sponsor) and its occupation. Never the NIK, name or phone, which its events do not carry.
COUNTED_UNDER = frozenset(
    {
        "province_code",
        "regency_code",
        "district_code",
        "village_code",
        "programme_id",
        "sponsor_id",
        "occupation",
    }
)


def provenance(event: Event[Any]) -> dict[str, str]:
    """What each fact keeps of the event that brought it: its id, topic and time (ISO, UTC),
    so the repository knows the newest event applied per topic."""
    return {
        "event_id": str(event.event_id),
        "topic": event.TOPIC,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
    }


@dataclass(frozen=True)
class ReportQuery:
    """A dashboard's question: a region (prefix code; a sponsor's own by default), one month
    (``period``) or a run of them (``start``..``end``, inclusive) or all time, at most one of
    sponsor, programme and occupation, and rows per child region (``by="region"``) or per
    month (``by="month"``)."""

    region: str | None = None
    period: Month | None = None
    start: Month | None = None
    end: Month | None = None
    sponsor: str | None = None
    programme: str | None = None
    occupation: str | None = None
    by: str = "region"


@dataclass(frozen=True)
class RegionTotals:
    """An answer: the region's counters (all time, one month, or summed over a run of months)
    and its rows (the next region level, or the months)."""

    view: RegionView
    level: str
    period: Month | None
    totals: Totals
    breakdown: list[tuple[str, str, Totals]]
    as_of: datetime | None
    start: Month | None = None
    end: Month | None = None
    by: str = "region"
    breakdown_level: str | None = None
    filters: dict[str, str] = field(default_factory=dict)


def months_between(start: Month, end: Month) -> list[Month]:
    out, month = [], start
    while month <= end:
        out.append(month)
        month = month.plus(1)
    return out


def check_query(q: ReportQuery, *, occupation: bool, today: Month) -> list[Month] | None:
    """The months the question covers (None: all time), or the parameter that is wrong."""
    given = [name for name in ("sponsor", "programme", "occupation") if getattr(q, name)]
    if len(given) > 1:
        raise InvalidInput(
            given[1], f"filter by one of sponsor, programme, occupation: not {given}"
        )
    if q.occupation and not occupation:
        raise InvalidInput(
            "occupation",
            "only worker figures (registered, enrolled, waiting) are kept per occupation: billing "
            "and claims events carry none",
        )
    if q.by not in ("region", "month"):
        raise InvalidInput("by", f"by is region or month, not {q.by!r}")
    if q.period and (q.start or q.end):
        raise InvalidInput("period", "give period or from and to, not both")
    if bool(q.start) != bool(q.end):
        raise InvalidInput("to" if q.start else "from", "from and to come together")
    if q.period:
        return [q.period]
    if q.start and q.end:
        if q.start > q.end:
            raise InvalidInput("from", f"from {q.start} is after to {q.end}")
        months = months_between(q.start, q.end)
        if len(months) > MAX_MONTHS:
            raise InvalidInput(
                "to", f"{len(months)} months from {q.start} to {q.end}: at most {MAX_MONTHS}"
            )
        return months
    if q.by == "month":
        return months_between(today.plus(1 - DEFAULT_MONTHS), today)
    return None


async def slices_for(q: ReportQuery, principal: Principal, deps: Reporting) -> list[Slice | None]:
    """The counter slices the question adds up: none (the whole), its programme's, its
    occupation's, or every programme of its sponsor (a sponsor key only its own: programmes in
    its region)."""
    if q.programme:
        return [("programme", q.programme)]
    if q.occupation:
        return [("occupation", q.occupation)]
    if q.sponsor:
        programmes = await deps.repository.programmes(sponsor_id=q.sponsor)
        if principal.role is Role.SPONSOR and not all(
            within(str(p["region_code"]), principal.region_scope or "") for p in programmes
        ):
            raise Forbidden(
                f"a sponsor key scoped to {principal.region_scope} reads its own sponsor"
            )
        return [("programme", str(p["programme_id"])) for p in programmes]
    return [None]


def add(into: Totals, totals: Totals) -> Totals:
    for name, amount in totals.items():
        into[name] = into.get(name, 0) + amount
    return into


class Reader:
    """Counter reads summed over the question's slices (a sponsor's programmes)."""

    def __init__(self, repository: ReportingRepository, slices: Sequence[Slice | None]) -> None:
        self.repository = repository
        self.slices = slices

    async def figures(self, code: str, period: Month | None) -> tuple[Totals, dict[str, Totals]]:
        own: Totals = {}
        children: dict[str, Totals] = {}
        for slice_ in self.slices:
            mine, theirs = await self.repository.figures(
                code, str(period) if period else None, slice_
            )
            add(own, mine)
            for child, totals in theirs.items():
                add(children.setdefault(child, {}), totals)
        return own, children

    async def months(self, code: str, months: Sequence[Month]) -> dict[str, Totals]:
        out: dict[str, Totals] = {str(m): {} for m in months}
        for slice_ in self.slices:
            for month, totals in (
                await self.repository.months(code, [str(m) for m in months], slice_)
            ).items():
                add(out[month], totals)
        return out

    async def over_months(self, codes: Sequence[str], months: Sequence[Month]) -> dict[str, Totals]:
        """Each region's totals summed over ``months``."""
        out: dict[str, Totals] = {code: {} for code in codes}
        for slice_ in self.slices:
            found = await self.repository.figures_many(
                codes, slice=slice_, months=[str(m) for m in months]
            )
            for key, totals in found.items():
                add(out[key.split("|")[0]], totals)
        return out


def sum_of(totals: Iterable[Totals]) -> Totals:
    out: Totals = {}
    for t in totals:
        add(out, t)
    return out


async def as_of(deps: Reporting) -> datetime | None:
    """The newest event applied, over every topic: what the figures are as of."""
    applied = await deps.repository.last_applied()
    times = [state["occurred_at"] for state in applied.values()]
    return max(times) if times else None


def filters_of(q: ReportQuery) -> dict[str, str]:
    return {
        name: str(value)
        for name in ("sponsor", "programme", "occupation")
        if (value := getattr(q, name))
    }


async def region_totals(
    q: ReportQuery,
    fields: Sequence[str],
    principal: Principal,
    deps: Reporting,
    *,
    occupation: bool = False,
) -> RegionTotals:
    """The answer of figures that add up over months (contributions, claims): the region's
    totals and its rows, per child region or per month."""
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(q.region))  # a sponsor's dashboard starts at its region
    months = check_query(q, occupation=occupation, today=Month.of(deps.clock.today()))
    reader = Reader(deps.repository, await slices_for(q, principal, deps))

    def pick(figures: Totals) -> Totals:
        return {f: int(figures.get(f, 0)) for f in fields}

    rows: list[tuple[str, str, Totals]]
    level = view.breakdown_level
    if q.by == "month" and months is not None:
        # one row per month, and their sum: one lookup
        per_month = await reader.months(view.code, months)
        own = pick(sum_of(per_month.values()))
        rows = [(m, m, pick(t)) for m, t in per_month.items()]
        level = "month"
    elif months is None or len(months) == 1:
        # all time or one month: the region's counter and its children's, two lookups
        own, children = await reader.figures(view.code, months[0] if months else None)
        own = pick(own)
        listed = breakdown(view, dict.fromkeys(children, 0)) if view.level < 4 else []
        rows = [(code, name, pick(children.get(code, {}))) for code, name, _ in listed]
    else:
        # a range by region: the region's months, and its children's months, a lookup each
        own = pick(sum_of((await reader.months(view.code, months)).values()))
        listed = breakdown(view, {}) if view.level < 4 else []
        codes = [code for code, _, _ in listed]
        sums = await reader.over_months(codes, months) if codes else {}
        rows = [(code, name, pick(sums.get(code, {}))) for code, name, _ in listed]
    return RegionTotals(
        view=view,
        level=LEVEL_NAMES[view.level],
        period=q.period,
        totals=own,
        breakdown=rows,
        as_of=await as_of(deps),
        start=months[0] if months and not q.period else None,
        end=months[-1] if months and not q.period else None,
        by=q.by,
        breakdown_level=level,
        filters=filters_of(q),
    )
