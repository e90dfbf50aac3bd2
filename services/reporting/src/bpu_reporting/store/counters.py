"""The counters dashboards read: one document per region (``17.04``, ``ID`` for the country)
and per region and month (``17.04|2026-03``), each naming its parent, so a region's figures
and its children's are two lookups (by id, by parent) whatever the region's size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    CLAIM_STEPS,
    CONTRIBUTION_FIELDS,
    benefit_kind_field,
    benefits_paid_field,
    claim_step_field,
    claims_paid_field,
    counter_id,
    month_counter_id,
)

COUNTED_FIELDS = (
    "workers",
    "claims_paid",
    "benefits_paid_rupiah",
    *(claims_paid_field(p) for p in CLAIM_PROGRAMMES),
    *(benefits_paid_field(p) for p in CLAIM_PROGRAMMES),
    *(benefit_kind_field(k) for k in BENEFIT_KINDS),
    *(claim_step_field(s) for s in CLAIM_STEPS),
    *(claim_step_field(s, p) for s in CLAIM_STEPS for p in CLAIM_PROGRAMMES),
    "benefits_approved_rupiah",
    *CONTRIBUTION_FIELDS,
)


class CounterReads:
    """Reads of the counters (``self.counters``) the tallies keep."""

    counters: AsyncCollection

    async def figures(
        self, code: str, period: str | None = None
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """The region's counted totals and each child region's (by code), all time or in one
        month: two lookups by id and by parent, whatever the region's size."""
        own_id = month_counter_id(code, period) if period else counter_id(code)
        counted = {**dict.fromkeys(COUNTED_FIELDS, 1), "region": 1}
        own = await self.counters.find_one({"_id": own_id}, counted) or {}
        children = await self.counters.find({"parent": own_id}, counted).to_list()
        return _totals(own), {
            str(doc.get("region") or doc["_id"]): _totals(doc) for doc in children
        }

    async def coverage(self, code: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """The region's counted totals and each child region's (by code)."""
        counted = dict.fromkeys(COUNTED_FIELDS, 1)  # not the batch numbers counters keep
        own = await self.counters.find_one({"_id": counter_id(code)}, counted) or {}
        children = await self.counters.find({"parent": counter_id(code)}, counted).to_list()
        return _totals(own), {doc["_id"]: _totals(doc) for doc in children}


def _totals(doc: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(doc.get(name, 0)) for name in COUNTED_FIELDS}
