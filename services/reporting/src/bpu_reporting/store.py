"""Reporting's repository: facts (one per worker covered, one per claim paid, stored once by
their aggregate id) and the coverage counters the tallies keep from them, one document per
region with its parent, so a dashboard reads a region and its children in two small queries.
The consumers record a batch's facts in one write; the tallies store and count them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING

from bpu_reporting.domain import (
    CLAIM_PROGRAMMES,
    benefits_paid_field,
    claim_contributions,
    claims_paid_field,
    counter_id,
    worker_contributions,
)
from bpu_shared.messaging.exactly_once import TALLY_FIELD, WAITING, Facts, Tally
from bpu_shared.service import Repository, Runtime

COVERED_WORKERS, PAID_CLAIMS = "covered_workers", "paid_claims"
COVERAGE, TALLY_BATCHES = "coverage_counters", "tally_batches"

COUNTED_FIELDS = (
    "workers",
    "claims_paid",
    "benefits_paid_rupiah",
    *(claims_paid_field(p) for p in CLAIM_PROGRAMMES),
    *(benefits_paid_field(p) for p in CLAIM_PROGRAMMES),
)


class ReportingRepository(Repository):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        db = runtime.db
        self.workers = Facts(db[COVERED_WORKERS])
        self.claims = Facts(db[PAID_CLAIMS])
        self.counters = db[COVERAGE]

        def tally(name: str, facts: str, contributions: Any) -> Tally:
            return Tally(
                name=name,
                facts=db[facts],
                counters=self.counters,
                batches=db[TALLY_BATCHES],
                contributions=contributions,
                lease=runtime.lease(f"tally-{name}"),
            )

        self.worker_tally = tally("coverage-workers", COVERED_WORKERS, worker_contributions)
        self.claim_tally = tally("coverage-claims", PAID_CLAIMS, claim_contributions)
        self.tallies = [self.worker_tally, self.claim_tally]

    async def ensure_indexes(self) -> None:
        await self.counters.create_index([("parent", ASCENDING)])
        # Facts stored before the counters existed wait to be counted like new ones.
        for facts in (self.workers, self.claims):
            await facts.coll.update_many(
                {TALLY_FIELD: {"$exists": False}}, {"$set": {TALLY_FIELD: WAITING}}
            )

    async def add_covered_workers(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        """Record the facts for the tally (one write; it stores each fact once); how many."""
        recorded = await self.workers.record(facts)
        self.worker_tally.wake()
        return recorded

    async def add_paid_claims(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        recorded = await self.claims.record(facts)
        self.claim_tally.wake()
        return recorded

    async def coverage(self, code: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """The region's counted totals and each child region's (by code)."""
        counted = dict.fromkeys(COUNTED_FIELDS, 1)  # not the batch numbers counters keep
        own = await self.counters.find_one({"_id": counter_id(code)}, counted) or {}
        children = await self.counters.find({"parent": counter_id(code)}, counted).to_list()
        return _totals(own), {doc["_id"]: _totals(doc) for doc in children}


def _totals(doc: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(doc.get(name, 0)) for name in COUNTED_FIELDS}
