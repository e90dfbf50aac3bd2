"""The contribution (iuran) rate table against DOMAIN.md's figures from the field."""

from __future__ import annotations

from datetime import date

import pytest

from bpu_billing.domain import DEFAULT_RATES, ContributionRate, rate_on
from bpu_shared.events import BenefitProgramme

JKK, JKM, JHT = BenefitProgramme.JKK, BenefitProgramme.JKM, BenefitProgramme.JHT
REGIONAL = frozenset({JKK, JKM})
WITH_JHT = frozenset({JKK, JKM, JHT})
LOWEST = 1_000_000


def per_worker_month(day: date, benefits: frozenset[BenefitProgramme], income: int = LOWEST) -> int:
    return sum(rate_on(day).monthly(income, benefits).values())


def test_lowest_income_jkk_and_jkm_amounts() -> None:
    amounts = rate_on(date(2024, 12, 1)).monthly(LOWEST, REGIONAL)
    assert amounts == {JKK: 10_000, JKM: 6_800}


def test_regional_package_costs_16_800_per_worker_month() -> None:
    assert per_worker_month(date(2024, 12, 1), REGIONAL) == 16_800


def test_with_jht_it_costs_36_800() -> None:
    amounts = rate_on(date(2024, 12, 1)).monthly(LOWEST, WITH_JHT)
    assert amounts == {JKK: 10_000, JKM: 6_800, JHT: 20_000}
    assert sum(amounts.values()) == 36_800


def test_only_the_benefits_asked_for_are_billed() -> None:
    rate = rate_on(date(2024, 12, 1))
    assert rate.monthly(LOWEST, frozenset({JKM})) == {JKM: 6_800}
    assert rate.monthly(LOWEST, frozenset()) == {}


@pytest.mark.parametrize(
    ("place", "day", "workers", "months", "total"),
    [
        ("Kabupaten Kaur, Dec 2024", date(2024, 12, 1), 7_130, 1, 119_784_000),
        ("Kabupaten Paser, Oct–Dec 2022", date(2022, 10, 1), 32_268, 3, 1_626_307_200),
        ("Paser, 2023", date(2023, 1, 1), 32_268, 12, 6_505_228_800),
        ("Provinsi Bengkulu, 70% target", date(2025, 1, 1), 80_418, 12, 16_212_268_800),
        ("Kabupaten Kepahiang, 2025", date(2025, 1, 1), 1_984, 12, 399_974_400),
    ],
)
def test_figures_from_the_field(
    place: str, day: date, workers: int, months: int, total: int
) -> None:
    assert workers * per_worker_month(day, REGIONAL) * months == total, place


@pytest.mark.parametrize("income", [0, 1, 500_000, 999_999])
def test_income_below_the_lowest_is_billed_at_the_lowest(income: int) -> None:
    assert rate_on(date(2024, 12, 1)).monthly(income, WITH_JHT) == {
        JKK: 10_000,
        JKM: 6_800,
        JHT: 20_000,
    }


def test_jkk_and_jht_follow_a_higher_income() -> None:
    amounts = rate_on(date(2024, 12, 1)).monthly(2_500_000, WITH_JHT)
    assert amounts == {JKK: 25_000, JKM: 6_800, JHT: 50_000}


def test_money_stays_int() -> None:
    for income in (LOWEST, 1_234_567, 2_500_000):
        for amount in rate_on(date(2024, 12, 1)).monthly(income, WITH_JHT).values():
            assert type(amount) is int


def test_the_published_table_is_pp_82_2019() -> None:
    (rate,) = DEFAULT_RATES
    assert rate.effective_from == date(2019, 12, 2)
    assert rate.source == "PP 44/2015 as amended by PP 82/2019"
    assert rate_on(date(2019, 12, 2)) is rate


def test_no_rate_before_the_first_effective_date() -> None:
    with pytest.raises(LookupError, match="no contribution rate is in force on 2019-12-01"):
        rate_on(date(2019, 12, 1))


OLD = ContributionRate(
    effective_from=date(2019, 12, 2),
    jkk_basis_points=100,
    jkm_flat=6_800,
    jht_basis_points=200,
    lowest_declared_income=1_000_000,
    source="PP 82/2019",
)
NEW = ContributionRate(
    effective_from=date(2027, 1, 1),
    jkk_basis_points=120,
    jkm_flat=7_500,
    jht_basis_points=200,
    lowest_declared_income=1_500_000,
    source="a later regulation",
)


@pytest.mark.parametrize("table", [(OLD, NEW), (NEW, OLD)])
def test_the_row_in_force_is_chosen_on_each_side_of_its_date(
    table: tuple[ContributionRate, ...],
) -> None:
    assert rate_on(date(2026, 12, 31), table) is OLD
    assert rate_on(date(2027, 1, 1), table) is NEW
    assert rate_on(date(2030, 6, 1), table) is NEW
    with pytest.raises(LookupError):
        rate_on(date(2019, 12, 1), table)


def test_a_later_row_changes_the_bill_from_its_date() -> None:
    table = (OLD, NEW)
    before = rate_on(date(2026, 12, 1), table).monthly(LOWEST, REGIONAL)
    after = rate_on(date(2027, 1, 1), table).monthly(LOWEST, REGIONAL)
    assert before == {JKK: 10_000, JKM: 6_800}
    # The new lowest income (Rp1.5m) applies to a worker declaring Rp1m.
    assert after == {JKK: 18_000, JKM: 7_500}
