"""The dashboard API: coverage, contributions and benefit totals per province, regency,
district and village, all time or per month. Routes only translate to the handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import lokal
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    benefit_kind_field,
    benefits_paid_field,
    claim_step_field,
    claims_paid_field,
)
from bpu_reporting.handlers import (
    CoverageReport,
    GetBenefits,
    GetContributions,
    GetCoverage,
    RegionTotals,
)
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month
from bpu_shared.regions import RegionCode

router = APIRouter(tags=["reporting"])


class RegionCount(BaseModel):
    region: str
    name: str
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int


class Coverage(BaseModel):
    region: str = Field(description="The region-code prefix asked about; empty for the country")
    region_name: str
    level: str = Field(description="country, province, regency, district or village")
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int
    claims_paid_by_programme: dict[str, int] = Field(
        description="Claims paid per benefit programme: JKK (work accident), JKM (death)"
    )
    benefits_paid_by_programme: dict[str, int] = Field(
        description="Benefits paid in Rupiah per benefit programme: JKK, JKM"
    )
    breakdown_level: str | None = Field(description="The level of the rows in breakdown")
    breakdown: list[RegionCount]
    as_of: datetime


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="Workers covered and benefits paid",
    responses=problem_responses(401, 403, 422),
)
async def coverage(
    request: Request,
    who: Anyone,
    region: Annotated[
        RegionCode | None,
        Query(description="Region code: 17 (province), 17.04 (regency), 17.04.01 (district)"),
    ] = None,
) -> Coverage:
    report: CoverageReport = await request.app.state.bus.handle(GetCoverage(region), who)
    return Coverage(
        region=report.view.code,
        region_name=report.view.name,
        level=report.level,
        registered_workers=report.registered_workers,
        claims_paid=report.claims_paid,
        benefits_paid_rupiah=report.benefits_paid_rupiah,
        claims_paid_by_programme=report.claims_paid_by_programme,
        benefits_paid_by_programme=report.benefits_paid_by_programme,
        breakdown_level=report.view.breakdown_level,
        breakdown=[
            RegionCount(
                region=r.code,
                name=r.name,
                registered_workers=r.registered_workers,
                claims_paid=r.claims_paid,
                benefits_paid_rupiah=r.benefits_paid_rupiah,
            )
            for r in report.breakdown
        ],
        as_of=report.as_of,
    )


# -- contributions and benefits ------------------------------------------------------------------

RegionQuery = Annotated[
    RegionCode | None,
    Query(description="Region code: 17 (province), 17.04 (regency), 17.04.01 (district)"),
]
PeriodQuery = Annotated[
    str | None,
    Query(pattern=PATTERN, description="The month, YYYY-MM; all time when absent"),
]


class Money(BaseModel):
    """An amount in Rupiah, as an integer and as Indonesians write it."""

    rupiah: int = Field(examples=[119784000])
    formatted: str = Field(examples=["Rp119.784.000"])

    @classmethod
    def of(cls, amount: int) -> Money:
        return cls(rupiah=amount, formatted=str(lokal.format_rupiah(amount)))


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


def _month(period: str | None) -> Month | None:
    return Month.parse(period) if period else None


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
        GetContributions(region, _month(period)), who
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


class ProgrammeBenefits(BaseModel):
    claims_filed: int
    claims_approved: int
    claims_rejected: int
    claims_paid: int
    benefits_paid: Money


class BenefitFigures(BaseModel):
    claims_filed: int
    claims_approved: int
    claims_rejected: int
    claims_paid: int
    benefits_approved: Money
    benefits_paid: Money


class BenefitRow(BenefitFigures):
    region: str
    name: str


class Benefits(BenefitFigures):
    region: str = Field(description="The region-code prefix asked about; empty for the country")
    region_name: str
    level: str
    period: str | None = Field(description="The month, YYYY-MM; null for all time")
    by_programme: dict[str, ProgrammeBenefits] = Field(description="JKK (work accident), JKM")
    by_kind: dict[str, Money] = Field(
        description="Benefits paid per kind: " + ", ".join(BENEFIT_KINDS)
    )
    breakdown_level: str | None
    breakdown: list[BenefitRow]
    as_of: datetime


def _benefit_figures(t: dict[str, int]) -> dict[str, object]:
    return {
        "claims_filed": t[claim_step_field("filed")],
        "claims_approved": t[claim_step_field("approved")],
        "claims_rejected": t[claim_step_field("rejected")],
        "claims_paid": t["claims_paid"],
        "benefits_approved": Money.of(t["benefits_approved_rupiah"]),
        "benefits_paid": Money.of(t["benefits_paid_rupiah"]),
    }


@router.get(
    "/benefits",
    response_model=Benefits,
    summary="Claims filed, approved, rejected and paid; benefits paid by programme and kind",
    responses=problem_responses(401, 403, 422),
)
async def benefits(
    request: Request, who: Anyone, region: RegionQuery = None, period: PeriodQuery = None
) -> Benefits:
    """The region's claims and benefits (all time, or in one month: the month each step was
    taken, in Jakarta) and its child regions' (the next level). A sponsor key sees its own
    region only."""
    r: RegionTotals = await request.app.state.bus.handle(GetBenefits(region, _month(period)), who)
    t = r.totals
    return Benefits(
        region=r.view.code,
        region_name=r.view.name,
        level=r.level,
        period=str(r.period) if r.period else None,
        by_programme={
            p: ProgrammeBenefits(
                claims_filed=t[claim_step_field("filed", p)],
                claims_approved=t[claim_step_field("approved", p)],
                claims_rejected=t[claim_step_field("rejected", p)],
                claims_paid=t[claims_paid_field(p)],
                benefits_paid=Money.of(t[benefits_paid_field(p)]),
            )
            for p in CLAIM_PROGRAMMES
        },
        by_kind={k: Money.of(t[benefit_kind_field(k)]) for k in BENEFIT_KINDS},
        breakdown_level=r.view.breakdown_level,
        breakdown=[
            BenefitRow(region=code, name=name, **_benefit_figures(row))  # type: ignore[arg-type]
            for code, name, row in r.breakdown
        ],
        as_of=r.as_of,
        **_benefit_figures(t),  # type: ignore[arg-type]
    )
