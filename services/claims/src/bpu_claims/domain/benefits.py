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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from bpu_shared.tables import MISSING, DatedRow, DatedTable, RowReader, TableError, latest
from bpu_shared.tables import describe as describe  # the listing's shape, re-exported


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


class BenefitTableError(TableError):
    """The benefit table file is broken; ``field`` names the row and the field."""

    title = "Broken benefit table"


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BenefitRow(DatedRow[RuleKind]):
    """A row of the benefit table (``DatedRow``: id, kind, the days in force, the
    regulation)."""


@dataclass(frozen=True, kw_only=True)
class MedicalRule(BenefitRow):
    cap: int | None  # None: as billed


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


@dataclass(frozen=True, kw_only=True)
class DisabilityRule(BenefitRow):
    partial_income_multiple: int
    total_income_multiple: int
    total_periodic: int


@dataclass(frozen=True, kw_only=True)
class JkkDeathRule(BenefitRow):
    income_multiple: int
    funeral: int
    periodic: int


@dataclass(frozen=True, kw_only=True)
class JkmDeathRule(BenefitRow):
    lump_sum: int
    periodic: int
    funeral: int


@dataclass(frozen=True, kw_only=True)
class JkmEarlyDeathRule(BenefitRow):
    months_below: int
    lump_sum: int
    funeral: int


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


@dataclass(frozen=True, kw_only=True)
class CoverRule(BenefitRow):
    arrears_count_as_covered: bool


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
class BenefitTable(DatedTable[BenefitRow]):
    """Every row of the benefit table (``DatedTable``: loading, checking, listing), and the
    rules in force on a day."""

    shipped = ("bpu_claims", "data/benefits.json")
    error = BenefitTableError
    file_field = "benefits_file"
    what = "benefit table"
    kinds = RuleKind

    @staticmethod
    def parse_row(row: RowReader) -> BenefitRow:
        return _parse_row(row)

    def in_force(self, day: date, field: str = "on") -> BenefitRules:
        """The rules on ``day``; ``NotInForce`` naming ``field`` when a kind has no row then."""

        def rule(kind: type[R]) -> R:
            what = next(k for k, t in _ROW_TYPES.items() if t is kind).value
            return latest(self.all_rows, kind, day, f"{what} benefit rule", field)

        return BenefitRules(
            day=day,
            table_version=self.version,
            medical=rule(MedicalRule),
            transport=rule(TransportRule),
            temporary_inability=rule(TemporaryInabilityRule),
            disability=rule(DisabilityRule),
            jkk_death=rule(JkkDeathRule),
            jkm_death=rule(JkmDeathRule),
            jkm_early_death=rule(JkmEarlyDeathRule),
            scholarship=rule(ScholarshipRule),
            claim_expiry=rule(ClaimExpiryRule),
            cover=rule(CoverRule),
        )


# -- parsing and checking ------------------------------------------------------------------------


def _parse_row(row: RowReader) -> BenefitRow:
    common = row.common(RuleKind)
    kind = common["kind"]
    if kind is RuleKind.MEDICAL:
        return MedicalRule(**common, cap=row.integer_or_none("cap"))
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
        arrears_count_as_covered=row.flag("arrears_count_as_covered"),
    )


def _caps(row: RowReader) -> dict[TransportMode, int]:
    raw = row.get("caps", lambda v: isinstance(v, dict), "an object of caps per mode")
    unknown = sorted(set(raw) - {m.value for m in TransportMode})
    if unknown:
        raise row.fail("caps", f"unknown mode {', '.join(unknown)} (known: land, sea, air)")
    return {m: row.whole(f"caps.{m.value}", raw.get(m.value, MISSING)) for m in TransportMode}


def _levels(row: RowReader) -> tuple[LevelRate, ...]:
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
                row.whole(f"{name}.yearly", item.get("yearly", MISSING)),
                row.whole(f"{name}.years", item.get("years", MISSING), 0, 30),
            )
        )
    return tuple(levels)
