"""The benefit table for JKK (work accident) and JKM (death) claims."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bpu_claims.domain import DEFAULT_BENEFITS, BenefitTable, benefits_on

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize("months", [3, 4, 12, 120])
def test_jkm_death_after_the_first_3_months_is_42_million(months: int) -> None:
    assert benefits_on(TODAY).jkm_death(months) == 42_000_000


@pytest.mark.parametrize("months", [0, 1, 2])
def test_jkm_death_within_the_first_3_months_is_10_million(months: int) -> None:
    assert benefits_on(TODAY).jkm_death(months) == 10_000_000


def test_jkm_death_is_lump_sum_periodic_and_funeral() -> None:
    table = benefits_on(TODAY)
    assert (table.jkm_lump_sum, table.jkm_periodic, table.jkm_funeral) == (
        20_000_000,
        12_000_000,
        10_000_000,
    )


def test_jkk_death_at_the_lowest_income_is_70_million_before_scholarship() -> None:
    # 48 × Rp1m + funeral Rp10m + periodic Rp12m.
    assert benefits_on(TODAY).jkk_death(1_000_000) == 70_000_000


def test_jkk_death_follows_the_declared_income() -> None:
    assert benefits_on(TODAY).jkk_death(2_500_000) == 48 * 2_500_000 + 22_000_000


def test_amounts_are_int() -> None:
    table = benefits_on(TODAY)
    assert type(table.jkm_death(1)) is int
    assert type(table.jkm_death(12)) is int
    assert type(table.jkk_death(1_000_000)) is int


def test_the_published_table() -> None:
    (table,) = DEFAULT_BENEFITS
    assert table.effective_from == date(2019, 12, 2)
    assert table.source == "PP 82/2019; Permenaker 5/2021"
    assert table.jkk_claim_expiry_years == 5
    assert table.jkk_total_disability_income_multiple == 56
    assert table.jkk_partial_disability_income_multiple == 80
    assert benefits_on(date(2019, 12, 2)) is table


def test_no_table_before_the_first_effective_date() -> None:
    with pytest.raises(LookupError, match="no benefit table is in force on 2019-12-01"):
        benefits_on(date(2019, 12, 1))


OLD: BenefitTable = DEFAULT_BENEFITS[0]
NEW = replace(
    OLD,
    effective_from=date(2027, 1, 1),
    source="a later regulation",
    jkm_lump_sum=25_000_000,
    jkm_early_death_months=6,
)


@pytest.mark.parametrize("table", [(OLD, NEW), (NEW, OLD)])
def test_benefits_on_picks_the_table_in_force(table: tuple[BenefitTable, ...]) -> None:
    assert benefits_on(date(2026, 12, 31), table) is OLD
    assert benefits_on(date(2027, 1, 1), table) is NEW
    assert benefits_on(date(2040, 1, 1), table) is NEW
    with pytest.raises(LookupError):
        benefits_on(date(2019, 12, 1), table)


def test_a_later_table_changes_the_amounts_from_its_date() -> None:
    table = (OLD, NEW)
    assert benefits_on(date(2026, 12, 31), table).jkm_death(4) == 42_000_000
    assert benefits_on(date(2027, 1, 1), table).jkm_death(4) == 10_000_000  # early for 6 months
    assert benefits_on(date(2027, 1, 1), table).jkm_death(6) == 47_000_000
