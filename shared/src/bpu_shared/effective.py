"""Effective-dated tables: a regulation's figures are rows with the day they take effect, and a
new regulation is a new row, never an edit. One lookup serves every such table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol, TypeVar

from bpu_shared.errors import InvalidInput


class Dated(Protocol):
    @property
    def effective_from(self) -> date: ...


T = TypeVar("T", bound=Dated)


class NotInForce(InvalidInput, LookupError):
    """No row of the table is in force on the day asked about (before its first row)."""


def in_force(table: Iterable[T], day: date, what: str = "table", field: str = "on") -> T:
    """The row in force on ``day``: the latest whose ``effective_from`` is not after it.
    ``field`` names the input that gave the day, for the error."""
    rows = [row for row in table if row.effective_from <= day]
    if not rows:
        raise NotInForce(field, f"no {what} is in force on {day}")
    return max(rows, key=lambda row: row.effective_from)
