"""Registration's repository: sponsors, programmes and workers in MongoDB. It persists what the
domain decided, each change with its events in one document (through the unit of work); the
rules and their messages live in the domain and the handlers."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from bpu_registration.domain import Identity, Occupation, Programme, Sponsor, Worker
from bpu_shared.events import BenefitProgramme, Event, SponsorKind
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.month import Month
from bpu_shared.service import Repository, Runtime
from bpu_shared.store import prefix_query

SPONSORS, PROGRAMMES, WORKERS = "sponsors", "programmes", "workers"


class NikTaken(Exception):
    """The store's unique NIK index refused a worker; ``programme_id`` holds the NIK now."""

    def __init__(self, programme_id: str | None) -> None:
        super().__init__(programme_id)
        self.programme_id = programme_id


class RegistrationRepository(Repository):
    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]] = (SPONSORS, PROGRAMMES, WORKERS)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        db = runtime.db
        self.sponsors = db[SPONSORS]
        self.programmes = db[PROGRAMMES]
        self.workers = db[WORKERS]

    async def ensure_indexes(self) -> None:
        await self.sponsors.create_index([("region_code", ASCENDING)])
        await self.programmes.create_index([("sponsor_id", ASCENDING)])
        await self.workers.create_index([("nik", ASCENDING)], unique=True)
        await self.workers.create_index([("programme_id", ASCENDING)])
        await self.workers.create_index([("village_code", ASCENDING)])

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
        doc = await self.sponsors.find_one({"_id": sponsor_id}, OUTBOX_FIELDS)
        return _sponsor(doc) if doc else None

    async def list_sponsors(
        self, region_prefix: str | None, limit: int, skip: int
    ) -> list[Sponsor]:
        docs = (
            await self.sponsors.find(prefix_query("region_code", region_prefix), OUTBOX_FIELDS)
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
        }
        await self.uow.insert(PROGRAMMES, doc, events)

    async def programme(self, programme_id: str) -> tuple[Programme, int] | None:
        """The programme and how many workers it has enrolled."""
        doc = await self.programmes.find_one({"_id": programme_id}, OUTBOX_FIELDS)
        if doc is None:
            return None
        return Programme.model_validate({**doc, "programme_id": doc["_id"]}), int(doc["enrolled"])

    async def take_seat(self, programme_id: str) -> bool:
        """One place of the programme's quota; False when none is left. One atomic update, so
        concurrent enrolments cannot overshoot the quota."""
        doc = await self.programmes.find_one_and_update(
            {"_id": programme_id, "seats_left": {"$gt": 0}},
            {"$inc": {"enrolled": 1, "seats_left": -1}},
            projection={"_id": 1},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def give_back_seat(self, programme_id: str) -> None:
        await self.programmes.update_one(
            {"_id": programme_id}, {"$inc": {"enrolled": -1, "seats_left": 1}}
        )

    # -- workers ---------------------------------------------------------------------------

    async def add_worker(self, worker: Worker, events: list[Event]) -> None:
        """Store the worker with its events; ``NikTaken`` when its NIK is stored already."""
        doc = {
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
            "programme_id": worker.programme_id,
            "sponsor_id": worker.sponsor_id,
            "benefits": [b.value for b in worker.benefits],
            "cover_start": str(worker.cover_start),
            "registered_at": worker.registered_at,
        }
        try:
            await self.uow.insert(WORKERS, doc, events)
        except DuplicateKeyError:
            existing = await self.workers.find_one(
                {"nik": worker.identity.nik}, {"programme_id": 1}
            )
            raise NikTaken(existing["programme_id"] if existing else None) from None

    async def worker(self, worker_id: str) -> Worker | None:
        doc = await self.workers.find_one({"_id": worker_id}, OUTBOX_FIELDS)
        return _worker(doc) if doc else None


def _sponsor(doc: dict[str, Any]) -> Sponsor:
    return Sponsor(
        doc["_id"], doc["name"], SponsorKind(doc["kind"]), doc["region_code"], doc["region_name"]
    )


def _worker(doc: dict[str, Any]) -> Worker:
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
        programme_id=doc["programme_id"],
        sponsor_id=doc["sponsor_id"],
        benefits=tuple(BenefitProgramme(b) for b in doc["benefits"]),
        cover_start=Month.parse(doc["cover_start"]),
        registered_at=doc["registered_at"],
    )
