"""The contribution (iuran) rate table as data: effective-dated rows loaded from
``data/rates.json``, each with the regulation it comes from, and the price of one worker-month.

Kinds of rows (a change of rate is a new row with its own dates, never an edit):

- ``jkk_brackets``: JKK (work-accident insurance) is ``jkk_basis_points`` (100 = 1%) of the
  *base* of the income bracket a declared income falls in (PP 44/2015 Lampiran II). A band is
  written by its start only, ``income_from`` (inclusive), and runs up to the next band's start
  minus one; the last band has no end. Published lists give each band an end too, and those
  ends and the next starts need not meet (DOMAIN.md's list reads "… to 2,699,999; 2.7m–…",
  another source may skip a range): an income in such a gap belongs to the band whose range
  starts at or below it. The first band starts at 0 (an income below Rp1m is billed at the
  lowest base), so every income belongs to exactly one band.
- ``jkm``: JKM (death insurance), a flat ``amount`` a month.
- ``jht``: JHT (old-age savings), ``basis_points`` of declared income, counted at no less than
  ``lowest_income``.
- ``discount``: ``percent`` off the listed ``benefits`` for workers whose funding source and
  occupation meet its conditions (PP 50/2025: not for APBN/APBD-funded workers).
- ``arrears``: how many months an unpaid month stays payable, and whether such a month counts
  as covered.

Rounding: JKK and JHT are rounded down to whole Rupiah; a discount is worked out per benefit and
rounded down (the payer pays the rest, so a halved Rp6,801 is Rp3,401). Discounts do not stack:
when several rows apply to one benefit, the largest percent counts. Every rule in force on a
month's first day applies to the whole month.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.month import Month
from bpu_shared.tables import DatedRow, DatedTable, RowReader, TableError, latest
from bpu_shared.tables import describe as describe  # the listing's shape, re-exported

#: Funding sources a discount row may name: the programme's own, and APBN (the national
#: budget), which the regulation names though no programme here is funded from it yet.
KNOWN_FUNDING_SOURCES = frozenset({*(s.value for s in FundingSource), "apbn"})
KNOWN_OCCUPATIONS = frozenset(o.value for o in Occupation)

#: Prices kept at most per (month, benefits, funding source); most workers declare the lowest
#: income, so a run asks for a few distinct (income, occupation) pairs.
_PRICE_CACHE_LIMIT = 100_000


class RateKind(StrEnum):
    JKK_BRACKETS = "jkk_brackets"
    JKM = "jkm"
    JHT = "jht"
    DISCOUNT = "discount"
    ARREARS = "arrears"


class RateTableError(TableError):
    """The rate table file is broken; ``field`` names the row and the field."""

    title = "Broken rate table"


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RateRow(DatedRow[RateKind]):
    """A row of the rate table (``DatedRow``: id, kind, the days in force, the regulation)."""


@dataclass(frozen=True)
class Band:
    income_from: int  # inclusive
    base: int  # the bracket's base ("nominal upah") JKK is a share of


@dataclass(frozen=True, kw_only=True)
class JkkBrackets(RateRow):
    jkk_basis_points: int
    bands: tuple[Band, ...]
    note: str = ""
    _starts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(b.income_from for b in self.bands))

    def band_of(self, income: int) -> Band:
        """The band whose range starts at or below ``income`` (gaps belong to the band below)."""
        return self.bands[max(bisect.bisect_right(self._starts, income) - 1, 0)]

    def jkk(self, income: int) -> int:
        return self.band_of(income).base * self.jkk_basis_points // 10_000

    def figures(self) -> dict[str, Any]:
        return {
            "jkk_basis_points": self.jkk_basis_points,
            "bands": [{"income_from": b.income_from, "base": b.base} for b in self.bands],
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class JkmRate(RateRow):
    """A flat ``amount`` a month, whatever the income."""

    amount: int


@dataclass(frozen=True, kw_only=True)
class JhtRate(RateRow):
    """``basis_points`` of the declared income, counted at no less than ``lowest_income``."""

    basis_points: int
    lowest_income: int

    def jht(self, income: int) -> int:
        return max(income, self.lowest_income) * self.basis_points // 10_000


@dataclass(frozen=True, kw_only=True)
class Discount(RateRow):
    """``percent`` off ``benefits`` for a worker whose funding source is in ``funding_sources``
    (None: any) and not in ``excluded_funding_sources``, and whose occupation is in
    ``occupations`` (None: any) and not in ``excluded_occupations``."""

    percent: int
    benefits: frozenset[BenefitProgramme]
    funding_sources: frozenset[str] | None
    excluded_funding_sources: frozenset[str]
    occupations: frozenset[str] | None
    excluded_occupations: frozenset[str]

    def applies(self, funding_source: str, occupation: str) -> bool:
        return (
            (self.funding_sources is None or funding_source in self.funding_sources)
            and funding_source not in self.excluded_funding_sources
            and (self.occupations is None or occupation in self.occupations)
            and occupation not in self.excluded_occupations
        )

    def figures(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "benefits": sorted(b.value for b in self.benefits),
            "funding_sources": None
            if self.funding_sources is None
            else sorted(self.funding_sources),
            "excluded_funding_sources": sorted(self.excluded_funding_sources),
            "occupations": None if self.occupations is None else sorted(self.occupations),
            "excluded_occupations": sorted(self.excluded_occupations),
        }


@dataclass(frozen=True, kw_only=True)
class ArrearsRule(RateRow):
    """An unpaid month stays payable ``arrears_months`` months after its due date; more than
    that many consecutive unpaid months end cover. ``arrears_count_as_covered``: whether a month
    still payable counts as covered (DOMAIN.md: "or within the arrears window, as the rate
    table says")."""

    arrears_months: int
    arrears_count_as_covered: bool


# -- what applies on one day ---------------------------------------------------------------------


@dataclass(frozen=True)
class InForce:
    """The rows in force on ``day``: one version of each rate, the discounts, the arrears
    rule."""

    day: date
    jkk: JkkBrackets
    jkm: JkmRate
    jht: JhtRate
    discounts: tuple[Discount, ...]
    arrears: ArrearsRule

    def full_price(self, income: int) -> dict[BenefitProgramme, int]:
        """Each benefit's contribution before any discount."""
        return {
            BenefitProgramme.JKK: self.jkk.jkk(income),
            BenefitProgramme.JKM: self.jkm.amount,
            BenefitProgramme.JHT: self.jht.jht(income),
        }

    def discount_percent(
        self, benefit: BenefitProgramme, funding_source: str, occupation: str
    ) -> int:
        """The largest discount for ``benefit`` that applies (discounts do not stack)."""
        return max(
            (
                d.percent
                for d in self.discounts
                if benefit in d.benefits and d.applies(funding_source, occupation)
            ),
            default=0,
        )

    def price(
        self,
        income: int,
        benefits: Iterable[BenefitProgramme],
        funding_source: str,
        occupation: str,
    ) -> dict[BenefitProgramme, int]:
        """Each asked-for benefit's contribution for one worker-month, after discounts, in the
        order of ``BenefitProgramme``."""
        if income < 0:
            raise InvalidInput("income", f"a declared income is never negative (got {income})")
        wanted = frozenset(benefits)
        full = self.full_price(income)
        answer: dict[BenefitProgramme, int] = {}
        for benefit in BenefitProgramme:
            if benefit in wanted:
                percent = self.discount_percent(benefit, funding_source, occupation)
                answer[benefit] = full[benefit] - full[benefit] * percent // 100
        return answer

    def lowest_income(self) -> int:
        """The lowest declared income: the first band's base (Rp1,000,000 today)."""
        return self.jkk.bands[0].base


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateTable(DatedTable[RateRow]):
    """Every row of the rate table (``DatedTable``: loading, checking, listing), and the price
    of a worker-month from the rows in force on the month's first day."""

    _months: dict[Month, InForce] = field(default_factory=dict, compare=False, repr=False)
    _pricings: dict[tuple[Any, ...], _Pricing] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: The pricing of the last (month, benefits, funding source) asked about: a billing run
    #: asks for one programme's lines in a row, so the next call is found by identity, without
    #: hashing its arguments.
    _last: list[tuple[Any, Any, Any, _Pricing]] = field(
        default_factory=list, compare=False, repr=False
    )

    shipped = ("bpu_billing", "data/rates.json")
    error = RateTableError
    file_field = "rates_file"
    what = "rate table"
    kinds = RateKind
    overlapping = frozenset({RateKind.DISCOUNT})

    @staticmethod
    def parse_row(row: RowReader) -> RateRow:
        return _parse_row(row)

    # -- reading --------------------------------------------------------------------------------

    def in_force(self, day: date, field: str = "on") -> InForce:
        """What applies on ``day``; ``NotInForce`` naming ``field`` when a rate has no row."""
        return InForce(
            day=day,
            jkk=latest(self.all_rows, JkkBrackets, day, "JKK bracket table", field),
            jkm=latest(self.all_rows, JkmRate, day, "JKM rate", field),
            jht=latest(self.all_rows, JhtRate, day, "JHT rate", field),
            discounts=tuple(
                r for r in self.all_rows if isinstance(r, Discount) and r.in_force_on(day)
            ),
            arrears=latest(self.all_rows, ArrearsRule, day, "arrears rule", field),
        )

    def arrears_on(self, day: date, field: str = "on") -> ArrearsRule:
        """The arrears rule in force on ``day`` (needs no rate row in force then)."""
        return latest(self.all_rows, ArrearsRule, day, "arrears rule", field)

    def for_month(self, month: Month) -> InForce:
        """What applies to ``month``: the rows in force on its first day (kept per month)."""
        view = self._months.get(month)
        if view is None:
            view = self._months[month] = self.in_force(month.first_day(), "period")
        return view

    def price(
        self,
        month: Month,
        income: int,
        benefits: frozenset[BenefitProgramme],
        funding_source: FundingSource,
        occupation: str,
    ) -> dict[BenefitProgramme, int]:
        """Each asked-for benefit's contribution for one worker-month, in whole Rupiah after
        discounts. Called for every invoice line: answers are kept per argument tuple."""
        last = self._last
        if last and last[0][0] is month and last[0][1] is benefits and last[0][2] is funding_source:
            pricing = last[0][3]
        else:
            key = (month, benefits, funding_source)
            found = self._pricings.get(key)
            if found is None:
                found = self._pricings[key] = _Pricing(
                    self.for_month(month), benefits, funding_source
                )
            pricing = found
            last[:] = [(month, benefits, funding_source, pricing)]
        return pricing.price(income, occupation).copy()

    def monthly_cost(
        self,
        month: Month,
        income: int,
        benefits: frozenset[BenefitProgramme],
        funding_source: FundingSource,
        occupation: str,
    ) -> int:
        """What one worker-month costs in all."""
        return sum(self.price(month, income, benefits, funding_source, occupation).values())

    def changes_after(self, month: Month) -> Month:
        """The last month whose rules may differ from the month before (a row starts or ends
        then), or ``month`` when nothing changes after it: every month after the answer costs
        what the answer costs."""
        last = month
        for row in self.all_rows:
            starts = Month.of(row.effective_from)
            # A row starting after the 1st applies from the next month (the 1st decides).
            first = starts if row.effective_from.day == 1 else starts.plus(1)
            last = max(last, first)
            if row.effective_to is not None:
                last = max(last, Month.of(row.effective_to).plus(1))
        return last


class _Pricing:
    """Prices for one month, set of benefits and funding source; gives the same answers as
    ``InForce.price`` (tested), faster. Without JHT a price depends on the income's band only,
    so answers are kept per (band, occupation); with JHT, per (income, occupation)."""

    __slots__ = (
        "funding_source",
        "jht_basis_points",
        "jht_lowest",
        "jkk",
        "jkm",
        "per_income",
        "percents",
        "results",
        "starts",
        "view",
        "wanted",
    )

    def __init__(
        self, view: InForce, benefits: frozenset[BenefitProgramme], funding_source: str
    ) -> None:
        self.view = view
        self.wanted = tuple(b for b in BenefitProgramme if b in benefits)
        self.funding_source = funding_source
        self.starts = tuple(b.income_from for b in view.jkk.bands)
        self.jkk = tuple(b.base * view.jkk.jkk_basis_points // 10_000 for b in view.jkk.bands)
        self.jkm = view.jkm.amount
        self.jht_basis_points = view.jht.basis_points
        self.jht_lowest = view.jht.lowest_income
        self.per_income = BenefitProgramme.JHT in benefits
        self.percents: dict[str, tuple[tuple[BenefitProgramme, int], ...]] = {}
        self.results: dict[tuple[int, str], dict[BenefitProgramme, int]] = {}

    def price(self, income: int, occupation: str) -> dict[BenefitProgramme, int]:
        key = (income if self.per_income else bisect.bisect_right(self.starts, income), occupation)
        found = self.results.get(key)
        if found is None:
            found = self._compute(income, occupation)
            if len(self.results) >= _PRICE_CACHE_LIMIT:
                self.results.clear()
            self.results[key] = found
        return found

    def _compute(self, income: int, occupation: str) -> dict[BenefitProgramme, int]:
        if income < 0:
            raise InvalidInput("income", f"a declared income is never negative (got {income})")
        percents = self.percents.get(occupation)
        if percents is None:
            percents = self.percents[occupation] = tuple(
                (b, self.view.discount_percent(b, self.funding_source, occupation))
                for b in self.wanted
            )
        jkk = self.jkk[bisect.bisect_right(self.starts, income) - 1]
        answer: dict[BenefitProgramme, int] = {}
        for benefit, percent in percents:
            if benefit is BenefitProgramme.JKK:
                full = jkk
            elif benefit is BenefitProgramme.JKM:
                full = self.jkm
            else:
                full = max(income, self.jht_lowest) * self.jht_basis_points // 10_000
            answer[benefit] = full - full * percent // 100
        return answer


# -- parsing and checking ------------------------------------------------------------------------


def _parse_row(row: RowReader) -> RateRow:
    common = row.common(RateKind)
    kind = common["kind"]
    if kind is RateKind.JKK_BRACKETS:
        return JkkBrackets(
            **common,
            jkk_basis_points=row.integer("jkk_basis_points", 0, 10_000),
            bands=_bands(row),
            note=str(row.raw.get("note") or ""),
        )
    if kind is RateKind.JKM:
        return JkmRate(**common, amount=row.integer("amount"))
    if kind is RateKind.JHT:
        return JhtRate(
            **common,
            basis_points=row.integer("basis_points", 0, 10_000),
            lowest_income=row.integer("lowest_income"),
        )
    if kind is RateKind.DISCOUNT:
        benefits = row.names("benefits", frozenset(b.value for b in BenefitProgramme))
        assert benefits is not None
        return Discount(
            **common,
            percent=row.integer("percent", 0, 100),
            benefits=frozenset(BenefitProgramme(b) for b in benefits),
            funding_sources=row.names("funding_sources", KNOWN_FUNDING_SOURCES, optional=True),
            excluded_funding_sources=row.names(
                "excluded_funding_sources", KNOWN_FUNDING_SOURCES, optional=True
            )
            or frozenset(),
            occupations=row.names("occupations", KNOWN_OCCUPATIONS, optional=True),
            excluded_occupations=row.names("excluded_occupations", KNOWN_OCCUPATIONS, optional=True)
            or frozenset(),
        )
    return ArrearsRule(
        **common,
        arrears_months=row.integer("arrears_months", 0, 120),
        arrears_count_as_covered=row.flag("arrears_count_as_covered"),
    )


def _bands(row: RowReader) -> tuple[Band, ...]:
    raw = row.get("bands", lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list")
    bands: list[Band] = []
    for i, item in enumerate(raw):
        name = f"bands[{i}]"
        if not isinstance(item, dict):
            raise row.fail(name, "a band is an object with income_from and base")
        band = Band(*(row.whole(f"{name}.{key}", item.get(key)) for key in ("income_from", "base")))
        if not bands and band.income_from != 0:
            raise row.fail(f"{name}.income_from", "the first band starts at 0")
        if bands and band.income_from <= bands[-1].income_from:
            raise row.fail(f"{name}.income_from", "bands are listed by rising income_from")
        if bands and band.base < bands[-1].base:
            raise row.fail(f"{name}.base", "a higher band never has a lower base")
        bands.append(band)
    return tuple(bands)
