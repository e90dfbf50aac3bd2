"""The outbox relay: publishes pending events, marks them sent, and (a setting, for the
embedded broker, which keeps nothing across a restart) publishes the retained sent events again
when the broker has lost them.

One process at a time publishes: the relay holds a lease, so replicas of a service do not
publish each other's events, and another replica takes over within the lease's ttl when the
holder dies. A crash between publishing and marking publishes the event twice; consumers absorb
that (see ``exactly_once``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from bpu_shared.messaging.broker import true_end_offsets
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop
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


REPUBLISH_ID = "republish"


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
        batch_size: int = 500,
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

    async def ensure_indexes(self) -> None:
        """The relay finds pending events by ``outbox_pending``: without an index every pass
        would read every document."""
        for name in self.collections:
            await self.db[name].create_index("outbox_pending")

    # -- one pass ------------------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish every pending event once; return how many documents had events to publish."""
        total = 0
        for name in self.collections:
            found = 0
            while True:
                published = await self._publish_batch(name)
                found += published
                if published < self.batch_size:
                    break
            # What this pass found waiting: no extra count, which the embedded store answers by
            # reading every document.
            OUTBOX_BACKLOG.labels(name).set(found)
            total += found
        return total

    async def _publish_batch(self, name: str) -> int:
        coll = self.db[name]
        docs = (
            await coll.find({"outbox_pending": {"$gt": 0}}, {"outbox": 1})
            .limit(self.batch_size)
            .to_list()
        )
        if not docs:
            return 0
        # Calls are made in document order, so one aggregate's events keep their order; the
        # broker's acknowledgements are awaited together.
        pending: list[tuple[Any, str, str, asyncio.Future[Any]]] = []
        for doc in docs:
            for entry in doc.get("outbox", []):
                parsed = read_entry(entry)
                future = await self._send(parsed)
                pending.append((doc["_id"], entry, parsed["topic"], future))
        metadata = await asyncio.gather(*(f for *_, f in pending))
        # The filter matches only while the entry is still pending: marking twice changes nothing.
        marks = [
            UpdateOne(
                {"_id": doc_id, "outbox": entry},
                {
                    "$pull": {"outbox": entry},
                    "$push": {"outbox_sent": {"$each": [entry], "$slice": -self.retained}},
                    "$inc": {"outbox_pending": -1},
                },
            )
            for doc_id, entry, _, _ in pending
        ]
        if marks:
            await coll.bulk_write(marks, ordered=True)
        await self._record_high_water(metadata)
        for _, _, topic, _ in pending:
            EVENTS_PUBLISHED.labels(topic).inc()
        return len(docs)

    async def _send(self, entry: dict[str, Any]) -> asyncio.Future[Any]:
        return await self.broker.publish(
            entry["value"].encode(),
            self.topic_prefix + entry["topic"],
            key=entry["key"].encode(),
            headers={"event_type": entry["event_type"], "event_id": entry["event_id"]},
            correlation_id=entry.get("correlation_id") or entry["event_id"],
            no_confirm=True,
        )

    async def _record_high_water(self, metadata: Sequence[Any]) -> None:
        """Keep the highest offset acknowledged per partition. An acknowledged offset at or below
        one recorded before means the broker lost what it had: mark a republish as due."""
        highest: dict[str, int] = {}
        for md in metadata:
            key = _hw_id(md.topic, md.partition)
            highest[key] = max(highest.get(key, -1), md.offset)
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
        all_metadata: list[Any] = []
        for name in self.collections:
            # Every document is read: the embedded store cannot match "array not empty".
            docs = await self.db[name].find({}, {"outbox_sent": 1}).to_list()
            futures = []
            for doc in docs:
                for entry in doc.get("outbox_sent") or []:
                    futures.append(await self._send(read_entry(entry)))
            all_metadata += await asyncio.gather(*futures)
            total += len(futures)
        await self.db[STATE_COLLECTION].delete_many(HIGH_WATER)
        await self._record_high_water(all_metadata)
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
