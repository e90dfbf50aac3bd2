"""Reporting's repository: facts (one per worker covered, one per claim paid, stored once by
their aggregate id) and the coverage counters the tallies keep from them, one document per
region with its parent, so a dashboard reads a region and its children in two small queries.
The consumers record a batch's facts in one write; the tallies store and count them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    CLAIM_STEPS,
    CONTRIBUTION_FIELDS,
    benefit_kind_field,
    benefits_paid_field,
    claim_contributions,
    claim_step_contributions,
    claim_step_field,
    claims_paid_field,
    counter_id,
    invoice_contributions,
    lapse_contributions,
    month_counter_id,
    payment_contributions,
    worker_contributions,
)
from bpu_shared.messaging.exactly_once import TALLY_FIELD, WAITING, Facts, Tally
from bpu_shared.service import Repository, Runtime

COVERED_WORKERS, PAID_CLAIMS = "covered_workers", "paid_claims"
CLAIM_STEP_FACTS, INVOICES, PAYMENTS, LAPSES = (
    "claim_steps",
    "invoiced_contributions",
    "paid_contributions",
    "lapsed_programmes",
)
COVERAGE, TALLY_BATCHES = "coverage_counters", "tally_batches"

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
        self.claim_steps = Facts(db[CLAIM_STEP_FACTS])
        self.invoices = Facts(db[INVOICES])
        self.payments = Facts(db[PAYMENTS])
        self.lapses = Facts(db[LAPSES])
        self.claim_step_tally = tally("claim-steps", CLAIM_STEP_FACTS, claim_step_contributions)
        self.invoice_tally = tally("contributions-invoiced", INVOICES, invoice_contributions)
        self.payment_tally = tally("contributions-paid", PAYMENTS, payment_contributions)
        self.lapse_tally = tally("coverage-lapsed", LAPSES, lapse_contributions)
        self.tallies = [
            self.worker_tally,
            self.claim_tally,
            self.claim_step_tally,
            self.invoice_tally,
            self.payment_tally,
            self.lapse_tally,
        ]

    async def ensure_indexes(self) -> None:
        await self.counters.create_index([("parent", ASCENDING)])
        # Facts stored before the counters existed wait to be counted like new ones.
        for facts in (self.workers, self.claims):  # the facts kept before the inbox
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

    async def add_claim_steps(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        recorded = await self.claim_steps.record(facts)
        self.claim_step_tally.wake()
        return recorded

    async def add_invoices(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        recorded = await self.invoices.record(facts)
        self.invoice_tally.wake()
        return recorded

    async def add_payments(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        recorded = await self.payments.record(facts)
        self.payment_tally.wake()
        return recorded

    async def add_lapses(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        recorded = await self.lapses.record(facts)
        self.lapse_tally.wake()
        return recorded

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
