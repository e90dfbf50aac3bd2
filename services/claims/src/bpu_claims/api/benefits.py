"""Claims' HTTP routes: the benefit table in force. Routes only translate."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_claims.domain import BenefitTable
from bpu_claims.handlers.benefits import GetBenefits
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["claims"])


class BenefitsOut(BaseModel):
    """The JKK and JKM benefit table in force; amounts in Rupiah."""

    effective_from: date
    source: str = Field(description="The regulation the table comes from")
    jkm_lump_sum: int
    jkm_periodic: int
    jkm_funeral: int
    jkm_early_death_total: int = Field(
        description="JKM for a death within the first jkm_early_death_months of membership"
    )
    jkm_early_death_months: int
    jkk_death_income_multiple: int = Field(description="Times the declared monthly income")
    jkk_funeral: int
    jkk_periodic: int
    jkk_total_disability_income_multiple: int
    jkk_partial_disability_income_multiple: int
    jkk_claim_expiry_years: int
    jkm_death_after_early_months: int = Field(
        description="JKM for a death once the early months have passed"
    )


@router.get(
    "/benefits",
    response_model=BenefitsOut,
    summary="The benefit table in force on a day",
    responses=problem_responses(401, 403, 422),
)
async def benefits(
    request: Request,
    who: Anyone,
    on: Annotated[date | None, Query(description="Defaults to today (Asia/Jakarta)")] = None,
) -> BenefitsOut:
    table: BenefitTable = await request.app.state.bus.handle(GetBenefits(on), who)
    return BenefitsOut(
        **asdict(table),
        jkm_death_after_early_months=table.jkm_death(table.jkm_early_death_months),
    )
