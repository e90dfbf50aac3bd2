"""Billing's pure rules (no I/O): the rate table and the price of a worker-month (``rates``),
cover, due dates and arrears (``cover``), budgets and planning (``planning``), and Rupiah in
figures and words (``money``)."""

from __future__ import annotations

from bpu_billing.domain.cover import (
    CoverAnswer,
    CoverStatus,
    MonthState,
    allocate,
    cover_on,
    due_date,
    is_working_day,
    lapse_from,
    payable_until,
)
from bpu_billing.domain.money import in_words, rupiah
from bpu_billing.domain.planning import (
    Plan,
    budget_for,
    months_for,
    plan_for_budget,
    plan_for_workers,
    plan_months,
    workers_for,
    workers_from_share,
)
from bpu_billing.domain.rates import (
    ArrearsRule,
    Band,
    Discount,
    InForce,
    JhtRate,
    JkkBrackets,
    JkmRate,
    RateKind,
    RateRow,
    RateTable,
    RateTableError,
)

__all__ = [
    "ArrearsRule",
    "Band",
    "CoverAnswer",
    "CoverStatus",
    "Discount",
    "InForce",
    "JhtRate",
    "JkkBrackets",
    "JkmRate",
    "MonthState",
    "Plan",
    "RateKind",
    "RateRow",
    "RateTable",
    "RateTableError",
    "allocate",
    "budget_for",
    "cover_on",
    "due_date",
    "in_words",
    "is_working_day",
    "lapse_from",
    "months_for",
    "payable_until",
    "plan_for_budget",
    "plan_for_workers",
    "plan_months",
    "rupiah",
    "workers_for",
    "workers_from_share",
]
