"""Reading the rate table: every row, and what is in force on a day. The table is loaded once
per process, from ``settings.rates_file`` when given, else the file shipped with the service;
``rate_table(deps)`` is how every billing handler (the run, planning) gets it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_billing.domain import InForce, RateRow, RateTable
from bpu_billing.handlers.base import READERS, Billing
from bpu_shared.auth import Principal
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation

#: The regional package: JKK and JKM (mandatory); JHT is optional.
REGIONAL = frozenset({BenefitProgramme.JKK, BenefitProgramme.JKM})
WITH_JHT = frozenset(BenefitProgramme)


def rate_table(deps: Billing) -> RateTable:
    """The rate table of this process (``BillingSettings.rates_file``, or the shipped one)."""
    return RateTable.loaded(getattr(deps.settings, "rates_file", None))


@dataclass(frozen=True)
class ListRates:
    pass


@dataclass(frozen=True)
class GetRate:
    """What is in force on a day (today in Asia/Jakarta when not given)."""

    on: date | None = None


@dataclass(frozen=True)
class RatesOnDay:
    """The rows in force on ``view.day``, and what a worker at the lowest income costs a month
    at full price (an APBD-funded worker: no discount)."""

    view: InForce
    table_version: str
    lowest_income: int
    at_lowest_income: dict[BenefitProgramme, int]
    monthly_regional: int  # JKK + JKM
    monthly_with_jht: int  # JKK + JKM + JHT


async def list_rates(q: ListRates, principal: Principal, deps: Billing) -> tuple[RateRow, ...]:
    principal.require_role(*READERS)
    return rate_table(deps).rows()


async def rate_in_force(q: GetRate, principal: Principal, deps: Billing) -> RatesOnDay:
    principal.require_role(*READERS)
    table = rate_table(deps)
    view = table.in_force(q.on or deps.clock.today())  # NotInForce names the "on" field
    lowest = view.lowest_income()

    def at_lowest(benefits: frozenset[BenefitProgramme]) -> dict[BenefitProgramme, int]:
        return view.price(lowest, benefits, FundingSource.APBD_REGENCY, Occupation.OTHER)

    full = at_lowest(WITH_JHT)
    return RatesOnDay(
        view=view,
        table_version=table.version,
        lowest_income=lowest,
        at_lowest_income=full,
        monthly_regional=sum(at_lowest(REGIONAL).values()),
        monthly_with_jht=sum(full.values()),
    )
