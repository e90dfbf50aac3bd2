"""Exactly-once in effect, without transactions, for every kind of effect a handler has.

- **Facts** (``Facts``): what happened, keyed deterministically (a worker enrolled is keyed by
  its worker id) and stored once. The same event delivered again, published twice at other
  offsets, or replayed after the broker lost its data finds its fact there and changes nothing.
- **Counters** (``Tally``): totals derived from facts, kept by one process at a time (a lease)
  in numbered batches. Every counter remembers the batch numbers it added (see below), guarded
  in the update's filter, so a batch finished by the next holder after its process died
  half-way leaves the counters that have it alone and adds to the others: each fact is counted
  once, whatever crashed between which two writes. Counters never depend on Kafka offsets, so
  they survive redelivery with other batch boundaries, rebalances between replicas, and offsets
  starting again at 0.
- **State transitions** (``apply_once``): an aggregate changed by an event remembers the ids of
  the last events applied to it, guarded in the same single-document update that changes it,
  and the update's filter also names the state it expects.

How facts reach a batch. A consumer *records* the facts of its batch of events (``record``):
one inbox document holding them as one BSON blob. The tally takes the oldest inbox documents,
records its batch (number, fact ids, inbox document ids), then inserts each fact itself,
carrying the batch number in its ``tally`` field; a fact stored already (by an earlier batch,
or an earlier attempt at this one) is refused by its ``_id`` and keeps its number. Facts can
also be stored *waiting* (``insert_once``, ``tally`` 0: facts kept before the inbox existed),
and a batch then claims them with one ``update_many`` setting ``tally`` to its number where it
is still 0. Either way a batch counts the facts of its ids that carry its number, adds their
contributions to the counters, deletes its inbox documents, and deletes its record. A counted
fact keeps its number: only inbox documents and waiting facts are looked for.

Why numbered batches are safe: a fact carries exactly one batch number, set once (inserted
with it, its ``_id`` being unique, or claimed from 0), and only for ids recorded in that
batch's record, so a process that lost its lease and writes late cannot give a batch facts
that came after; before any counter moves, every fact the batch can ever have carries its
number (the record is written first, and whoever finishes a batch repeats its inserts and
claims, which are idempotent); a batch number is drawn from the lease document only by the
live holder; a counter skips a batch it holds. Each tally remembers a counter's batch numbers
in ``ring`` slots, top-level fields named for ``number % ring`` (cheap for the store to test and
set), so a counter recognises a batch while fewer than ``ring`` batches have been drawn since,
as a ring of its last ``ring`` numbers would; that is long next to the batches that can be
unfinished at once (only the holder counts, checking its lease before each counter write, and
it finishes unfinished batches before drawing new ones).

What it costs the store, per fact: the inbox (a small share of a blob), one insert, and a
share of the counter updates, which are one per counter per batch (counters adding the same
amounts in one ``update_many``). So batches are large (``batch_size``), and while facts stream
in the tally lets them gather for a few seconds (``settle``, ``quiet``): a province-wide import
touches about as many village counters with 2,000 facts as with 10,000. The facts a batch
inserted or claimed are the ones it counts, read back from the store only when it did not
write every one of them itself (a resumed batch, facts stored before).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import bson
from bson import Binary, CodecOptions
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop, LeaseLost
from bpu_shared.messaging.outbox import merge_updates
from bpu_shared.store import insert_new

log = logging.getLogger(__name__)

#: The fact's tally state: 0 waiting, k > 0 inserted or claimed by batch k (and counted once
#: batch k's record is gone). Facts counted before batch numbers were kept hold -1.
TALLY_FIELD = "tally"
WAITING, COUNTED = 0, -1
#: Event ids an aggregate remembers; the array in which counters remembered batch numbers
#: before they kept them in slots (still honoured for batches recorded then).
APPLIED_EVENTS = "applied_events"
APPLIED_BATCHES = "tally_batches"
DUPLICATE_KEY = 11000

#: (counter id, increments, fields written when the counter is created)
Contribution = tuple[str, Mapping[str, int], Mapping[str, Any]]


_FACTS_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def recorded_facts(delivery: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The facts of one inbox document, as they were recorded."""
    facts: list[dict[str, Any]] = bson.decode(bytes(delivery["facts"]), _FACTS_CODEC)["facts"]
    return facts


def inbox_of(facts: AsyncCollection) -> AsyncCollection:
    """Where consumers record facts for the tally of ``facts``: ``<facts>_inbox``."""
    return facts.database[f"{facts.name}_inbox"]


