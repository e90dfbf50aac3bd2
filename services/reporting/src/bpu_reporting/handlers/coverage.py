"""Coverage: the workers registered per region (``WorkerRegistered``), and the coverage
answer (workers, claims paid, benefits paid)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bpu_reporting.domain import (
    CLAIM_PROGRAMMES,
    LEVEL_NAMES,
    RegionView,
    benefits_paid_field,
    breakdown,
    claims_paid_field,
    region_view,
)
from bpu_reporting.handlers.base import Reporting
from bpu_shared.auth import Principal, Role
from bpu_shared.events import (
    WorkerRegistered,
)

_WORKER_FIELDS = {
    "province_code",
    "regency_code",
    "district_code",
    "village_code",
    "programme_id",
    "sponsor_id",
    "occupation",
    "cover_start",
    "registered_at",
}


def covered_worker_facts(events: Sequence[WorkerRegistered]) -> dict[str, dict[str, Any]]:
    """One fact per worker, keyed by its worker id; no personal data."""
    return {
        e.payload.worker_id: {
            **e.payload.model_dump(mode="json", include=_WORKER_FIELDS),
            "registered_at": e.payload.registered_at,
            "event_id": str(e.event_id),
        }
        for e in events
    }


async def record_workers_covered(events: Sequence[WorkerRegistered], deps: Reporting) -> None:
    """The batch's facts, recorded in one write for the tally, which stores each once: the same
    worker arriving again (redelivered, published twice, replayed) finds its fact there and
    changes nothing; the tally counts each fact once."""
    await deps.repository.add_covered_workers(covered_worker_facts(events))


@dataclass(frozen=True)
class GetCoverage:
    region: str | None


@dataclass(frozen=True)
class RegionFigures:
    code: str
    name: str
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int


@dataclass(frozen=True)
class CoverageReport:
    view: RegionView
    level: str
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int
    breakdown: list[RegionFigures]
    as_of: datetime
    #: Per benefit programme (JKK, JKM): claims paid, and benefits paid in Rupiah.
    claims_paid_by_programme: dict[str, int]
    benefits_paid_by_programme: dict[str, int]


async def coverage(q: GetCoverage, principal: Principal, deps: Reporting) -> CoverageReport:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(q.region))  # a sponsor's dashboard starts at its region
    own, children = await deps.repository.coverage(view.code)
    counts = {code: figures["workers"] for code, figures in children.items()}
    rows = [
        RegionFigures(
            code,
            name,
            workers,
            children.get(code, {}).get("claims_paid", 0),
            children.get(code, {}).get("benefits_paid_rupiah", 0),
        )
        for code, name, workers in (breakdown(view, counts) if view.level < 4 else [])
    ]
    return CoverageReport(
        view=view,
        level=LEVEL_NAMES[view.level],
        registered_workers=own["workers"],
        claims_paid=own["claims_paid"],
        benefits_paid_rupiah=own["benefits_paid_rupiah"],
        breakdown=rows,
        as_of=deps.clock.now(),
        claims_paid_by_programme={p: own.get(claims_paid_field(p), 0) for p in CLAIM_PROGRAMMES},
        benefits_paid_by_programme={
            p: own.get(benefits_paid_field(p), 0) for p in CLAIM_PROGRAMMES
        },
    )
