"""The benefit table as data: effective-dated rows loaded from ``data/benefits.json``, each with
the regulation it comes from (PP 82/2019; Permenaker 5/2021), and the rules in force on a day.

Kinds of rows (a change of benefit is a new row with its own dates, never an edit):

- ``medical``: JKK medical care, ``cap`` Rupiah at most (null: as billed, no cap).
- ``transport``: JKK transport of the injured, ``caps`` per mode (land, sea, air).
- ``temporary_inability``: STMB (santunan tidak mampu bekerja), ``full_percent`` of declared
  income for the first ``full_months`` months, ``reduced_percent`` after; a day unable to work is
  1/``days_per_month`` of a month.
- ``disability``: partial = table % × ``partial_income_multiple`` × income; total =
  ``total_income_multiple`` × income + ``total_periodic``.
- ``jkk_death``: ``income_multiple`` × income + ``funeral`` + ``periodic``.
- ``jkm_death``: ``lump_sum`` + ``periodic`` + ``funeral`` (Rp42m).
- ``jkm_early_death``: with fewer than ``months_below`` months of membership, ``lump_sum`` +
  ``funeral`` instead (the reduced benefit; a rule whose source is unconfirmed, so it is data).
- ``scholarship``: the yearly amount and years of each school level, ``max_children``, children
  ``age_below``, and ``jkm_min_contribution_months`` before a JKM death brings it.
- ``claim_expiry``: a JKK claim is filed within ``jkk_years`` of the accident.
- ``cover``: whether a month invoiced but unpaid (in arrears) counts as covered.

Every kind has one row in force on any day the table serves; when two are, the later start wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from bpu_shared.effective import NotInForce
from bpu_shared.errors import DomainError


class RuleKind(StrEnum):
    MEDICAL = "medical"
    TRANSPORT = "transport"
    TEMPORARY_INABILITY = "temporary_inability"
    DISABILITY = "disability"
    JKK_DEATH = "jkk_death"
    JKM_DEATH = "jkm_death"
    JKM_EARLY_DEATH = "jkm_early_death"
    SCHOLARSHIP = "scholarship"
    CLAIM_EXPIRY = "claim_expiry"
    COVER = "cover"


class TransportMode(StrEnum):
    LAND = "land"
    SEA = "sea"
    AIR = "air"


class SchoolLevel(StrEnum):
    """In the order a child goes through them."""

    KINDERGARTEN = "kindergarten"
    PRIMARY = "primary"
    JUNIOR_HIGH = "junior_high"
    SENIOR_HIGH = "senior_high"
    UNIVERSITY = "university"  # or vocational training


class BenefitTableError(DomainError, ValueError):
    """The benefit table file is broken; ``field`` names the row and the field."""

    title = "Broken benefit table"

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(detail, where)


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BenefitRow:
    """What every row has: an id, its kind, the days it is in force (both inclusive; no end:
    open) and the regulation it comes from."""

    id: str
    kind: RuleKind
    effective_from: date
    effective_to: date | None
    source: str

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def figures(self) -> dict[str, Any]:
        """The row's own figures, as JSON-ready values (for listing)."""
        return {}


@dataclass(frozen=True, kw_only=True)
class MedicalRule(BenefitRow):
    cap: int | None  # None: as billed

    def figures(self) -> dict[str, Any]:
        return {"cap": self.cap}


@dataclass(frozen=True, kw_only=True)
class TransportRule(BenefitRow):
    caps: Mapping[TransportMode, int]

    def figures(self) -> dict[str, Any]:
        return {"caps": {m.value: self.caps[m] for m in TransportMode}}


@dataclass(frozen=True, kw_only=True)
class TemporaryInabilityRule(BenefitRow):
    full_percent: int
    full_months: int
    reduced_percent: int
    days_per_month: int

    def figures(self) -> dict[str, Any]:
        return {
            "full_percent": self.full_percent,
            "full_months": self.full_months,
            "reduced_percent": self.reduced_percent,
            "days_per_month": self.days_per_month,
        }


@dataclass(frozen=True, kw_only=True)
class DisabilityRule(BenefitRow):
    partial_income_multiple: int
    total_income_multiple: int
    total_periodic: int

    def figures(self) -> dict[str, Any]:
        return {
            "partial_income_multiple": self.partial_income_multiple,
            "total_income_multiple": self.total_income_multiple,
            "total_periodic": self.total_periodic,
        }


@dataclass(frozen=True, kw_only=True)
class JkkDeathRule(BenefitRow):
    income_multiple: int
    funeral: int
    periodic: int

    def figures(self) -> dict[str, Any]:
        return {
            "income_multiple": self.income_multiple,
            "funeral": self.funeral,
            "periodic": self.periodic,
        }


