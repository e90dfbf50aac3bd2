"""GET /benefits: claims filed, approved, rejected and paid, benefits paid by programme and
kind, per region and month."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from bpu_reporting.api.common import (
    Answer,
    Money,
    Report,
    answer,
    answer_fields,
    responses,
    row_place,
)
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

router = APIRouter(tags=["reporting"])


class ProgrammeBenefits(BaseModel):
    claims_filed: int
    claims_approved: int
    claims_rejected: int
    claims_paid: int
    benefits_paid: Money


class BenefitFigures(BaseModel):
    claims_filed: int = Field(description="Claims filed (in the month filed)", examples=[3])
    claims_approved: int = Field(examples=[1])
    claims_rejected: int = Field(examples=[1])
    claims_paid: int = Field(description="Claims paid (their first payment)", examples=[1])
    benefits_approved: Money
    benefits_paid: Money


class BenefitRow(BenefitFigures):
    region: str = Field(description="The child region's code (the region asked, per month)")
    month: str | None = Field(description="The row's month, when by=month")
    name: str = Field(examples=["Kinal"])


class Benefits(BenefitFigures, Answer):
    by_programme: dict[str, ProgrammeBenefits] = Field(description="JKK (work accident), JKM")
    by_kind: dict[str, Money] = Field(
        description="Benefits paid per kind: " + ", ".join(BENEFIT_KINDS)
    )
    breakdown: list[BenefitRow]


FIGURES = [*BenefitFigures.model_fields, "by_programme", "by_kind"]


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
    responses=responses(Benefits),
)
async def benefits(
    request: Request,
    who: Anyone,
    params: Report,
) -> Response:
    """The region's claims and benefits (all time, in one month: the month each step was taken,
    in Jakarta, or summed over a range of months) and its rows: the next region level
    (by=region) or each month (by=month). Per sponsor or programme; not per occupation (422).
    A sponsor key sees its own region only. ETag and If-None-Match: 304 while nothing changed."""

    async def build() -> BaseModel:
        query = params.query()
        r: RegionTotals = await request.app.state.bus.handle(GetBenefits(**query), who)
        t = r.totals
        return Benefits(
            **answer_fields(r),
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
            breakdown=[
                BenefitRow(
                    **row_place(r, code, name),
                    **_benefit_figures(row),  # type: ignore[arg-type]
                )
                for code, name, row in r.breakdown
            ],
            **_benefit_figures(t),  # type: ignore[arg-type]
        )

    return await answer(request, who, build, params.format, figures=FIGURES, name="benefits")
