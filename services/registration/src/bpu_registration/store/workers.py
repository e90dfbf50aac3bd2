"""Workers in the store: one document per person (unique NIK) holding every enrolment, guarded
by a version so two changes of one worker cannot both win; the history of who changed what
travels in the same write as the change and its events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bpu_registration.domain import Enrolment, EnrolmentStatus, Identity, Occupation, Worker
from bpu_shared.events import BenefitProgramme, EndReason, Event
from bpu_shared.messaging.outbox import OUTBOX_FIELDS, merge_updates
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork

WORKERS, COUNTERS = "workers", "counters"

#: What a worker read leaves out: the outbox and the history (read on its own).
WORKER_FIELDS = {**OUTBOX_FIELDS, "history": 0}


class NikTaken(Exception):
    """The store's unique NIK index refused a new worker: the NIK is stored already."""


class Stale(Exception):
    """The worker changed since it was read (its version moved); read it again and retry."""


def history_entry(at: datetime, by: str, action: str, **detail: Any) -> str:
    """One line of a worker's history: when, which key, what. Stored as a JSON string, as the
    outbox entries are (the embedded store mangles pushed subdocuments)."""
    return json.dumps(
        {"at": at.isoformat(), "by": by, "action": action, **detail},
        separators=(",", ":"),
        default=str,
    )


