"""Registration's MongoDB repository: sponsors, programmes and workers, each document carrying
the events its change caused (the outbox)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bpu_registration.domain import (
    Identity,
    Month,
    Occupation,
    Programme,
    Sponsor,
    Worker,
)
from bpu_shared.errors import Conflict
from bpu_shared.events import BenefitProgramme, Event, SponsorKind
from bpu_shared.messaging.outbox import OUTBOX_FIELDS, with_outbox

SPONSORS, PROGRAMMES, WORKERS = "sponsors", "programmes", "workers"
OUTBOX_COLLECTIONS = (SPONSORS, PROGRAMMES, WORKERS)


class RegistrationStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
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

    async def add_sponsor(self, sponsor: Sponsor, event: Event) -> None:
        doc = {
            "_id": sponsor.sponsor_id,
            "name": sponsor.name,
            "kind": sponsor.kind.value,
            "region_code": sponsor.region_code,
            "region_name": sponsor.region_name,
        }
        await self.sponsors.insert_one(with_outbox(doc, event))

    async def sponsor(self, sponsor_id: str) -> Sponsor | None:
        doc = await self.sponsors.find_one({"_id": sponsor_id}, OUTBOX_FIELDS)
        return _sponsor(doc) if doc else None

    async def list_sponsors(
        self, region_prefix: str | None, limit: int, skip: int
    ) -> list[Sponsor]:
        query = _prefix_query("region_code", region_prefix)
        docs = (
            await self.sponsors.find(query, OUTBOX_FIELDS)
            .sort("_id", 1)
            .skip(skip)
            .limit(limit)
            .to_list()
        )
        return [_sponsor(d) for d in docs]

    # -- programmes ------------------------------------------------------------------------

    async def add_programme(self, programme: Programme, event: Event) -> None:
        doc = {
            "_id": programme.programme_id,
            "sponsor_id": programme.sponsor_id,
            "name": programme.name,
            "region_code": programme.region_code,
            "budget_year": programme.budget_year,
            "budget_rupiah": programme.budget_rupiah,
            "quota": programme.quota,
            "enrolled": 0,
            "seats_left": programme.quota,
            "benefits": [b.value for b in programme.benefits],
            "start_month": str(programme.start_month),
            "end_month": str(programme.end_month),
            "min_age": programme.min_age,
            "max_age": programme.max_age,
        }
        await self.programmes.insert_one(with_outbox(doc, event))

    async def programme(self, programme_id: str) -> tuple[Programme, int] | None:
        """The programme and how many workers it has enrolled."""
        doc = await self.programmes.find_one({"_id": programme_id}, OUTBOX_FIELDS)
        if doc is None:
            return None
        return _programme(doc), int(doc.get("enrolled", 0))

    async def enrol(self, worker: Worker, quota: int, event: Event) -> None:
        """Take a place of the programme's quota, then store the worker with its event; the place
        is given back when the worker cannot be stored (a NIK already enrolled)."""
        if not await self.reserve_seat(worker.programme_id):
            raise Conflict(
                f"programme {worker.programme_id} has filled its quota of {quota}",
                field="programme_id",
            )
        try:
            await self.add_worker(worker, event)
        except BaseException:
            await self.release_seat(worker.programme_id)
            raise

    async def reserve_seat(self, programme_id: str) -> bool:
        """Take one place of the programme's quota; False when it is full. One atomic update,
        so concurrent enrolments cannot overshoot the quota."""
        doc = await self.programmes.find_one_and_update(
            {"_id": programme_id, "seats_left": {"$gt": 0}},
            {"$inc": {"enrolled": 1, "seats_left": -1}},
            projection={"_id": 1},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def release_seat(self, programme_id: str) -> None:
        await self.programmes.update_one(
            {"_id": programme_id}, {"$inc": {"enrolled": -1, "seats_left": 1}}
        )

    # -- workers ---------------------------------------------------------------------------

    async def add_worker(self, worker: Worker, event: Event) -> None:
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
            await self.workers.insert_one(with_outbox(doc, event))
        except DuplicateKeyError:
            existing = await self.workers.find_one(
                {"nik": worker.identity.nik}, {"programme_id": 1}
            )
            programme = existing["programme_id"] if existing else "another programme"
            raise Conflict(
                f"this NIK is already enrolled (programme {programme}); one NIK is funded by "
                "at most one sponsor programme",
                field="nik",
            ) from None

    async def worker(self, worker_id: str) -> Worker | None:
        doc = await self.workers.find_one({"_id": worker_id}, OUTBOX_FIELDS)
        return _worker(doc) if doc else None


def _prefix_query(field: str, prefix: str | None) -> dict[str, Any]:
    if not prefix:
        return {}
    return {"$or": [{field: prefix}, {field: {"$regex": "^" + prefix.replace(".", r"\.") + r"\."}}]}


def _sponsor(doc: dict[str, Any]) -> Sponsor:
    return Sponsor(
        doc["_id"], doc["name"], SponsorKind(doc["kind"]), doc["region_code"], doc["region_name"]
    )


def _programme(doc: dict[str, Any]) -> Programme:
    return Programme(
        programme_id=doc["_id"],
        sponsor_id=doc["sponsor_id"],
        name=doc["name"],
        region_code=doc["region_code"],
        budget_year=doc["budget_year"],
        budget_rupiah=doc["budget_rupiah"],
        quota=doc["quota"],
        benefits=tuple(BenefitProgramme(b) for b in doc["benefits"]),
        start_month=Month.parse(doc["start_month"]),
        end_month=Month.parse(doc["end_month"]),
        min_age=doc["min_age"],
        max_age=doc["max_age"],
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
