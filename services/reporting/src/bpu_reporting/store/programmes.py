"""The programmes projection: each sponsor's programme as its newest event left it (collection
``programmes``, ``_id`` = programme id), so monitoring knows who budgeted how much where and a
sponsor filter knows its programmes. A projection: a rebuild drops it and replays it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from bpu_shared.regions import ancestors
from bpu_shared.store import set_if_newer

PROGRAMMES = "programmes"

#: The fields a programme event sets (ProgrammeOpened/Changed/Closed all carry them whole).
PROGRAMME_FIELDS = (
    "sponsor_id",
    "region_code",
    "name",
    "budget_year",
    "budget_rupiah",
    "quota",
    "start_month",
    "end_month",
    "status",
    "funding_source",
)


class ProgrammeStore:
    """Writes and reads of ``programmes`` (a mixin of ``ReportingRepository``)."""

    db: AsyncDatabase[Any]

    async def ensure_programme_indexes(self) -> None:
        await self.db[PROGRAMMES].create_index([("regions", ASCENDING)])

    async def apply_programmes(self, writes: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
        """Each (programme id, fields with the event's ``as_of``, a string that sorts as the
        events happened) set unless a newer event was
        applied to it: the same events in any order, any number of times, leave the same
        documents. How many documents changed."""
        changed = 0
        for programme_id, fields in writes:
            region = str(fields["region_code"])
            # every region the programme is in, so a province's programmes are one match
            doc = {**fields, "regions": [r for r in ancestors(region) if r]}
            changed += await set_if_newer(self.db[PROGRAMMES], programme_id, doc)
        return changed

    async def programmes(
        self,
        sponsor_id: str | None = None,
        region_prefix: str | None = None,
        year: int | None = None,
    ) -> list[dict[str, Any]]:
        """The programmes of a sponsor, in a region (its own or any region below it) and of a
        budget year, each as ``{"programme_id", "sponsor_id", "region_code", "name",
        "budget_year", "budget_rupiah", "quota", "start_month", "end_month", "status",
        "funding_source", "occurred_at", "as_of"}`` (``occurred_at`` the ISO time of the event
        that left it so), by programme id."""
        query: dict[str, Any] = {}
        if region_prefix:
            query["regions"] = {"$in": [region_prefix]}  # a plain value never matches an element
        if sponsor_id is not None:
            query["sponsor_id"] = sponsor_id
        if year is not None:
            query["budget_year"] = year
        found = await self.db[PROGRAMMES].find(query).to_list()
        return sorted(
            (
                {
                    "programme_id": doc["_id"],
                    **{k: v for k, v in doc.items() if k not in ("_id", "regions")},
                }
                for doc in found
            ),
            key=lambda p: str(p["programme_id"]),
        )
