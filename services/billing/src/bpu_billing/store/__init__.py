"""Billing's repository: its own copy of the programmes and their enrolments (the roster, from
registration's events), billing runs, invoices with their lines, and payments. It persists what
the domain decided, each change with its events in one document (through the unit of work).

One class for the handlers (``BillingRepository``), one module per aggregate."""

from __future__ import annotations

from typing import ClassVar

from bpu_billing.store.invoices import INVOICE_LINES, INVOICES, InvoiceStore
from bpu_billing.store.payments import PAYMENTS, PaymentStore
from bpu_billing.store.roster import PROGRAMMES, RosterStore
from bpu_billing.store.runs import RUNS, RunStore
from bpu_shared.service import Repository


class BillingRepository(RosterStore, RunStore, InvoiceStore, PaymentStore, Repository):
    #: Collections whose documents carry events (the relay publishes exactly these).
    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]] = (
        PROGRAMMES,
        INVOICES,
        INVOICE_LINES,
        PAYMENTS,
        RUNS,
    )

    async def ensure_indexes(self) -> None:
        await self.ensure_roster_indexes()
        await self.ensure_runs_indexes()
        await self.ensure_invoice_indexes()
        await self.ensure_payments_indexes()