class WorkerStore:
    db: AsyncDatabase
    uow: UnitOfWork

    @property
    def workers(self) -> AsyncCollection:
        return self.db[WORKERS]

    async def ensure_worker_indexes(self) -> None:
        workers = self.db[WORKERS]
        await workers.create_index([("nik", ASCENDING)], unique=True)
        await workers.create_index([("card_number", ASCENDING)], unique=True)
        await workers.create_index([("village_code", ASCENDING)])
        await workers.create_index([("programme_ids", ASCENDING)])
        await workers.create_index([("active_programme_ids", ASCENDING)])

    async def reserve_card_serials(self, count: int) -> range:
        """``count`` card serials nobody else gets: one ``$inc`` of a counter."""
        doc = await self.db[COUNTERS].find_one_and_update(
            {"_id": "card_serial"},
            {"$inc": {"value": count}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None, "an upsert returns the document"
        end = int(doc["value"])
        return range(end - count + 1, end + 1)

    async def add_worker(
        self, worker: Worker, events: Sequence[Event], history: str | None = None
    ) -> None:
        """Store a new worker with its events (and the first line of its history);
        ``NikTaken`` when its NIK is stored already."""
        lines = [history] if history else []
        try:
            await self.uow.insert(WORKERS, {**worker_doc(worker), "history": lines}, events)
        except DuplicateKeyError:
            raise NikTaken(worker.identity.nik) from None

    async def add_workers(self, changes: Iterable[tuple[Worker, Sequence[Event], str]]) -> set[str]:
        """New workers in one bulk write; the ids stored (a NIK stored meanwhile is left
        out)."""
        inserted = await self.uow.insert_many(
            WORKERS,
            [({**worker_doc(w), "history": [h]}, events) for w, events, h in changes],
        )
        return {str(i) for i in inserted}

    async def save_worker(self, worker: Worker, events: Sequence[Event], history: str) -> Worker:
        """Store the changed worker if its version is still the one read; ``Stale`` if not.
        The worker as stored (its version one higher)."""
        doc = worker_doc(worker)
        for fixed in ("_id", "nik", "version", "registered_at", "birth_date", "gender"):
            doc.pop(fixed)
        update = merge_updates(
            {"$set": doc, "$inc": {"version": 1}},
            {"$push": {"history": history}},
        )
        saved = await self.uow.update(
            WORKERS, {"_id": worker.worker_id, "version": worker.version}, update, events
        )
        if saved is None:
            raise Stale(worker.worker_id)
        return to_worker(saved)

    async def worker(self, worker_id: str) -> Worker | None:
        doc = await self.db[WORKERS].find_one({"_id": worker_id}, WORKER_FIELDS)
        return to_worker(doc) if doc else None

    async def worker_by_nik(self, nik: str) -> Worker | None:
        doc = await self.db[WORKERS].find_one({"nik": nik}, WORKER_FIELDS)
        return to_worker(doc) if doc else None

    async def worker_by_card(self, card_number: str) -> Worker | None:
        doc = await self.db[WORKERS].find_one({"card_number": card_number}, WORKER_FIELDS)
        return to_worker(doc) if doc else None

    async def workers_by_nik(self, niks: Sequence[str]) -> dict[str, Worker]:
        if not niks:
            return {}
        docs = await self.db[WORKERS].find({"nik": {"$in": list(niks)}}, WORKER_FIELDS).to_list()
        return {d["nik"]: to_worker(d) for d in docs}

    async def worker_history(self, worker_id: str) -> list[dict[str, Any]] | None:
        doc = await self.db[WORKERS].find_one({"_id": worker_id}, {"history": 1})
        if doc is None:
            return None
        return [json.loads(h) for h in doc.get("history", [])]

    async def workers_in_programme(
        self, programme_id: str, after: str | None = None, limit: int = 1000
    ) -> list[Worker]:
        """Workers with an active enrolment in the programme, by id, ``limit`` after
        ``after`` (for a page; ``each_in_programme`` walks them all faster)."""
        ids = await self.active_worker_ids(programme_id)
        page = [i for i in ids if after is None or i > after][:limit]
        return await self.workers_by_ids(page)

    async def each_in_programme(
        self, programme_id: str, chunk: int = 1000
    ) -> AsyncIterator[list[Worker]]:
        """Every worker with an active enrolment in the programme, ``chunk`` at a time: their
        ids in one index read, then each chunk by id (a range on ``_id`` beside another
        condition reads every document on the embedded store)."""
        ids = await self.active_worker_ids(programme_id)
        for start in range(0, len(ids), chunk):
            yield await self.workers_by_ids(ids[start : start + chunk])

    async def active_worker_ids(self, programme_id: str) -> list[str]:
        cursor = self.db[WORKERS].find(
            {"active_programme_ids": {"$in": [programme_id]}}, {"_id": 1}
        )
        return sorted([str(d["_id"]) async for d in cursor])

    async def workers_by_ids(self, ids: Sequence[str]) -> list[Worker]:
        if not ids:
            return []
        docs = await self.db[WORKERS].find({"_id": {"$in": list(ids)}}, WORKER_FIELDS).to_list()
        found = {d["_id"]: to_worker(d) for d in docs}
        return [found[i] for i in ids if i in found]


# -- documents ---------------------------------------------------------------------------------


def worker_doc(worker: Worker) -> dict[str, Any]:
    """The worker's document. Array fields are queried with ``$in`` (the embedded store does
    not match a plain value against an array; see the conformance suite)."""
    active = [e.programme_id for e in worker.enrolments if e.status is EnrolmentStatus.ACTIVE]
    return {
        "_id": worker.worker_id,
        "nik": worker.identity.nik,
        "name": worker.name,
        "phone": worker.phone,
        "birth_date": worker.identity.birth_date.isoformat(),
        "gender": worker.identity.gender,
        "nik_district_code": worker.identity.issued_in,
        "occupation": worker.occupation.value,
        "village_code": worker.village_code,
        "declared_monthly_income": worker.declared_monthly_income,
        "card_number": worker.card_number,
        "registered_at": worker.registered_at,
        "version": worker.version,
        "enrolments": [_enrolment_doc(e) for e in worker.enrolments],
        "programme_ids": sorted({e.programme_id for e in worker.enrolments}),
        "active_programme_ids": active,
        "status": worker.status.value,
        "months": worker.months(),
    }


def _enrolment_doc(e: Enrolment) -> dict[str, Any]:
    return {
        "enrolment_id": e.enrolment_id,
        "programme_id": e.programme_id,
        "sponsor_id": e.sponsor_id,
        "benefits": [b.value for b in e.benefits],
        "first_month": str(e.first_month),
        "last_month": str(e.last_month),
        "enrolled_at": e.enrolled_at,
        "status": e.status.value,
        "end_reason": e.end_reason.value if e.end_reason else None,
        "ended_on": e.ended_on.isoformat() if e.ended_on else None,
        "waiting_list_entry": e.waiting_list_entry,
        "request_id": e.request_id,
    }


def _enrolment(d: dict[str, Any]) -> Enrolment:
    return Enrolment(
        enrolment_id=d["enrolment_id"],
        programme_id=d["programme_id"],
        sponsor_id=d["sponsor_id"],
        benefits=tuple(BenefitProgramme(b) for b in d["benefits"]),
        first_month=Month.parse(d["first_month"]),
        last_month=Month.parse(d["last_month"]),
        enrolled_at=d["enrolled_at"],
        status=EnrolmentStatus(d["status"]),
        end_reason=EndReason(d["end_reason"]) if d.get("end_reason") else None,
        ended_on=date.fromisoformat(d["ended_on"]) if d.get("ended_on") else None,
        waiting_list_entry=d.get("waiting_list_entry"),
        request_id=d.get("request_id"),
    )


def to_worker(doc: dict[str, Any]) -> Worker:
    return Worker(
        worker_id=doc["_id"],
        identity=Identity(
            nik=doc["nik"],
            birth_date=date.fromisoformat(doc["birth_date"]),
            gender=doc["gender"],
            issued_in=doc.get("nik_district_code", ""),
        ),
        name=doc["name"],
        phone=doc.get("phone"),
        occupation=Occupation(doc["occupation"]),
        village_code=doc["village_code"],
        declared_monthly_income=doc["declared_monthly_income"],
        card_number=doc.get("card_number", ""),
        registered_at=doc["registered_at"],
        enrolments=tuple(_enrolment(e) for e in doc.get("enrolments", [])),
        version=int(doc.get("version", 0)),
    )
