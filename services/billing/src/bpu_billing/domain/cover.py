"""Cover rules over one worker's (or one programme's) months: when a month's contribution is
due, how long an unpaid month stays payable, when unpaid months end cover, and whether a day is
covered. Pure: the caller gives the months' states and today's date.

A month's contribution is due on the 15th, or the next working day. An unpaid month stays
payable (in arrears) until the due date of the month ``window`` months later (2022-12 with a
window of 3: until 2023-03-15). More than ``window`` consecutive unpaid months past their due
date end cover: the same moment, since the streak's fourth month falls due on the day its first
month stops being payable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

# The due-date rule is shared with claims (its arrears window); billing re-exports it.
from bpu_shared.calendar import DUE_DAY as DUE_DAY
from bpu_shared.calendar import due_date as due_date
from bpu_shared.calendar import is_working_day as is_working_day
from bpu_shared.month import Month


def payable_until(period: Month, window: int) -> date:
    """The last day an unpaid ``period`` may still be paid: the due date ``window`` months
    later."""
    return due_date(period.plus(window))


class CoverStatus(StrEnum):
    PAID = "paid"
    ARREARS = "arrears"  # invoiced, unpaid, still payable (before its due date or in the window)
    LAPSED = "lapsed"  # unpaid past the window, or inside a streak that ended cover
    NOT_ENROLLED = "not_enrolled"
    NOT_INVOICED = "not_invoiced"  # enrolled, the month not billed yet


@dataclass(frozen=True)
class MonthState:
    """What billing knows of one month of one worker: enrolled, invoiced, paid in full, and the
    invoice that billed it (for the answer's words)."""

    enrolled: bool = True
    invoiced: bool = False
    paid: bool = False
    invoice_id: str | None = None


@dataclass(frozen=True)
class CoverAnswer:
    status: CoverStatus
    covered: bool
    period: Month
    reason: str
    payable_until: date | None = None  # for a month in arrears or lapsed


def lapse_from(unpaid: Sequence[tuple[Month, bool]], today: date, window: int) -> Month | None:
    """The first month of the earliest run of more than ``window`` consecutive unpaid months
    past their due date on ``today``, or None. ``unpaid`` holds ``(period, paid_in_full)`` of
    each invoice issued, in any order; a period with several invoices (a supplementary one) is
    paid only when all are; a month with no invoice breaks a run."""
    paid_by_period: dict[Month, bool] = {}
    for period, paid in unpaid:
        paid_by_period[period] = paid_by_period.get(period, True) and paid
    start: Month | None = None
    length = 0
    previous: Month | None = None
    for period in sorted(paid_by_period):
        overdue = not paid_by_period[period] and today > due_date(period)
        if not overdue:
            start, length = None, 0
        elif start is not None and previous is not None and period == previous.plus(1):
            length += 1
        else:
            start, length = period, 1
        if start is not None and length > window:
            return start
        previous = period
    return None


def cover_on(
    day: date,
    months: Mapping[Month, MonthState],
    today: date,
    window: int,
    *,
    arrears_count_as_covered: bool = False,
) -> CoverAnswer:
    """Whether ``day`` is covered, and why, as billing knows it on ``today``: covered when its
    month is paid in full, or (when the rate table says so) still payable in arrears. A month
    inside a run of unpaid months that ended cover is lapsed even while it could be paid."""
    period = Month.of(day)
    state = months.get(period)
    if state is None or not state.enrolled:
        return CoverAnswer(CoverStatus.NOT_ENROLLED, False, period, f"not enrolled in {period}")
    if not state.invoiced:
        return CoverAnswer(
            CoverStatus.NOT_INVOICED,
            False,
            period,
            f"enrolled in {period}; the month is not invoiced yet",
        )
    invoice = f"invoice {state.invoice_id}" if state.invoice_id else "invoice"
    if state.paid:
        return CoverAnswer(CoverStatus.PAID, True, period, f"{period} {invoice} paid")
    until = payable_until(period, window)
    lapsed = lapse_from(
        [(m, s.paid) for m, s in months.items() if s.enrolled and s.invoiced], today, window
    )
    if lapsed is not None and lapsed <= period:
        return CoverAnswer(
            CoverStatus.LAPSED,
            False,
            period,
            f"{period} {invoice} unpaid; cover ended: more than {window} consecutive months "
            f"unpaid from {lapsed}",
            until,
        )
    if today > until:
        return CoverAnswer(
            CoverStatus.LAPSED,
            False,
            period,
            f"{period} {invoice} unpaid; it was payable until {until}",
            until,
        )
    due = due_date(period)
    when = f"due by {due}" if today <= due else f"payable until {until}"
    return CoverAnswer(
        CoverStatus.ARREARS,
        arrears_count_as_covered,
        period,
        f"{period} {invoice} unpaid; {when}",
        until,
    )


def allocate(paid: int, line_amounts: Sequence[int]) -> int:
    """How many lines, from the first in the invoice's order, ``paid`` covers in full."""
    left = paid
    for count, amount in enumerate(line_amounts):
        if amount > left:
            return count
        left -= amount
    return len(line_amounts)
