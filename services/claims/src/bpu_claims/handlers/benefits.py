"""Reading the benefit table: every row, and the rules in force on a day. The table is loaded
once per process, from ``settings.benefits_file`` when given, else the file shipped with the
service; ``benefit_table(deps)`` is how every claims handler (assessment) gets it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_claims.domain import BenefitRow, BenefitRules, BenefitTable, JkkFacts
from bpu_claims.domain.formulas import jkk_lines, jkm_lines, total
from bpu_claims.handlers.base import READERS, Claims
from bpu_shared.auth import Principal


def benefit_table(deps: Claims) -> BenefitTable:
    """The benefit table of this process (``settings.benefits_file``, or the shipped one)."""
    return BenefitTable.loaded(deps.settings.benefits_file)


@dataclass(frozen=True)
class ListBenefits:
    pass


@dataclass(frozen=True)
class GetBenefits:
    """The rules in force on a day (today in Asia/Jakarta when not given)."""

    on: date | None = None


async def list_benefits(
    q: ListBenefits, principal: Principal, deps: Claims
) -> tuple[BenefitRow, ...]:
    principal.require_role(*READERS)
    return benefit_table(deps).rows()


#: The lowest declared income (the first JKK bracket's base), for the figures at a glance.
LOWEST_INCOME = 1_000_000


@dataclass(frozen=True)
class BenefitsOnDay:
    """The rules in force on ``rules.day``, and what they pay in the cases asked most."""

    rules: BenefitRules
    jkm_death: int  # after the early months
    jkm_early_death: int  # the reduced benefit
    jkk_death_at_lowest_income: int  # before the scholarship
    scholarship_per_child: int


async def benefits_in_force(q: GetBenefits, principal: Principal, deps: Claims) -> BenefitsOnDay:
    principal.require_role(*READERS)
    rules = benefit_table(deps).in_force(q.on or deps.clock.today())  # NotInForce names "on"
    return BenefitsOnDay(
        rules=rules,
        jkm_death=total(jkm_lines(rules.jkm_early_death.months_below, rules)),
        jkm_early_death=total(jkm_lines(0, rules)),
        jkk_death_at_lowest_income=total(jkk_lines(JkkFacts(died=True), LOWEST_INCOME, rules)),
        scholarship_per_child=rules.scholarship.per_child(),
    )
