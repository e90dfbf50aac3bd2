"""Eligibility with numbered reasons (as openIMIS numbers its rejection reasons): every reason a
claim or one of its benefits is refused, each with a code, a short text and the rule's source.

A refusal with no ``benefit`` refuses the whole claim; one naming a benefit refuses only that
(a child's scholarship, say) and the rest is paid. ``check_eligibility`` returns every reason
that applies, not only the first. A death early in membership is no refusal: ``jkm_lines`` gives
the reduced benefit. Cover is judged as of the incident date from what claims knows when it
assesses, so a payment that arrives later counts when the claim is assessed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum, StrEnum

from bpu_claims.domain.benefits import BenefitRules
from bpu_claims.domain.formulas import BenefitKind, Disability, JkkFacts, jkk_lines
from bpu_claims.domain.scholarship import (
    Child,
    anniversary,
    child_refusal,
    scholarship_allowed,
)
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme
from bpu_shared.month import Month

_DOMAIN = "DOMAIN.md 'Benefits'"


class Reason(IntEnum):
    """A numbered refusal reason; ``code`` (R01…), ``text`` and ``source`` describe it. Numbers
    are never reused or renumbered: a new reason takes the next number."""

    NOT_ENROLLED = 1
    UNPAID_PAST_WINDOW = 2
    LAPSED = 3
    JKK_EXPIRED = 4
    PROGRAMME_NOT_ENROLLED = 5
    JKM_SCHOLARSHIP_TOO_EARLY = 6
    CHILD_NOT_ELIGIBLE = 7
    INCIDENT_IN_FUTURE = 8
    MONTH_NOT_PAID = 9
    TOO_MANY_CHILDREN = 10
    BENEFIT_NOT_IN_PROGRAMME = 11

    @property
    def code(self) -> str:
        return f"R{self.value:02d}"

    @property
    def text(self) -> str:
        return _REASONS[self][0]

    @property
    def source(self) -> str:
        return _REASONS[self][1]


_REASONS: dict[Reason, tuple[str, str]] = {
    Reason.NOT_ENROLLED: (
        "The worker was not enrolled on the incident date",
        f"PP 82/2019 (cover follows membership); {_DOMAIN}: payable only if the worker was "
        "covered on the day of the incident",
    ),
    Reason.UNPAID_PAST_WINDOW: (
        "The incident month was not paid within the arrears window",
        f"{_DOMAIN}: enrolled and the month's contribution paid, or within the arrears window; "
        "billing's rate table row ARREARS-2015",
    ),
    Reason.LAPSED: (
        "The worker's cover had lapsed in the incident month",
        f"{_DOMAIN}; billing: more than the allowed consecutive unpaid months end cover "
        "(ARREARS-2015)",
    ),
    Reason.JKK_EXPIRED: (
        "A JKK claim filed after the claim period (5 years after the accident)",
        "PP 82/2019; benefit table row claim_expiry",
    ),
    Reason.PROGRAMME_NOT_ENROLLED: (
        "The worker is not enrolled in the claimed programme",
        f"{_DOMAIN}: a programme's benefits follow enrolment in it",
    ),
    Reason.JKM_SCHOLARSHIP_TOO_EARLY: (
        "Scholarship under JKM before 3 years of contributions",
        "PP 82/2019; Permenaker 5/2021; benefit table row scholarship "
        "(jkm_min_contribution_months)",
    ),
    Reason.CHILD_NOT_ELIGIBLE: (
        "The child is 23 or older, married or working",
        "PP 82/2019; Permenaker 5/2021; benefit table row scholarship (age_below)",
    ),
    Reason.INCIDENT_IN_FUTURE: (
        "The incident date is in the future",
        "A claim is for something that happened",
    ),
    Reason.MONTH_NOT_PAID: (
        "The incident month is not paid yet (in arrears or not invoiced); counted once paid",
        f"{_DOMAIN}; benefit table row cover (arrears_count_as_covered)",
    ),
    Reason.TOO_MANY_CHILDREN: (
        "More children than the scholarship covers (at most 2)",
        "PP 82/2019; Permenaker 5/2021; benefit table row scholarship (max_children)",
    ),
    Reason.BENEFIT_NOT_IN_PROGRAMME: (
        "A benefit the claimed programme does not pay",
        "PP 82/2019; Permenaker 5/2021: JKK pays care, transport, inability, disability and "
        "death benefits; JKM pays the death benefit; the scholarship comes with a death or "
        "a total disability",
    ),
}


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    detail: str  # the figures behind it
    benefit: BenefitKind | None = None  # None: the whole claim
    field: str | None = None  # the claim's field it is about, e.g. "children[2]"

    @property
    def code(self) -> str:
        return self.reason.code


class MonthStatus(StrEnum):
    """The incident month, as claims knows it from billing's events."""

    PAID = "paid"
    ARREARS = "arrears"  # invoiced, unpaid, still payable
    UNPAID_PAST_WINDOW = "unpaid_past_window"
    LAPSED = "lapsed"
    NOT_INVOICED = "not_invoiced"
    NOT_ENROLLED = "not_enrolled"


