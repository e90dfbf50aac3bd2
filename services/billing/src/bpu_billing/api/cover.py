"""``/coverage/{worker_id}``: whether a worker is covered on a day, and why."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_billing.domain.cover import CoverStatus
from bpu_billing.handlers.cover import Coverage, GetCoverage
from bpu_shared.auth import Anyone
from bpu_shared.http import Day, problem_responses

router = APIRouter(tags=["cover"])


class CoverageOut(BaseModel):
    worker_id: str
    on: date
    status: CoverStatus = Field(
        description="paid; arrears (unpaid, still payable); lapsed; not_enrolled; not_invoiced"
    )
    covered: bool
    reason: str = Field(description="Why, in words")
    period: str
    programme_id: str | None
    sponsor_id: str | None
    invoice_id: str | None
    payable_until: date | None = Field(description="Last day an unpaid month may be paid")
    programme_lapsed_from: str | None = Field(
        description="The programme's cover ended from this month (more unpaid months in a row "
        "than the arrears window allows)"
    )

    @classmethod
    def of(cls, c: Coverage) -> CoverageOut:
        return cls(
            worker_id=c.worker_id,
            on=c.on,
            status=c.status,
            covered=c.covered,
            reason=c.reason,
            period=str(c.period),
            programme_id=c.programme_id,
            sponsor_id=c.sponsor_id,
            invoice_id=c.invoice_id,
            payable_until=c.payable_until,
            programme_lapsed_from=str(c.lapsed_from) if c.lapsed_from else None,
        )


@router.get(
    "/coverage/{worker_id}",
    response_model=CoverageOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def coverage(
    worker_id: str,
    request: Request,
    who: Anyone,
    on: Annotated[Day | None, Query(description="The day; today (Asia/Jakarta) by default")] = None,
) -> CoverageOut:
    """A worker-month is covered when its invoice line is paid; an unpaid month stays payable
    (arrears) for the rate table's window after its due date."""
    return CoverageOut.of(await request.app.state.bus.handle(GetCoverage(worker_id, on), who))