@dataclass(frozen=True, kw_only=True)
class JkmDeathRule(BenefitRow):
    lump_sum: int
    periodic: int
    funeral: int

    def figures(self) -> dict[str, Any]:
        return {"lump_sum": self.lump_sum, "periodic": self.periodic, "funeral": self.funeral}


@dataclass(frozen=True, kw_only=True)
class JkmEarlyDeathRule(BenefitRow):
    months_below: int
    lump_sum: int
    funeral: int

    def figures(self) -> dict[str, Any]:
        return {
            "months_below": self.months_below,
            "lump_sum": self.lump_sum,
            "funeral": self.funeral,
        }


@dataclass(frozen=True)
class LevelRate:
    level: SchoolLevel
    yearly: int
    years: int


@dataclass(frozen=True, kw_only=True)
class ScholarshipRule(BenefitRow):
    max_children: int
    age_below: int
    jkm_min_contribution_months: int
    levels: tuple[LevelRate, ...]  # one per SchoolLevel, in SchoolLevel's order

    def level(self, level: SchoolLevel) -> LevelRate:
        return next(r for r in self.levels if r.level is level)

    def per_child(self) -> int:
        """The most one child can receive, every level in full (Rp87m)."""
        return sum(r.yearly * r.years for r in self.levels)

    def figures(self) -> dict[str, Any]:
        return {
            "max_children": self.max_children,
            "age_below": self.age_below,
            "jkm_min_contribution_months": self.jkm_min_contribution_months,
            "levels": [
                {"level": r.level.value, "yearly": r.yearly, "years": r.years} for r in self.levels
            ],
            "per_child": self.per_child(),
        }


@dataclass(frozen=True, kw_only=True)
class ClaimExpiryRule(BenefitRow):
    jkk_years: int

    def figures(self) -> dict[str, Any]:
        return {"jkk_years": self.jkk_years}


@dataclass(frozen=True, kw_only=True)
class CoverRule(BenefitRow):
    arrears_count_as_covered: bool

    def figures(self) -> dict[str, Any]:
        return {"arrears_count_as_covered": self.arrears_count_as_covered}


R = TypeVar("R", bound=BenefitRow)

_ROW_TYPES: dict[RuleKind, type[BenefitRow]] = {
    RuleKind.MEDICAL: MedicalRule,
    RuleKind.TRANSPORT: TransportRule,
    RuleKind.TEMPORARY_INABILITY: TemporaryInabilityRule,
    RuleKind.DISABILITY: DisabilityRule,
    RuleKind.JKK_DEATH: JkkDeathRule,
    RuleKind.JKM_DEATH: JkmDeathRule,
    RuleKind.JKM_EARLY_DEATH: JkmEarlyDeathRule,
    RuleKind.SCHOLARSHIP: ScholarshipRule,
    RuleKind.CLAIM_EXPIRY: ClaimExpiryRule,
    RuleKind.COVER: CoverRule,
}


# -- what applies on one day ---------------------------------------------------------------------


