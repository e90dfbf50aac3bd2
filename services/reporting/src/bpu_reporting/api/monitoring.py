"""``/monitoring``: a province's regencies side by side for its monitoring meeting, as JSON,
CSV (``format=csv``) and a print-ready A4 page in Indonesian (``/monitoring/print``)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from bpu_reporting.handlers.monitoring import GetMonitoring, Monitoring, MonitoringRow
from bpu_reporting.monitoring_page import monitoring_csv, monitoring_html
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month

router = APIRouter(tags=["monitoring"])

ProvinceQuery = Annotated[
    str | None,
    Query(description="The province's code (17 = Bengkulu); a sponsor key's own by default"),
]
YearQuery = Annotated[int, Query(ge=2015, le=2100, description="The budget year")]
PeriodQuery = Annotated[
    str | None,
    Query(
        pattern=PATTERN,
        description="A month of the year (YYYY-MM): covered, contributions and benefits of that "
        "month; without it, covered is everyone registered and money is the year's",
    ),
]


class Row(BaseModel):
    region: str = Field(examples=["17.04"])
    name: str = Field(examples=["Kabupaten Kaur"])
    budgeted: bool
    budget_rupiah: int = Field(
        description="Its programmes' budgets for the year", examples=[1437408000]
    )
    programmes: int
    covered: int = Field(examples=[7130])
    target_workers: int | None
    covered_pct_of_target: float | None
    to_target: int | None
    workforce: int | None
    covered_pct_of_workforce: float | None
    contributions_invoiced_rupiah: int = Field(examples=[119784000])
    contributions_paid_rupiah: int = Field(examples=[119784000])
    benefits_paid_rupiah: int
    waiting: int = Field(description="Workers on the waiting list now")
    target_sentence: str | None = Field(
        examples=["1,000 more and Kaur reaches its target of 8,130"]
    )

    @classmethod
    def of(cls, r: MonitoringRow) -> Row:
        return cls.model_validate(r, from_attributes=True)


class MonitoringOut(BaseModel):
    province: str
    province_name: str
    year: int
    period: str | None
    covered_means: str
    rows: list[Row]
    totals: Row
    programme_names: dict[str, list[str]] = Field(
        description="Each regency's programmes of the year"
    )
    generated_at: datetime
    as_of: datetime | None = Field(
        description="The newest event applied: what the figures are as of (null before any)"
    )

    @classmethod
    def of(cls, m: Monitoring) -> MonitoringOut:
        return cls(
            province=m.province,
            province_name=m.province_name,
            year=m.year,
            period=str(m.period) if m.period else None,
            covered_means=m.covered_means,
            rows=[Row.of(r) for r in m.rows],
            totals=Row.of(m.totals),
            programme_names=m.programme_names,
            generated_at=m.generated_at,
            as_of=m.as_of,
        )


async def _ask(
    request: Request, who: Anyone, province: str | None, year: int, period: str | None
) -> Monitoring:
    query = GetMonitoring(province, year, Month.parse(period) if period else None)
    result: Monitoring = await request.app.state.bus.handle(query, who)
    return result


def _filename(m: Monitoring, ext: str) -> str:
    return f"monitoring-{m.province}-{m.period or m.year}.{ext}"


@router.get(
    "/monitoring",
    response_model=MonitoringOut,
    summary="A province's regencies: budget, covered against target, money, waiting list",
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403, 422)},
)
async def get_monitoring(
    request: Request,
    who: Anyone,
    year: YearQuery,
    province: ProvinceQuery = None,
    period: PeriodQuery = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> MonitoringOut | Response:
    """JSON, or CSV with ``format=csv`` or ``Accept: text/csv`` (the JSON rows' fields as
    columns, the totals last). Under an ETag: a dashboard polling with If-None-Match gets
    304 while no figure changed."""
    found = await _ask(request, who, province, year, period)
    if format == "csv" or "text/csv" in request.headers.get("accept", ""):
        text = monitoring_csv(found)
        return _tagged(
            request,
            text,
            Response(
                text,
                media_type="text/csv; charset=utf-8",
                headers={
                    "content-disposition": f'attachment; filename="{_filename(found, "csv")}"'
                },
            ),
        )
    body = MonitoringOut.of(found).model_dump(mode="json")
    figures = json.dumps({**body, "generated_at": None}, sort_keys=True)
    return _tagged(request, figures, JSONResponse(body))


def _tagged(request: Request, figures: str, response: Response) -> Response:
    """``response`` under the ETag of ``figures`` (the answer without the time it was made),
    or 304 when the request's If-None-Match names it."""
    etag = '"' + hashlib.sha256(figures.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    sent = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in sent or f"W/{etag}" in sent:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


@router.get(
    "/monitoring/print",
    response_class=HTMLResponse,
    summary="The monitoring table as a print-ready A4 page, in Indonesian",
    responses={200: {"content": {"text/html": {}}}, **problem_responses(401, 403, 422)},
)
async def print_monitoring(
    request: Request,
    who: Anyone,
    year: YearQuery,
    province: ProvinceQuery = None,
    period: PeriodQuery = None,
) -> HTMLResponse:
    return HTMLResponse(monitoring_html(await _ask(request, who, province, year, period)))
