"""Planning in both directions: from workers (or a share of a workforce) and months, the
budget; from a budget, the workers for some months, or the months for some workers. Each
month is priced by the rate table in force then, so a discount starting mid-plan counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bpu_billing.domain import Plan, RateTable
from bpu_billing.domain.planning import (
    MAX_MONTHS,
    plan_for_budget,
    plan_for_workers,
    plan_months,
    workers_from_share,
)
from bpu_billing.handlers.base import READERS, Billing
from bpu_billing.handlers.rates import REGIONAL, rate_table
from bpu_shared.auth import Principal
from bpu_shared.effective import NotInForce
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.month import Month


@dataclass(frozen=True)
class PlanTerms:
    """What a worker-month costs depends on: declared income, benefits, who funds it, the
    occupation (sector discounts) and the first month (today's month when not given)."""

    income: int = 1_000_000
    benefits: frozenset[BenefitProgramme] = REGIONAL
    funding_source: FundingSource = FundingSource.APBD_REGENCY
    occupation: Occupation = Occupation.OTHER
    start: Month | None = None


@dataclass(frozen=True)
class PlanBudget:
    """The budget for ``workers`` (or ``percent`` of ``workforce``) for ``months``."""

    months: int
    workers: int | None = None
    workforce: int | None = None
    percent: Decimal | None = None
    terms: PlanTerms = field(default_factory=PlanTerms)


@dataclass(frozen=True)
class PlanWorkers:
    """How many workers ``budget`` covers for ``months``."""

    budget: int
    months: int
    terms: PlanTerms = field(default_factory=PlanTerms)


@dataclass(frozen=True)
class PlanMonths:
    """How many months ``budget`` covers ``workers`` for."""

    budget: int
    workers: int
    terms: PlanTerms = field(default_factory=PlanTerms)


@dataclass(frozen=True)
class Planned:
    plan: Plan
    start: Month
    terms: PlanTerms
    monthly_costs: tuple[int, ...]  # per worker, month by month from ``start``
    workforce: int | None = None
    percent: Decimal | None = None


def _check(terms: PlanTerms) -> None:
    if not REGIONAL <= terms.benefits:
        raise InvalidInput("benefits", "JKK and JKM are mandatory; JHT is optional")
    if terms.income < 0:
        raise InvalidInput("income", "a declared income is never negative")


def _costs(table: RateTable, terms: PlanTerms, start: Month, months: int) -> tuple[int, ...]:
    try:
        return tuple(
            table.monthly_cost(
                start.plus(i), terms.income, terms.benefits, terms.funding_source, terms.occupation
            )
            for i in range(months)
        )
    except NotInForce as error:
        raise NotInForce("start", error.detail) from error


def _start(terms: PlanTerms, deps: Billing) -> Month:
    return terms.start or Month.of(deps.clock.today())


async def plan_budget(q: PlanBudget, principal: Principal, deps: Billing) -> Planned:
    principal.require_role(*READERS)
    _check(q.terms)
    if (q.workers is None) == (q.workforce is None):
        raise InvalidInput("workers", "give workers, or workforce and percent, not both")
    if q.workforce is not None and q.percent is None:
        raise InvalidInput("percent", "a workforce needs the percent of it to cover")
    workers = q.workers
    if workers is None:
        assert q.workforce is not None and q.percent is not None
        workers = workers_from_share(q.workforce, q.percent)
    start = _start(q.terms, deps)
    costs = _costs(rate_table(deps), q.terms, start, q.months)
    plan = plan_for_workers(workers, q.months, costs)
    return Planned(plan, start, q.terms, costs, q.workforce, q.percent)


async def plan_workers(q: PlanWorkers, principal: Principal, deps: Billing) -> Planned:
    principal.require_role(*READERS)
    _check(q.terms)
    start = _start(q.terms, deps)
    costs = _costs(rate_table(deps), q.terms, start, q.months)
    return Planned(plan_for_budget(q.budget, q.months, costs), start, q.terms, costs)


async def plan_months_for(q: PlanMonths, principal: Principal, deps: Billing) -> Planned:
    principal.require_role(*READERS)
    _check(q.terms)
    table = rate_table(deps)
    start = _start(q.terms, deps)
    # Every month after the table's last change costs what that month costs.
    last = table.changes_after(start)
    span = min((last.year - start.year) * 12 + last.month - start.month + 1, MAX_MONTHS)
    costs = _costs(table, q.terms, start, span)
    plan = plan_months(q.budget, q.workers, costs)
    return Planned(plan, start, q.terms, _costs(table, q.terms, start, plan.months) or costs[:1])