@dataclass(frozen=True)
class BenefitRules:
    """The rows in force on ``day``: one of each kind."""

    day: date
    table_version: str
    medical: MedicalRule
    transport: TransportRule
    temporary_inability: TemporaryInabilityRule
    disability: DisabilityRule
    jkk_death: JkkDeathRule
    jkm_death: JkmDeathRule
    jkm_early_death: JkmEarlyDeathRule
    scholarship: ScholarshipRule
    claim_expiry: ClaimExpiryRule
    cover: CoverRule

    def rows(self) -> tuple[BenefitRow, ...]:
        return (
            self.medical,
            self.transport,
            self.temporary_inability,
            self.disability,
            self.jkk_death,
            self.jkm_death,
            self.jkm_early_death,
            self.scholarship,
            self.claim_expiry,
            self.cover,
        )


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenefitTable:
    """Every row of the benefit table, and the rules in force on a day."""

    version: str
    all_rows: tuple[BenefitRow, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> BenefitTable:
        """The table in ``path``, by default the one shipped with the service. A broken file
        raises ``BenefitTableError`` naming the row and field."""
        try:
            if path is None:
                text = (
                    resources.files("bpu_claims").joinpath("data/benefits.json").read_text("utf-8")
                )
            else:
                text = Path(path).read_text("utf-8")
        except OSError as error:
            raise BenefitTableError(
                "benefits_file", f"cannot read the benefit table: {error}"
            ) from error
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as error:
            raise BenefitTableError("benefits_file", f"not JSON: {error}") from error
        return cls.from_document(doc)

    @classmethod
    def from_document(cls, doc: Any) -> BenefitTable:
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
            raise BenefitTableError("rows", "the benefit table is an object with a list of rows")
        version = doc.get("table_version", "")
        if not isinstance(version, str):
            raise BenefitTableError("table_version", "must be text")
        return cls.of((_parse_row(i, raw) for i, raw in enumerate(doc["rows"])), version)

    @classmethod
    def of(cls, rows: Iterable[BenefitRow], version: str = "") -> BenefitTable:
        """A table of rows built in code (tests); checked as a file is."""
        table = tuple(rows)
        _check_table(table)
        return cls(version, table)

    def rows(self) -> tuple[BenefitRow, ...]:
        """Every row, in force or not, ordered by kind then date (for listing)."""
        order = list(RuleKind)
        return tuple(
            sorted(self.all_rows, key=lambda r: (order.index(r.kind), r.effective_from, r.id))
        )

    def in_force(self, day: date, field: str = "on") -> BenefitRules:
        """The rules on ``day``; ``NotInForce`` naming ``field`` when a kind has no row then."""

        def latest(kind: type[R]) -> R:
            rows = [r for r in self.all_rows if isinstance(r, kind) and r.in_force_on(day)]
            if not rows:
                what = next(k for k, t in _ROW_TYPES.items() if t is kind).value
                raise NotInForce(field, f"no {what} benefit rule is in force on {day}")
            return max(rows, key=lambda r: r.effective_from)

        return BenefitRules(
            day=day,
            table_version=self.version,
            medical=latest(MedicalRule),
            transport=latest(TransportRule),
            temporary_inability=latest(TemporaryInabilityRule),
            disability=latest(DisabilityRule),
            jkk_death=latest(JkkDeathRule),
            jkm_death=latest(JkmDeathRule),
            jkm_early_death=latest(JkmEarlyDeathRule),
            scholarship=latest(ScholarshipRule),
            claim_expiry=latest(ClaimExpiryRule),
            cover=latest(CoverRule),
        )


def describe(row: BenefitRow) -> Mapping[str, Any]:
    """A row as the API lists it."""
    return {
        "id": row.id,
        "kind": row.kind.value,
        "effective_from": row.effective_from,
        "effective_to": row.effective_to,
        "source": row.source,
        "figures": row.figures(),
    }


# -- parsing and checking ------------------------------------------------------------------------


class _Row:
    """Reads one raw row, naming the row and field in every error."""

    def __init__(self, index: int, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise BenefitTableError(f"rows[{index}]", "a row is an object")
        self.raw: dict[str, Any] = raw
        ident = raw.get("id")
        self.where = f"rows[{index}] ({ident})" if isinstance(ident, str) else f"rows[{index}]"

    def fail(self, name: str, detail: str) -> BenefitTableError:
        return BenefitTableError(f"{self.where}: {name}", detail)

    def get(
        self, name: str, check: Callable[[Any], bool], what: str, optional: bool = False
    ) -> Any:
        if name not in self.raw:
            raise self.fail(name, "missing")
        value = self.raw[name]
        if value is None and optional:
            return None
        if not check(value):
            raise self.fail(name, f"must be {what}, not {value!r}")
        return value

    def text(self, name: str) -> str:
        return str(self.get(name, lambda v: isinstance(v, str) and v.strip() != "", "text"))

    def integer(self, name: str, low: int = 0, high: int | None = None) -> int:
        return _integer(self, name, self.raw.get(name, _MISSING), low, high)

    def amount_or_none(self, name: str) -> int | None:
        if name not in self.raw:
            raise self.fail(name, "missing")
        return None if self.raw[name] is None else self.integer(name)

    def day(self, name: str, optional: bool = False) -> date | None:
        if optional and name not in self.raw:
            return None
        value = self.get(name, lambda v: isinstance(v, str), "a date YYYY-MM-DD", optional)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"must be a date YYYY-MM-DD, not {value!r}") from None


_MISSING = object()


def _integer(row: _Row, name: str, value: Any, low: int, high: int | None) -> int:
    if value is _MISSING:
        raise row.fail(name, "missing")
    ok = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )
    if not ok:
        bound = f"a whole number from {low}" + ("" if high is None else f" to {high}")
        raise row.fail(name, f"must be {bound}, not {value!r}")
    return int(value)


