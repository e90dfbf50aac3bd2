"""Claims' HTTP routes: the benefit table in force."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from bpu_claims.domain import benefits_on
from bpu_shared.auth import Principal, Role, require
from bpu_shared.errors import InvalidInput

router = APIRouter(tags=["claims"])

Reader = Annotated[Principal, Depends(require(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD))]


@router.get("/benefits", summary="The benefit table in force on a day")
async def benefits(
    _: Reader, on: Annotated[date | None, Query(description="Defaults to today")] = None
) -> dict[str, Any]:
    day = on or date.today()
    try:
        table = benefits_on(day)
    except LookupError as exc:
        raise InvalidInput("on", str(exc)) from None
    return {
        **asdict(table),
        "jkm_death_after_early_months": table.jkm_death(table.jkm_early_death_months),
    }
