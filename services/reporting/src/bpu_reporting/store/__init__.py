"""Reporting's repository: facts (one per worker covered, claim step, claim paid, invoice,
payment applied and lapse, stored once by their deterministic key) and the counters the
tallies keep from them (``counters``). The consumers record a batch's facts in one write; the
tallies store and count them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING

from bpu_reporting.domain import (
    claim_contributions,
    claim_step_contributions,
    enrolment_end_contributions,
    invoice_contributions,
    lapse_contributions,
    payment_contributions,
    waiting_left_contributions,
    waitlisted_contributions,
    worker_contributions,
)
from bpu_reporting.store.counters import COUNTED_FIELDS, CounterReads
from bpu_reporting.store.programmes import PROGRAMMES, ProgrammeStore
from bpu_reporting.store.targets import TARGETS, TargetStore
from bpu_shared.messaging.exactly_once import TALLY_FIELD, WAITING, Facts, Tally
from bpu_shared.service import Repository, Runtime
from bpu_shared.store import event_order, set_if_newer

COVERED_WORKERS, PAID_CLAIMS = "covered_workers", "paid_claims"
CLAIM_STEP_FACTS, INVOICES, PAYMENTS, LAPSES = (
    "claim_steps",
    "invoiced_contributions",
    "paid_contributions",
    "lapsed_programmes",
)
COVERAGE, TALLY_BATCHES = "coverage_counters", "tally_batches"
ENDED_ENROLMENTS, WAITLISTED, WAITING_LEFT = (
    "ended_enrolments",
    "waiting_list_entries",
    "waiting_list_left",
)
#: Per topic, the newest event applied: ``_id`` the topic, its ``event_id`` and ``occurred_at``.
PROJECTION_STATE = "projection_state"


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
        self.ended = Facts(db[ENDED_ENROLMENTS])
        self.waitlisted = Facts(db[WAITLISTED])
        self.waiting_left = Facts(db[WAITING_LEFT])
        self.ended_tally = tally("enrolments-ended", ENDED_ENROLMENTS, enrolment_end_contributions)
        self.waitlisted_tally = tally("waitlisted", WAITLISTED, waitlisted_contributions)
        self.waiting_left_tally = tally("waiting-left", WAITING_LEFT, waiting_left_contributions)
        self.projection_state = db[PROJECTION_STATE]
        self.tallies = [
            self.worker_tally,
            self.claim_tally,
            self.claim_step_tally,
            self.invoice_tally,
            self.payment_tally,
            self.lapse_tally,
            self.ended_tally,
            self.waitlisted_tally,
            self.waiting_left_tally,
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

    async def _record(
        self, facts: Facts, tally: Tally, recorded: Mapping[str, Mapping[str, Any]]
    ) -> int:
        """Record the facts for the tally (one write; it stores each fact once), note the
        newest event of each topic they came from; how many."""
        count = await facts.record(recorded)
        tally.wake()
        await self.note_applied(recorded.values())
        return count

    async def add_covered_workers(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.workers, self.worker_tally, facts)

    async def add_paid_claims(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.claims, self.claim_tally, facts)

    async def add_claim_steps(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.claim_steps, self.claim_step_tally, facts)

    async def add_invoices(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.invoices, self.invoice_tally, facts)

    async def add_payments(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.payments, self.payment_tally, facts)

    async def add_lapses(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.lapses, self.lapse_tally, facts)

    async def add_ended_enrolments(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.ended, self.ended_tally, facts)

    async def add_waitlisted(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.waitlisted, self.waitlisted_tally, facts)

    async def add_waiting_left(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        return await self._record(self.waiting_left, self.waiting_left_tally, facts)

    async def note_applied(self, facts: Iterable[Mapping[str, Any]]) -> None:
        """Per topic, the newest event of the facts that name theirs (by ``occurred_at``, then
        event id), kept unless a newer one was noted before: one guarded write per topic, so
        replays and other orders leave the same state."""
        newest: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for fact in facts:
            topic, at = fact.get("topic"), fact.get("occurred_at")
            if not topic or not at:
                continue
            key = event_order(str(at), str(fact["event_id"]))
            if str(topic) not in newest or key > newest[str(topic)][0]:
                newest[str(topic)] = (key, fact)
        for topic, (key, fact) in newest.items():
            await set_if_newer(
                self.projection_state,
                topic,
                {
                    "event_id": str(fact["event_id"]),
                    "occurred_at": str(fact["occurred_at"]),
                    "applied_at": datetime.now(UTC).isoformat(),
                    "as_of": key,
                },
            )

    async def last_applied(self) -> dict[str, dict[str, Any]]:
        """Per topic reporting consumes: the newest event applied (``event_id``,
        ``occurred_at`` as a datetime, ``applied_at``); topics with none are absent."""
        return {
            str(doc["_id"]): {
                "event_id": doc["event_id"],
                "occurred_at": datetime.fromisoformat(doc["occurred_at"]),
                "applied_at": datetime.fromisoformat(doc["applied_at"]),
            }
            async for doc in self.projection_state.find({})
        }


__all__ = [
    "CLAIM_STEP_FACTS",
    "COUNTED_FIELDS",
    "COVERAGE",
    "COVERED_WORKERS",
    "ENDED_ENROLMENTS",
    "INVOICES",
    "LAPSES",
    "PAID_CLAIMS",
    "PAYMENTS",
    "PROGRAMMES",
    "PROJECTION_STATE",
    "TALLY_BATCHES",
    "TARGETS",
    "WAITING_LEFT",
    "WAITLISTED",
    "ReportingRepository",
]
