"""The shared due-date rule (bpu_shared.calendar): the 15th, or the next working day by
lokal-id's public holidays and cuti bersama; billing invoices with it, claims ends the arrears
window with it."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_shared.calendar import due_date, indonesian_date, indonesian_month, is_working_day
from bpu_shared.month import Month


def test_lokal_numbers_the_weekend_from_sunday() -> None:
    assert not is_working_day(date(2026, 11, 21))  # a Saturday
    assert not is_working_day(date(2026, 11, 22))  # a Sunday
    assert is_working_day(date(2026, 11, 23))  # a Monday


@pytest.mark.parametrize(
    ("period", "due"),
    [
        (Month(2026, 1), date(2026, 1, 15)),  # a Thursday
        (Month(2026, 3), date(2026, 3, 16)),  # the 15th a Sunday: Monday
        (Month(2026, 8), date(2026, 8, 18)),  # Saturday, Sunday, Independence Day: Tuesday
        (Month(2026, 11), date(2026, 11, 16)),  # a Sunday
        (Month(2026, 5), date(2026, 5, 18)),  # a Friday of cuti bersama after Ascension Day
        (Month(2027, 3), date(2027, 3, 16)),  # Idulfitri 1448 H
        (Month(2022, 10), date(2022, 10, 17)),  # 2022: weekends only (a Saturday)
        (Month(2022, 11), date(2022, 11, 15)),
        (Month(2022, 12), date(2022, 12, 15)),
        (Month(2022, 5), date(2022, 5, 16)),  # a Sunday
    ],
)
def test_due_on_the_15th_or_the_next_working_day(period: Month, due: date) -> None:
    assert due_date(period) == due


def test_holidays_outside_lokals_years_do_not_move_a_due_date() -> None:
    # 2022-08-17 (Independence Day) was a Wednesday holiday: unknown to lokal-id, a working day.
    assert is_working_day(date(2022, 8, 17))


@given(st.builds(Month, st.integers(2000, 2040), st.integers(1, 12)))
def test_a_due_date_is_a_working_day_in_its_month_from_the_15th(period: Month) -> None:
    due = due_date(period)
    assert Month.of(due) == period and due.day >= 15 and is_working_day(due)


def test_billing_reexports_the_shared_rule() -> None:
    from bpu_billing.domain import cover

    assert cover.due_date is due_date and cover.is_working_day is is_working_day


def test_dates_and_months_are_written_the_indonesian_way() -> None:
    assert indonesian_date(date(2022, 12, 15)) == "15 Desember 2022"
    assert indonesian_month(Month(2026, 7)) == "Juli 2026"
