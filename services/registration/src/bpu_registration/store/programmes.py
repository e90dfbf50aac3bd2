"""Sponsors and programmes in the store; a programme's seat counter is its quota, enforced by
one atomic update per take."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bpu_registration.domain import Programme, Sponsor
from bpu_shared.events import Event, SponsorKind
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from bpu_shared.store import prefix_query

SPONSORS, PROGRAMMES = "sponsors", "programmes"


class ProgrammeStore:
    db: AsyncDatabase
    uow: UnitOfWork

    @property
    def sponsors(self) -> AsyncCollection:
        return self.db[SPONSORS]

    @property
    def programmes(self) -> AsyncCollection:
        return self.db[PROGRAMMES]

    async def ensure_programme_indexes(self) -> None:
        await self.db[SPONSORS].create_index([("region_code", ASCENDING)])
        await self.db[PROGRAMMES].create_index([("sponsor_id", ASCENDING)])
        await self.db[PROGRAMMES].create_index([("region_code", ASCENDING)])

    # -- sponsors --------------------------------------------------------------------------

    async def add_sponsor(self, sponsor: Sponsor, events: list[Event]) -> None:
        doc = {
            "_id": sponsor.sponsor_id,
            "name": sponsor.name,
            "kind": sponsor.kind.value,
            "region_code": sponsor.region_code,
            "region_name": sponsor.region_name,
        }
        await self.uow.insert(SPONSORS, doc, events)

    async def sponsor(self, sponsor_id: str) -> Sponsor | None:
        doc = await self.db[SPONSORS].find_one({"_id": sponsor_id}, OUTBOX_FIELDS)
        return _sponsor(doc) if doc else None

    async def list_sponsors(
        self, region_prefix: str | None, limit: int, skip: int
    ) -> list[Sponsor]:
        docs = (
            await self.db[SPONSORS]
            .find(prefix_query("region_code", region_prefix), OUTBOX_FIELDS)
            .sort("_id", 1)
            .skip(skip)
            .limit(limit)
            .to_list()
        )
        return [_sponsor(d) for d in docs]

    # -- programmes ------------------------------------------------------------------------

    async def add_programme(self, programme: Programme, events: list[Event]) -> None:
        doc = {
            **programme.model_dump(mode="json", exclude={"programme_id"}),
            "_id": programme.programme_id,
            "enrolled": 0,
            "seats_left": programme.quota,
            "version": 0,
        }
        await self.uow.insert(PROGRAMMES, doc, events)

    async def programme(self, programme_id: str) -> tuple[Programme, int] | None:
        """The programme and how many workers hold a seat in it."""
        found = await self.programme_with_version(programme_id)
        return None if found is None else (found[0], found[1])

    async def programme_with_version(self, programme_id: str) -> tuple[Programme, int, int] | None:
        """The programme, its seats taken and its version (for ``save_programme``)."""
        doc = await self.db[PROGRAMMES].find_one({"_id": programme_id}, OUTBOX_FIELDS)
        if doc is None:
            return None
        programme = Programme.model_validate({**doc, "programme_id": doc["_id"]})
        return programme, int(doc["enrolled"]), int(doc.get("version", 0))

    async def list_programmes(
        self, sponsor_id: str | None, region_prefix: str | None, limit: int, skip: int
    ) -> list[tuple[Programme, int]]:
        query = prefix_query("region_code", region_prefix)
        if sponsor_id:
            query["sponsor_id"] = sponsor_id
        docs = (
            await self.db[PROGRAMMES]
            .find(query, OUTBOX_FIELDS)
            .sort("_id", 1)
            .skip(skip)
            .limit(limit)
            .to_list()
        )
        return [
            (Programme.model_validate({**d, "programme_id": d["_id"]}), int(d["enrolled"]))
            for d in docs
        ]

    async def save_programme(
        self, programme: Programme, version: int, quota_before: int, events: list[Event]
    ) -> bool:
        """Store the changed programme if nobody changed it since ``version`` was read; the
        seat counter moves with the quota. False when it was changed meanwhile."""
        fields = programme.model_dump(mode="json", exclude={"programme_id"})
        doc = await self.uow.update(
            PROGRAMMES,
            {"_id": programme.programme_id, "version": version},
            {
                "$set": fields,
                "$inc": {"version": 1, "seats_left": programme.quota - quota_before},
            },
            events,
        )
        return doc is not None

    async def take_seats(self, programme_id: str, wanted: int) -> int:
        """Up to ``wanted`` places of the programme's quota; how many were taken (0 when the
        quota is full). Each take is one atomic update, so concurrent enrolments cannot
        overshoot the quota."""
        taken = 0
        while taken < wanted:
            doc = await self.db[PROGRAMMES].find_one({"_id": programme_id}, {"seats_left": 1})
            left = int(doc["seats_left"]) if doc else 0
            if left <= 0:
                break
            n = min(left, wanted - taken)
            moved = await self.db[PROGRAMMES].find_one_and_update(
                {"_id": programme_id, "seats_left": left},
                {"$inc": {"enrolled": n, "seats_left": -n}},
                projection={"_id": 1},
                return_document=ReturnDocument.AFTER,
            )
            if moved is not None:
                taken += n
        return taken

    async def take_seat(self, programme_id: str) -> bool:
        return await self.take_seats(programme_id, 1) == 1

    async def give_back_seats(self, programme_id: str, count: int = 1) -> None:
        if count:
            await self.db[PROGRAMMES].update_one(
                {"_id": programme_id}, {"$inc": {"enrolled": -count, "seats_left": count}}
            )

    async def give_back_seat(self, programme_id: str) -> None:
        await self.give_back_seats(programme_id, 1)


def _sponsor(doc: dict[str, Any]) -> Sponsor:
    return Sponsor(
        doc["_id"], doc["name"], SponsorKind(doc["kind"]), doc["region_code"], doc["region_name"]
    )
