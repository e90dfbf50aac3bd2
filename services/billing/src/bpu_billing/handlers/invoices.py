"""Reading invoices and their lines. A sponsor sees its own region's only; an invoice outside
it does not exist for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpu_billing.handlers.base import READERS, Billing
from bpu_shared.auth import Principal
from bpu_shared.errors import NotFound
from bpu_shared.month import Month


@dataclass(frozen=True)
class ListInvoices:
    programme_id: str | None = None
    period: Month | None = None
    sponsor_id: str | None = None
    limit: int = 100
    skip: int = 0


@dataclass(frozen=True)
class GetInvoice:
    invoice_id: str


@dataclass(frozen=True)
class GetInvoiceLines:
    invoice_id: str
    offset: int = 0
    limit: int = 1000


@dataclass(frozen=True)
class LinesPage:
    invoice: dict[str, Any]
    offset: int
    lines: list[dict[str, Any]]


async def list_invoices(
    q: ListInvoices, principal: Principal, deps: Billing
) -> list[dict[str, Any]]:
    principal.require_role(*READERS)
    found = await deps.repository.invoices_where(
        programme_id=q.programme_id, period=q.period, sponsor_id=q.sponsor_id, limit=1_000_000
    )
    visible = [doc for doc in found if principal.can_access(doc["region_code"])]
    return visible[q.skip : q.skip + q.limit]


async def get_invoice(q: GetInvoice, principal: Principal, deps: Billing) -> dict[str, Any]:
    principal.require_role(*READERS)
    doc = await deps.repository.invoice(q.invoice_id)
    if doc is None or not principal.can_access(doc["region_code"]):
        raise NotFound("invoice", q.invoice_id)
    return doc


async def invoice_lines(q: GetInvoiceLines, principal: Principal, deps: Billing) -> LinesPage:
    invoice = await get_invoice(GetInvoice(q.invoice_id), principal, deps)
    lines = await deps.repository.lines_page(q.invoice_id, q.offset, q.limit)
    return LinesPage(invoice, q.offset, lines)