class Facts:
    """Facts, each inserted once by its deterministic id and counted once by a tally.

    Consumers ``record`` the facts of a batch of events: one inbox document, which the tally
    turns into facts itself, each inserted carrying the number of the batch that counts it, so
    a fact is written once. ``insert_once`` stores facts waiting to be claimed by a batch
    instead (a second write per fact): facts kept before the inbox existed, and tests of what a
    consumer did then."""

    def __init__(self, coll: AsyncCollection) -> None:
        self.coll = coll
        self.inbox = inbox_of(coll)

    async def record(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        """Keep the facts for the tally, in one write; how many were kept. A fact recorded
        again (the same event delivered again) is inserted by the tally only the first time.
        The facts travel as one BSON blob: the embedded store stores and returns bytes for
        a fraction of what it spends walking the same facts as subdocuments."""
        if not facts:
            return 0
        blob = bson.encode({"facts": [{**f, "_id": key} for key, f in facts.items()]})
        await self.inbox.insert_one({"count": len(facts), "facts": Binary(blob)})
        return len(facts)

    async def insert_once(self, facts: Mapping[str, Mapping[str, Any]]) -> int:
        """Insert the facts not there yet, waiting for a tally, in one unordered bulk insert;
        how many were new. A fact already there is refused by its ``_id`` and left as it is."""
        if not facts:
            return 0
        docs = [{**fields, "_id": key, TALLY_FIELD: WAITING} for key, fields in facts.items()]
        return len(docs) - len(await insert_new(self.coll, docs))


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
    """Keeps ``counters`` up to date with the facts recorded for ``facts`` and its waiting
    facts."""

    def __init__(
        self,
        *,
        name: str,
        facts: AsyncCollection,
        counters: AsyncCollection,
        batches: AsyncCollection,
        contributions: Callable[[Mapping[str, Any]], Iterable[Contribution]],
        lease: Lease,
        batch_size: int = 10_000,
        ring: int = 128,
        interval: float = 0.5,
        settle: float = 10.0,
        quiet: float = 1.0,
    ) -> None:
        super().__init__(f"tally {name}", lease, interval)
        self.tally_name = name
        self.facts = facts
        self.inbox = inbox_of(facts)
        self.counters = counters
        self.batches = batches
        self.contributions = contributions
        self.batch_size = batch_size
        self.ring = ring
        self.counter_chunk = 1000
        self.settle = settle
        self.quiet = quiet
        self._last_counted = float("-inf")
        self._recorded_meanwhile = asyncio.Event()
        # Each tally remembers its own batch numbers: two tallies may add to one counter.
        self.slot_prefix = f"tally_{name.replace('-', '_')}_"
        self.applied_field = f"{APPLIED_BATCHES}_{name.replace('-', '_')}"
        #: Called after each write with its name; tests make it raise to crash there.
        self.after_write: Callable[[str], Awaitable[None]] = _no_fault

    async def ensure_indexes(self) -> None:
        await self.facts.create_index(TALLY_FIELD)
        await self.batches.create_index([("tally", 1), ("batch", 1)])

    # -- one pass ------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Finish unfinished batches, then count every recorded and every waiting fact; how
        many were counted. Does nothing unless this process holds the lease."""
        if not self.lease.held and not await self.lease.acquire():
            return 0
        for batch in await self.batches.find({"tally": self.tally_name}).sort("batch", 1).to_list():
            log.info(
                "tally %s: finishing batch %d left by a stopped process",
                self.tally_name,
                batch["batch"],
            )
            await self._finish(
                batch["batch"],
                batch["ids"],
                deliveries=batch.get("deliveries", []),
                legacy=not batch.get("slots"),
            )
        total = 0
        while True:
            deliveries, recorded = await self._recorded()
            if not recorded:
                break
            number = await self._open(list(recorded), deliveries)
            total += await self._finish(
                number, list(recorded), list(recorded.values()), deliveries=deliveries
            )
            if len(recorded) < self.batch_size:
                break
        while True:
            waiting = await self.facts.find({TALLY_FIELD: WAITING}).limit(self.batch_size).to_list()
            if not waiting:
                return total
            ids = [doc["_id"] for doc in waiting]
            number = await self._open(ids)
            total += await self._finish(number, ids, waiting)
            if len(ids) < self.batch_size:
                return total

    async def _recorded(self) -> tuple[list[Any], dict[Any, dict[str, Any]]]:
        """The oldest inbox documents, until they hold ``batch_size`` facts: their ids, and
        their facts by id (the first recorded of two with one id)."""
        deliveries: list[Any] = []
        facts: dict[Any, dict[str, Any]] = {}
        while len(facts) < self.batch_size:
            after = {"_id": {"$gt": deliveries[-1]}} if deliveries else {}
            page = await self.inbox.find(after).sort("_id", 1).limit(16).to_list()
            for doc in page:
                deliveries.append(doc["_id"])
                for fact in recorded_facts(doc):
                    facts.setdefault(fact["_id"], fact)
                if len(facts) >= self.batch_size:
                    break
            if len(page) < 16:
                break
        return deliveries, facts

    async def _open(self, ids: list[Any], deliveries: list[Any] | None = None) -> int:
        """Draw a batch number and record the batch (its facts' ids, the inbox documents it
        takes them from) before anything of it is written."""
        number = await self._draw_number()
        await self.batches.insert_one(
            {
                "_id": f"{self.tally_name}|{number:012d}",
                "tally": self.tally_name,
                "batch": number,
                "ids": ids,
                "deliveries": deliveries or [],
                "slots": True,
            }
        )
        await self.after_write("batch-recorded")
        return number

    async def _draw_number(self) -> int:
        """The next batch number, drawn from the lease document by its live holder only."""
        doc = await self.lease.coll.find_one_and_update(
            {"_id": self.lease.name, "owner": self.lease.owner, "expires": {"$gt": time.time()}},
            {"$inc": {"batch": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise LeaseLost(self.lease.name)
        await self.after_write("number-drawn")
        return int(doc["batch"])

    async def _finish(
        self,
        number: int,
        ids: list[Any],
        read: list[dict[str, Any]] | None = None,
        *,
        deliveries: list[Any] | None = None,
        legacy: bool = False,
    ) -> int:
        """Insert, claim, count and close batch ``number``: the facts recorded in
        ``deliveries`` are inserted carrying the batch number (a fact stored already keeps
        its own), facts of ``ids`` waiting are claimed, and the batch counts the facts of
        ``ids`` that carry its number. ``read`` is the facts as this process found them, if it
        did; ``legacy`` is for a batch recorded when counters kept batch numbers in an array.
        Every step may be repeated, by this process or by the next holder of the lease."""
        # The facts this batch counts that it knows without reading them back (those it
        # wrote itself), and the ids whose number must be read back.
        known: list[dict[str, Any]] = []
        unsure = ids
        if deliveries:
            facts = read if read is not None else list((await self._facts_of(deliveries)).values())
            stamped = [{**fact, TALLY_FIELD: number} for fact in facts]
            refused = await insert_new(self.facts, stamped) if stamped else set()
            await self.after_write("inserted")
            if read is not None:
                known = [fact for i, fact in enumerate(stamped) if i not in refused]
                unsure = [stamped[i]["_id"] for i in sorted(refused)]
        # Claim again on resume: a process that died before claiming every fact leaves some
        # waiting. (A fact stored waiting refuses a recorded copy's insert, so it is unsure.)
        claimed = await self.facts.update_many(
            {"_id": {"$in": ids}, TALLY_FIELD: WAITING}, {"$set": {TALLY_FIELD: number}}
        )
        await self.after_write("claimed")
        if not deliveries and read is not None and claimed.modified_count == len(ids):
            known, unsure = read, []  # every one was waiting and is this batch's now
        docs = known
        if unsure:  # facts never change but for their batch number
            docs = (
                known
                + await self.facts.find({"_id": {"$in": unsure}, TALLY_FIELD: number}).to_list()
            )
        if docs:
            await self._add(number, docs, legacy=legacy)
        if deliveries:
            await self.inbox.delete_many({"_id": {"$in": deliveries}})
            await self.after_write("inbox-emptied")
        await self.batches.delete_one({"_id": f"{self.tally_name}|{number:012d}"})
        await self.after_write("batch-closed")
        return len(docs)

    async def _facts_of(self, deliveries: list[Any]) -> dict[Any, dict[str, Any]]:
        """The facts of the inbox documents ``deliveries`` still there, by id."""
        facts: dict[Any, dict[str, Any]] = {}
        for doc in await self.inbox.find({"_id": {"$in": deliveries}}).sort("_id", 1).to_list():
            for fact in recorded_facts(doc):
                facts.setdefault(fact["_id"], fact)
        return facts

    async def _add(self, number: int, docs: list[dict[str, Any]], *, legacy: bool = False) -> None:
        """Add the facts' contributions to their counters, each counter once for batch
        ``number``: a counter remembers the number in slot ``number % ring`` (a top-level field,
        cheap to test and set), so it recognises the batch while fewer than ``ring`` batches
        have been drawn since, as a ring of its last ``ring`` numbers would. Counters that add
        the same amounts (most villages of a batch add 1, 2 or 3 workers) are updated by one
        ``update_many``: the embedded store updates a document of an ``update_many`` at about
        half the cost of one update of a bulk write.

        Counters are written in the order the contributions name them (the furthest position
        a counter takes in any fact's contributions of the batch): name the parts before their
        whole (a village before its district) and a whole comes after every part of it, also
        when facts of one batch start at different levels (a district is first for a claim,
        second for a worker), so a reader who finds a whole counted finds its parts counted
        too, even in the middle of a batch."""
        increments: dict[str, dict[str, int]] = {}
        created: dict[str, Mapping[str, Any]] = {}
        rank: dict[str, int] = {}
        for doc in docs:
            for position, (counter_id, inc, fields) in enumerate(self.contributions(doc)):
                rank[counter_id] = max(rank.get(counter_id, position), position)
                target = increments.setdefault(counter_id, {})
                for field, amount in inc.items():
                    target[field] = target.get(field, 0) + amount
                created.setdefault(counter_id, fields)
        await self._create_missing(created)
        slot = f"{self.slot_prefix}{number % self.ring}"
        guard: dict[str, Any] = {slot: {"$nin": [number]}}  # not $ne: see the conformance suite
        remember: dict[str, Any] = {"$set": {slot: number}}
        if legacy:
            guard[self.applied_field] = {"$nin": [number]}
            remember["$push"] = {self.applied_field: {"$each": [number], "$slice": -self.ring}}
        same: dict[tuple[int, tuple[tuple[str, int], ...]], list[str]] = {}
        for counter_id, inc in increments.items():
            same.setdefault((rank[counter_id], tuple(sorted(inc.items()))), []).append(counter_id)
        for (_, amounts), ids in sorted(same.items(), key=lambda group: group[0][0]):
            for start in range(0, len(ids), self.counter_chunk):
                # Each write under a lease known to be held, so a process that lost it while
                # counting stops at the next one.
                if not self.lease.held and not await self.lease.acquire():
                    raise LeaseLost(self.lease.name)
                await self.counters.update_many(
                    {"_id": {"$in": ids[start : start + self.counter_chunk]}, **guard},
                    {"$inc": dict(amounts), **remember},
                )
                await self.after_write("counted")

    async def _create_missing(self, created: Mapping[str, Mapping[str, Any]]) -> None:
        """Counters seen for the first time, created empty: the counting itself is then an
        update (an upsert is one document per write)."""
        ids = list(created)
        stored = {
            doc["_id"]
            for start in range(0, len(ids), self.batch_size)
            for doc in await self.counters.find(
                {"_id": {"$in": ids[start : start + self.batch_size]}}, {"_id": 1}
            ).to_list()
        }
        missing = [{**created[i], "_id": i} for i in ids if i not in stored]
        if not missing:
            return
        try:
            await self.counters.insert_many(missing, ordered=False)
        except BulkWriteError as exc:  # created meanwhile by a process counting the same batch
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
        await self.after_write("created")

    def wake(self) -> None:
        """Facts were recorded: count them soon (see ``run_pass``)."""
        self._recorded_meanwhile.set()
        super().wake()

    async def run_pass(self) -> None:
        """Count what is waiting. While facts stream in (this tally counted some less than
        ``settle`` seconds ago, and more were recorded within the last ``quiet`` seconds), let
        them gather first: a batch costs an update per counter it touches, and a province-wide
        import touches about as many counters with 2,000 facts as with 10,000. A fact recorded
        after a quiet spell is counted at once, the last of a stream ``quiet`` seconds after it."""
        loop = asyncio.get_running_loop()
        while (left := self._last_counted + self.settle - loop.time()) > 0:
            self._recorded_meanwhile.clear()
            try:
                await asyncio.wait_for(self._recorded_meanwhile.wait(), min(self.quiet, left))
            except TimeoutError:
                break
        if await self.run_once():
            self._last_counted = loop.time()
