"""GET /contributions: contributions invoiced, paid and outstanding per region and month."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bpu_reporting.api.common import Money, PeriodQuery, RegionQuery, month_param
from bpu_reporting.handlers import (
    GetContributions,
    RegionTotals,
)
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["reporting"])


class ContributionFigures(BaseModel):
    invoiced: Money = Field(description="Contributions invoiced (all invoices of the period)")
    worker_months_invoiced: int
    invoices: int = Field(description="Invoices issued by programmes of this region")
    paid: Money = Field(description="Contributions of the worker-months paid in full")
    workers_covered: int = Field(description="Worker-months paid in full")
    outstanding: Money = Field(description="Invoiced less paid")
    payments_applied: Money = Field(
        description="What payments put on the invoices of programmes of this region, whole "
        "worker-months or not (a programme's region and above only)"
    )
    programmes_lapsed: int
    workers_lapsed: int


class ContributionRow(ContributionFigures):
    region: str
    name: str


class Contributions(ContributionFigures):
    region: str = Field(description="The region-code prefix asked about; empty for the country")
    region_name: str
    level: str = Field(description="country, province, regency, district or village")
    period: str | None = Field(description="The month, YYYY-MM; null for all time")
    breakdown_level: str | None = Field(description="The level of the rows in breakdown")
    breakdown: list[ContributionRow]
    as_of: datetime


def _contribution_figures(t: dict[str, int]) -> dict[str, object]:
    invoiced, paid = t["contributions_invoiced_rupiah"], t["contributions_paid_rupiah"]
    return {
        "invoiced": Money.of(invoiced),
        "worker_months_invoiced": t["worker_months_invoiced"],
        "invoices": t["invoices"],
        "paid": Money.of(paid),
        "workers_covered": t["workers_covered"],
        "outstanding": Money.of(max(invoiced - paid, 0)),
        "payments_applied": Money.of(t["payments_applied_rupiah"]),
        "programmes_lapsed": t["programmes_lapsed"],
        "workers_lapsed": t["workers_lapsed"],
    }


@router.get(
    "/contributions",
    response_model=Contributions,
    summary="Contributions invoiced, paid and outstanding",
    responses=problem_responses(401, 403, 422),
)
async def contributions(
    request: Request, who: Anyone, region: RegionQuery = None, period: PeriodQuery = None
) -> Contributions:
    """The region's contributions (all time, or for one month's invoices) and its child
    regions' (the next level), from billing's invoices, payments and lapses. A sponsor key
    sees its own region only."""
    r: RegionTotals = await request.app.state.bus.handle(
        GetContributions(region, month_param(period)), who
    )
    return Contributions(
        region=r.view.code,
        region_name=r.view.name,
        level=r.level,
        period=str(r.period) if r.period else None,
        breakdown_level=r.view.breakdown_level,
        breakdown=[
            ContributionRow(region=code, name=name, **_contribution_figures(t))  # type: ignore[arg-type]
            for code, name, t in r.breakdown
        ],
        as_of=r.as_of,
        **_contribution_figures(r.totals),  # type: ignore[arg-type]
    )
