"""Claims as documents: each claim one document, changed only through the unit of work with the
version it was read at in the filter (a step taken meanwhile by another officer makes the write
match nothing), its event in the same write.

``claims``: ``_id`` the claim id; ``worker_id``, ``programme_id``, ``enrolment_id``, ``benefit``
(JKK/JKM), ``incident_date`` and ``incident_month`` (ISO strings), the region codes, ``facts``,
``heirs`` and ``children`` (personal data: kept here only, never in events or logs), ``state``,
``version``, ``filed_by``/``filed_at``, ``assessed_by``, ``approved_by``, ``assessment`` (the
lines, the scholarship schedule, or the numbered reasons), ``payments.<payment id>`` (one per
bank reference; the id is a digest of the reference, which may hold dots), ``paid_rupiah``, and
``history.<vNNN>``: who did each step (a map set by dotted path: the embedded store keeps a
subdocument added with ``$push`` as text, see the conformance suite); ``request`` (the filer's
idempotency key and a digest of what it filed; the claim id derives from key and filer).

``claim_references``: one document per bank reference ever paid (``_id`` the payment id, a
digest of the reference), naming the claim and instalment it paid: inserted before the claim's
payment is written, so a reference pays one claim only, atomically (a unique ``_id``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from bpu_shared.events import Event
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.service import Repository

CLAIMS = "claims"
REFERENCES = "claim_references"

#: What a list of claims returns of each (no heirs, no outbox).
LIST_FIELDS = {"heirs": 0, "children": 0, "facts": 0, **dict.fromkeys(OUTBOX_FIELDS, 0)}
HIDDEN = dict.fromkeys(OUTBOX_FIELDS, 0)


class ClaimStore(Repository):
    async def ensure_claim_indexes(self) -> None:
        coll = self.db[CLAIMS]
        await coll.create_index([("state", ASCENDING), ("filed_at", DESCENDING)])
        await coll.create_index([("district_code", ASCENDING)])
        await coll.create_index([("worker_id", ASCENDING)])

    async def add_claim(self, doc: Mapping[str, Any], events: Sequence[Event]) -> bool:
        """A new claim with its ClaimFiled; False when a claim with its id exists."""
        try:
            await self.uow.insert(CLAIMS, doc, events)
        except DuplicateKeyError:
            return False
        return True

    async def reserve_reference(
        self, payment_id: str, reference: str, claim_id: str, instalment: int | None
    ) -> dict[str, Any]:
        """The bank reference's owner: this claim and instalment if the reference is new (one
        insert, unique by ``_id``, so two claims can never both take it), else whoever took it
        first."""
        owner = {
            "_id": payment_id,
            "reference": reference,
            "claim_id": claim_id,
            "instalment": instalment,
        }
        try:
            await self.db[REFERENCES].insert_one(owner)
        except DuplicateKeyError:
            found: dict[str, Any] | None = await self.db[REFERENCES].find_one({"_id": payment_id})
            if found is not None:
                return found
            raise
        return owner

    async def change_claim(
        self,
        claim_id: str,
        version: int,
        changes: Mapping[str, Any],
        events: Sequence[Event],
        *,
        history: Mapping[str, Any],
        also: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """One step of a claim read at ``version``: its fields, the next version and the step in
        its history, with the step's events, in one write. None if the claim changed meanwhile."""
        after = version + 1
        update: dict[str, Any] = {
            "$set": {**changes, "version": after, f"history.v{after:03d}": dict(history)}
        }
        if also:
            for op, fields in also.items():
                update.setdefault(op, {}).update(fields)
        return await self.uow.update(CLAIMS, {"_id": claim_id, "version": version}, update, events)

    async def claim(self, claim_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.db[CLAIMS].find_one({"_id": claim_id}, HIDDEN)
        return doc

    async def find_claims(
        self,
        *,
        state: str | None = None,
        benefit: str | None = None,
        region: str | None = None,
        month_from: str | None = None,
        month_to: str | None = None,
        worker_id: str | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int]:
        """Claims matching every filter given, newest filed first, and how many match."""
        where: dict[str, Any] = {}
        if state:
            where["state"] = state
        if benefit:
            where["benefit"] = benefit
        if worker_id:
            where["worker_id"] = worker_id
        if region:
            where["district_code"] = {"$regex": f"^{re.escape(region)}"}
        months: dict[str, str] = {}
        if month_from:
            months["$gte"] = month_from
        if month_to:
            months["$lte"] = month_to
        if months:
            where["incident_month"] = months
        coll = self.db[CLAIMS]
        found = (
            await coll.find(where, LIST_FIELDS)
            .sort([("filed_at", DESCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
            .to_list()
        )
        total = await coll.count_documents(where)
        return found, total
