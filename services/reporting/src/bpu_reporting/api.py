"""The dashboard API: coverage and benefit totals per province, regency, district and village."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from bpu_reporting.domain import LEVEL_NAMES, breakdown, region_view
from bpu_reporting.store import ReportingStore
from bpu_shared.auth import Principal, Role, require
from bpu_shared.events import RegionCode

router = APIRouter(tags=["reporting"])

Reader = Annotated[Principal, Depends(require(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR))]


class RegionCount(BaseModel):
    region: str
    name: str
    registered_workers: int


class Coverage(BaseModel):
    region: str = Field(description="The region-code prefix asked about; empty for the country")
    region_name: str
    level: str = Field(description="country, province, regency, district or village")
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int
    breakdown_level: str | None = Field(description="The level of the rows in breakdown")
    breakdown: list[RegionCount]
    as_of: datetime


@router.get("/coverage", response_model=Coverage, summary="Workers covered and benefits paid")
async def coverage(
    request: Request,
    principal: Reader,
    region: Annotated[
        RegionCode | None,
        Query(description="Region code: 17 (province), 17.04 (regency), 17.04.01 (district)"),
    ] = None,
) -> Coverage:
    store: ReportingStore = request.app.state.store
    if principal.role is Role.SPONSOR:
        region = region or principal.region_scope  # a sponsor's dashboard starts at its region
        principal.require_region(region or "")
    view = region_view(region)
    total, counts = await store.worker_counts(view)
    claims, paid = await store.benefits_paid(view)
    return Coverage(
        region=view.code,
        region_name=view.name,
        level=LEVEL_NAMES[view.level],
        registered_workers=total,
        claims_paid=claims,
        benefits_paid_rupiah=paid,
        breakdown_level=view.breakdown_level,
        breakdown=[
            RegionCount(region=c, name=n, registered_workers=k)
            for c, n, k in breakdown(view, counts)
        ],
        as_of=datetime.now(UTC),
    )
