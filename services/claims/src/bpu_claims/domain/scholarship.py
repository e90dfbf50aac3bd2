"""The scholarship (beasiswa) as a yearly schedule: for up to 2 children under 23, unmarried and
not working, one instalment a year from the child's current school level onward.

How the schedule is drawn (the regulation gives amounts and years per level, not these details):

- A child in a level gets the years of that level still ahead: ``years - year_in_level + 1``
  (``year_in_level`` 1 is the level's first year; not given, the whole level), then every later
  level in full: a child in junior high gets the remaining junior-high years, senior high, then
  university. At most Rp87m a child, Rp174m for two.
- The first instalment is due on the incident day, the next on each anniversary (29 February
  falls on 28 February); instalment ``year`` is the calendar year it is due.
- A child gets instalments only while under 23 on the due day, and none if 23 or older, married
  or working on the incident day (``child_refusal`` says why). The first two children who may
  have it, in the order the claim lists them, have it; the heirs choose that order.
- Under JKM the scholarship needs at least 36 months of contributions before the death; under
  JKK it comes with a death or a total disability — which facts bring it is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bpu_claims.domain.benefits import BenefitRules, SchoolLevel
from bpu_shared.age import age_on
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme


@dataclass(frozen=True)
class Child:
    birth_date: date
    level: SchoolLevel | str
    married: bool = False
    working: bool = False
    year_in_level: int = 1  # 1: the level's first year


@dataclass(frozen=True)
class Instalment:
    year: int  # the calendar year it is due
    child: int  # the child's place in the claim's list, from 0
    level: SchoolLevel
    amount: int  # Rupiah
    due_on: date


def anniversary(day: date, years: int) -> date:
    """``day`` moved ``years`` years on; 29 February becomes 28 February in other years."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def child_refusal(child: Child, incident: date, rules: BenefitRules) -> str | None:
    """Why ``child`` may not have the scholarship, or None."""
    limit = rules.scholarship.age_below
    why = []
    age = age_on(child.birth_date, incident)
    if age >= limit:
        why.append(f"{age} years old on {incident}, {limit} or older")
    if child.married:
        why.append("married")
    if child.working:
        why.append("working")
    return "; ".join(why) or None


def scholarship_allowed(
    programme: BenefitProgramme | str, contribution_months: int, rules: BenefitRules
) -> bool:
    """JKM brings the scholarship only after enough months of contributions; JKK always (on a
    death or total disability)."""
    if programme == BenefitProgramme.JKM:
        return contribution_months >= rules.scholarship.jkm_min_contribution_months
    return True


def eligible_children(children: Sequence[Child], incident: date, rules: BenefitRules) -> list[int]:
    """The places of the children who have the scholarship: the first ``max_children`` of those
    who may."""
    able = [i for i, c in enumerate(children) if child_refusal(c, incident, rules) is None]
    return able[: rules.scholarship.max_children]


def _level(index: int, child: Child) -> SchoolLevel:
    try:
        return SchoolLevel(child.level)
    except ValueError:
        known = ", ".join(SchoolLevel)
        raise InvalidInput(
            f"children[{index}].level", f"unknown {child.level!r} (known: {known})"
        ) from None


def child_schedule(
    index: int, child: Child, incident: date, rules: BenefitRules
) -> list[Instalment]:
    """One child's instalments, from its current level onward, while under the age limit."""
    rule = rules.scholarship
    level = _level(index, child)
    first = rule.level(level)
    if not 1 <= child.year_in_level <= max(first.years, 1):
        raise InvalidInput(
            f"children[{index}].year_in_level",
            f"{level.value} lasts {first.years} years; {child.year_in_level!r} is not one of them",
        )
    order = list(SchoolLevel)
    plan: list[tuple[SchoolLevel, int]] = []
    for lv in order[order.index(level) :]:
        rate = rule.level(lv)
        years = rate.years - (child.year_in_level - 1 if lv is level else 0)
        plan.extend((lv, rate.yearly) for _ in range(years))
    instalments = []
    for n, (lv, amount) in enumerate(plan):
        due = anniversary(incident, n)
        if age_on(child.birth_date, due) >= rule.age_below:
            break
        if amount > 0:
            instalments.append(Instalment(due.year, index, lv, amount, due))
    return instalments


def scholarship_schedule(
    children: Sequence[Child],
    incident: date,
    rules: BenefitRules,
    programme: BenefitProgramme | str,
    contribution_months: int,
) -> list[Instalment]:
    """Every instalment for the children who have the scholarship, by due day then child."""
    if not scholarship_allowed(programme, contribution_months, rules):
        return []
    picked = eligible_children(children, incident, rules)
    instalments = [inst for i in picked for inst in child_schedule(i, children[i], incident, rules)]
    return sorted(instalments, key=lambda inst: (inst.due_on, inst.child))