def _parse_row(index: int, raw: Any) -> BenefitRow:
    row = _Row(index, raw)
    kind_text = row.text("kind")
    try:
        kind = RuleKind(kind_text)
    except ValueError:
        raise row.fail(
            "kind", f"unknown kind {kind_text!r} (known: {', '.join(RuleKind)})"
        ) from None
    start = row.day("effective_from")
    assert start is not None
    end = row.day("effective_to", optional=True)
    if end is not None and end < start:
        raise row.fail("effective_to", f"{end} is before effective_from {start}")
    common: dict[str, Any] = {
        "id": row.text("id"),
        "kind": kind,
        "effective_from": start,
        "effective_to": end,
        "source": row.text("source"),
    }
    if kind is RuleKind.MEDICAL:
        return MedicalRule(**common, cap=row.amount_or_none("cap"))
    if kind is RuleKind.TRANSPORT:
        return TransportRule(**common, caps=_caps(row))
    if kind is RuleKind.TEMPORARY_INABILITY:
        return TemporaryInabilityRule(
            **common,
            full_percent=row.integer("full_percent", 0, 100),
            full_months=row.integer("full_months"),
            reduced_percent=row.integer("reduced_percent", 0, 100),
            days_per_month=row.integer("days_per_month", 28, 31),
        )
    if kind is RuleKind.DISABILITY:
        return DisabilityRule(
            **common,
            partial_income_multiple=row.integer("partial_income_multiple"),
            total_income_multiple=row.integer("total_income_multiple"),
            total_periodic=row.integer("total_periodic"),
        )
    if kind is RuleKind.JKK_DEATH:
        return JkkDeathRule(
            **common,
            income_multiple=row.integer("income_multiple"),
            funeral=row.integer("funeral"),
            periodic=row.integer("periodic"),
        )
    if kind is RuleKind.JKM_DEATH:
        return JkmDeathRule(
            **common,
            lump_sum=row.integer("lump_sum"),
            periodic=row.integer("periodic"),
            funeral=row.integer("funeral"),
        )
    if kind is RuleKind.JKM_EARLY_DEATH:
        return JkmEarlyDeathRule(
            **common,
            months_below=row.integer("months_below"),
            lump_sum=row.integer("lump_sum"),
            funeral=row.integer("funeral"),
        )
    if kind is RuleKind.SCHOLARSHIP:
        return ScholarshipRule(
            **common,
            max_children=row.integer("max_children", 0, 20),
            age_below=row.integer("age_below", 1, 100),
            jkm_min_contribution_months=row.integer("jkm_min_contribution_months"),
            levels=_levels(row),
        )
    if kind is RuleKind.CLAIM_EXPIRY:
        return ClaimExpiryRule(**common, jkk_years=row.integer("jkk_years", 1, 100))
    return CoverRule(
        **common,
        arrears_count_as_covered=row.get(
            "arrears_count_as_covered", lambda v: isinstance(v, bool), "true or false"
        ),
    )


def _caps(row: _Row) -> dict[TransportMode, int]:
    raw = row.get("caps", lambda v: isinstance(v, dict), "an object of caps per mode")
    unknown = sorted(set(raw) - {m.value for m in TransportMode})
    if unknown:
        raise row.fail("caps", f"unknown mode {', '.join(unknown)} (known: land, sea, air)")
    return {
        m: _integer(row, f"caps.{m.value}", raw.get(m.value, _MISSING), 0, None)
        for m in TransportMode
    }


def _levels(row: _Row) -> tuple[LevelRate, ...]:
    raw = row.get("levels", lambda v: isinstance(v, list), "a list of school levels")
    order = list(SchoolLevel)
    if len(raw) != len(order):
        raise row.fail("levels", f"lists each of {', '.join(order)} once, in that order")
    levels: list[LevelRate] = []
    for i, (item, expected) in enumerate(zip(raw, order, strict=True)):
        name = f"levels[{i}]"
        if not isinstance(item, dict):
            raise row.fail(name, "a level is an object with level, yearly and years")
        if item.get("level") != expected.value:
            raise row.fail(
                f"{name}.level", f"must be {expected.value!r}, not {item.get('level')!r}"
            )
        levels.append(
            LevelRate(
                expected,
                _integer(row, f"{name}.yearly", item.get("yearly", _MISSING), 0, None),
                _integer(row, f"{name}.years", item.get("years", _MISSING), 0, 30),
            )
        )
    return tuple(levels)


def _check_table(rows: tuple[BenefitRow, ...]) -> None:
    seen: dict[str, BenefitRow] = {}
    starts: dict[tuple[RuleKind, date], BenefitRow] = {}
    for i, row in enumerate(rows):
        where = f"rows[{i}] ({row.id})"
        if row.id in seen:
            raise BenefitTableError(f"{where}: id", f"the id {row.id!r} is used twice")
        seen[row.id] = row
        other = starts.get((row.kind, row.effective_from))
        if other is not None:
            raise BenefitTableError(
                f"{where}: effective_from",
                f"{row.kind} row {other.id!r} starts on {row.effective_from} too: "
                "which one applies would be unclear",
            )
        starts[(row.kind, row.effective_from)] = row
