"""Indonesia's working days and a month's contribution due date (the 15th, or the next working
day by lokal-id's public holidays and cuti bersama): billing invoices with it, claims judges the
arrears window with it for a month not invoiced yet; and dates written the Indonesian way, as
cards and statements print them. Pure."""

from __future__ import annotations

from datetime import date, timedelta

import lokal

from bpu_shared.month import Month

#: The 15th: the day a month's contribution is due by.
DUE_DAY = 15

#: lokal-id's weekend numbering: 0 = Sunday (Minggu) … 6 = Saturday (Sabtu).
_WEEKEND = (0, 6)


def is_working_day(day: date) -> bool:
    """Not a weekend, a public holiday or a cuti bersama day. lokal-id knows the holidays of
    ``lokal.HOLIDAY_YEARS`` only (2026 and 2027 in 0.7.2); other years fall back to weekends
    only, so a holiday then does not move a due date."""
    if day.year in lokal.HOLIDAY_YEARS:
        return bool(lokal.is_working_day(day, cuti_bersama=True, weekend=_WEEKEND))
    return day.isoweekday() < 6  # Monday 1 … Friday 5


def due_date(period: Month) -> date:
    """The 15th of ``period``, or the next working day when the 15th is not one."""
    day = date(period.year, period.month, DUE_DAY)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


#: The months as Indonesian documents name them.
MONTH_NAMES = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def indonesian_date(day: date) -> str:
    """``2022-12-15`` → ``15 Desember 2022``."""
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def indonesian_month(month: Month) -> str:
    """``2026-07`` → ``Juli 2026``."""
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"
