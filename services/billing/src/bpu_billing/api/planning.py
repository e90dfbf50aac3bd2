"""``/planning``: budgets from workers and months, workers or months from a budget. Amounts in
whole Rupiah, with the written figure and the words beside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from bpu_billing.domain import in_words, rupiah
from bpu_billing.handlers import PlanBudget, PlanMonths, PlanWorkers
from bpu_billing.handlers.planning import Planned, PlanTerms
from bpu_shared.auth import Anyone
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month

router = APIRouter(tags=["planning"])

MAX_RUPIAH = 10**16  # Rp10 quadrillion: far above any budget
MAX_WORKERS = 100_000_000
MAX_WORKFORCE = 1_000_000_000
MAX_MONTHS = 1_200


def _optional(low: int, high: int, description: str) -> Any:
    """An optional integer query parameter, its bounds shown beside its ``anyOf`` too."""
    return Query(
        ge=low,
        le=high,
        json_schema_extra={"minimum": low, "maximum": high},
        description=description,
    )


class Amount(BaseModel):
    rupiah: int
    text: str = Field(examples=["Rp16.212.268.800"])
    words: str = Field(examples=["Enam belas miliar dua ratus dua belas juta … rupiah"])

    @classmethod
    def of(cls, amount: int) -> Amount:
        return cls(rupiah=amount, text=rupiah(amount), words=in_words(amount))


class PlanOut(BaseModel):
    workers: int
    months: int
    start: str = Field(description="First month, YYYY-MM")
    income: int = Field(description="Declared monthly income priced")
    benefits: list[BenefitProgramme]
    funding_source: FundingSource
    occupation: Occupation
    monthly_cost: Amount = Field(description="One worker, the first month")
    monthly_costs: list[int] = Field(description="One worker, month by month from start")
    cost_per_worker: Amount = Field(description="One worker over all the months")
    budget: Amount
    leftover: Amount = Field(description="What a given budget keeps once the plan is paid")
    workforce: int | None = None
    percent: Decimal | None = None

    @classmethod
    def of(cls, planned: Planned) -> PlanOut:
        plan, terms = planned.plan, planned.terms
        return cls(
            workers=plan.workers,
            months=plan.months,
            start=str(planned.start),
            income=terms.income,
            benefits=[b for b in BenefitProgramme if b in terms.benefits],
            funding_source=terms.funding_source,
            occupation=terms.occupation,
            monthly_cost=Amount.of(plan.monthly_cost),
            monthly_costs=list(planned.monthly_costs),
            cost_per_worker=Amount.of(plan.cost_per_worker),
            budget=Amount.of(plan.budget),
            leftover=Amount.of(plan.leftover),
            workforce=planned.workforce,
            percent=planned.percent,
        )


def _benefits(text: str) -> frozenset[BenefitProgramme]:
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    known = {b.value for b in BenefitProgramme}
    if not names or any(n not in known for n in names):
        raise InvalidInput(
            "query.benefits", f"a comma-separated list of jkk, jkm, jht (got {text!r})"
        )
    return frozenset(BenefitProgramme(n) for n in names)


def _month(text: str | None) -> Month | None:
    try:
        return Month.parse(text) if text else None
    except ValueError as error:
        raise InvalidInput("query.start", str(error)) from None


def _required(value: int | None, name: str) -> int:
    if value is None:
        raise InvalidInput(f"query.{name}", "Field required")
    return value


async def _plan(request: Request, message: Any, who: Any) -> PlanOut:
    """Ask the bus for the plan; an invalid field is named as the query names it
    (``query.workers``)."""
    try:
        return PlanOut.of(await request.app.state.bus.handle(message, who))
    except InvalidInput as error:
        if error.field and "." not in error.field:
            raise InvalidInput(f"query.{error.field}", error.detail) from error
        raise


def _route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A planning route: ``GET path`` answering a ``PlanOut``."""
    return router.get(
        path, response_model=PlanOut, summary=summary, responses=problem_responses(401, 403, 422)
    )


Income = Annotated[
    int, Query(ge=0, le=MAX_RUPIAH, description="Declared monthly income (default: lowest)")
]
Benefits = Annotated[
    str, Query(max_length=20, description="Comma-separated: jkk,jkm (mandatory), jht")
]
Funding = Annotated[FundingSource, Query(description="Whose budget pays (discounts depend on it)")]
Job = Annotated[Occupation, Query(description="The workers' occupation (sector discounts)")]
Start = Annotated[
    str | None, Query(pattern=PATTERN, description="First month, YYYY-MM (default: this month)")
]
Months = Annotated[int, Query(ge=1, le=MAX_MONTHS, description="Default: a budget year")]
# Required in effect, but optional to FastAPI so that a wrong value of another parameter is
# the first error named; a missing one is named as FastAPI would.
Budget = Annotated[int | None, _optional(0, MAX_RUPIAH, "Rupiah (required)")]
Workers = Annotated[int | None, _optional(0, MAX_WORKERS, "Workers (or workforce and percent)")]
Workforce = Annotated[
    int | None, _optional(0, MAX_WORKFORCE, "A region's workforce figure, with percent")
]
Percent = Annotated[
    Decimal | None, Query(ge=0, le=100, max_digits=12, description="Share of the workforce, %")
]


@dataclass(frozen=True)
class _TermsQuery:
    """The terms every plan is priced on, as the query gives them; parsed in the route, after
    FastAPI has checked the route's own parameters."""

    income: int
    benefits: str
    funding_source: FundingSource
    occupation: Occupation
    start: str | None

    def parse(self) -> PlanTerms:
        return PlanTerms(
            self.income,
            _benefits(self.benefits),
            self.funding_source,
            self.occupation,
            _month(self.start),
        )


async def _terms_query(
    income: Income = 1_000_000,
    benefits: Benefits = "jkk,jkm",
    funding_source: Funding = FundingSource.APBD_REGENCY,
    occupation: Job = Occupation.OTHER,
    start: Start = None,
) -> _TermsQuery:
    return _TermsQuery(income, benefits, funding_source, occupation, start)


#: The query parameters of the terms, the same in every planning route (listed after the
#: route's own).
Terms = Annotated[_TermsQuery, Depends(_terms_query)]


@_route("/planning/budget", "The budget for workers (or a share of a workforce) for some months")
async def plan_budget(
    request: Request,
    who: Anyone,
    query: Terms,
    workers: Workers = None,
    workforce: Workforce = None,
    percent: Percent = None,
    months: Months = 12,
) -> PlanOut:
    terms = query.parse()
    return await _plan(request, PlanBudget(months, workers, workforce, percent, terms), who)


@_route("/planning/workers", "How many workers a budget covers for some months")
async def plan_workers(
    request: Request, who: Anyone, query: Terms, budget: Budget = None, months: Months = 12
) -> PlanOut:
    terms = query.parse()
    ask = PlanWorkers(_required(budget, "budget"), months, terms)
    return await _plan(request, ask, who)


@_route("/planning/months", "How many months a budget covers some workers for")
async def plan_months(
    request: Request, who: Anyone, query: Terms, budget: Budget = None, workers: Workers = None
) -> PlanOut:
    terms = query.parse()
    ask = PlanMonths(_required(budget, "budget"), _required(workers, "workers"), terms)
    return await _plan(request, ask, who)
