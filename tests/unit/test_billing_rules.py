"""Billing's pure rules: the rate table as data (brackets, JKM, JHT, PP 50/2025 discounts), the
last payable day (the due-date rule is shared: test_calendar.py), arrears and lapse, cover on
a day, partial payments, and Rupiah in figures and words."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_billing.domain import (
    CoverStatus,
    Discount,
    MonthState,
    RateKind,
    RateTable,
    RateTableError,
    allocate,
    cover_on,
    due_date,
    in_words,
    lapse_from,
    payable_until,
    rupiah,
)
from bpu_shared.effective import NotInForce
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.month import Month

JKK, JKM, JHT = BenefitProgramme.JKK, BenefitProgramme.JKM, BenefitProgramme.JHT
REGIONAL = frozenset({JKK, JKM})
WITH_JHT = frozenset({JKK, JKM, JHT})
LOWEST = 1_000_000
APBD = FundingSource.APBD_REGENCY
DONOR = FundingSource.DONOR
FARMER = Occupation.FARMER.value
OJEK = Occupation.MOTORCYCLE_TAXI_RIDER.value
BECAK = Occupation.PEDICAB_DRIVER.value

TABLE = RateTable.load()
SHIPPED = json.loads(
    (Path(__file__).parents[2] / "services/billing/src/bpu_billing/data/rates.json").read_text()
)

#: The bases DOMAIN.md lists, lowest to highest.
BASES = [
    1_000_000,
    *range(1_200_000, 2_600_001, 200_000),
    2_950_000,
    *range(3_450_000, 7_950_001, 500_000),
    8_700_000,
    *range(9_700_000, 19_700_001, 1_000_000),
    20_700_000,
]

incomes = st.integers(min_value=0, max_value=40_000_000)
months = st.builds(Month, st.integers(2020, 2027), st.integers(1, 12))
benefit_sets = st.sets(st.sampled_from(list(BenefitProgramme))).map(frozenset)
funding = st.sampled_from(list(FundingSource))
occupations = st.sampled_from([o.value for o in Occupation])


def price(
    month: Month,
    income: int = LOWEST,
    benefits: frozenset[BenefitProgramme] = REGIONAL,
    funding_source: FundingSource = APBD,
    occupation: str = FARMER,
) -> dict[BenefitProgramme, int]:
    return TABLE.price(month, income, benefits, funding_source, occupation)


# -- the figures of DOMAIN.md --------------------------------------------------------------------


def test_lowest_income_costs_10_000_jkk_and_6_800_jkm() -> None:
    assert price(Month(2024, 12)) == {JKK: 10_000, JKM: 6_800}
    assert TABLE.monthly_cost(Month(2024, 12), LOWEST, REGIONAL, APBD, FARMER) == 16_800


def test_with_jht_it_costs_36_800() -> None:
    assert price(Month(2024, 12), benefits=WITH_JHT) == {JKK: 10_000, JKM: 6_800, JHT: 20_000}
    assert TABLE.monthly_cost(Month(2024, 12), LOWEST, WITH_JHT, APBD, FARMER) == 36_800


@pytest.mark.parametrize("income", [20_200_000, 25_000_000, 1_000_000_000])
def test_the_highest_bracket_costs_207_000_jkk(income: int) -> None:
    assert price(Month(2025, 1), income)[JKK] == 207_000


@pytest.mark.parametrize(
    ("income", "base"),
    [
        (0, 1_000_000),
        (1_099_999, 1_000_000),
        (1_100_000, 1_200_000),
        (2_699_999, 2_600_000),
        (2_700_000, 2_950_000),
        (3_199_999, 2_950_000),
        (3_200_000, 3_450_000),
        (8_199_999, 7_950_000),
        (8_200_000, 8_700_000),
        (9_199_999, 8_700_000),
        (9_200_000, 9_700_000),
        (20_199_999, 19_700_000),
        (20_200_000, 20_700_000),
    ],
)
def test_band_edges(income: int, base: int) -> None:
    assert TABLE.for_month(Month(2025, 1)).jkk.band_of(income).base == base


def test_the_shipped_brackets_are_the_listed_bases() -> None:
    assert [b.base for b in TABLE.for_month(Month(2025, 1)).jkk.bands] == BASES


def test_jht_is_two_percent_of_declared_income_rounded_down() -> None:
    assert price(Month(2025, 1), 1_234_567, frozenset({JHT})) == {JHT: 24_691}
    assert price(Month(2025, 1), 500_000, frozenset({JHT})) == {JHT: 20_000}  # counted at 1m


def test_only_the_benefits_asked_for_are_priced() -> None:
    assert price(Month(2025, 1), benefits=frozenset({JKM})) == {JKM: 6_800}
    assert price(Month(2025, 1), benefits=frozenset()) == {}


@pytest.mark.parametrize(
    "funding_source", [APBD, FundingSource.APBD_PROVINCE, FundingSource.APBDES]
)
@pytest.mark.parametrize("month", [Month(2026, 1), Month(2026, 5), Month(2027, 3)])
def test_apbd_funded_workers_pay_full_price_in_2026(
    funding_source: FundingSource, month: Month
) -> None:
    for occupation in (FARMER, OJEK, BECAK):
        assert sum(price(month, funding_source=funding_source, occupation=occupation).values()) == (
            16_800
        )


def test_a_donor_funded_farmer_pays_half_from_april_to_december_2026() -> None:
    assert price(Month(2026, 5), funding_source=DONOR) == {JKK: 5_000, JKM: 3_400}
    assert TABLE.monthly_cost(Month(2026, 5), LOWEST, REGIONAL, DONOR, FARMER) == 8_400
    assert sum(price(Month(2026, 2), funding_source=DONOR).values()) == 16_800
    assert sum(price(Month(2026, 3), funding_source=DONOR).values()) == 16_800
    assert sum(price(Month(2026, 4), funding_source=DONOR).values()) == 8_400
    assert sum(price(Month(2026, 12), funding_source=DONOR).values()) == 8_400
    assert sum(price(Month(2027, 1), funding_source=DONOR).values()) == 16_800


@pytest.mark.parametrize("occupation", [OJEK, BECAK])
def test_donor_funded_transport_pays_half_from_january_2026_to_march_2027(
    occupation: str,
) -> None:
    def cost(month: Month) -> int:
        return sum(price(month, funding_source=DONOR, occupation=occupation).values())

    assert cost(Month(2025, 12)) == 16_800
    assert cost(Month(2026, 2)) == 8_400
    assert cost(Month(2026, 6)) == 8_400  # both rows apply: discounts do not stack
    assert cost(Month(2027, 3)) == 8_400
    assert cost(Month(2027, 4)) == 16_800


def test_the_discount_leaves_jht_alone() -> None:
    assert price(Month(2026, 5), benefits=WITH_JHT, funding_source=DONOR) == {
        JKK: 5_000,
        JKM: 3_400,
        JHT: 20_000,
    }


def test_a_discount_rounds_down_and_the_payer_pays_the_rest() -> None:
    table = _table_with(amount=6_801)
    assert table.price(Month(2026, 5), LOWEST, frozenset({JKM}), DONOR, FARMER) == {JKM: 3_401}


def test_rows_in_force_on_the_first_day_rule_the_month() -> None:
    rows = _shipped_rows()
    rows.append(_row("JKM-2026-06-15", "jkm", "2026-06-15", amount=7_500))
    table = RateTable.from_document({"rows": rows})
    assert table.price(Month(2026, 6), LOWEST, frozenset({JKM}), APBD, FARMER) == {JKM: 6_800}
    assert table.price(Month(2026, 7), LOWEST, frozenset({JKM}), APBD, FARMER) == {JKM: 7_500}
    assert table.in_force(date(2026, 6, 15)).jkm.amount == 7_500
    assert table.changes_after(Month(2026, 1)) == Month(2027, 4)


def test_a_new_row_changes_the_price_from_its_date_and_the_old_row_stays() -> None:
    rows = _shipped_rows()
    rows.append(_row("JKM-2028", "jkm", "2028-01-01", amount=7_500))
    table = RateTable.from_document({"rows": rows})
    assert table.price(Month(2027, 12), LOWEST, REGIONAL, APBD, FARMER)[JKM] == 6_800
    assert table.price(Month(2028, 1), LOWEST, REGIONAL, APBD, FARMER)[JKM] == 7_500
    assert [r.id for r in table.rows() if r.kind is RateKind.JKM] == ["JKM-2019", "JKM-2028"]


def test_no_price_before_the_first_row() -> None:
    with pytest.raises(NotInForce) as raised:
        price(Month(2019, 11))
    assert raised.value.field == "period"
    with pytest.raises(NotInForce) as raised:
        TABLE.in_force(date(2019, 12, 1))
    assert raised.value.field == "on"


def test_a_negative_income_is_refused() -> None:
    with pytest.raises(Exception, match="never negative"):
        price(Month(2025, 1), -1)


def test_every_row_has_its_source_and_the_table_lists_them_all() -> None:
    rows = TABLE.rows()
    assert len(rows) == len(SHIPPED["rows"])
    assert {r.kind for r in rows} == set(RateKind)
    assert all(r.source.strip() for r in rows)
    discounts = [r for r in rows if isinstance(r, Discount)]
    assert {d.id for d in discounts} == {"PP50-2025-TRANSPORT", "PP50-2025-OTHER-SECTORS"}
    for d in discounts:
        assert {"apbd_regency", "apbd_province", "apbdes", "apbn"} <= d.excluded_funding_sources
        assert d.percent == 50 and d.benefits == REGIONAL


def test_the_arrears_rule_is_data() -> None:
    rule = TABLE.in_force(date(2022, 12, 1)).arrears
    assert (rule.arrears_months, rule.arrears_count_as_covered) == (3, False)
    assert rule.source
    assert TABLE.arrears_on(date(2018, 1, 1)) == rule  # before the first rate row too


# -- properties ----------------------------------------------------------------------------------


@given(months, incomes, incomes, benefit_sets, funding, occupations)
def test_price_is_monotone_in_income(
    month: Month,
    a: int,
    b: int,
    benefits: frozenset[BenefitProgramme],
    funding_source: FundingSource,
    occupation: str,
) -> None:
    low, high = sorted((a, b))
    cheap = TABLE.monthly_cost(month, low, benefits, funding_source, occupation)
    dear = TABLE.monthly_cost(month, high, benefits, funding_source, occupation)
    assert cheap <= dear


@given(months, incomes)
def test_jkk_is_one_percent_of_a_listed_base(month: Month, income: int) -> None:
    jkk = price(month, income)[JKK]
    assert jkk * 100 in BASES


@given(incomes)
def test_every_income_belongs_to_exactly_one_band(income: int) -> None:
    bands = TABLE.for_month(Month(2025, 1)).jkk.bands
    ends = [b.income_from for b in bands[1:]] + [10**18]
    holding = [b for b, end in zip(bands, ends, strict=True) if b.income_from <= income < end]
    assert len(holding) == 1
    assert TABLE.for_month(Month(2025, 1)).jkk.band_of(income) == holding[0]


@given(months, incomes, benefit_sets, occupations)
def test_discounts_never_apply_to_apbd_or_apbn_sources(
    month: Month, income: int, benefits: frozenset[BenefitProgramme], occupation: str
) -> None:
    view = TABLE.for_month(month)
    for funding_source in ("apbd_regency", "apbd_province", "apbdes", "apbn"):
        assert all(not d.applies(funding_source, occupation) for d in view.discounts)
    for funding_source in (APBD, FundingSource.APBD_PROVINCE, FundingSource.APBDES):
        assert price(month, income, benefits, funding_source, occupation) == (
            {b: a for b, a in view.full_price(income).items() if b in benefits}
        )


@given(months, incomes, benefit_sets, funding, occupations)
def test_the_fast_price_is_the_rule_and_money_stays_int(
    month: Month,
    income: int,
    benefits: frozenset[BenefitProgramme],
    funding_source: FundingSource,
    occupation: str,
) -> None:
    fast = TABLE.price(month, income, benefits, funding_source, occupation)
    rule = TABLE.for_month(month).price(income, benefits, funding_source, occupation)
    assert fast == rule
    assert set(fast) == benefits
    assert all(type(a) is int and a >= 0 for a in fast.values())


def test_an_answer_changed_by_its_caller_does_not_change_the_next() -> None:
    first = price(Month(2025, 1))
    first[JKK] = 0
    assert price(Month(2025, 1))[JKK] == 10_000


# -- a broken table names the row and field ------------------------------------------------------


def _row(ident: str, kind: str, start: str, **figures: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": kind,
        "effective_from": start,
        "effective_to": None,
        "source": "a regulation",
        **figures,
    }


def _shipped_rows() -> list[dict[str, Any]]:
    return [dict(r) for r in SHIPPED["rows"]]


def _table_with(**jkm: Any) -> RateTable:
    rows = [r if r["kind"] != "jkm" else {**r, **jkm} for r in _shipped_rows()]
    return RateTable.from_document({"rows": rows})


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"kind": "surcharge"}, "rows[1] (JKM-2019): kind"),
        ({"amount": "6800"}, "rows[1] (JKM-2019): amount"),
        ({"amount": -1}, "rows[1] (JKM-2019): amount"),
        ({"effective_from": "2019-13-01"}, "rows[1] (JKM-2019): effective_from"),
        ({"effective_to": "2019-01-01"}, "rows[1] (JKM-2019): effective_to"),
        ({"source": ""}, "rows[1] (JKM-2019): source"),
        ({"id": "JKK-BANDS-2019"}, "rows[1] (JKK-BANDS-2019): id"),
    ],
)
def test_a_broken_row_is_named(change: dict[str, Any], where: str) -> None:
    rows = _shipped_rows()
    assert rows[1]["id"] == "JKM-2019"
    rows[1] = {**rows[1], **change}
    with pytest.raises(RateTableError) as raised:
        RateTable.from_document({"rows": rows})
    assert raised.value.field == where


def test_broken_bands_and_discounts_are_named(tmp_path: Path) -> None:
    rows = _shipped_rows()
    bands = [dict(b) for b in rows[0]["bands"]]
    bands[3]["income_from"] = bands[2]["income_from"]
    rows[0] = {**rows[0], "bands": bands}
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"rows": rows}))
    with pytest.raises(RateTableError) as raised:
        RateTable.load(path)
    assert raised.value.field == "rows[0] (JKK-BANDS-2019): bands[3].income_from"

    rows = _shipped_rows()
    rows[3] = {**rows[3], "occupations": ["ojek"]}
    with pytest.raises(RateTableError, match="unknown ojek") as raised:
        RateTable.from_document({"rows": rows})
    assert raised.value.field == "rows[3] (PP50-2025-TRANSPORT): occupations"


def test_two_versions_from_the_same_day_are_refused() -> None:
    rows = [*_shipped_rows(), _row("JKM-OTHER", "jkm", "2019-12-02", amount=1)]
    with pytest.raises(RateTableError, match="unclear"):
        RateTable.from_document({"rows": rows})


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RateTableError) as raised:
        RateTable.load(tmp_path / "nothing.json")
    assert raised.value.field == "rates_file"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RateTableError, match="not JSON"):
        RateTable.load(tmp_path / "bad.json")


# -- the last payable day ------------------------------------------------------------------------

# The due-date rule itself is the shared one (bpu_shared.calendar), tested in test_calendar.py with
# billing's re-export of it; here what billing builds on it.


def test_payable_until_is_the_due_date_three_months_later() -> None:
    assert payable_until(Month(2022, 12), 3) == date(2023, 3, 15)
    assert payable_until(Month(2026, 12), 3) == due_date(Month(2027, 3)) == date(2027, 3, 16)


# -- arrears and lapse ---------------------------------------------------------------------------

OCT, NOV, DEC = Month(2022, 10), Month(2022, 11), Month(2022, 12)
JAN, FEB, MAR, APR = Month(2023, 1), Month(2023, 2), Month(2023, 3), Month(2023, 4)


def test_three_unpaid_months_do_not_end_cover() -> None:
    invoices = [(OCT, True), (NOV, True), (DEC, False), (JAN, False), (FEB, False)]
    assert lapse_from(invoices, date(2023, 6, 30), 3) is None


def test_the_fourth_unpaid_month_past_due_ends_cover_from_the_first() -> None:
    invoices = [(OCT, True), (DEC, False), (NOV, True), (JAN, False), (FEB, False), (MAR, False)]
    assert lapse_from(invoices, date(2023, 3, 15), 3) is None  # March due that day
    assert lapse_from(invoices, date(2023, 3, 16), 3) == DEC
    assert date(2023, 3, 16) > payable_until(DEC, 3)


def test_a_paid_month_breaks_the_streak() -> None:
    invoices = [(DEC, False), (JAN, False), (FEB, True), (MAR, False), (APR, False)]
    assert lapse_from(invoices, date(2023, 12, 31), 3) is None


def test_a_month_without_invoice_breaks_the_streak() -> None:
    invoices = [(NOV, False), (DEC, False), (FEB, False), (MAR, False)]
    assert lapse_from(invoices, date(2023, 12, 31), 3) is None


def test_a_period_is_paid_only_when_all_its_invoices_are() -> None:
    invoices = [(DEC, False), (JAN, True), (JAN, False), (FEB, False), (MAR, False)]
    assert lapse_from(invoices, date(2023, 12, 31), 3) == DEC
    paid = [(DEC, False), (JAN, True), (JAN, True), (FEB, False), (MAR, False)]
    assert lapse_from(paid, date(2023, 12, 31), 3) is None


@given(
    st.lists(st.booleans(), min_size=0, max_size=24),
    st.integers(0, 6),
    st.integers(0, 900),
)
def test_lapse_comes_only_after_more_than_window_unpaid_past_due(
    paid: list[bool], window: int, days: int
) -> None:
    start = Month(2026, 1)
    invoices = [(start.plus(i), p) for i, p in enumerate(paid)]
    today = date.fromordinal(date(2026, 1, 1).toordinal() + days)
    lapsed = lapse_from(invoices, today, window)
    if lapsed is None:
        return
    run = [start.plus(i) for i in range(len(paid))]
    first = run.index(lapsed)
    streak = invoices[first : first + window + 1]
    assert len(streak) == window + 1
    assert all(not p and today > due_date(m) for m, p in streak)
    assert today > payable_until(lapsed, window)


# -- cover on a day ------------------------------------------------------------------------------

PASER = {
    OCT: MonthState(invoiced=True, paid=True, invoice_id="INV-10"),
    NOV: MonthState(invoiced=True, paid=True, invoice_id="INV-11"),
    DEC: MonthState(invoiced=True, paid=False, invoice_id="INV-12"),
}


def test_paid_months_are_covered() -> None:
    answer = cover_on(date(2022, 11, 20), PASER, date(2023, 1, 5), 3)
    assert (answer.status, answer.covered, answer.period) == (CoverStatus.PAID, True, NOV)
    assert "INV-11" in answer.reason


def test_an_unpaid_month_in_the_window_is_arrears_and_not_covered_by_default() -> None:
    answer = cover_on(date(2022, 12, 20), PASER, date(2023, 1, 5), 3)
    assert (answer.status, answer.covered) == (CoverStatus.ARREARS, False)
    assert answer.reason == "2022-12 invoice INV-12 unpaid; payable until 2023-03-15"
    assert answer.payable_until == date(2023, 3, 15)
    counted = cover_on(
        date(2022, 12, 20), PASER, date(2023, 1, 5), 3, arrears_count_as_covered=True
    )
    assert (counted.status, counted.covered) == (CoverStatus.ARREARS, True)


def test_an_unpaid_month_before_its_due_date_is_due() -> None:
    answer = cover_on(date(2022, 12, 2), PASER, date(2022, 12, 10), 3)
    assert answer.status is CoverStatus.ARREARS
    assert answer.reason == "2022-12 invoice INV-12 unpaid; due by 2022-12-15"


def test_an_unpaid_month_past_the_window_is_lapsed() -> None:
    answer = cover_on(date(2022, 12, 20), PASER, date(2023, 3, 16), 3)
    assert (answer.status, answer.covered) == (CoverStatus.LAPSED, False)
    assert "payable until 2023-03-15" in answer.reason


def test_months_inside_a_lapsed_streak_are_lapsed() -> None:
    months = {
        **PASER,
        JAN: MonthState(invoiced=True),
        FEB: MonthState(invoiced=True),
        MAR: MonthState(invoiced=True),
    }
    answer = cover_on(date(2023, 2, 1), months, date(2023, 3, 16), 3)
    assert answer.status is CoverStatus.LAPSED and not answer.covered
    assert "unpaid from 2022-12" in answer.reason
    assert cover_on(date(2022, 11, 1), months, date(2023, 3, 16), 3).status is CoverStatus.PAID


def test_not_enrolled_and_not_invoiced() -> None:
    months = {**PASER, JAN: MonthState(), FEB: MonthState(enrolled=False)}
    assert cover_on(date(2022, 9, 30), months, date(2023, 1, 5), 3).status is (
        CoverStatus.NOT_ENROLLED
    )
    assert cover_on(date(2023, 2, 3), months, date(2023, 1, 5), 3).status is (
        CoverStatus.NOT_ENROLLED
    )
    answer = cover_on(date(2023, 1, 3), months, date(2023, 1, 5), 3)
    assert (answer.status, answer.covered) == (CoverStatus.NOT_INVOICED, False)


@given(
    st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=12),
    st.integers(0, 500),
    st.integers(0, 11),
)
def test_no_cover_for_an_unpaid_month_past_the_window(
    states: list[tuple[bool, bool]], days: int, asked: int
) -> None:
    start = Month(2026, 1)
    months = {
        start.plus(i): MonthState(invoiced=invoiced, paid=invoiced and paid)
        for i, (invoiced, paid) in enumerate(states)
    }
    period = start.plus(asked % len(states))
    today = date.fromordinal(date(2026, 1, 1).toordinal() + days)
    for counted in (False, True):
        answer = cover_on(period.first_day(), months, today, 3, arrears_count_as_covered=counted)
        state = months[period]
        assert answer.covered == (state.paid or (counted and answer.status is CoverStatus.ARREARS))
        if not state.paid and today > payable_until(period, 3):
            assert not answer.covered


# -- partial payments ----------------------------------------------------------------------------


def test_allocate_covers_whole_lines_in_order() -> None:
    lines = [16_800, 16_800, 36_800, 16_800]
    assert allocate(0, lines) == 0
    assert allocate(16_799, lines) == 0
    assert allocate(16_800, lines) == 1
    assert allocate(70_000, lines) == 2
    assert allocate(70_400, lines) == 3
    assert allocate(10**9, lines) == 4
    assert allocate(-5, lines) == 0
    assert allocate(5, []) == 0


@given(st.integers(-100, 10**7), st.lists(st.integers(0, 300_000), max_size=40))
def test_allocate_never_covers_more_than_paid(paid: int, lines: list[int]) -> None:
    covered = allocate(paid, lines)
    assert 0 <= covered <= len(lines)
    assert sum(lines[:covered]) <= max(paid, 0)
    if covered < len(lines):
        assert sum(lines[: covered + 1]) > paid


# -- money ---------------------------------------------------------------------------------------


def test_rupiah_the_indonesian_way() -> None:
    assert rupiah(16_212_268_800) == "Rp16.212.268.800"
    assert rupiah(16_800) == "Rp16.800"
    assert rupiah(0) == "Rp0"


def test_rupiah_in_words() -> None:
    assert in_words(16_800) == "Enam belas ribu delapan ratus rupiah"
    assert in_words(16_212_268_800) == (
        "Enam belas miliar dua ratus dua belas juta dua ratus enam puluh delapan ribu "
        "delapan ratus rupiah"
    )
