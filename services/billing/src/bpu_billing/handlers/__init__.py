"""Billing's use cases, one handler each: load through the repository, ask the domain, save
through the unit of work. The two tables below are the whole service on one screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_billing.handlers.budget import GetBudget, programme_budget
from bpu_billing.handlers.cover import GetCoverage, check_lapses_after_invoices, coverage_of
from bpu_billing.handlers.invoices import (
    GetInvoice,
    GetInvoiceLines,
    ListInvoices,
    get_invoice,
    invoice_lines,
    list_invoices,
)
from bpu_billing.handlers.payments import (
    GetPayment,
    ListPayments,
    RecordPayment,
    credit_new_invoices,
    get_payment,
    list_payments,
    payments_received,
    record_payment,
)
from bpu_billing.handlers.planning import (
    PlanBudget,
    PlanMonths,
    PlanWorkers,
    plan_budget,
    plan_months_for,
    plan_workers,
)
from bpu_billing.handlers.rates import GetRate, ListRates, list_rates, rate_in_force
from bpu_billing.handlers.roster import ROSTER_EVENT_HANDLERS
from bpu_billing.handlers.runs import (
    GetRun,
    ListRuns,
    StartRun,
    get_run,
    list_runs,
    start_run,
)
from bpu_billing.handlers.statements import GetStatement, statement
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS
from bpu_shared.events import ContributionInvoiced, PaymentReceived

# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    ListRates: list_rates,
    GetRate: rate_in_force,
    PlanBudget: plan_budget,
    PlanWorkers: plan_workers,
    PlanMonths: plan_months_for,
    StartRun: start_run,
    GetRun: get_run,
    ListRuns: list_runs,
    ListInvoices: list_invoices,
    GetInvoice: get_invoice,
    GetInvoiceLines: invoice_lines,
    RecordPayment: record_payment,
    GetPayment: get_payment,
    ListPayments: list_payments,
    GetCoverage: coverage_of,
    GetBudget: programme_budget,
    GetStatement: statement,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    PaymentReceived: [payments_received],  # a treasury's or bank's payments
    ContributionInvoiced: [credit_new_invoices, check_lapses_after_invoices],  # billing's own
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
    **ROSTER_EVENT_HANDLERS,  # registration's programmes and enrolments: billing's roster
}
