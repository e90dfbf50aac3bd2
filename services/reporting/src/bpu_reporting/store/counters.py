"""The counters dashboards read: one document per region (``17.04``, ``ID`` for the country),
per region and month (``17.04|2026-03``) and per slice of either (``17.04|programme=PG-1``,
``17.04|2026-03|occupation=farmer``), each naming its parent, so a region's figures and its
children's are two lookups (by id, by parent) whatever the region's size, and a run of months
or a set of regions one lookup (``_id $in``). Never a scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    CLAIM_STEPS,
    CONTRIBUTION_FIELDS,
    WORKER_FIELDS,
    Slice,
    benefit_kind_field,
    benefits_paid_field,
    claim_step_field,
    claims_paid_field,
    counter_key,
)

COUNTED_FIELDS = (
    "workers",
    *WORKER_FIELDS,
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
Totals = dict[str, int]
_COUNTED = {**dict.fromkeys(COUNTED_FIELDS, 1), "region": 1, "period": 1}


class CounterReads:
    """Reads of the counters (``self.counters``) the tallies keep."""

    counters: AsyncCollection[Any]

    async def figures(
        self, code: str, period: str | None = None, slice: Slice | None = None
    ) -> tuple[Totals, dict[str, Totals]]:
        """The region's counted totals and each child region's (by code), all time or in one
        month, in all or in one slice: two lookups, by id and by parent."""
        own_id = counter_key(code, period, slice)
        own = await self.counters.find_one({"_id": own_id}, _COUNTED) or {}
        children = await self.counters.find({"parent": own_id}, _COUNTED).to_list()
        return _totals(own), {_region(doc): _totals(doc) for doc in children}

    async def months(
        self, code: str, months: Sequence[str], slice: Slice | None = None
    ) -> dict[str, Totals]:
        """The region's totals in each of ``months`` (``YYYY-MM``; zeros for a month nothing
        counted in): one lookup by id."""
        ids = {counter_key(code, month, slice): month for month in months}
        found = {
            doc["_id"]: _totals(doc)
            async for doc in self.counters.find({"_id": {"$in": list(ids)}}, _COUNTED)
        }
        return {month: found.get(cid, _totals({})) for cid, month in ids.items()}

    async def figures_many(
        self,
        codes: Sequence[str],
        period: str | None = None,
        slice: Slice | None = None,
        months: Sequence[str] | None = None,
    ) -> dict[str, Totals]:
        """Each region's totals (zeros for one nothing counted in), all time, in one month, or
        each of ``months`` (keyed ``code|YYYY-MM`` then): one lookup by id."""
        if months is not None:
            keys = {counter_key(c, m, slice): f"{c}|{m}" for c in codes for m in months}
        else:
            keys = {counter_key(c, period, slice): c for c in codes}
        found = {
            doc["_id"]: _totals(doc)
            async for doc in self.counters.find({"_id": {"$in": list(keys)}}, _COUNTED)
        }
        return {key: found.get(cid, _totals({})) for cid, key in keys.items()}


def _region(doc: Mapping[str, Any]) -> str:
    """The region of a counter: its ``region`` field, or its id (all-time counters made before
    they carried one)."""
    return str(doc["region"]) if "region" in doc else str(doc["_id"]).split("|")[0]


def _totals(doc: Mapping[str, Any]) -> Totals:
    return {name: int(doc.get(name, 0)) for name in COUNTED_FIELDS}
