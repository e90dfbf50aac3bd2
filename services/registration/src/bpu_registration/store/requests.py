"""Enrolment requests in the store: one document per request id (an ``EnrolmentRequested`` event
from a regional registry), holding how it was answered and, in its outbox, the answer event.

The document's ``_id`` is the request id, so a request is answered once: a second insert of the
same id is left out by the unique ``_id``. The request's body is kept only as a fingerprint (no
NIK or name here: the worker document holds those); a later body under the same id is compared
with it, and each different body is answered once with a conflict (``conflicts`` remembers the
fingerprints answered, guarded in the update's filter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bpu_shared.events import Event
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.service_layer.unit_of_work import UnitOfWork

REQUESTS = "enrolment_requests"

#: What ``outcome`` holds besides the accepted outcomes (enrolled, already_enrolled, waiting).
REJECTED = "rejected"


@dataclass(frozen=True)
class RequestAnswer:
    """How one enrolment request was answered: the outcome, what it made or why not, and
    which event asked (``event_id``, from ``producer``)."""

    request_id: str
    fingerprint: str
    programme_id: str
    outcome: str
    event_id: str
    producer: str
    answered_at: datetime
    worker_id: str | None = None
    enrolment_id: str | None = None
    card_number: str | None = None
    waiting_list_entry: str | None = None
    reasons: tuple[tuple[str | None, str], ...] = ()
    conflicts: tuple[str, ...] = field(default=())


class RequestStore:
    db: AsyncDatabase
    uow: UnitOfWork

    @property
    def enrolment_requests(self) -> AsyncCollection:
        return self.db[REQUESTS]

    async def ensure_request_indexes(self) -> None:
        # For an operator's question "what became of this programme's requests?".
        await self.db[REQUESTS].create_index([("programme_id", ASCENDING), ("outcome", ASCENDING)])

    async def answered_requests(self, request_ids: Sequence[str]) -> dict[str, RequestAnswer]:
        """The answers stored for these request ids (one read)."""
        if not request_ids:
            return {}
        docs = (
            await self.db[REQUESTS]
            .find({"_id": {"$in": list(request_ids)}}, OUTBOX_FIELDS)
            .to_list()
        )
        return {d["_id"]: to_answer(d) for d in docs}

    async def enrolment_request(self, request_id: str) -> RequestAnswer | None:
        doc = await self.db[REQUESTS].find_one({"_id": request_id}, OUTBOX_FIELDS)
        return to_answer(doc) if doc else None

    async def answer_requests(self, answers: Sequence[tuple[RequestAnswer, Event]]) -> set[str]:
        """Store each answer with its answer event, in one bulk write; the request ids stored.
        A request answered meanwhile (another delivery of it) is left out, with its event."""
        inserted = await self.uow.insert_many(
            REQUESTS, [(answer_doc(a), [event]) for a, event in answers]
        )
        return {str(i) for i in inserted}

    async def answer_conflict(self, request_id: str, fingerprint: str, event: Event) -> bool:
        """Record that a different body (``fingerprint``) came under an answered request id,
        with its rejection; False when that body was answered already (or is the stored one)."""
        doc = await self.uow.update(
            REQUESTS,
            {
                "_id": request_id,
                "fingerprint": {"$ne": fingerprint},
                "conflicts": {"$nin": [fingerprint]},
            },
            {"$push": {"conflicts": fingerprint}},
            [event],
        )
        return doc is not None


# -- documents ---------------------------------------------------------------------------------


def answer_doc(a: RequestAnswer) -> dict[str, Any]:
    return {
        "_id": a.request_id,
        "fingerprint": a.fingerprint,
        "programme_id": a.programme_id,
        "outcome": a.outcome,
        "event_id": a.event_id,
        "producer": a.producer,
        "answered_at": a.answered_at,
        "worker_id": a.worker_id,
        "enrolment_id": a.enrolment_id,
        "card_number": a.card_number,
        "waiting_list_entry": a.waiting_list_entry,
        "reasons": [{"field": f, "reason": r} for f, r in a.reasons],
        "conflicts": list(a.conflicts),
    }


def to_answer(d: dict[str, Any]) -> RequestAnswer:
    return RequestAnswer(
        request_id=d["_id"],
        fingerprint=d["fingerprint"],
        programme_id=d["programme_id"],
        outcome=d["outcome"],
        event_id=d["event_id"],
        producer=d["producer"],
        answered_at=d["answered_at"],
        worker_id=d.get("worker_id"),
        enrolment_id=d.get("enrolment_id"),
        card_number=d.get("card_number"),
        waiting_list_entry=d.get("waiting_list_entry"),
        reasons=tuple((r.get("field"), r["reason"]) for r in d.get("reasons", [])),
        conflicts=tuple(d.get("conflicts", [])),
    )
