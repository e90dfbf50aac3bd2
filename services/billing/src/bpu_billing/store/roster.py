"""Billing's roster: its own copy of the programmes and their enrolments, from registration's
events (billing never reads registration's database). Every write is idempotent, so an event
delivered twice, at other batch boundaries or after a crash between two writes, leaves the
same state.

``programmes``: ``_id`` the programme id, its terms as ``ProgrammeFields`` has them
(``start_month``/``end_month`` "YYYY-MM", ``benefits``, ``funding_source``, ``status``…),
``closed_on`` once closed, and ``as_of``: the ``occurred_at`` (ISO, UTC) of the last event
applied. An event is applied only if newer (``as_of`` guard in the filter), by ``$set`` of the
terms alone: payments' own fields (``credit_rupiah``, ``lapsed_from``) are never touched.

``enrolments``: ``_id`` the enrolment id (``WorkerRegistered.enrolment_id``, else
``<worker_id>|<programme_id>|<cover_start>``), ``worker_id``, ``programme_id``,
``sponsor_id``, ``first_month``, ``last_month`` ("YYYY-MM", or None: to the programme's end),
``benefits``, ``occupation``, ``province_code`` … ``village_code``, ``income`` (declared at
registration), ``as_of`` (when registered), ``ended_as_of`` (the last ``EnrolmentEnded``
applied, ``NEVER`` before any) and ``registered`` (False for an enrolment first learnt from its end,
before its ``WorkerRegistered`` came: topics are not ordered among themselves).

``worker_changes``: one document per ``WorkerChanged`` (``_id`` its event id, so it is kept
once): ``worker_id``, ``effective_month``, ``as_of`` and the worker's facts after the change.
``roster_blobs``: what the billing run reads. A million enrolment documents cost the embedded
store about a minute to return, one at a time; so each batch of ``WorkerRegistered`` also
stores its enrolments (the fields pricing needs) as one BSON blob per programme, which the
store returns for a fraction of the cost, as the tallies' inbox does. ``_id`` is
``<programme id>|<digest of the batch's enrolment ids>`` (the same batch again is refused); a
batch delivered again at other boundaries makes blobs that overlap, and the reader keeps one
entry per enrolment id (an enrolment's registration never changes). Enrolments that ended, or
were learnt from their end, are read from ``enrolments`` (an index on ``ended_as_of``) and
override their blob entries.

A month is priced at the income, and billed in the district, of the latest of the enrolment's
registration and the changes effective by then (``effective_month``, then ``as_of``): a change
arriving before the enrolment it applies to is not lost, and one arriving late for a month not
billed yet still counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import bson
from bson import Binary
from pymongo import ASCENDING

from bpu_shared import store
from bpu_shared.enrolments import NEVER as NEVER  # what bench/ and tests seed enrolments with
from bpu_shared.month import Month
from bpu_shared.service import Repository

PROGRAMMES, ENROLMENTS, WORKER_CHANGES = "programmes", "enrolments", "worker_changes"
ROSTER_BLOBS = "roster_blobs"
T = TypeVar("T")

#: What the billing run reads of an enrolment (a projection: no history it does not need).
ROSTER_FIELDS = {
    "_id": 1,
    "worker_id": 1,
    "first_month": 1,
    "last_month": 1,
    "benefits": 1,
    "occupation": 1,
    "district_code": 1,
    "village_code": 1,
    "income": 1,
    "as_of": 1,
}


@dataclass(frozen=True)
class ProgrammeWrite:
    """A programme's terms as an event gave them, with the event's time."""

    programme_id: str
    terms: Mapping[str, Any]
    as_of: str


class RosterStore(Repository):
    async def ensure_roster_indexes(self) -> None:
        enrolments = self.db[ENROLMENTS]
        await enrolments.create_index([("programme_id", ASCENDING), ("first_month", ASCENDING)])
        await enrolments.create_index([("worker_id", ASCENDING)])
        await enrolments.create_index([("ended_as_of", ASCENDING)])
        await self.db[ROSTER_BLOBS].create_index([("programme_id", ASCENDING)])
        await self.db[WORKER_CHANGES].create_index([("worker_id", ASCENDING)])
        await self.db[PROGRAMMES].create_index([("status", ASCENDING)])

    # -- writes from registration's events -----------------------------------------------------

    async def apply_programmes(self, writes: Iterable[ProgrammeWrite]) -> int:
        """Each programme's terms unless a newer event was applied; how many changed. A
        programme not stored yet is inserted (a second insert of it is refused and ignored)."""
        coll = self.db[PROGRAMMES]
        changed = 0
        for w in sorted(writes, key=lambda w: w.as_of):
            changed += await store.set_if_newer(coll, w.programme_id, {**w.terms, "as_of": w.as_of})
        return changed

    async def add_enrolments(self, docs: Sequence[Mapping[str, Any]]) -> int:
        """Enrolments from ``WorkerRegistered``, in one unordered bulk insert; how many were
        new. One stored already is left as it is, unless it was made from its end before its
        registration came (``registered`` False): then it gets the registration's fields,
        keeping its end."""
        new = await store.add_enrolments(self.db[ENROLMENTS], docs)
        await self._add_blobs(docs)
        return new

    async def _add_blobs(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """The batch's enrolments as one blob per programme, for the billing run."""
        by_programme: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            entry = {k: doc[k] for k in ROSTER_FIELDS if k in doc}
            by_programme.setdefault(doc["programme_id"], []).append(entry)
        blobs = []
        for programme_id, entries in by_programme.items():
            digest = hashlib.sha1(
                "\n".join(sorted(e["_id"] for e in entries)).encode(), usedforsecurity=False
            ).hexdigest()
            blobs.append(
                {
                    "_id": f"{programme_id}|{digest}",
                    "programme_id": programme_id,
                    "count": len(entries),
                    "enrolments": Binary(bson.encode({"e": entries})),
                }
            )
        await store.insert_new(self.db[ROSTER_BLOBS], blobs)

    async def end_enrolment(
        self, enrolment_id: str, last_month: str, as_of: str, stub: Mapping[str, Any]
    ) -> bool:
        """The enrolment ends with ``last_month``, unless a newer end was applied to it; an
        enrolment not stored yet is stored from ``stub`` (its end came before its
        registration). True when something changed."""
        return await store.end_enrolment(self.db[ENROLMENTS], enrolment_id, last_month, as_of, stub)

    async def add_worker_changes(self, docs: Sequence[Mapping[str, Any]]) -> int:
        """Changes of workers' facts, each kept once (by event id); how many were new."""
        return len(docs) - len(await store.insert_new(self.db[WORKER_CHANGES], docs))

    # -- readers -------------------------------------------------------------------------------

    async def programme_doc(self, programme_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.db[PROGRAMMES].find_one(
            {"_id": programme_id}, {"outbox": 0, "outbox_sent": 0}
        )
        return doc

    async def programme_ids(self) -> list[str]:
        """Every programme billing knows, in id order."""
        return sorted(d["_id"] for d in await self.db[PROGRAMMES].find({}, {"_id": 1}).to_list())

    async def enrolments_of_worker(self, worker_id: str) -> list[dict[str, Any]]:
        """The worker's enrolments, each with ``changes``: the worker's changes of facts
        (effective month, as of, facts), oldest first."""
        enrolments = await self.db[ENROLMENTS].find({"worker_id": worker_id}).to_list()
        changes = await self.changes_of([worker_id])
        for doc in enrolments:
            doc["changes"] = changes.get(worker_id, [])
        return sorted(enrolments, key=lambda d: (d["first_month"], d["_id"]))

    async def roster_as(
        self, programme_id: str, period: Month, convert: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        """The programme's enrolments that started by ``period`` (their end is the caller's
        to check), with the fields pricing needs only: from the blobs, the ended ones from
        their documents; each turned by ``convert`` as its blob is read (a million
        dictionaries are never held at once)."""
        found: dict[str, T] = {}
        month = str(period)
        async for blob in self.db[ROSTER_BLOBS].find(
            {"programme_id": programme_id}, {"enrolments": 1}, batch_size=64
        ):
            for entry in bson.decode(bytes(blob["enrolments"]))["e"]:
                key = entry["_id"]
                if entry["first_month"] <= month and key not in found:
                    found[key] = convert(entry)
        # Every end is later than the year 2 and sorts after "0002"; NEVER sorts before it, so
        # the index range starts past the enrolments never ended (a bound of NEVER itself
        # would make the store step over each of those).
        async for doc in self.db[ENROLMENTS].find(
            {"ended_as_of": {"$gte": "0002"}}, {**ROSTER_FIELDS, "programme_id": 1}
        ):
            if doc["programme_id"] == programme_id and doc["first_month"] <= month:
                doc.pop("programme_id")
                found[doc["_id"]] = convert(doc)
        return list(found.values())

    async def changes_of(
        self, worker_ids: Iterable[str] | None = None, up_to: Month | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Changes of workers' facts by worker (all workers when ``worker_ids`` is None),
        effective by ``up_to`` if given, ordered by effective month then time."""
        where: dict[str, Any] = {}
        if worker_ids is not None:
            where["worker_id"] = {"$in": list(worker_ids)}
        if up_to is not None:
            where["effective_month"] = {"$lte": str(up_to)}
        found: dict[str, list[dict[str, Any]]] = {}
        async for doc in self.db[WORKER_CHANGES].find(where, batch_size=10_000):
            found.setdefault(doc["worker_id"], []).append(doc)
        for docs in found.values():
            docs.sort(key=lambda d: (d["effective_month"], d["as_of"]))
        return found
