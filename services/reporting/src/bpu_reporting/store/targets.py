"""Targets and the workforce per region and year (collection ``targets``, ``_id`` =
``<region>|<year>``): admin data an operator sets or loads from a file, not a projection, so a
rebuild of the projections never drops it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

TARGETS = "targets"


def target_id(region: str, year: int) -> str:
    return f"{region}|{year}"


class TargetStore:
    """Writes and reads of ``targets`` (a mixin of ``ReportingRepository``)."""

    db: AsyncDatabase[Any]

    async def ensure_target_indexes(self) -> None:
        await self.db[TARGETS].create_index([("year", ASCENDING)])

    async def save_targets(self, targets: Sequence[Mapping[str, Any]]) -> int:
        """Each target (a ``TargetDoc`` as a dict) stored whole in place of the region's and
        year's; one write for them all. How many."""
        if not targets:
            return 0
        await self.db[TARGETS].bulk_write(
            [
                # the id in the replacement too: the embedded store's upsert does not take it
                # from the filter (tests/integration/test_store_conformance.py)
                ReplaceOne({"_id": key}, {"_id": key, **t}, upsert=True)
                for key, t in ((target_id(t["region"], t["year"]), t) for t in targets)
            ],
            ordered=False,
        )
        return len(targets)

    async def seed_targets(self, targets: Sequence[Mapping[str, Any]]) -> int:
        """Targets from the file named at start: each stored unless someone else set the
        region's and year's since (``set_by`` differs), so a restart never undoes an
        operator's change. How many were written."""
        written = 0
        coll = self.db[TARGETS]
        for t in targets:
            key = target_id(t["region"], t["year"])
            replaced = await coll.replace_one(
                {"_id": key, "set_by": t["set_by"]}, {"_id": key, **t}
            )
            if replaced.matched_count:
                written += 1
                continue
            try:
                await coll.insert_one({"_id": key, **t})
                written += 1
            except DuplicateKeyError:
                pass  # set by an operator: theirs stays
        return written

    async def targets(self, codes: Sequence[str], year: int) -> dict[str, dict[str, Any]]:
        """The targets of ``codes`` for ``year`` (one lookup by id); a region without one is
        absent."""
        ids = [target_id(code, year) for code in codes]
        found = await self.db[TARGETS].find({"_id": {"$in": ids}}).to_list()
        return {str(doc["region"]): _public(doc) for doc in found}

    async def targets_within(
        self, region_prefix: str | None, year: int | None
    ) -> list[dict[str, Any]]:
        """Every target of a region and the regions below it (all when no prefix), of one
        year or all, by region and year. Few documents: a region list and years."""
        query: dict[str, Any] = {} if year is None else {"year": year}
        found = await self.db[TARGETS].find(query).to_list()
        prefix = region_prefix or ""
        return sorted(
            (
                _public(doc)
                for doc in found
                if not prefix
                or doc["region"] == prefix
                or str(doc["region"]).startswith(prefix + ".")
            ),
            key=lambda t: (t["region"], t["year"]),
        )


def _public(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}
