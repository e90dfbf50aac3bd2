"""Reporting's projections in MongoDB: one document per worker covered and per claim paid,
written with deterministic ids and upserts so a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, UpdateOne
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
        ops = [
            UpdateOne(
                {"_id": e.payload.worker_id},
                {
                    "$setOnInsert": {
                        "province_code": e.payload.province_code,
                        "regency_code": e.payload.regency_code,
                        "district_code": e.payload.district_code,
                        "village_code": e.payload.village_code,
                        "programme_id": e.payload.programme_id,
                        "sponsor_id": e.payload.sponsor_id,
                        "occupation": e.payload.occupation,
                        "cover_start": e.payload.cover_start,
                        "registered_at": e.payload.registered_at,
                        "event_id": str(e.event_id),
                    }
                },
                upsert=True,
            )
            for e in events
        ]
        await self.workers.bulk_write(ops, ordered=False)

    async def apply_claims_paid(self, events: Sequence[ClaimPaid]) -> None:
        ops = [
            UpdateOne(
                {"_id": e.payload.claim_id},
                {
                    "$setOnInsert": {
                        "province_code": e.payload.province_code,
                        "regency_code": e.payload.regency_code,
                        "district_code": e.payload.district_code,
                        "benefit": e.payload.benefit.value,
                        "kind": e.payload.kind,
                        "amount_rupiah": e.payload.amount_rupiah,
                        "paid_at": e.payload.paid_at,
                    }
                },
                upsert=True,
            )
            for e in events
        ]
        await self.claims.bulk_write(ops, ordered=False)

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
