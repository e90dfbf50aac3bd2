"""``/billing-runs``: bill a period (every programme, or one) as a job, and follow it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from bpu_billing.handlers import GetRun, ListRuns, StartRun
from bpu_billing.handlers.runs import RunStarted
from bpu_shared.auth import Anyone
from bpu_shared.http import RequestModel, problem_responses
from bpu_shared.month import PATTERN, Month

router = APIRouter(tags=["billing runs"])


class RunRequest(RequestModel):
    period: Month = Field(description="The month to bill, YYYY-MM")
    programme_id: str | None = Field(
        None, max_length=100, description="One programme; every programme when absent"
    )


class RunOut(BaseModel):
    """A billing run and how far it got."""

    run_id: str
    period: Month
    programme_id: str | None = Field(description="The programme billed; null: every one")
    state: str = Field(description="queued, running, done or failed")
    programmes_total: int
    programmes_done: int
    lines_written: int = Field(description="Invoice lines written by this run")
    invoices_issued: int = Field(description="Invoices issued by this run, supplementary too")
    supplementary_issued: int = Field(description="Of which supplementary (late enrolments)")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    errors: list[str]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> RunOut:
        def when(value: Any) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            run_id=doc["_id"],
            period=Month.parse(doc["period"]),
            programme_id=doc.get("programme_id"),
            state=doc["state"],
            programmes_total=doc.get("programmes_total", 0),
            programmes_done=doc.get("programmes_done", 0),
            lines_written=doc.get("lines_written", 0),
            invoices_issued=doc.get("invoices_issued", 0),
            supplementary_issued=doc.get("supplementary_issued", 0),
            created_by=doc.get("created_by", ""),
            created_at=datetime.fromisoformat(doc["created_at"]),
            started_at=when(doc.get("started_at")),
            finished_at=when(doc.get("finished_at")),
            errors=list(doc.get("errors", [])),
        )


@router.post(
    "/billing-runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunOut,
    responses={
        200: {"description": "A run of this period and programme is under way", "model": RunOut},
        **problem_responses(401, 403, 422),
    },
)
async def start_run(body: RunRequest, request: Request, response: Response, who: Anyone) -> RunOut:
    """Bill ``period`` for one programme or every one, as a job (202, ``Location`` the run).
    Re-running a period creates nothing new; late enrolments go on supplementary invoices."""
    started: RunStarted = await request.app.state.bus.handle(
        StartRun(body.period, body.programme_id), who
    )
    response.headers["Location"] = f"/billing-runs/{started.run['_id']}"
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return RunOut.of(started.run)


@router.get(
    "/billing-runs", response_model=list[RunOut], responses=problem_responses(401, 403, 422)
)
async def list_runs(
    request: Request,
    who: Anyone,
    period: Annotated[str | None, Query(pattern=PATTERN, description="YYYY-MM")] = None,
) -> list[RunOut]:
    """Billing runs, newest first."""
    runs = await request.app.state.bus.handle(
        ListRuns(Month.parse(period) if period else None), who
    )
    return [RunOut.of(r) for r in runs]


@router.get(
    "/billing-runs/{run_id}", response_model=RunOut, responses=problem_responses(401, 403, 404)
)
async def get_run(run_id: str, request: Request, who: Anyone) -> RunOut:
    return RunOut.of(await request.app.state.bus.handle(GetRun(run_id), who))
