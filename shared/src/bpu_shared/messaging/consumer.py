"""Batch consumers that commit only after their effects are durable, retry, then dead-letter.

``subscribe`` registers one FastStream batch subscriber with a consumer group and
``AckPolicy.NACK_ON_ERROR``: the offsets of a batch are committed only when the handler returns,
and an exception rewinds the partitions so the batch comes again. Around the service's ``apply``
function (which must be idempotent, ideally one bulk write) it:

- validates every record; one that is not a valid event goes to ``<topic>.dlq`` at once;
- retries ``apply`` with backoff; while the store is unreachable it keeps the batch (raises, so
  nothing is committed and the batch is redelivered) — an outage is not the events' fault;
- when ``apply`` keeps failing for another reason, applies the events one by one and sends each
  one that still fails to the dead-letter topic, so one bad event cannot block its partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from bpu_shared.deadletters import dead_letter_headers
from bpu_shared.events import Event, dlq_topic
from bpu_shared.metrics import CONSUMER_LAG, CONSUMER_RETRIES, DEAD_LETTERS, EVENTS_CONSUMED
from bpu_shared.service_layer.context import caused_by
from bpu_shared.store import TRANSIENT_STORE_ERRORS

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Apply = Callable[[Sequence[E]], Awaitable[None]]


class DeadLetters:
    """Publishes a record that can never succeed to ``<topic>.dlq``, with why and from where."""

    def __init__(self, broker: KafkaBroker, group_id: str, topic_prefix: str = "") -> None:
        self.broker = broker
        self.group_id = group_id
        self.topic_prefix = topic_prefix

    def topic_label(self, topic: str) -> str:
        """Metrics name topics as the catalogue does, without the environment's prefix."""
        return topic.removeprefix(self.topic_prefix)

    async def send(self, record: ConsumerRecord, error: str) -> None:
        headers = dead_letter_headers(record, error, self.group_id)
        await self.broker.publish(
            record.value or b"", dlq_topic(record.topic), key=record.key, headers=headers
        )
        DEAD_LETTERS.labels(self.topic_label(record.topic), self.group_id).inc()
        log.error(
            "event sent to dead-letter topic",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": error[:500],
            },
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(event)'}: {err['msg']}"
            for err in exc.errors()
        )
    return f"{type(exc).__name__}: {exc}"


class BatchConsumer:
    """Validates, applies with retries, dead-letters: the body of one batch subscriber."""

    def __init__(
        self,
        event_type: type[E],
        apply: Apply[E],
        dead_letters: DeadLetters,
        *,
        attempts: int = 5,
        backoff: float = 0.2,
    ) -> None:
        self.event_type = event_type
        self.apply = apply
        self.dead_letters = dead_letters
        self.attempts = attempts
        self.backoff = backoff

    @property
    def topic(self) -> str:
        return self.event_type.TOPIC

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        events: list[Any] = []
        sources: list[ConsumerRecord] = []
        for record in records:
            try:
                events.append(self.event_type.from_wire(record.value or b""))
                sources.append(record)
            except ValidationError as exc:
                await self.dead_letters.send(record, f"invalid event: {_describe(exc)}")
        if not events:
            return
        applied = len(events)
        if not await self._apply_with_retries(events):
            # The batch as a whole keeps failing: find the events that cannot succeed.
            for event, record in zip(events, sources, strict=True):
                try:
                    await self._apply_one(event)
                except TRANSIENT_STORE_ERRORS:
                    raise
                except Exception as exc:
                    applied -= 1
                    await self.dead_letters.send(record, _describe(exc))
        EVENTS_CONSUMED.labels(self.topic, self.dead_letters.group_id).inc(applied)

    async def _apply_one(self, event: Any) -> None:
        with caused_by(event.correlation_id, str(event.event_id)):
            await self.apply([event])

    async def _apply_with_retries(self, events: list[Any]) -> bool:
        """True once applied; False when it failed for other reasons than the store being down.
        Raises after the last attempt while the store is unreachable (nothing is committed)."""
        for attempt in range(1, self.attempts + 1):
            try:
                if len(events) == 1:
                    await self._apply_one(events[0])
                else:
                    await self.apply(events)
                return True
            except TRANSIENT_STORE_ERRORS as exc:
                if attempt == self.attempts:
                    log.warning("store unreachable; batch will be redelivered: %s", exc)
                    raise
                failure: BaseException = exc
            except Exception as exc:
                if attempt == self.attempts:
                    log.warning("batch failed %d times: %s", attempt, _describe(exc))
                    return False
                failure = exc
            CONSUMER_RETRIES.labels(self.topic, self.dead_letters.group_id).inc()
            delay = self.backoff * 2 ** (attempt - 1)
            log.info("batch attempt %d failed (%s); retrying in %.1fs", attempt, failure, delay)
            await asyncio.sleep(delay)
        return False


def _record_lag(
    message: KafkaMessage,
    records: Sequence[ConsumerRecord],
    group_id: str,
    catalogue_topic: dict[str, str],
) -> None:
    """Records left behind the partition ends once this batch is applied, per topic."""
    consumer = getattr(message, "consumer", None)
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    lag: dict[str, int] = {}
    for (topic, partition), offset in last.items():
        end = highwater(TopicPartition(topic, partition))
        if end is not None:
            name = catalogue_topic.get(topic, topic)
            lag[name] = lag.get(name, 0) + max(end - offset - 1, 0)
    for topic, behind in lag.items():
        CONSUMER_LAG.labels(topic, group_id).set(behind)


def subscribe(
    broker: KafkaBroker,
    consumers: Sequence[BatchConsumer],
    *,
    group_id: str,
    max_records: int = 500,
    topic_prefix: str = "",
) -> None:
    """Register one batch subscriber, in consumer group ``group_id``, on the topics of all
    ``consumers``; each record goes to the consumer of its topic, in order.

    One subscriber per service rather than one per topic: each consumer group takes about 5 s
    to join on the embedded broker, and FastStream starts subscribers one after another.
    """
    by_topic = {topic_prefix + c.topic: c for c in consumers}
    if len(by_topic) != len(consumers):
        raise ValueError("two consumers of one topic in one group")

    async def handler(message: KafkaMessage) -> None:
        records: Sequence[ConsumerRecord] = message.raw_message  # a tuple in a batch subscriber
        batches: dict[str, list[ConsumerRecord]] = {}
        for record in records:
            batches.setdefault(record.topic, []).append(record)
        for topic, batch in batches.items():
            await by_topic[topic].handle(batch)
        _record_lag(message, records, group_id, {t: c.topic for t, c in by_topic.items()})

    handler.__name__ = f"on_{group_id.replace('.', '_').replace('-', '_')}_events"
    broker.subscriber(
        *by_topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=group_id,
        description="; ".join(f"{c.topic}: {c.event_type.__doc__}" for c in consumers),
    )(handler)
