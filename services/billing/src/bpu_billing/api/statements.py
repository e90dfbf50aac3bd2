"""``/statements/{sponsor_id}/{period}``: the period's invoice lines as CSV, and a printable
summary (HTML, A4, Indonesian)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from bpu_billing.handlers.statements import GetStatement, csv_lines, render_html
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month

router = APIRouter(tags=["statements"])

PERIOD = Path(pattern=PATTERN, description="YYYY-MM")


@router.get(
    "/statements/{sponsor_id}/{period}.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 403, 404, 422)},
)
async def statement_csv(
    sponsor_id: str, request: Request, who: Anyone, period: str = PERIOD
) -> StreamingResponse:
    """Every line of the sponsor's invoices of the period: invoice, worker, district, village,
    each benefit's amount and the line's amount."""
    bus = request.app.state.bus
    found = await bus.handle(GetStatement(sponsor_id, Month.parse(period)), who)
    return StreamingResponse(
        csv_lines(found, bus.deps),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="tagihan-{sponsor_id}-{period}.csv"'
        },
    )


@router.get(
    "/statements/{sponsor_id}/{period}",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **problem_responses(401, 403, 404, 422)},
)
async def statement_html(
    sponsor_id: str, request: Request, who: Anyone, period: str = PERIOD
) -> HTMLResponse:
    """The printable summary: per programme and per district totals, due date, paid so far,
    the amount due in figures (Rp16.212.268.800) and in words."""
    found = await request.app.state.bus.handle(GetStatement(sponsor_id, Month.parse(period)), who)
    return HTMLResponse(render_html(found))
