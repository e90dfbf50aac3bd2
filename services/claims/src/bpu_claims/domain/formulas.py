"""The benefit formulas: a claim's facts and the rules in force give one line per benefit, in
whole Rupiah. Pure; the scholarship's yearly schedule is in ``scholarship``.

JKK (jaminan kecelakaan kerja, work-accident insurance), an accident at work or on the way to or
from it — both are paid alike:

- medical care as billed (the ``medical`` row's cap, none today);
- transport: the cost, at most the mode's cap (land Rp5m, sea Rp2m, air Rp10m);
- temporary inability (STMB): paid by the day, a day being 1/30 of a month's declared income;
  days 1-360 (the first 12 months) at 100%, later days at 50%. The total is worked out exactly
  and rounded down once, so 30 days are exactly one month's income and 45 days 1.5 months';
- permanent partial disability: percent × 80 × income / 100, rounded down; total: 56 × income,
  and the periodic benefit Rp12m as its own line;
- death: 48 × income (the ``death`` line), funeral Rp10m, periodic Rp12m. A worker who died gets
  no disability lines (the death benefit replaces them); medical care, transport and the days
  unable before death are still paid.

JKM (jaminan kematian, death insurance), a death not from work: lump sum Rp20m, periodic Rp12m
and funeral Rp10m (Rp42m); with fewer months of membership than the reduced-benefit row says
(3), its lump sum Rp8m and funeral Rp2m (Rp10m) — a smaller benefit, not a refusal.

A benefit that comes to Rp0 (nothing billed, no transport, no days unable) gives no line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from bpu_claims.domain.benefits import BenefitRules, TransportMode
from bpu_shared.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)


class BenefitKind(StrEnum):
    MEDICAL = "medical"
    TRANSPORT = "transport"
    TEMPORARY_INABILITY = "temporary_inability"
    DISABILITY = "disability"
    DEATH = "death"  # JKK: 48 × income
    FUNERAL = "funeral"
    PERIODIC = "periodic"  # the periodic benefit, paid at once
    LUMP_SUM = "lump_sum"  # JKM
    SCHOLARSHIP = "scholarship"


class Place(StrEnum):
    AT_WORK = "at_work"
    COMMUTING = "commuting"  # on the way to or from work


class Disability(StrEnum):
    NONE = "none"
    PARTIAL = "partial"
    TOTAL = "total"


@dataclass(frozen=True)
class BenefitLine:
    kind: BenefitKind
    amount: int  # Rupiah
    basis: str  # how it was computed, in words and figures


@dataclass(frozen=True)
class JkkFacts:
    """What a JKK claim says happened. ``disability_percent`` is the disability table's percent
    for a partial disability (ignored otherwise)."""

    place: Place | str = Place.AT_WORK
    medical_billed: int = 0
    transport_mode: TransportMode | str | None = None
    transport_cost: int = 0
    days_unable: int = 0
    disability: Disability | str = Disability.NONE
    disability_percent: int = 0
    died: bool = False


def _amount(field: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(field, f"must be a whole number from 0, not {value!r}")
    return value


def _choice(field: str, value: object, enum: type[E]) -> E:
    if isinstance(value, str) and value in enum._value2member_map_:
        return enum(value)
    known = ", ".join(e.value for e in enum)
    raise InvalidInput(field, f"unknown {value!r} (known: {known})")


def _rp(amount: int) -> str:
    """Rupiah as the basis words show it (Rp1,000,000)."""
    return f"Rp{amount:,}"


def temporary_inability(days: int, income: int, rules: BenefitRules) -> int:
    """STMB for ``days`` unable to work (see the module's docstring for the day rule)."""
    rule = rules.temporary_inability
    full_days = min(days, rule.full_months * rule.days_per_month)
    later_days = days - full_days
    weighted = full_days * rule.full_percent + later_days * rule.reduced_percent
    return income * weighted // (rule.days_per_month * 100)


def jkk_lines(facts: JkkFacts, income: int, rules: BenefitRules) -> list[BenefitLine]:
    """One line per JKK benefit the facts bring, in ``BenefitKind``'s order. The scholarship
    (on a death or a total disability) is ``scholarship_schedule``'s."""
    income = _amount("income", income)
    _choice("place", facts.place, Place)
    billed = _amount("medical_billed", facts.medical_billed)
    cost = _amount("transport_cost", facts.transport_cost)
    days = _amount("days_unable", facts.days_unable)
    disability = _choice("disability", facts.disability, Disability)
    percent = facts.disability_percent
    if disability is Disability.PARTIAL and (
        not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100
    ):
        raise InvalidInput(
            "disability_percent", f"a partial disability is 1 to 100 percent, not {percent!r}"
        )
    mode = None
    if facts.transport_mode is not None:
        mode = _choice("transport_mode", facts.transport_mode, TransportMode)
    elif cost:
        raise InvalidInput("transport_mode", "a transport cost needs its mode (land, sea or air)")

    lines: list[BenefitLine] = []

    def add(kind: BenefitKind, amount: int, basis: str) -> None:
        if amount > 0:
            lines.append(BenefitLine(kind, amount, basis))

    cap = rules.medical.cap
    add(
        BenefitKind.MEDICAL,
        billed if cap is None else min(billed, cap),
        f"as billed {_rp(billed)}" + ("" if cap is None else f", at most {_rp(cap)}"),
    )
    if mode is not None:
        mode_cap = rules.transport.caps[mode]
        add(
            BenefitKind.TRANSPORT,
            min(cost, mode_cap),
            f"{mode.value} transport {_rp(cost)}, at most {_rp(mode_cap)}",
        )
    stmb = rules.temporary_inability
    add(
        BenefitKind.TEMPORARY_INABILITY,
        temporary_inability(days, income, rules),
        f"{days} days × {_rp(income)}/{stmb.days_per_month}: {stmb.full_percent}% for the "
        f"first {stmb.full_months * stmb.days_per_month} days, {stmb.reduced_percent}% after",
    )
    dis = rules.disability
    if not facts.died and disability is Disability.PARTIAL:
        add(
            BenefitKind.DISABILITY,
            percent * dis.partial_income_multiple * income // 100,
            f"{percent}% × {dis.partial_income_multiple} × {_rp(income)}",
        )
    if not facts.died and disability is Disability.TOTAL:
        add(
            BenefitKind.DISABILITY,
            dis.total_income_multiple * income,
            f"total disability {dis.total_income_multiple} × {_rp(income)}",
        )
        add(BenefitKind.PERIODIC, dis.total_periodic, "periodic benefit of a total disability")
    if facts.died:
        death = rules.jkk_death
        add(
            BenefitKind.DEATH,
            death.income_multiple * income,
            f"work-accident death {death.income_multiple} × {_rp(income)}",
        )
        add(BenefitKind.FUNERAL, death.funeral, "funeral")
        add(BenefitKind.PERIODIC, death.periodic, "periodic benefit, paid at once")
    return lines


def is_reduced_jkm(months_of_membership: int, rules: BenefitRules) -> bool:
    """Whether a JKM death brings the reduced benefit (fewer months than the row says)."""
    return months_of_membership < rules.jkm_early_death.months_below


def jkm_lines(months_of_membership: int, rules: BenefitRules) -> list[BenefitLine]:
    """The JKM death benefit: Rp42m, or the reduced benefit early in membership."""
    months = _amount("months_of_membership", months_of_membership)
    if is_reduced_jkm(months, rules):
        early = rules.jkm_early_death
        why = f"{months} months of membership, fewer than {early.months_below} ({early.id})"
        return [
            BenefitLine(BenefitKind.LUMP_SUM, early.lump_sum, f"reduced lump sum: {why}"),
            BenefitLine(BenefitKind.FUNERAL, early.funeral, f"reduced funeral: {why}"),
        ]
    death = rules.jkm_death
    return [
        BenefitLine(BenefitKind.LUMP_SUM, death.lump_sum, "lump sum"),
        BenefitLine(BenefitKind.PERIODIC, death.periodic, "periodic benefit, paid at once"),
        BenefitLine(BenefitKind.FUNERAL, death.funeral, "funeral"),
    ]


def total(lines: list[BenefitLine]) -> int:
    return sum(line.amount for line in lines)
