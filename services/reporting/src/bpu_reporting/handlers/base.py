"""What reporting's handlers share: their dependencies, and the answer of a region's counters
and its child regions'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bpu_reporting.domain import (
    LEVEL_NAMES,
    RegionView,
    breakdown,
    region_view,
)
from bpu_reporting.store import ReportingRepository
from bpu_shared.auth import Principal, Role
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps

Reporting = Deps[ReportingRepository, Any]


@dataclass(frozen=True)
class RegionTotals:
    """A region's counters (all time or one month) and its child regions' (the next level)."""

    view: RegionView
    level: str
    period: Month | None
    totals: dict[str, int]
    breakdown: list[tuple[str, str, dict[str, int]]]
    as_of: datetime


async def region_totals(
    region: str | None,
    period: Month | None,
    fields: Sequence[str],
    principal: Principal,
    deps: Reporting,
) -> RegionTotals:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(region))  # a sponsor's dashboard starts at its region
    own, children = await deps.repository.figures(view.code, str(period) if period else None)

    def pick(figures: Mapping[str, int]) -> dict[str, int]:
        return {f: int(figures.get(f, 0)) for f in fields}

    counts = {code: 0 for code in children}
    rows = [
        (code, name, pick(children.get(code, {})))
        for code, name, _ in (breakdown(view, counts) if view.level < 4 else [])
    ]
    return RegionTotals(view, LEVEL_NAMES[view.level], period, pick(own), rows, deps.clock.now())
