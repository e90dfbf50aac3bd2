"""Waiting lists in the store: one document per entry (an eligible worker waiting for a seat of
a programme), written with its events through the unit of work.

A person waits at most once per programme at a time: ``open_key`` (programme and NIK) is unique
and held only while the entry waits; leaving renames it to the entry's id, so someone refused or
withdrawn may wait again later. The line is read by ``order``, one string the handlers compute
from the published rule (``domain.order_key``), so the store sorts and pages on
one indexed field and knows nothing of the rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from bpu_registration.domain import WaitingEntry, WaitingState
from bpu_registration.store.workers import COUNTERS
from bpu_shared.events import Event, Occupation
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork

WAITING_LIST = "waiting_list"

#: What a read leaves out: the outbox and the key that only the unique index needs.
ENTRY_FIELDS = {**OUTBOX_FIELDS, "open_key": 0}


def open_key(programme_id: str, nik: str) -> str:
    return f"{programme_id}|{nik}"


class WaitingListStore:
    db: AsyncDatabase
    uow: UnitOfWork

    async def ensure_waiting_list_indexes(self) -> None:
        entries = self.db[WAITING_LIST]
        await entries.create_index([("open_key", ASCENDING)], unique=True)
        await entries.create_index([("programme_id", ASCENDING), ("order", ASCENDING)])
        await entries.create_index([("state", ASCENDING)])

    async def reserve_waiting_seqs(self, count: int) -> range:
        """``count`` arrival numbers nobody else gets (the order's last tie-breaker)."""
        doc = await self.db[COUNTERS].find_one_and_update(
            {"_id": "waiting_list_seq"},
            {"$inc": {"value": count}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None, "an upsert returns the document"
        end = int(doc["value"])
        return range(end - count + 1, end + 1)

    async def add_waiting(
        self, entries: Sequence[tuple[WaitingEntry, Sequence[Event]]]
    ) -> set[str]:
        """New entries with their events in one bulk write; the ids stored. An entry whose
        person waits for the programme already is left out (the unique ``open_key``)."""
        inserted = await self.uow.insert_many(
            WAITING_LIST, [(entry_doc(e), events) for e, events in entries]
        )
        return {str(i) for i in inserted}

    async def waiting_entry(self, entry_id: str) -> WaitingEntry | None:
        doc = await self.db[WAITING_LIST].find_one({"_id": entry_id}, ENTRY_FIELDS)
        return to_entry(doc) if doc else None

    async def waiting_by_nik(
        self, programme_id: str, niks: Sequence[str]
    ) -> dict[str, WaitingEntry]:
        """The entries of these NIKs that wait for the programme now."""
        if not niks:
            return {}
        keys = [open_key(programme_id, n) for n in niks]
        docs = await self.db[WAITING_LIST].find({"open_key": {"$in": keys}}, ENTRY_FIELDS).to_list()
        return {d["nik"]: to_entry(d) for d in docs}

    async def next_waiting(
        self,
        programme_id: str,
        limit: int,
        after: str | None = None,
        district_code: str | None = None,
    ) -> list[WaitingEntry]:
        """The entries waiting for the programme, in order, ``limit`` after the order key
        ``after`` (the cursor), of one district when given."""
        query: dict[str, Any] = {"programme_id": programme_id, "state": WaitingState.WAITING.value}
        if after is not None:
            query["order"] = {"$gt": after}
        if district_code is not None:
            query["district_code"] = district_code
        docs = (
            await self.db[WAITING_LIST]
            .find(query, ENTRY_FIELDS)
            .sort("order", ASCENDING)
            .limit(limit)
            .to_list()
        )
        return [to_entry(d) for d in docs]

    async def waiting_ahead(self, programme_id: str, order: str) -> int:
        """How many entries wait before the order key ``order`` (a place in line is this + 1).
        A count: it reads every entry on the embedded store, so only reads use it."""
        return await self.db[WAITING_LIST].count_documents(
            {
                "programme_id": programme_id,
                "state": WaitingState.WAITING.value,
                "order": {"$lt": order},
            }
        )

    async def waiting_orders_between(self, programme_id: str, first: str, last: str) -> list[str]:
        """The order keys of every waiting entry from ``first`` to ``last`` (places in line of a
        page filtered by district)."""
        docs = (
            await self.db[WAITING_LIST]
            .find(
                {
                    "programme_id": programme_id,
                    "state": WaitingState.WAITING.value,
                    "order": {"$gte": first, "$lte": last},
                },
                {"order": 1},
            )
            .sort("order", ASCENDING)
            .to_list()
        )
        return [str(d["order"]) for d in docs]

    async def waiting_per_district(self, programme_id: str) -> dict[str, int]:
        """How many wait for the programme in each district (one single-field ``$group``)."""
        rows = await (
            await self.db[WAITING_LIST].aggregate(
                [
                    {"$match": {"programme_id": programme_id, "state": WaitingState.WAITING.value}},
                    {"$group": {"_id": "$district_code", "n": {"$sum": 1}}},
                ]
            )
        ).to_list()
        return {str(r["_id"]): int(r["n"]) for r in rows}

    async def programmes_with_waiting(self) -> list[str]:
        return [
            str(p)
            for p in await self.db[WAITING_LIST].distinct("programme_id", {"state": "waiting"})
        ]

    async def leave_waiting(self, entry: WaitingEntry, events: Sequence[Event]) -> bool:
        """Store ``entry`` as it left the list if it is still waiting: the state in the filter
        makes each transition happen once, however many fills race for it. False when it had
        left already."""
        doc = await self.uow.update(
            WAITING_LIST,
            {"_id": entry.entry_id, "state": WaitingState.WAITING.value},
            {
                "$set": {
                    "state": entry.state.value,
                    "left_at": _time(entry.left_at),
                    "left_by": entry.left_by,
                    "worker_id": entry.worker_id,
                    "detail": entry.detail,
                    "open_key": entry.entry_id,  # frees (programme, NIK) for a later wait
                }
            },
            events,
        )
        return doc is not None


# -- documents ---------------------------------------------------------------------------------


def _time(at: datetime | None) -> str | None:
    """Times as ISO strings with their offset: the embedded store turns a date given to a
    top-level ``$set`` into a string without its zone (seen with NX-27017 0.8.1)."""
    return at.isoformat() if at is not None else None


def entry_doc(e: WaitingEntry) -> dict[str, Any]:
    waiting = e.state is WaitingState.WAITING
    return {
        "_id": e.entry_id,
        "open_key": open_key(e.programme_id, e.nik) if waiting else e.entry_id,
        "programme_id": e.programme_id,
        "sponsor_id": e.sponsor_id,
        "nik": e.nik,
        "name": e.name,
        "phone": e.phone,
        "occupation": e.occupation.value,
        "village_code": e.village_code,
        "district_code": e.district_code,
        "declared_monthly_income": e.declared_monthly_income,
        "cover_start": str(e.cover_start) if e.cover_start else None,
        "priority": e.priority,
        "requested_on": e.requested_on.isoformat(),
        "seq": e.seq,
        "order": e.order,
        "added_by": e.added_by,
        "added_at": _time(e.added_at),
        "state": e.state.value,
        "left_at": _time(e.left_at),
        "left_by": e.left_by,
        "worker_id": e.worker_id,
        "detail": e.detail,
    }


def to_entry(d: dict[str, Any]) -> WaitingEntry:
    return WaitingEntry(
        entry_id=d["_id"],
        programme_id=d["programme_id"],
        sponsor_id=d["sponsor_id"],
        nik=d["nik"],
        name=d["name"],
        phone=d.get("phone"),
        occupation=Occupation(d["occupation"]),
        village_code=d["village_code"],
        declared_monthly_income=int(d["declared_monthly_income"]),
        cover_start=Month.parse(d["cover_start"]) if d.get("cover_start") else None,
        priority=d.get("priority"),
        requested_on=date.fromisoformat(d["requested_on"]),
        seq=int(d["seq"]),
        order=d["order"],
        added_by=d["added_by"],
        added_at=datetime.fromisoformat(d["added_at"]),
        state=WaitingState(d["state"]),
        left_at=datetime.fromisoformat(d["left_at"]) if d.get("left_at") else None,
        left_by=d.get("left_by"),
        worker_id=d.get("worker_id"),
        detail=d.get("detail"),
    )
