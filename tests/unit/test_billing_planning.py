"""Planning in both directions (budget from workers and months; workers or months from a
budget) against DOMAIN.md's field figures, and the rate and planning handlers with a fixed
clock and no servers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_billing.domain import (
    Plan,
    budget_for,
    months_for,
    plan_for_budget,
    plan_for_workers,
    plan_months,
    workers_for,
    workers_from_share,
)
from bpu_billing.domain.planning import MAX_MONTHS
from bpu_billing.handlers import (
    GetRate,
    ListRates,
    PlanBudget,
    PlanMonths,
    PlanWorkers,
    list_rates,
    plan_budget,
    plan_months_for,
    plan_workers,
    rate_in_force,
)
from bpu_billing.handlers.planning import PlanTerms
from bpu_shared.auth import ADMIN, Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.effective import NotInForce
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps

REGIONAL = 16_800

# -- the field's figures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "workers", "months", "budget"),
    [
        ("Kabupaten Paser, one month of 2022", 32_268, 1, 542_102_400),
        ("Kabupaten Paser, October–December 2022", 32_268, 3, 1_626_307_200),
        ("Paser, 2023", 32_268, 12, 6_505_228_800),
        ("Provinsi Bengkulu, 70% target", 80_418, 12, 16_212_268_800),
        ("Kabupaten Kepahiang, 2025", 1_984, 12, 399_974_400),
        ("Kabupaten Kaur, Dec 2024", 7_130, 1, 119_784_000),
    ],
)
def test_figures_from_the_field(place: str, workers: int, months: int, budget: int) -> None:
    assert budget_for(workers, months, REGIONAL) == budget, place
    assert workers_for(budget, months, REGIONAL) == workers, place
    assert months_for(budget, workers, REGIONAL) == months, place


def test_seventy_percent_of_bengkulus_workforce_is_80_418_half_up() -> None:
    assert workers_from_share(114_883, 70) == 80_418  # 80,418.1
    assert workers_from_share(114_883, Decimal("70")) == 80_418
    assert workers_from_share(3, 50) == 2  # 1.5: half up
    assert workers_from_share(5, Decimal("10")) == 1  # 0.5: half up
    assert workers_from_share(1, 0.1) == 0
    assert workers_from_share(1_000, 33.3) == 333  # the float read as the decimal it prints


@pytest.mark.parametrize("percent", [Decimal("-1"), Decimal("100.01"), Decimal("NaN"), 101.0])
def test_a_share_is_a_percent_from_0_to_100(percent: Decimal | float) -> None:
    with pytest.raises(InvalidInput) as raised:
        workers_from_share(100, percent)
    assert raised.value.field == "percent"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: budget_for(-1, 12, REGIONAL), "workers"),
        (lambda: workers_for(10**9, 0, REGIONAL), "months"),
        (lambda: workers_for(10**9, 12, 0), "monthly_cost"),
        (lambda: months_for(10**9, 0, REGIONAL), "workers"),
        (lambda: months_for(-5, 1, REGIONAL), "budget"),
    ],
)
def test_bad_inputs_name_their_field(call: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        call()
    assert raised.value.field == field


@given(
    st.integers(0, 10_000_000),
    st.integers(1, 120),
    st.integers(1, 500_000),
)
def test_budget_and_workers_round_trip(workers: int, months: int, cost: int) -> None:
    budget = budget_for(workers, months, cost)
    assert workers_for(budget, months, cost) == workers
    assert workers_for(budget + months * cost - 1, months, cost) == workers
    if workers:
        assert months_for(budget, workers, cost) == months


@given(st.integers(0, 10**13), st.integers(1, 120), st.integers(1, 500_000))
def test_workers_for_a_budget_never_spend_more_than_it(budget: int, months: int, cost: int) -> None:
    workers = workers_for(budget, months, cost)
    assert budget_for(workers, months, cost) <= budget < budget_for(workers + 1, months, cost)


# -- plans over months of changing cost ----------------------------------------------------------


def test_a_plan_for_workers_prices_each_month() -> None:
    plan = plan_for_workers(80_418, 12, [REGIONAL])
    assert plan == Plan(80_418, 12, REGIONAL, 201_600, 16_212_268_800, 0)
    # A discount from the fourth month on (a donor-funded farmer in 2026).
    costs = [16_800] * 3 + [8_400] * 9
    assert plan_for_workers(100, 12, costs).budget == 100 * (3 * 16_800 + 9 * 8_400)


def test_a_plan_for_a_budget_keeps_the_leftover() -> None:
    plan = plan_for_budget(16_212_268_800 + 201_599, 12, [REGIONAL])
    assert (plan.workers, plan.leftover) == (80_418, 201_599)
    with pytest.raises(InvalidInput):
        plan_for_budget(1, 12, [0])


def test_months_for_a_budget_with_a_discount_ending() -> None:
    costs = [8_400, 8_400, 16_800]  # the last cost repeats after the list
    plan = plan_months(100 * (8_400 * 2 + 16_800 * 3) + 5, 100, costs)
    assert (plan.months, plan.leftover) == (5, 5)
    assert plan.cost_per_worker == 8_400 * 2 + 16_800 * 3
    assert plan_months(100 * 8_400 - 1, 100, costs).months == 0
    assert plan_months(10**16, 1, [REGIONAL]).months == MAX_MONTHS


@given(
    st.integers(0, 10**12),
    st.integers(1, 100_000),
    st.lists(st.integers(1, 50_000), min_size=1, max_size=30),
)
def test_months_for_a_budget_never_spend_more_than_it(
    budget: int, workers: int, costs: list[int]
) -> None:
    plan = plan_months(budget, workers, costs)
    spent = budget - plan.leftover
    assert 0 <= spent <= budget
    assert spent == workers * plan.cost_per_worker
    if plan.months < MAX_MONTHS:
        following = costs[min(plan.months, len(costs) - 1)]
        assert spent + workers * following > budget


# -- the handlers --------------------------------------------------------------------------------

OPERATOR = Principal("k-op", Role.OPERATOR)
DASHBOARD = Principal("k-dash", Role.DASHBOARD)
SPONSOR = Principal("k-sp", Role.SPONSOR, "17.04")


def deps(today: date = date(2026, 11, 23), rates_file: Path | None = None) -> Deps[Any, Any]:
    clock = FixedClock(datetime(today.year, today.month, today.day, 3, tzinfo=UTC))
    return Deps(None, None, clock, SimpleNamespace(rates_file=rates_file))  # type: ignore[arg-type]


async def test_rates_are_read_by_dashboard_operator_sponsor_and_admin() -> None:
    for who in (OPERATOR, DASHBOARD, SPONSOR, ADMIN):
        rows = await list_rates(ListRates(), who, deps())
        assert {r.kind for r in rows} >= {"jkk_brackets", "jkm", "jht", "discount", "arrears"}


async def test_rates_in_force_today_and_on_a_day() -> None:
    today = await rate_in_force(GetRate(), DASHBOARD, deps(date(2026, 5, 2)))
    assert today.view.day == date(2026, 5, 2)
    assert {d.id for d in today.view.discounts} == {
        "PP50-2025-TRANSPORT",
        "PP50-2025-OTHER-SECTORS",
    }
    assert (today.monthly_regional, today.monthly_with_jht) == (16_800, 36_800)
    assert today.at_lowest_income == {
        BenefitProgramme.JKK: 10_000,
        BenefitProgramme.JKM: 6_800,
        BenefitProgramme.JHT: 20_000,
    }
    old = await rate_in_force(GetRate(date(2022, 10, 1)), OPERATOR, deps())
    assert old.view.discounts == () and old.lowest_income == 1_000_000
    with pytest.raises(NotInForce) as raised:
        await rate_in_force(GetRate(date(2019, 1, 1)), OPERATOR, deps())
    assert raised.value.field == "on"


async def test_the_rate_table_comes_from_the_settings_file(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[2] / "services/billing/src/bpu_billing/data/rates.json"
    doc = json.loads(shipped.read_text())
    for row in doc["rows"]:
        if row["kind"] == "jkm":
            row["amount"] = 7_000
    path = tmp_path / "rates.json"
    path.write_text(json.dumps(doc))
    found = await rate_in_force(GetRate(date(2025, 1, 1)), OPERATOR, deps(rates_file=path))
    assert found.monthly_regional == 17_000


async def test_plan_the_bengkulu_budget_from_a_share_of_the_workforce() -> None:
    terms = PlanTerms(funding_source=FundingSource.APBD_PROVINCE, start=Month(2026, 1))
    planned = await plan_budget(
        PlanBudget(12, workforce=114_883, percent=Decimal(70), terms=terms), SPONSOR, deps()
    )
    assert planned.plan.workers == 80_418
    assert planned.plan.budget == 16_212_268_800
    assert planned.monthly_costs == (16_800,) * 12
    by_workers = await plan_budget(PlanBudget(12, workers=80_418, terms=terms), SPONSOR, deps())
    assert by_workers.plan == planned.plan


async def test_a_donor_funded_plan_counts_the_discount_month_by_month() -> None:
    terms = PlanTerms(funding_source=FundingSource.DONOR, start=Month(2026, 1))
    planned = await plan_budget(PlanBudget(12, workers=1_000, terms=terms), OPERATOR, deps())
    assert planned.monthly_costs == (16_800,) * 3 + (8_400,) * 9
    assert planned.plan.budget == 1_000 * (3 * 16_800 + 9 * 8_400)
    ojek = PlanTerms(
        funding_source=FundingSource.DONOR,
        occupation=Occupation.MOTORCYCLE_TAXI_RIDER,
        start=Month(2026, 1),
    )
    planned = await plan_budget(PlanBudget(12, workers=1_000, terms=ojek), OPERATOR, deps())
    assert planned.monthly_costs == (8_400,) * 12


async def test_plan_workers_and_months_from_a_budget() -> None:
    terms = PlanTerms(start=Month(2026, 1))
    workers = await plan_workers(PlanWorkers(16_212_268_800, 12, terms), DASHBOARD, deps())
    assert (workers.plan.workers, workers.plan.leftover) == (80_418, 0)
    months = await plan_months_for(PlanMonths(399_974_400, 1_984, terms), DASHBOARD, deps())
    assert (months.plan.months, months.plan.leftover) == (12, 0)
    assert len(months.monthly_costs) == 12


async def test_the_start_defaults_to_this_month_in_jakarta() -> None:
    # 2026-11-30 20:00 UTC is already 1 December in Jakarta.
    late = Deps(None, None, FixedClock(datetime(2026, 11, 30, 20, tzinfo=UTC)), SimpleNamespace())  # type: ignore[arg-type]
    planned = await plan_budget(PlanBudget(1, workers=1), OPERATOR, late)
    assert planned.start == Month(2026, 12)


@pytest.mark.parametrize(
    ("ask", "field"),
    [
        (PlanBudget(12), "workers"),
        (PlanBudget(12, workers=1, workforce=2, percent=Decimal(5)), "workers"),
        (PlanBudget(12, workforce=2), "percent"),
        (
            PlanBudget(12, workers=1, terms=PlanTerms(benefits=frozenset({BenefitProgramme.JKK}))),
            "benefits",
        ),
        (PlanBudget(12, workers=1, terms=PlanTerms(start=Month(2019, 1))), "start"),
        (PlanWorkers(10**9, 0), "months"),
        (PlanMonths(10**9, 0), "workers"),
    ],
)
async def test_planning_errors_name_the_field(ask: Any, field: str) -> None:
    handler = {PlanBudget: plan_budget, PlanWorkers: plan_workers, PlanMonths: plan_months_for}
    with pytest.raises(InvalidInput) as raised:
        await handler[type(ask)](ask, OPERATOR, deps())
    assert raised.value.field == field
