"""The outbox relay: publishes pending events, marks them sent, and (a setting, for the
embedded broker, which keeps nothing across a restart) publishes the retained sent events again
when the broker has lost them.

One process at a time publishes: the relay holds a lease, renewed before each batch, so
replicas of a service do not publish each other's events, and another replica takes over within
the lease's ttl when the holder dies. A crash between publishing and marking publishes the event
twice; consumers absorb that (see ``exactly_once``).

What it costs is the store's, not the broker's: the embedded store spends about as much on
updating a document as on inserting it, and every published event needs its document updated.
So a pass does as little else as it can:

- **Batches from memory first.** The unit of work hands the relay each new document as it
  wrote it (``take``); the relay publishes those without reading them back, and queries for
  pending documents only when none are left (documents written by other processes, events
  added to existing documents, anything left by a crash). A document found by a query and also
  handed over is published once.
- **Publishing overlaps marking.** While the store marks one batch, the next is published
  (a query meanwhile leaves out the documents being marked, and a pass ends with one more look
  once the last batch is marked, for events added to them meanwhile).
- **One write marks a batch of new documents.** A document holding exactly one pending event
  and none sent before (a new aggregate and the event that created it: every worker of a bulk
  import) has its ``outbox`` renamed to ``outbox_sent`` by one ``update_many`` for the whole
  batch. Its filter matches a document only while its one pending entry is one this batch
  published (an entry is in one document only) and nothing was ever marked in it, so a document
  changed meanwhile (a new event), or marked by a second relay (one that lost its lease without
  noticing), is left to the general path: one update per entry, matched by the entry itself.
  Marking twice changes nothing on either path. (Such a document has no ``outbox`` until its
  next event: ``$push`` creates the array again.)
- **The offsets acknowledged** (kept to notice a broker that lost its data) are recorded once
  per pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from bpu_shared.messaging.broker import true_end_offsets
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop, LeaseLost
from bpu_shared.messaging.outbox import read_entry
from bpu_shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_REPUBLISHED

log = logging.getLogger(__name__)

STATE_COLLECTION = "outbox_relay_state"


def _hw_id(topic: str, partition: int) -> str:
    # One small document per partition, with top-level fields only: the embedded store mishandles
    # updates of nested paths inside a subdocument.
    return f"hw|{topic}|{partition}"


def _tp_of(hw_id: str) -> TopicPartition:
    _, topic, partition = hw_id.rsplit("|", 2)
    return TopicPartition(topic, int(partition))


HIGH_WATER = {"kind": "high-water"}


def _fold(highest: dict[str, int], acks: Sequence[Any]) -> None:
    """The highest offset acknowledged per partition, ``acks`` added."""
    for md in acks:
        key = _hw_id(md.topic, md.partition)
        highest[key] = max(highest.get(key, -1), md.offset)


REPUBLISH_ID = "republish"

#: A document handed over as written: its id and its pending entries (a new document's outbox
#: holds every entry pending).
Taken = tuple[Any, tuple[str, ...]]


class OutboxRelay(LeasedLoop):
    """Publishes the outboxes of ``collections`` in ``db`` through ``broker``."""

    def __init__(
        self,
        db: AsyncDatabase,
        collections: Sequence[str],
        broker: KafkaBroker,
        *,
        lease: Lease,
        kafka_kwargs: dict[str, Any],
        republish_on_broker_loss: bool = False,
        retained: int = 20,
        interval: float = 0.2,
        batch_size: int = 1000,
        reset_check_interval: float = 5.0,
        topic_prefix: str = "",
        before_republish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__("outbox-relay", lease, interval)
        self.db = db
        self.collections = list(collections)
        self.broker = broker
        self.republish_on_broker_loss = republish_on_broker_loss
        self.kafka_kwargs = kafka_kwargs
        self.retained = retained
        self.batch_size = batch_size
        self.reset_check_interval = reset_check_interval
        self.topic_prefix = topic_prefix
        self.before_republish = before_republish
        self._next_reset_check = 0.0
        #: Documents handed over as written, per collection, to publish without a read; and
        #: the ids the last pass found by querying (a hand-over may come after that pass
        #: found and published the same document).
        self._taken: dict[str, deque[Taken]] = {}
        self._found: dict[str, set[Any]] = {}

    async def ensure_indexes(self) -> None:
        """The relay finds pending events by ``outbox_pending``: without an index every pass
        would read every document."""
        for name in self.collections:
            await self.db[name].create_index("outbox_pending")

    #: Documents handed over and waiting to be published, at most, per collection: a
    #: 100,000-row import fits (about 1 KB each, the entries' JSON; tuples of strings, which
    #: the garbage collector does not track). Beyond it the rest are found by querying.
    MAX_TAKEN = 100_000

    def take(self, collection: str, documents: Sequence[Mapping[str, Any]]) -> None:
        """Documents this process has just inserted with their first events (the unit of work
        hands them over as written): the next pass publishes them without reading them back.
        Only a saving: the query still finds whatever is pending, so documents handed over
        beyond ``MAX_TAKEN``, or while another process holds the lease, are simply left."""
        self.wake()
        taken = self._taken.setdefault(collection, deque())
        if len(taken) + len(documents) > self.MAX_TAKEN:
            return
        taken.extend((d["_id"], tuple(d["outbox"])) for d in documents if d.get("outbox_pending"))

    # -- one pass ------------------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish every pending event once: the documents handed over first, and, when none
        are left, whatever a query finds pending. How many documents had events to publish.
        Raises ``LeaseLost`` when another process took the lease over meanwhile."""
        total = 0
        highest: dict[str, int] = {}
        for name in self.collections:
            found = await self._publish_collection(name, highest)
            # What this pass found waiting: no extra count, which the embedded store answers
            # by reading every document.
            OUTBOX_BACKLOG.labels(name).set(found)
            total += found
        # Once a pass, not once a batch: each write waits its turn behind the inserts.
        await self._record_high_water(highest)
        return total

    async def _publish_collection(self, name: str, highest: dict[str, int]) -> int:
        """One batch after another: while the store marks one, the next is published."""
        taken = self._taken.setdefault(name, deque())
        # Found by the last pass's query or this one's: published, even if handed over later.
        seen = self._found.pop(name, set())
        found: set[Any] = set()
        count = 0
        marking: asyncio.Task[None] | None = None
        being_marked: list[Any] = []
        try:
            while True:
                await self._keep_lease()
                docs = [
                    {"_id": doc_id, "outbox": list(outbox), "outbox_pending": len(outbox)}
                    for doc_id, outbox in (
                        taken.popleft() for _ in range(min(self.batch_size, len(taken)))
                    )
                    if doc_id not in seen and doc_id not in found
                ]
                queried = not docs and not taken
                if queried:
                    docs = await self._find_pending(name, being_marked)
                    found.update(d["_id"] for d in docs)
                if docs:
                    published = await self._publish(docs)
                    _fold(highest, published)
                    if marking is not None:
                        await marking
                    marking = asyncio.create_task(self._mark_sent(name, docs, published))
                    being_marked = [d["_id"] for d in docs]
                    count += len(docs)
                if queried and len(docs) < self.batch_size and not taken:
                    if not being_marked:
                        return count
                    # Once the last batch is marked, a last look at what that query left out
                    # (a document of the batch may have had an event added meanwhile).
                    if marking is not None:
                        await marking
                        marking = None
                    being_marked = []
        finally:
            if marking is not None:
                await marking
            self._found[name] = found

    async def _find_pending(self, name: str, being_marked: list[Any]) -> list[dict[str, Any]]:
        """Documents with pending events, but those of the batch the store is marking."""
        pending: dict[str, Any] = {"outbox_pending": {"$gt": 0}}
        if being_marked:
            pending["_id"] = {"$nin": being_marked}
        return (
            await self.db[name]
            .find(pending, {"outbox": 1, "outbox_pending": 1})
            .limit(self.batch_size)
            .to_list()
        )

    async def _keep_lease(self) -> None:
        # A backlog takes longer than the lease lasts: renew it batch by batch.
        if not self.lease.held and not await self.lease.acquire():
            self.passed_over()
            raise LeaseLost(self.lease.name)

    def passed_over(self) -> None:
        """The holder of the lease publishes what was handed over here (we would publish it
        a second time later)."""
        for taken in self._taken.values():
            taken.clear()

    async def _publish(self, docs: list[dict[str, Any]]) -> list[Any]:
        """Publish every pending entry of ``docs``; the broker's acknowledgements."""
        # Calls are made in document order, so one aggregate's events keep their order; the
        # broker's acknowledgements are awaited together.
        futures: list[asyncio.Future[Any]] = []
        for doc in docs:
            for entry in doc.get("outbox") or []:
                futures.append(await self._send(read_entry(entry)))
        return list(await asyncio.gather(*futures))

    async def _mark_sent(self, name: str, docs: list[dict[str, Any]], acks: list[Any]) -> None:
        """Move the published entries of ``docs`` from ``outbox`` to ``outbox_sent``."""
        await self._move_to_sent(self.db[name], docs)
        topics: dict[str, int] = {}
        for md in acks:
            topic = md.topic.removeprefix(self.topic_prefix)
            topics[topic] = topics.get(topic, 0) + 1
        for topic, count in topics.items():
            EVENTS_PUBLISHED.labels(topic).inc(count)

    async def _move_to_sent(self, coll: AsyncCollection, docs: list[dict[str, Any]]) -> None:
        """The two ways of marking (see the module's docstring)."""
        whole = [
            d for d in docs if len(d.get("outbox") or []) == 1 and d.get("outbox_pending") == 1
        ]
        if whole and self.retained > 0:
            # One entry pending (the count moves with the array in every write), that entry one
            # of this batch's (an entry is in one document only), nothing retained to overwrite:
            # the outbox is exactly what was published, and moves whole.
            moved = await coll.update_many(
                {
                    "_id": {"$in": [d["_id"] for d in whole]},
                    "outbox": {"$in": [d["outbox"][0] for d in whole]},
                    "outbox_pending": 1,
                    "outbox_sent": {"$size": 0},
                },
                {"$rename": {"outbox": "outbox_sent"}, "$set": {"outbox_pending": 0}},
            )
            if moved.modified_count == len(whole):
                done = {id(d) for d in whole}
                docs = [d for d in docs if id(d) not in done]
        # The filter matches only while the entry is still pending: marking twice changes nothing.
        marks = [
            UpdateOne(
                {"_id": doc["_id"], "outbox": entry},
                {
                    "$pull": {"outbox": entry},
                    "$push": {"outbox_sent": {"$each": [entry], "$slice": -self.retained}},
                    "$inc": {"outbox_pending": -1},
                },
            )
            for doc in docs
            for entry in doc.get("outbox") or []
        ]
        if marks:
            await coll.bulk_write(marks, ordered=True)

    async def _send(self, entry: dict[str, Any]) -> asyncio.Future[Any]:
        return await self.broker.publish(
            entry["value"].encode(),
            self.topic_prefix + entry["topic"],
            key=entry["key"].encode(),
            headers={"event_type": entry["event_type"], "event_id": entry["event_id"]},
            correlation_id=entry.get("correlation_id") or entry["event_id"],
            no_confirm=True,
        )

    async def _record_high_water(self, highest: Mapping[str, int]) -> None:
        """Keep the highest offset acknowledged per partition. An acknowledged offset at or below
        one recorded before means the broker lost what it had: mark a republish as due."""
        if not highest:
            return
        state = self.db[STATE_COLLECTION]
        recorded = {
            doc["_id"]: doc["offset"]
            async for doc in state.find({"_id": {"$in": list(highest)}}, {"offset": 1})
        }
        if self.republish_on_broker_loss and any(
            offset <= recorded.get(key, -1) for key, offset in highest.items()
        ):
            await self._mark_republish(True)
        await state.bulk_write(
            [
                UpdateOne(
                    {"_id": key}, {"$max": {"offset": offset}, "$set": HIGH_WATER}, upsert=True
                )
                for key, offset in highest.items()
            ],
            ordered=False,
        )

    async def _mark_republish(self, due: bool) -> None:
        await self.db[STATE_COLLECTION].update_one(
            {"_id": REPUBLISH_ID}, {"$set": {"due": due}}, upsert=True
        )

    # -- broker reset --------------------------------------------------------------------------

    async def broker_lost_events(self) -> bool:
        """True when a partition we published to now ends before the last offset we got back,
        or its topic is gone: the broker lost its data (the embedded broker restarted, or a
        topic was recreated)."""
        recorded = {
            _tp_of(doc["_id"]): doc["offset"]
            async for doc in self.db[STATE_COLLECTION].find(HIGH_WATER, {"offset": 1})
        }
        if not recorded:
            return False
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.kafka_kwargs)
        await consumer.start()
        try:
            # A restarted embedded broker accepts records for partitions of topics it no longer
            # lists, so a missing topic counts as lost even when its ends look right.
            if {tp.topic for tp in recorded} - await consumer.topics():
                return True
            ends = await true_end_offsets(consumer, list(recorded))
            return any(ends.get(tp, 0) <= offset for tp, offset in recorded.items())
        finally:
            await consumer.stop()

    async def _republish_due(self, check_broker: bool) -> bool:
        """Loss is remembered in the store until the republish completes, since publishing new
        events to the new broker moves its ends past the offsets recorded for the old one."""
        if not self.republish_on_broker_loss:
            return False
        flag = await self.db[STATE_COLLECTION].find_one({"_id": REPUBLISH_ID})
        if flag and flag.get("due"):  # the embedded store gives booleans back as 0 and 1
            return True
        if check_broker and await self.broker_lost_events():
            await self._mark_republish(True)
            return True
        return False

    async def republish_retained(self) -> int:
        """Publish every retained sent event again. The offsets recorded for the lost broker are
        dropped only once all are published: a failure half-way is retried from the start."""
        if self.before_republish is not None:
            await self.before_republish()
        total = 0
        highest: dict[str, int] = {}
        for name in self.collections:
            # Every document is read: the embedded store cannot match "array not empty".
            docs = await self.db[name].find({}, {"outbox_sent": 1}).to_list()
            futures = []
            for doc in docs:
                for entry in doc.get("outbox_sent") or []:
                    futures.append(await self._send(read_entry(entry)))
            _fold(highest, await asyncio.gather(*futures))
            total += len(futures)
        await self.db[STATE_COLLECTION].delete_many(HIGH_WATER)
        await self._record_high_water(highest)
        await self._mark_republish(False)
        OUTBOX_REPUBLISHED.inc(total)
        return total

    # -- the loop ------------------------------------------------------------------------------

    async def run_pass(self) -> None:
        """Republish after a broker loss when due (checked every ``reset_check_interval``),
        then publish what is pending."""
        now = asyncio.get_running_loop().time()
        check_broker = now >= self._next_reset_check
        if check_broker:
            self._next_reset_check = now + self.reset_check_interval
        if await self._republish_due(check_broker):
            count = await self.republish_retained()
            log.warning("broker lost its events; published %d retained events again", count)
        await self.publish_pending()