@dataclass(frozen=True)
class CoverView:
    """What claims knows of a worker as of the incident date."""

    benefits: frozenset[BenefitProgramme]
    first_month: Month
    last_month: Month | None  # None: open-ended
    declared_income: int
    membership_start: date
    month_status: MonthStatus
    contribution_months: int  # months paid so far
    programme_id: str | None = None


@dataclass(frozen=True)
class ClaimFacts:
    programme: BenefitProgramme | str
    incident: date
    jkk: JkkFacts | None = None
    children: Sequence[Child] = ()
    filed_on: date | None = None  # None: today
    asked: frozenset[BenefitKind] = field(default_factory=frozenset)  # besides what facts bring


#: What each programme pays.
PROGRAMME_BENEFITS: dict[BenefitProgramme, frozenset[BenefitKind]] = {
    BenefitProgramme.JKK: frozenset(BenefitKind) - {BenefitKind.LUMP_SUM},
    BenefitProgramme.JKM: frozenset(
        {BenefitKind.LUMP_SUM, BenefitKind.PERIODIC, BenefitKind.FUNERAL, BenefitKind.SCHOLARSHIP}
    ),
    BenefitProgramme.JHT: frozenset(),
}


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (membership length on the incident day)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(months, 0)


def _brings_scholarship(claim: ClaimFacts, programme: BenefitProgramme) -> bool:
    if programme is BenefitProgramme.JKM:
        return True
    jkk = claim.jkk
    return jkk is not None and (jkk.died or Disability(jkk.disability) is Disability.TOTAL)


def check_eligibility(
    claim: ClaimFacts, cover: CoverView | None, today: date, rules: BenefitRules
) -> list[Refusal]:
    """Every reason that refuses the claim or one of its benefits; empty: payable in full."""
    if claim.programme not in (BenefitProgramme.JKK, BenefitProgramme.JKM):
        raise InvalidInput("programme", f"a claim is under JKK or JKM, not {claim.programme!r}")
    programme = BenefitProgramme(claim.programme)
    found: list[Refusal] = []
    incident = claim.incident
    if incident > today:
        found.append(
            Refusal(
                Reason.INCIDENT_IN_FUTURE, f"{incident} is after {today}", None, "incident_date"
            )
        )
    if programme is BenefitProgramme.JKK:
        filed = claim.filed_on or today
        years = rules.claim_expiry.jkk_years
        last_day = anniversary(incident, years)
        if filed > last_day:
            found.append(
                Refusal(
                    Reason.JKK_EXPIRED,
                    f"accident on {incident}, filed on {filed}; the last day was {last_day} "
                    f"({years} years)",
                    None,
                    "incident_date",
                )
            )
    found.extend(_cover_refusals(claim, cover, programme, rules))
    found.extend(_benefit_refusals(claim, cover, programme, rules))
    return found


