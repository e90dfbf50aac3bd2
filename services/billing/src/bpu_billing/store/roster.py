"""Billing's roster collections."""

from __future__ import annotations

from bpu_shared.service import Repository

PROGRAMMES, ENROLMENTS = "programmes", "enrolments"


class RosterStore(Repository):
    async def ensure_roster_indexes(self) -> None:
        return None
