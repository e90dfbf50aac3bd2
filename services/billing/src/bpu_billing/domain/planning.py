"""Planning in both directions, as a province does: from workers (or a share of a workforce)
and months, the budget; from a budget, how many workers for how many months. Pure, whole Rupiah.

The ``*_for`` functions take one monthly cost per worker; the ``plan_*`` functions take the cost
of each month in turn (a discount may start or end inside the plan), the last one repeating
after the list ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bpu_shared.errors import InvalidInput

#: Longest plan answered, in months (a budget that would last longer is answered with this).
MAX_MONTHS = 1_200


def _at_least(value: int, low: int, name: str) -> None:
    if value < low:
        raise InvalidInput(name, f"must be at least {low} (got {value})")


def budget_for(workers: int, months: int, monthly_cost: int) -> int:
    """What ``workers`` cost for ``months`` at ``monthly_cost`` each a month."""
    _at_least(workers, 0, "workers")
    _at_least(months, 0, "months")
    _at_least(monthly_cost, 0, "monthly_cost")
    return workers * months * monthly_cost


def workers_for(budget: int, months: int, monthly_cost: int) -> int:
    """How many workers ``budget`` pays for ``months`` (rounded down: a seat is paid in full)."""
    _at_least(budget, 0, "budget")
    _at_least(months, 1, "months")
    _at_least(monthly_cost, 1, "monthly_cost")
    return budget // (months * monthly_cost)


def months_for(budget: int, workers: int, monthly_cost: int) -> int:
    """How many whole months ``budget`` pays for ``workers``."""
    _at_least(budget, 0, "budget")
    _at_least(workers, 1, "workers")
    _at_least(monthly_cost, 1, "monthly_cost")
    return budget // (workers * monthly_cost)


def workers_from_share(workforce: int, percent: Decimal | float | int) -> int:
    """``percent`` of ``workforce``, rounded half up to a whole worker (70% of 114,883 =
    80,418.1 → 80,418). A float is read as the decimal it prints as (``70.1`` is 70.1)."""
    _at_least(workforce, 0, "workforce")
    share = percent if isinstance(percent, Decimal) else Decimal(str(percent))
    if not share.is_finite() or not Decimal(0) <= share <= Decimal(100):
        raise InvalidInput("percent", f"must be from 0 to 100 (got {percent})")
    exact = Decimal(workforce) * share / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Plan:
    """``workers`` covered for ``months``: ``monthly_cost`` per worker in the first month,
    ``cost_per_worker`` over all the months, ``budget`` needed (or given) and ``leftover`` of a
    given budget once the plan is paid."""

    workers: int
    months: int
    monthly_cost: int
    cost_per_worker: int
    budget: int
    leftover: int = 0


def _costs(monthly_costs: Sequence[int], months: int) -> list[int]:
    if not monthly_costs:
        raise InvalidInput("monthly_cost", "at least one month's cost is needed")
    for cost in monthly_costs:
        _at_least(cost, 0, "monthly_cost")
    return [monthly_costs[min(i, len(monthly_costs) - 1)] for i in range(months)]


def plan_for_workers(workers: int, months: int, monthly_costs: Sequence[int]) -> Plan:
    """The budget ``workers`` need for ``months``."""
    _at_least(workers, 0, "workers")
    _at_least(months, 1, "months")
    costs = _costs(monthly_costs, months)
    per_worker = sum(costs)
    return Plan(workers, months, costs[0], per_worker, workers * per_worker)


def plan_for_budget(budget: int, months: int, monthly_costs: Sequence[int]) -> Plan:
    """How many workers ``budget`` covers for ``months``, and what is left."""
    _at_least(budget, 0, "budget")
    _at_least(months, 1, "months")
    costs = _costs(monthly_costs, months)
    per_worker = sum(costs)
    if per_worker <= 0:
        raise InvalidInput("monthly_cost", "nothing to buy: the months cost nothing")
    workers = budget // per_worker
    return Plan(workers, months, costs[0], per_worker, budget, budget - workers * per_worker)


def plan_months(budget: int, workers: int, monthly_costs: Sequence[int]) -> Plan:
    """How many whole months ``budget`` pays for ``workers`` (at most ``MAX_MONTHS``), and
    what is left."""
    _at_least(budget, 0, "budget")
    _at_least(workers, 1, "workers")
    first = _costs(monthly_costs, 1)[0]
    spent = months = 0
    while months < MAX_MONTHS:
        if months >= len(monthly_costs) - 1:  # from here on every month costs the last cost
            cost = workers * monthly_costs[-1]
            more = MAX_MONTHS - months if cost == 0 else (budget - spent) // cost
            more = min(more, MAX_MONTHS - months)
            spent += more * cost
            months += more
            break
        cost = workers * monthly_costs[months]
        if spent + cost > budget:
            break
        spent += cost
        months += 1
    per_worker = sum(_costs(monthly_costs, months)) if months else 0
    return Plan(workers, months, first, per_worker, budget, budget - spent)
