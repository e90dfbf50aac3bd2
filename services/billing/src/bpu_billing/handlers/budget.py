"""A programme's budget: what it was given, invoiced, paid, the credit it holds, what remains,
and how many months of cover the remainder buys at this month's roster, priced as the billing
run prices it."""

from __future__ import annotations

from dataclasses import dataclass

from bpu_billing.domain.invoicing import bill
from bpu_billing.domain.planning import months_for
from bpu_billing.handlers.base import READERS, Billing
from bpu_billing.handlers.rates import rate_table
from bpu_billing.handlers.runs import EntryOf, changes_by_worker, pricer, terms_of
from bpu_shared.auth import Principal
from bpu_shared.errors import NotFound
from bpu_shared.events import FundingSource
from bpu_shared.month import Month


@dataclass(frozen=True)
class GetBudget:
    programme_id: str


@dataclass(frozen=True)
class Budget:
    programme_id: str
    sponsor_id: str
    budget_year: int | None
    budget_rupiah: int
    invoiced_rupiah: int
    paid_rupiah: int
    credit_rupiah: int
    remaining_rupiah: int  # budget - invoiced (negative when invoiced past the budget)
    month: Month  # the month the roster was priced for (today's)
    enrolled_workers: int
    monthly_cost_rupiah: int
    months_remaining: int | None  # None when nobody is enrolled
    over_budget: bool
    invoices_over_budget: list[str]


async def programme_budget(q: GetBudget, principal: Principal, deps: Billing) -> Budget:
    principal.require_role(*READERS)
    repo = deps.repository
    programme = await repo.programme_doc(q.programme_id)
    if programme is None or not principal.can_access(programme.get("region_code", "")):
        raise NotFound("programme", q.programme_id)
    invoices = await repo.invoices_of(q.programme_id)
    invoiced = sum(int(i["amount_rupiah"]) for i in invoices)
    paid = sum(int(i.get("paid_rupiah", 0)) for i in invoices)
    budget = int(programme.get("budget_rupiah") or 0)
    month = Month.of(deps.clock.today())
    # This month's roster priced as the billing run would bill it (whether billed or not).
    funding = FundingSource(programme.get("funding_source") or FundingSource.APBD_REGENCY)
    cost_now = bill(
        terms_of(programme),
        month,
        await repo.roster_as(q.programme_id, month, EntryOf()),
        pricer(rate_table(deps), month, funding),
        changes=changes_by_worker(await repo.changes_of(up_to=month)),
    )
    workers, cost = cost_now.worker_count, cost_now.amount_rupiah
    remaining = budget - invoiced
    over = [i["_id"] for i in invoices if i.get("over_budget")]
    return Budget(
        programme_id=q.programme_id,
        sponsor_id=programme.get("sponsor_id", ""),
        budget_year=programme.get("budget_year"),
        budget_rupiah=budget,
        invoiced_rupiah=invoiced,
        paid_rupiah=paid,
        credit_rupiah=int(programme.get("credit_rupiah", 0)),
        remaining_rupiah=remaining,
        month=month,
        enrolled_workers=workers,
        monthly_cost_rupiah=cost,
        months_remaining=months_for(max(remaining, 0), 1, cost) if cost > 0 else None,
        over_budget=bool(over) or invoiced > budget,
        invoices_over_budget=over,
    )
