"""Effective-dated tables: a regulation's figures are rows with the day they take effect, and a
new regulation is a new row, never an edit. One lookup serves every such table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol, TypeVar


class Dated(Protocol):
    @property
    def effective_from(self) -> date: ...


T = TypeVar("T", bound=Dated)


def in_force(table: Iterable[T], day: date, what: str = "table") -> T:
    """The row in force on ``day``: the latest whose ``effective_from`` is not after it."""
    rows = [row for row in table if row.effective_from <= day]
    if not rows:
        raise LookupError(f"no {what} is in force on {day}")
    return max(rows, key=lambda row: row.effective_from)
