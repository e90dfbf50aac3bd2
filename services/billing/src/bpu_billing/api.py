"""Billing's HTTP routes: the contribution rate table in force."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from bpu_billing.domain import rate_on
from bpu_shared.auth import Principal, Role, require
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme

router = APIRouter(tags=["billing"])

Reader = Annotated[Principal, Depends(require(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD))]


class RateOut(BaseModel):
    effective_from: date
    source: str
    lowest_declared_income: int
    jkk_percent_of_income: float
    jkm_flat: int
    jht_percent_of_income: float
    monthly_at_lowest_income: dict[BenefitProgramme, int]


@router.get("/rates", response_model=RateOut, summary="The contribution rate in force on a day")
async def rates(
    _: Reader, on: Annotated[date | None, Query(description="Defaults to today")] = None
) -> RateOut:
    day = on or date.today()
    try:
        rate = rate_on(day)
    except LookupError as exc:
        raise InvalidInput("on", str(exc)) from None
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
