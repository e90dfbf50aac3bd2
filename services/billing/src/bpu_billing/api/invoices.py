"""``/invoices``: issued invoices, their totals and their lines (worker ids, no personal
data)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_billing.handlers import GetInvoice, GetInvoiceLines, ListInvoices
from bpu_billing.handlers.invoices import LinesPage
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month

router = APIRouter(tags=["invoices"])


class DistrictOut(BaseModel):
    workers: int
    amount_rupiah: int


class InvoiceOut(BaseModel):
    invoice_id: str
    programme_id: str
    sponsor_id: str
    region_code: str
    funding_source: str | None
    period: Month
    sequence: int = Field(description="0 the month's invoice; 1, 2… supplementary")
    supplementary: bool
    run_id: str | None
    worker_count: int
    amount_rupiah: int
    amount_by_benefit: dict[str, int]
    by_district: dict[str, DistrictOut]
    due_date: date
    issued_at: str
    over_budget: bool
    budget_rupiah: int | None
    invoiced_to_date_rupiah: int | None
    paid_rupiah: int
    paid_in_full: bool
    lines_paid: int = Field(description="Lines, in line order, the amount paid covers")
    credit_applied_rupiah: int
    lines_url: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> InvoiceOut:
        return cls(
            invoice_id=doc["_id"],
            programme_id=doc["programme_id"],
            sponsor_id=doc["sponsor_id"],
            region_code=doc["region_code"],
            funding_source=doc.get("funding_source"),
            period=Month.parse(doc["period"]),
            sequence=doc["sequence"],
            supplementary=doc.get("supplementary", False),
            run_id=doc.get("run_id"),
            worker_count=doc["worker_count"],
            amount_rupiah=doc["amount_rupiah"],
            amount_by_benefit=doc["amount_by_benefit"],
            by_district={k: DistrictOut(**v) for k, v in doc["by_district"].items()},
            due_date=date.fromisoformat(doc["due_date"]),
            issued_at=str(doc.get("issued_at", "")),
            over_budget=doc.get("over_budget", False),
            budget_rupiah=doc.get("budget_rupiah"),
            invoiced_to_date_rupiah=doc.get("invoiced_to_date_rupiah"),
            paid_rupiah=doc.get("paid_rupiah", 0),
            paid_in_full=doc.get("paid_in_full", False),
            lines_paid=doc.get("lines_paid", 0),
            credit_applied_rupiah=doc.get("credit_applied_rupiah", 0),
            lines_url=f"/invoices/{doc['_id']}/lines",
        )


class LineOut(BaseModel):
    line: int = Field(description="Index of the line on the invoice")
    enrolment_id: str
    worker_id: str
    district_code: str
    village_code: str
    occupation: str
    income: int = Field(description="Declared monthly income the month was priced at")
    amounts: dict[str, int]
    amount: int


class LinesOut(BaseModel):
    invoice_id: str
    total: int
    offset: int
    lines: list[LineOut]


@router.get(
    "/invoices", response_model=list[InvoiceOut], responses=problem_responses(401, 403, 422)
)
async def list_invoices(
    request: Request,
    who: Anyone,
    programme_id: Annotated[str | None, Query(max_length=100)] = None,
    period: Annotated[str | None, Query(pattern=PATTERN, description="YYYY-MM")] = None,
    sponsor_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    skip: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[InvoiceOut]:
    """Issued invoices, by period, programme and sequence (a sponsor's region only)."""
    query = ListInvoices(
        programme_id, Month.parse(period) if period else None, sponsor_id, limit, skip
    )
    return [InvoiceOut.of(d) for d in await request.app.state.bus.handle(query, who)]


@router.get(
    "/invoices/{invoice_id}", response_model=InvoiceOut, responses=problem_responses(401, 403, 404)
)
async def get_invoice(invoice_id: str, request: Request, who: Anyone) -> InvoiceOut:
    return InvoiceOut.of(await request.app.state.bus.handle(GetInvoice(invoice_id), who))


@router.get(
    "/invoices/{invoice_id}/lines",
    response_model=LinesOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_lines(
    invoice_id: str,
    request: Request,
    who: Anyone,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> LinesOut:
    """The invoice's lines in enrolment-id order, a page at a time."""
    page: LinesPage = await request.app.state.bus.handle(
        GetInvoiceLines(invoice_id, offset, limit), who
    )
    return LinesOut(
        invoice_id=invoice_id,
        total=page.invoice["worker_count"],
        offset=offset,
        lines=[LineOut(line=offset + i, **d) for i, d in enumerate(page.lines)],
    )
