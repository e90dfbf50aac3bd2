"""The clock handlers are given: aware times in Asia/Jakarta, where due dates and cover months
are reckoned, whatever the server's own time zone is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The wall clock, in Asia/Jakarta."""

    def now(self) -> datetime:
        # Milliseconds, as the store keeps them: a time read back equals the time written.
        now = datetime.now(JAKARTA)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def today(self) -> date:
        return self.now().date()


@dataclass
class FixedClock:
    """A clock that says what it is told: for tests of rules that depend on the day."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = self.at.astimezone(JAKARTA)

    def now(self) -> datetime:
        return self.at

    def today(self) -> date:
        return self.at.date()
