"""Exactly-once in effect, without transactions, for every kind of effect a handler has.

- **Facts** (``Facts.insert_once``): what happened, keyed deterministically (a worker enrolled
  is keyed by its worker id) and inserted once. The same event delivered again, published
  twice at other offsets, or replayed after the broker lost its data finds its fact there and
  changes nothing.
- **Counters** (``Tally``): totals derived from facts. A fact is inserted marked "to tally";
  one process at a time (a lease) takes such facts in numbered batches and adds each batch to
  the counter documents, and every counter document remembers the numbers of the last batches
  it added, guarded in the update's filter. A batch whose process died half-way is finished by
  the next holder with the same number, so a counter already holding it is left alone and the
  others get it: each fact is counted once, whatever crashed between which two writes.
  Counters never depend on Kafka offsets, so they survive redelivery with other batch
  boundaries, rebalances between replicas, and offsets starting again at 0.
- **State transitions** (``apply_once``): an aggregate changed by an event remembers the ids of
  the last events applied to it, guarded in the same single-document update that changes it,
  and the update's filter also names the state it expects.

Why numbered batches are safe: a fact is claimed by exactly one batch (the claim's filter asks
for an unclaimed fact); a batch's facts are fixed before any counter moves (the batch record is
written first and the claim repeated, idempotently, on resume); a batch number is drawn from
the lease document only by the live holder; a counter skips a batch it already holds. The ring
of remembered batch numbers is long (``ring``) next to the batches that can be unfinished at
once: only the holder counts, and it finishes unfinished batches before drawing new ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop, LeaseLost
from bpu_shared.messaging.outbox import merge_updates

log = logging.getLogger(__name__)

#: The fact's tally state: 0 waiting, k > 0 claimed by batch k, -1 counted.
TALLY_FIELD = "tally"
WAITING, COUNTED = 0, -1
#: Batch numbers a counter remembers / event ids an aggregate remembers.
APPLIED_BATCHES = "tally_batches"
APPLIED_EVENTS = "applied_events"
DUPLICATE_KEY = 11000

#: (counter id, increments, fields written when the counter is created)
Contribution = tuple[str, Mapping[str, int], Mapping[str, Any]]


class Facts:
    """A collection of facts inserted once by deterministic id, each waiting to be tallied."""

    def __init__(self, coll: AsyncCollection) -> None:
        self.coll = coll

    async def insert_once(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        """Insert the facts not there yet, in one bulk write; how many were new."""
        if not facts:
            return 0
        result = await self.coll.bulk_write(
            [
                UpdateOne(
                    {"_id": key}, {"$setOnInsert": {**fields, TALLY_FIELD: WAITING}}, upsert=True
                )
                for key, fields in facts.items()
            ],
            ordered=False,
        )
        return int(result.upserted_count)


async def apply_once(
    coll: AsyncCollection,
    aggregate_id: str,
    event_id: str,
    update: Mapping[str, Any],
    *,
    expect: Mapping[str, Any] | None = None,
    ring: int = 64,
) -> dict[str, Any] | None:
    """Apply ``update`` to one aggregate unless ``event_id`` was applied to it already; the
    document after, or None when the event was applied before or ``expect`` (the state the
    transition starts from) no longer holds."""
    return await coll.find_one_and_update(
        {"_id": aggregate_id, APPLIED_EVENTS: {"$nin": [event_id]}, **(expect or {})},
        merge_updates(
            dict(update), {"$push": {APPLIED_EVENTS: {"$each": [event_id], "$slice": -ring}}}
        ),
        return_document=ReturnDocument.AFTER,
    )


async def _no_fault(point: str) -> None:
    return None


class Tally(LeasedLoop):
    """Keeps ``counters`` up to date with the waiting facts of ``facts``."""

    def __init__(
        self,
        *,
        name: str,
        facts: AsyncCollection,
        counters: AsyncCollection,
        batches: AsyncCollection,
        contributions: Callable[[Mapping[str, Any]], Iterable[Contribution]],
        lease: Lease,
        batch_size: int = 1000,
        ring: int = 128,
        interval: float = 0.5,
    ) -> None:
        super().__init__(f"tally {name}", lease, interval)
        self.tally_name = name
        self.facts = facts
        self.counters = counters
        self.batches = batches
        self.contributions = contributions
        self.batch_size = batch_size
        self.ring = ring
        self.counter_chunk = 1000
        # Each tally remembers its own batch numbers: two tallies may add to one counter.
        self.applied_field = f"{APPLIED_BATCHES}_{name.replace('-', '_')}"
        #: Called after each write with its name; tests make it raise to crash there.
        self.after_write: Callable[[str], Awaitable[None]] = _no_fault

    async def ensure_indexes(self) -> None:
        await self.facts.create_index(TALLY_FIELD)
        await self.batches.create_index([("tally", 1), ("batch", 1)])

    # -- one pass ------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Finish unfinished batches, then count every waiting fact; how many were counted.
        Does nothing unless this process holds the lease."""
        if not self.lease.held and not await self.lease.acquire():
            return 0
        for batch in await self.batches.find({"tally": self.tally_name}).sort("batch", 1).to_list():
            log.info(
                "tally %s: finishing batch %d left by a stopped process",
                self.tally_name,
                batch["batch"],
            )
            await self._finish(batch["batch"], batch["ids"])
        total = 0
        while True:
            ids = [
                doc["_id"]
                for doc in await self.facts.find({TALLY_FIELD: WAITING}, {"_id": 1})
                .limit(self.batch_size)
                .to_list()
            ]
            if not ids:
                return total
            number = await self._draw_number()
            await self.batches.insert_one(
                {
                    "_id": f"{self.tally_name}|{number:012d}",
                    "tally": self.tally_name,
                    "batch": number,
                    "ids": ids,
                }
            )
            await self.after_write("batch-recorded")
            total += await self._finish(number, ids)
            if len(ids) < self.batch_size:
                return total

    async def _draw_number(self) -> int:
        """The next batch number, drawn from the lease document by its live holder only."""
        doc = await self.lease.coll.find_one_and_update(
            {"_id": self.lease.name, "owner": self.lease.owner, "expires": {"$gt": time.time()}},
            {"$inc": {"batch": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise LeaseLost(self.lease.name)
        return int(doc["batch"])

    async def _finish(self, number: int, ids: list[Any]) -> int:
        # Claim again: a process that died before claiming every fact leaves some waiting.
        await self.facts.update_many(
            {"_id": {"$in": ids}, TALLY_FIELD: WAITING}, {"$set": {TALLY_FIELD: number}}
        )
        await self.after_write("claimed")
        docs = await self.facts.find({"_id": {"$in": ids}, TALLY_FIELD: number}).to_list()
        if docs:
            if not self.lease.held and not await self.lease.acquire():
                raise LeaseLost(self.lease.name)
            await self._add(number, docs)
            await self.facts.update_many(
                {"_id": {"$in": ids}, TALLY_FIELD: number}, {"$set": {TALLY_FIELD: COUNTED}}
            )
            await self.after_write("marked")
        await self.batches.delete_one({"_id": f"{self.tally_name}|{number:012d}"})
        await self.after_write("batch-closed")
        return len(docs)

    async def _add(self, number: int, docs: list[dict[str, Any]]) -> None:
        increments: dict[str, dict[str, int]] = {}
        created: dict[str, Mapping[str, Any]] = {}
        for doc in docs:
            for counter_id, inc, fields in self.contributions(doc):
                target = increments.setdefault(counter_id, {})
                for field, amount in inc.items():
                    target[field] = target.get(field, 0) + amount
                created.setdefault(counter_id, fields)
        ops = [
            UpdateOne(
                {"_id": counter_id, self.applied_field: {"$nin": [number]}},
                {
                    "$inc": inc,
                    "$setOnInsert": dict(created[counter_id]),
                    "$push": {self.applied_field: {"$each": [number], "$slice": -self.ring}},
                },
                upsert=True,
            )
            for counter_id, inc in increments.items()
        ]
        for start in range(0, len(ops), self.counter_chunk):
            try:
                await self.counters.bulk_write(
                    ops[start : start + self.counter_chunk], ordered=False
                )
            except BulkWriteError as exc:
                # A counter already holding this batch is not matched by the filter, so the
                # upsert collides with it: that counter is done, the others were written.
                other = [
                    e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY
                ]
                if other:
                    raise
            await self.after_write("counted")

    async def run_pass(self) -> None:
        await self.run_once()
