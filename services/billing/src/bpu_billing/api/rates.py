"""The contribution rate table in force on a day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from bpu_billing.domain import ContributionRate
from bpu_billing.handlers import GetRate
from bpu_shared.auth import Anyone
from bpu_shared.events import BenefitProgramme
from bpu_shared.http import problem_responses

router = APIRouter(tags=["billing"])


class RateOut(BaseModel):
    effective_from: date
    source: str
    lowest_declared_income: int
    jkk_percent_of_income: float
    jkm_flat: int
    jht_percent_of_income: float
    monthly_at_lowest_income: dict[BenefitProgramme, int]


@router.get(
    "/rates",
    response_model=RateOut,
    summary="The contribution rate in force on a day",
    responses=problem_responses(401, 403, 422),
)
async def rates(
    request: Request,
    who: Anyone,
    on: Annotated[date | None, Query(description="Defaults to today (Asia/Jakarta)")] = None,
) -> RateOut:
    rate: ContributionRate = await request.app.state.bus.handle(GetRate(on), who)
    return RateOut(
        effective_from=rate.effective_from,
        source=rate.source,
        lowest_declared_income=rate.lowest_declared_income,
        jkk_percent_of_income=rate.jkk_basis_points / 100,
        jkm_flat=rate.jkm_flat,
        jht_percent_of_income=rate.jht_basis_points / 100,
        monthly_at_lowest_income=rate.monthly(
            rate.lowest_declared_income, frozenset(BenefitProgramme)
        ),
    )
