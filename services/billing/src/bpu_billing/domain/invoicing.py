"""What a programme owes for one month (pure: the caller reads the roster and prices).

- A programme bills a period when it covers it: ``start_month`` ≤ period ≤ ``end_month``, and
  it was not closed before the period began.
- An enrolment is billed for a period when its months include it (``first_month`` ≤ period ≤
  its ``last_month``, or the programme's end): enrolment months are whole months, so a worker
  enrolled for any day of a month is billed for all of it.
- A month is priced at the income, and billed in the district, in force that month: the latest
  of the enrolment's registration (in force from its first month) and the worker's changes
  effective by then (by effective month, then by when they happened).
- No worker-month is billed twice: an enrolment (or worker) on an issued invoice of the
  programme-month is left out, so a supplementary invoice holds only the late ones; a worker
  with two enrolments covering the month is billed once.
- Lines are in enrolment-id order; the totals are the sums of the lines, per benefit and per
  district.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any, NamedTuple

from bpu_shared.month import Month

#: Each benefit's contribution for one worker-month: (income, benefits, occupation) → amounts.
Price = Callable[[int, frozenset[str], str], Mapping[str, int]]


@dataclass(frozen=True)
class Terms:
    """What billing needs of a programme's terms."""

    programme_id: str
    start_month: Month
    end_month: Month
    benefits: frozenset[str]
    closed_on: date | None = None

    def covers(self, period: Month) -> bool:
        """The programme pays for ``period``: inside its months, and not closed before it."""
        if not self.start_month <= period <= self.end_month:
            return False
        return self.closed_on is None or Month.of(self.closed_on) >= period


@dataclass(frozen=True, slots=True)
class Change:
    """A worker's facts from ``effective_month`` on (``as_of``: when it happened, ISO)."""

    effective_month: Month
    as_of: str
    income: int
    district_code: str
    village_code: str
    occupation: str


class Entry(NamedTuple):
    """One enrolment of the roster, with the facts it was registered with (a tuple: a run
    makes a million of them)."""

    enrolment_id: str
    worker_id: str
    first_month: Month
    last_month: Month | None
    benefits: frozenset[str] | None  # None: the programme's
    income: int
    district_code: str
    village_code: str
    occupation: str
    as_of: str = ""

    def billed_in(self, period: Month, programme_end: Month) -> bool:
        last = self.last_month if self.last_month is not None else programme_end
        return self.first_month <= period <= min(last, programme_end)

    def in_force(self, period: Month, changes: Sequence[Change] = ()) -> Change:
        """The worker's facts in force in ``period``."""
        current = Change(
            self.first_month,
            self.as_of,
            self.income,
            self.district_code,
            self.village_code,
            self.occupation,
        )
        for change in changes:
            if change.effective_month <= period and (change.effective_month, change.as_of) > (
                current.effective_month,
                current.as_of,
            ):
                current = change
        return current


@dataclass
class Bill:
    """The lines of one invoice (store layout: ``enrolment_id``, ``worker_id``,
    ``district_code``, ``village_code``, ``occupation``, ``income``, ``amounts``, ``amount``)
    and their totals."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    amount_rupiah: int = 0
    amount_by_benefit: dict[str, int] = field(default_factory=dict)
    by_district: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def worker_count(self) -> int:
        return len(self.lines)


def bill(
    terms: Terms,
    period: Month,
    entries: Iterable[Entry],
    price: Price,
    *,
    billed_enrolments: AbstractSet[str] = frozenset(),
    billed_workers: AbstractSet[str] = frozenset(),
    changes: Mapping[str, Sequence[Change]] | None = None,
) -> Bill:
    """The lines ``terms``' programme owes for ``period`` that no issued invoice holds yet."""
    result = Bill()
    if not terms.covers(period):
        return result
    changes = changes or {}
    end = terms.end_month
    due = [
        e
        for e in entries
        if e.first_month <= period
        and (e.last_month is None or period <= e.last_month)
        and period <= end
        and e.enrolment_id not in billed_enrolments
        and e.worker_id not in billed_workers
    ]
    due.sort(key=itemgetter(0))  # by enrolment id
    seen: set[str] = set()
    by_district = result.by_district
    lines = result.lines
    append = lines.append
    # Lines priced alike share their amounts: totals per benefit are counted per price.
    priced: dict[int, tuple[Mapping[str, int], list[int]]] = {}
    total = 0
    for e in due:
        worker = e.worker_id
        if worker in seen:
            continue  # two enrolments of one worker covering the month: one line
        seen.add(worker)
        worker_changes = changes.get(worker)
        if worker_changes:
            facts = e.in_force(period, worker_changes)
            income, district, village, occupation = (
                facts.income,
                facts.district_code,
                facts.village_code,
                facts.occupation,
            )
        else:
            income, district, village, occupation = (
                e.income,
                e.district_code,
                e.village_code,
                e.occupation,
            )
        amounts = price(income, e.benefits or terms.benefits, occupation)
        counted = priced.get(id(amounts))
        if counted is None:
            counted = priced[id(amounts)] = (amounts, [sum(amounts.values()), 0])
        amount = counted[1][0]
        counted[1][1] += 1
        append(
            {
                "enrolment_id": e.enrolment_id,
                "worker_id": worker,
                "district_code": district,
                "village_code": village,
                "occupation": occupation,
                "income": income,
                "amounts": amounts,
                "amount": amount,
            }
        )
        total += amount
        d = by_district.get(district)
        if d is None:
            d = by_district[district] = {"workers": 0, "amount_rupiah": 0}
        d["workers"] += 1
        d["amount_rupiah"] += amount
    by_benefit: dict[str, int] = {}
    for amounts, (_, count) in priced.values():
        for benefit, value in amounts.items():
            by_benefit[benefit] = by_benefit.get(benefit, 0) + value * count
    result.amount_rupiah = total
    result.amount_by_benefit = by_benefit
    return result


def over_budget(budget_rupiah: int | None, invoiced_before: int, amount: int) -> bool:
    """The programme's invoices so far and this one exceed its budget."""
    return budget_rupiah is not None and invoiced_before + amount > budget_rupiah
