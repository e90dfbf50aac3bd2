"""Reporting's projections in MongoDB: one document per worker covered and per claim paid,
written with deterministic ids and upserts so a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bpu_reporting.domain import LEVEL_FIELDS, RegionView
from bpu_shared.events import ClaimPaid, WorkerRegistered

COVERED_WORKERS, PAID_CLAIMS = "covered_workers", "paid_claims"


class ReportingStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.workers = db[COVERED_WORKERS]
        self.claims = db[PAID_CLAIMS]

    async def ensure_indexes(self) -> None:
        for field in LEVEL_FIELDS.values():
            await self.workers.create_index([(field, ASCENDING)])
            await self.claims.create_index([(field, ASCENDING)])

    async def apply_workers_registered(self, events: Sequence[WorkerRegistered]) -> None:
        await _insert_once(
            self.workers,
            {
                e.payload.worker_id: {
                    **e.payload.model_dump(
                        include={
                            "province_code",
                            "regency_code",
                            "district_code",
                            "village_code",
                            "programme_id",
                            "sponsor_id",
                            "occupation",
                            "cover_start",
                            "registered_at",
                        }
                    ),
                    "event_id": str(e.event_id),
                }
                for e in events
            },
        )

    async def apply_claims_paid(self, events: Sequence[ClaimPaid]) -> None:
        await _insert_once(
            self.claims,
            {
                e.payload.claim_id: e.payload.model_dump(
                    mode="json",
                    include={
                        "province_code",
                        "regency_code",
                        "district_code",
                        "benefit",
                        "kind",
                        "amount_rupiah",
                    },
                )
                | {"paid_at": e.payload.paid_at}
                for e in events
            },
        )

    async def worker_counts(self, view: RegionView) -> tuple[int, dict[str, int]]:
        """Workers covered in the region, and per child region (none below a village)."""
        match = {view.match_field: view.code} if view.match_field else {}
        # Grouped on one field (the embedded store groups a compound _id wrongly); a village is
        # grouped on its own code, since a plain count reads every document there.
        group_by = view.breakdown_field or view.match_field
        rows = await (
            await self.workers.aggregate(
                [{"$match": match}, {"$group": {"_id": f"${group_by}", "n": {"$sum": 1}}}]
            )
        ).to_list()
        counts = {row["_id"]: int(row["n"]) for row in rows if row["_id"] is not None}
        total = sum(counts.values())
        return total, (counts if view.breakdown_field else {})

    async def benefits_paid(self, view: RegionView) -> tuple[int, int]:
        """Claims paid in the region and their total in Rupiah."""
        match = {view.match_field: view.code} if view.match_field else {}
        rows = await (
            await self.claims.aggregate(
                [
                    {"$match": match},
                    {
                        "$group": {
                            "_id": None,
                            "n": {"$sum": 1},
                            "total": {"$sum": "$amount_rupiah"},
                        }
                    },
                ]
            )
        ).to_list()
        return (rows[0]["n"], rows[0]["total"]) if rows else (0, 0)


async def _insert_once(coll: AsyncCollection, documents: dict[str, dict[str, Any]]) -> None:
    """One bulk write of upserts keyed by the aggregate id with ``$setOnInsert``: an event
    applied again finds its document and changes nothing."""
    await coll.bulk_write(
        [
            UpdateOne({"_id": key}, {"$setOnInsert": fields}, upsert=True)
            for key, fields in documents.items()
        ],
        ordered=False,
    )
