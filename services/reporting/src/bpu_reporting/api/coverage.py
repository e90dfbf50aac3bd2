"""GET /coverage: workers registered, claims and benefits paid, per region."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_reporting.handlers import (
    CoverageReport,
    GetCoverage,
)
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
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
