"""GET /benefits: claims filed, approved, rejected and paid, benefits paid by programme and
kind, per region and month."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bpu_reporting.api.common import Money, PeriodQuery, RegionQuery, month_param
from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    benefit_kind_field,
    benefits_paid_field,
    claim_step_field,
    claims_paid_field,
)
from bpu_reporting.handlers import (
    GetBenefits,
    RegionTotals,
)
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["reporting"])


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
    r: RegionTotals = await request.app.state.bus.handle(
        GetBenefits(region, month_param(period)), who
    )
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
