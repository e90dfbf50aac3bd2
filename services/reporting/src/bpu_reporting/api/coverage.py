"""GET /coverage: workers registered, enrolled, covered (paid), in arrears, lapsed and waiting,
against the region's target, with the claims and benefits paid; per child region or month."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from bpu_reporting.api.common import (
    Answer,
    Report,
    answer,
    answer_fields,
    responses,
    row_place,
)
from bpu_reporting.handlers import CoverageReport, GetCoverage
from bpu_reporting.handlers.coverage import CoverageFigures as Figures
from bpu_shared.auth import Anyone

router = APIRouter(tags=["reporting"])


class TargetBlock(BaseModel):
    """Covered against the region's target for the year and against its whole workforce."""

    region: str = Field(examples=["17"])
    year: int = Field(examples=[2026])
    workforce: int | None = Field(description="The vulnerable workforce", examples=[114883])
    target_workers: int = Field(examples=[80418])
    target_percent: float | None = Field(examples=[70.0])
    covered: int = Field(
        description="Covered in the month asked, or enrolled now for an all-time answer",
        examples=[31487],
    )
    covered_pct_of_target: float = Field(examples=[39.2])
    covered_pct_of_workforce: float | None = Field(examples=[27.4])
    to_target: int = Field(description="Workers still needed for the target", examples=[48931])
    to_workforce: int | None = Field(description="Workers still needed for 100%", examples=[83396])
    sentence: str = Field(
        examples=["48,931 more and Bengkulu reaches its target of 80,418 (70% of its workforce)"]
    )
    source: str = Field(examples=["BPS Sakernas 2025"])


class CoverageNumbers(BaseModel):
    registered: int = Field(
        description="Enrolments registered: all time, or in the month or months asked",
        examples=[7130],
    )
    enrolled: int = Field(
        description="Enrolled now (registered less ended) all time; in a month: the "
        "worker-months invoiced",
        examples=[7130],
    )
    covered: int = Field(description="Workers whose month was paid in full", examples=[7130])
    in_arrears: int = Field(
        description="Invoiced, not paid, and past the month's due date", examples=[0]
    )
    lapsed: int = Field(description="Workers whose programme's cover lapsed", examples=[0])
    waiting: int = Field(
        description="On the waiting list now (a month's row: at the month's end)", examples=[12]
    )
    target: TargetBlock | None = Field(
        description="Against the region's target for the year; null when none is set or the "
        "answer is of a programme, sponsor or occupation"
    )
    registered_workers: int = Field(description="As registered (kept for older clients)")
    claims_paid: int
    benefits_paid_rupiah: int
    claims_paid_by_programme: dict[str, int] = Field(
        description="Claims paid per benefit programme: JKK (work accident), JKM (death)",
        examples=[{"JKK": 1, "JKM": 1}],
    )
    benefits_paid_by_programme: dict[str, int] = Field(
        description="Benefits paid in Rupiah per benefit programme: JKK, JKM",
        examples=[{"JKK": 3500000, "JKM": 43500000}],
    )


class RegionCount(CoverageNumbers):
    region: str = Field(description="The child region's code (the region asked, per month)")
    month: str | None = Field(description="The row's month, when by=month")
    name: str = Field(examples=["Kinal"])


class Coverage(CoverageNumbers, Answer):
    month: str = Field(
        description="The month covered, enrolled and in arrears are of: the month asked, the "
        "range's last, or this month (Jakarta) for an all-time answer",
        examples=["2026-03"],
    )
    breakdown: list[RegionCount]


FIGURES = [*CoverageNumbers.model_fields]


def _numbers(f: Figures) -> dict[str, Any]:
    figures = {name: getattr(f, name) for name in FIGURES}
    figures["target"] = TargetBlock(**asdict(f.target)) if f.target else None
    return figures


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="Workers registered, enrolled, covered, in arrears, lapsed and waiting, against target",
    responses=responses(Coverage),
)
async def coverage(
    request: Request,
    who: Anyone,
    params: Report,
) -> Response:
    """The region's coverage (all time, one month, or a range of months) and its rows: the
    next region level (by=region) or each month (by=month). A sponsor key sees its own region
    only. ETag and If-None-Match: 304 while nothing changed."""

    async def build() -> BaseModel:
        query = params.query()
        r: CoverageReport = await request.app.state.bus.handle(GetCoverage(**query), who)
        return Coverage(
            **answer_fields(r),
            **_numbers(r),
            month=str(r.month),
            breakdown=[
                RegionCount(
                    **row_place(r, row.code, row.name),
                    **_numbers(row),
                )
                for row in r.breakdown
            ],
        )

    return await answer(request, who, build, params.format, figures=FIGURES, name="coverage")
