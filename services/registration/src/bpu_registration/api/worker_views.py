"""``GET /workers`` (list and search with a cursor), ``/workers/{id}/history`` (who changed
what) and ``/workers/{id}/card`` (the participant card as a printable HTML page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from bpu_registration.api.base import ask
from bpu_registration.api.workers import WorkerOut
from bpu_registration.cards import render_card_html
from bpu_registration.domain import EnrolmentStatus, Occupation
from bpu_registration.handlers.search import (
    GetCard,
    GetWorkerHistory,
    HistoryLine,
    SearchWorkers,
    WorkerPage,
)
from bpu_shared.auth import Anyone, Principal
from bpu_shared.clock import JAKARTA
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN as MONTH_PATTERN
from bpu_shared.month import Month
from bpu_shared.regions import RegionCode

router = APIRouter(tags=["workers"])


class WorkerList(BaseModel):
    items: list[WorkerOut]
    next: str | None = Field(
        None,
        description="Give it as `after` for the next page; absent on the last page. Opaque.",
    )

    @classmethod
    def of(cls, page: WorkerPage, who: Principal) -> WorkerList:
        items = [WorkerOut.of(w, who) for w in page.workers]
        return cls(items=items, next=page.next) if page.next else cls(items=items)


class HistoryLineOut(BaseModel):
    at: datetime
    by: str = Field(description="The id of the API key that made the change")
    action: str = Field(examples=["enrolled", "changed", "ended", "moved"])
    details: dict[str, Any]

    @classmethod
    def of(cls, line: HistoryLine) -> HistoryLineOut:
        return cls(
            at=line.at.astimezone(JAKARTA), by=line.by, action=line.action, details=line.details
        )


@router.get(
    "/workers",
    response_model=WorkerList,
    response_model_exclude_unset=True,  # no `next` on the last page
    responses=problem_responses(401, 403, 422),
)
async def list_workers(
    request: Request,
    who: Anyone,
    region: Annotated[
        RegionCode | None, Query(description="Region-code prefix of the domicile")
    ] = None,
    programme_id: Annotated[str | None, Query(max_length=100)] = None,
    occupation: Occupation | None = None,
    status: Annotated[
        EnrolmentStatus | None,
        Query(description="The worker's status; with programme_id, its enrolment's there"),
    ] = None,
    month: Annotated[
        str | None,
        Query(pattern=MONTH_PATTERN, description="YYYY-MM: some programme pays for it"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[
        str | None, Query(max_length=400, description="The `next` of the previous page")
    ] = None,
) -> WorkerList:
    """List workers by domicile village and card number, a page at a time; the filters
    combine. A sponsor key lists inside its region. NIKs are whole for admin and operator
    keys, masked for others."""
    query = SearchWorkers(
        region=region,
        programme_id=programme_id,
        occupation=occupation,
        status=status,
        month=None if month is None else Month.parse(month),
        limit=limit,
        after=after,
    )
    return WorkerList.of(await ask(request, query, who), who)


@router.get(
    "/workers/{worker_id}/history",
    response_model=list[HistoryLineOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def worker_history(worker_id: str, request: Request, who: Anyone) -> list[HistoryLineOut]:
    """Every change of the worker, oldest first, with the id of the API key that made it
    (``registration`` for what the service did by itself)."""
    lines = await ask(request, GetWorkerHistory(worker_id), who)
    return [HistoryLineOut.of(line) for line in lines]


@router.get(
    "/workers/{worker_id}/card",
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "The participant card as one printable HTML page (ID-1 size in "
            "print); the NIK is masked on it for every key",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def worker_card(
    worker_id: str,
    request: Request,
    who: Anyone,
    enrolment_id: Annotated[
        str | None,
        Query(max_length=100, description="Which enrolment; default the latest active one"),
    ] = None,
) -> HTMLResponse:
    """The participant card (kartu peserta) of one of the worker's enrolments, to print."""
    card = await ask(request, GetCard(worker_id, enrolment_id), who)
    return HTMLResponse(
        render_card_html(card),
        headers={"Content-Disposition": 'inline; filename="kartu-peserta.html"'},
    )
