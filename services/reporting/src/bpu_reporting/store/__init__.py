"""Reporting's repository: facts (one per worker covered, claim step, claim paid, invoice,
payment applied and lapse, stored once by their deterministic key) and the counters the
tallies keep from them (``counters``). The consumers record a batch's facts in one write; the
tallies store and count them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING

from bpu_reporting.domain import (
    claim_contributions,
    claim_step_contributions,
    invoice_contributions,
    lapse_contributions,
    payment_contributions,
    worker_contributions,
)
from bpu_reporting.store.counters import COUNTED_FIELDS, CounterReads
from bpu_reporting.store.programmes import PROGRAMMES, ProgrammeStore
from bpu_reporting.store.targets import TARGETS, TargetStore
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


class ReportingRepository(CounterReads, ProgrammeStore, TargetStore, Repository):
    #: Projections kept other than as facts, inboxes, counters and tally batches (those are
    #: found from the repository's ``Facts`` and ``Tally`` attributes): documents written
    #: newer-only from events. The rebuild (``bpu_reporting.rebuild``) drops them with the
    #: rest and replays the topics; a projection missing here would survive a rebuild stale.
    #: Admin data (targets), the API keys and the leases are not projections: never here.
    PROJECTION_COLLECTIONS: tuple[str, ...] = ("projection_state", "programmes")

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
        await self.ensure_programme_indexes()
        await self.ensure_target_indexes()
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


__all__ = [
    "CLAIM_STEP_FACTS",
    "COUNTED_FIELDS",
    "COVERAGE",
    "COVERED_WORKERS",
    "INVOICES",
    "LAPSES",
    "PAID_CLAIMS",
    "PAYMENTS",
    "PROGRAMMES",
    "TALLY_BATCHES",
    "TARGETS",
    "ReportingRepository",
]
