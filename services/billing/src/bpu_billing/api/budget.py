"""``/programmes/{id}/budget``: budget, invoiced, paid, credit, remaining, months it buys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bpu_billing.handlers.budget import Budget, GetBudget
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["budget"])


class BudgetOut(BaseModel):
    programme_id: str
    sponsor_id: str
    budget_year: int | None
    budget_rupiah: int
    invoiced_rupiah: int
    paid_rupiah: int
    credit_rupiah: int = Field(description="Overpayments and payments ahead held for next invoices")
    remaining_rupiah: int = Field(description="Budget less invoiced (negative past the budget)")
    month: str = Field(description="The month today's roster is priced for")
    enrolled_workers: int
    monthly_cost_rupiah: int = Field(description="What today's roster costs a month")
    months_remaining: int | None = Field(
        description="Whole months of cover the remaining budget buys at today's roster"
    )
    over_budget: bool
    invoices_over_budget: list[str]

    @classmethod
    def of(cls, b: Budget) -> BudgetOut:
        return cls(**{**vars(b), "month": str(b.month)})


@router.get(
    "/programmes/{programme_id}/budget",
    response_model=BudgetOut,
    responses=problem_responses(401, 403, 404),
)
async def programme_budget(programme_id: str, request: Request, who: Anyone) -> BudgetOut:
    return BudgetOut.of(await request.app.state.bus.handle(GetBudget(programme_id), who))
