"""Finding workers: the list query behind ``GET /workers`` and the index it reads.

Pages follow one compound index, (domicile village code, card number): a region is a range
of village codes, so the first page and every later one are index range reads that stop after
a page, on MongoDB and on the embedded store alike. Not ``_id`` order: the embedded store
answers a range on ``_id`` (``{"_id": {"$gt": …}}``) by reading every document in Python, and
``prefix_query``'s ``$or`` the same way (both seen with its ``explain``; the e2e suite checks
the plans of these queries)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from bpu_registration.domain import EnrolmentStatus, Occupation, Worker
from bpu_registration.store.workers import WORKER_FIELDS, WORKERS, to_worker
from bpu_shared.month import Month
from bpu_shared.regions import within

#: The order of every listing, and the index that serves it.
ORDER: list[tuple[str, int]] = [("village_code", ASCENDING), ("card_number", ASCENDING)]


@dataclass(frozen=True)
class WorkerSearch:
    """What a listing asks for; the filters combine (all must hold)."""

    region: str | None = None  # a region-code prefix of the domicile; None is the country
    programme_id: str | None = None
    occupation: Occupation | None = None
    #: The worker's status; with ``programme_id``, the status of its enrolment in that programme.
    status: EnrolmentStatus | None = None
    month: Month | None = None  # some programme pays for the worker in this month


@dataclass(frozen=True)
class After:
    """Where the previous page ended: its last worker and the village it was listed under."""

    village_code: str
    worker_id: str


@dataclass(frozen=True)
class Position:
    """A place in the listing order: a village code and a card number (which never changes)."""

    village_code: str
    card_number: str


@dataclass(frozen=True)
class SearchPage:
    workers: list[Worker]
    more: bool  # another page follows the last of ``workers``


class UnknownCursor(Exception):
    """The page to continue from names a worker the store does not hold, or a village outside
    the region searched: it does not come from this listing."""


def search_filter(search: WorkerSearch) -> dict[str, Any]:
    """The filters other than the region, as a store query. Array fields are matched with
    ``$in``/``$nin`` (the embedded store does not match a plain value against an array)."""
    query: dict[str, Any] = {}
    status, programme = search.status, search.programme_id
    if programme is not None:
        if status is EnrolmentStatus.ACTIVE:
            query["active_programme_ids"] = {"$in": [programme]}
        else:
            query["programme_ids"] = {"$in": [programme]}
            if status is EnrolmentStatus.ENDED:
                query["active_programme_ids"] = {"$nin": [programme]}
    elif status is not None:
        query["status"] = status.value
    if search.occupation is not None:
        query["occupation"] = search.occupation.value
    if search.month is not None:
        query["months"] = {"$in": [str(search.month)]}
    return query


def region_range(region: str | None) -> tuple[str, str | None]:
    """The village codes inside ``region`` as an index range [low, high): the code itself and
    every code that begins with it and a dot ("/" is the character after "." in ASCII, and no
    region code has a character between them). The country is everything from ""."""
    if not region:
        return "", None
    return region, region + "/"


def page_queries(search: WorkerSearch, after: Position | None) -> list[dict[str, Any]]:
    """The store queries of one page, read in ``ORDER`` one after the other until the page is
    full: from the start of the region, or from ``after`` — the rest of its village by card
    number, then the villages after it. Two queries rather than one ``$or``, which the
    embedded store would answer by reading every document."""
    base = search_filter(search)
    low, high = region_range(search.region)
    upper: dict[str, str] = {} if high is None else {"$lt": high}
    if after is None:
        return [{**base, "village_code": {"$gte": low, **upper}}]
    return [
        {**base, "village_code": after.village_code, "card_number": {"$gt": after.card_number}},
        {**base, "village_code": {"$gt": after.village_code, **upper}},
    ]


class SearchStore:
    """The listing over the workers collection. ``search_workers`` decides which queries a page
    takes; ``_in_order`` and ``_card_number`` are its only reads."""

    db: AsyncDatabase

    async def ensure_search_indexes(self) -> None:
        await self.db[WORKERS].create_index(ORDER)

    async def search_workers(
        self, search: WorkerSearch, limit: int, after: After | None = None
    ) -> SearchPage:
        """Up to ``limit`` workers matching ``search`` in ``ORDER``, after ``after``;
        ``UnknownCursor`` when ``after`` does not come from this listing."""
        position = None
        if after is not None:
            # The cursor names the worker, not its card number (which stays out of URLs); a
            # card number never changes, so the position is the same whenever it is read.
            card = await self._card_number(after.worker_id)
            if card is None or not within(after.village_code, search.region or ""):
                raise UnknownCursor(after.worker_id)
            position = Position(after.village_code, card)
        found: list[dict[str, Any]] = []
        for query in page_queries(search, position):
            found += await self._in_order(query, limit + 1 - len(found))
            if len(found) > limit:
                break
        return SearchPage([to_worker(d) for d in found[:limit]], more=len(found) > limit)

    async def _in_order(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        cursor = self.db[WORKERS].find(query, WORKER_FIELDS).sort(ORDER).limit(limit)
        return await cursor.to_list()

    async def _card_number(self, worker_id: str) -> str | None:
        doc = await self.db[WORKERS].find_one({"_id": worker_id}, {"card_number": 1})
        return None if doc is None else str(doc["card_number"])
