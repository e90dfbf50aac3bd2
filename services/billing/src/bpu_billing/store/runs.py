"""Billing's runs collections."""

from __future__ import annotations

from bpu_shared.service import Repository

RUNS = "billing_runs"


class RunStore(Repository):
    async def ensure_runs_indexes(self) -> None:
        return None
