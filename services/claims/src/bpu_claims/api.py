"""Claims' HTTP routes: the benefit table in force. Routes only translate."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from bpu_claims.domain import BenefitTable
from bpu_claims.handlers import GetBenefits
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["claims"])


@router.get(
    "/benefits",
    summary="The benefit table in force on a day",
    responses=problem_responses(401, 403, 422),
)
async def benefits(
    request: Request,
    who: Anyone,
    on: Annotated[date | None, Query(description="Defaults to today (Asia/Jakarta)")] = None,
) -> dict[str, Any]:
    table: BenefitTable = await request.app.state.bus.handle(GetBenefits(on), who)
    return {
        **asdict(table),
        "jkm_death_after_early_months": table.jkm_death(table.jkm_early_death_months),
    }