def _cover_refusals(
    claim: ClaimFacts, cover: CoverView | None, programme: BenefitProgramme, rules: BenefitRules
) -> list[Refusal]:
    incident = claim.incident
    month = Month.of(incident)
    if (
        cover is None
        or cover.month_status is MonthStatus.NOT_ENROLLED
        or incident < cover.membership_start
        or month < cover.first_month
        or (cover.last_month is not None and month > cover.last_month)
    ):
        detail = (
            "no enrolment is known"
            if cover is None
            else (
                f"enrolled {cover.first_month}–{cover.last_month or 'open'} from "
                f"{cover.membership_start}; the incident is on {incident}"
            )
        )
        return [Refusal(Reason.NOT_ENROLLED, detail, None, "incident_date")]
    found = []
    if programme not in cover.benefits:
        enrolled = ", ".join(sorted(b.value for b in cover.benefits)) or "nothing"
        found.append(
            Refusal(
                Reason.PROGRAMME_NOT_ENROLLED,
                f"{programme.value} claimed; the worker is enrolled in {enrolled}",
                None,
                "programme",
            )
        )
    status = cover.month_status
    if status is MonthStatus.UNPAID_PAST_WINDOW:
        found.append(Refusal(Reason.UNPAID_PAST_WINDOW, f"{month} unpaid past the arrears window"))
    elif status is MonthStatus.LAPSED:
        found.append(Refusal(Reason.LAPSED, f"cover lapsed; {month} not covered"))
    elif (
        status in (MonthStatus.ARREARS, MonthStatus.NOT_INVOICED)
        and not rules.cover.arrears_count_as_covered
    ):
        found.append(
            Refusal(
                Reason.MONTH_NOT_PAID,
                f"{month} is {status.value.replace('_', ' ')}; a month counts once paid "
                f"({rules.cover.id})",
            )
        )
    return found


def _benefit_refusals(
    claim: ClaimFacts, cover: CoverView | None, programme: BenefitProgramme, rules: BenefitRules
) -> list[Refusal]:
    found = []
    pays = PROGRAMME_BENEFITS[programme]
    asked = set(claim.asked)
    if claim.jkk is not None:
        lines = jkk_lines(claim.jkk, cover.declared_income if cover else 0, rules)
        asked.update(line.kind for line in lines)
        if programme is not BenefitProgramme.JKK:
            asked.update(_jkk_kinds_claimed(claim.jkk))
    if claim.children:
        asked.add(BenefitKind.SCHOLARSHIP)
    for kind in sorted(asked - pays):
        found.append(
            Refusal(
                Reason.BENEFIT_NOT_IN_PROGRAMME,
                f"{kind.value} is not a {programme.value} benefit",
                kind,
            )
        )
    if BenefitKind.SCHOLARSHIP in asked and BenefitKind.SCHOLARSHIP in pays:
        if not _brings_scholarship(claim, programme):
            found.append(
                Refusal(
                    Reason.BENEFIT_NOT_IN_PROGRAMME,
                    "a JKK scholarship comes with a death or a total disability",
                    BenefitKind.SCHOLARSHIP,
                    "children",
                )
            )
        else:
            found.extend(_scholarship_refusals(claim, cover, programme, rules))
    return found


def _jkk_kinds_claimed(facts: JkkFacts) -> set[BenefitKind]:
    kinds = set()
    if facts.medical_billed:
        kinds.add(BenefitKind.MEDICAL)
    if facts.transport_cost:
        kinds.add(BenefitKind.TRANSPORT)
    if facts.days_unable:
        kinds.add(BenefitKind.TEMPORARY_INABILITY)
    if Disability(facts.disability) is not Disability.NONE:
        kinds.add(BenefitKind.DISABILITY)
    if facts.died:
        kinds.add(BenefitKind.DEATH)
    return kinds


def _scholarship_refusals(
    claim: ClaimFacts, cover: CoverView | None, programme: BenefitProgramme, rules: BenefitRules
) -> list[Refusal]:
    rule = rules.scholarship
    months = cover.contribution_months if cover else 0
    if not scholarship_allowed(programme, months, rules):
        return [
            Refusal(
                Reason.JKM_SCHOLARSHIP_TOO_EARLY,
                f"{months} months of contributions, fewer than {rule.jkm_min_contribution_months}",
                BenefitKind.SCHOLARSHIP,
                "children",
            )
        ]
    found = []
    able = 0
    for i, child in enumerate(claim.children):
        why = child_refusal(child, claim.incident, rules)
        if why is not None:
            found.append(
                Refusal(Reason.CHILD_NOT_ELIGIBLE, why, BenefitKind.SCHOLARSHIP, f"children[{i}]")
            )
            continue
        able += 1
        if able > rule.max_children:
            found.append(
                Refusal(
                    Reason.TOO_MANY_CHILDREN,
                    f"child {i + 1} of the list is beyond the first {rule.max_children} who may "
                    "have the scholarship",
                    BenefitKind.SCHOLARSHIP,
                    f"children[{i}]",
                )
            )
    return found


def refuses_claim(refusals: Sequence[Refusal]) -> bool:
    """Whether the refusals refuse the whole claim (not just some of its benefits)."""
    return any(r.benefit is None for r in refusals)
