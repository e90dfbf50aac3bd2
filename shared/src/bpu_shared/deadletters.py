"""Dead letters: the headers that say where a record came from and why it failed (written by the
consumers, read here), and reading, selecting and replaying the records of a ``.dlq`` topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bpu_shared.events import DLQ_SUFFIX
from bpu_shared.kafka_clients import AdminError, admin_client, producer, read_ranges, reader
from bpu_shared.settings import KafkaSettings

#: Headers a dead letter carries besides its original ones (values are UTF-8 strings).
ORIGINAL_TOPIC = "x-dlq-original-topic"
ORIGINAL_PARTITION = "x-dlq-original-partition"
ORIGINAL_OFFSET = "x-dlq-original-offset"
ERROR = "x-dlq-error"
FAILED_AT = "x-dlq-failed-at"
CONSUMER_GROUP = "x-dlq-consumer-group"
DLQ_HEADER_PREFIX = "x-dlq-"
#: The longest error text a dead letter keeps.
ERROR_MAX_CHARS = 2000

#: With more records than this, replay prints progress lines instead of one line per record.
REPLAY_LINES_UP_TO = 20
#: Records sent before waiting for the broker's acknowledgements, and between progress lines.
REPLAY_BATCH = 1000
#: How long reading a topic may go without progress before we give up.


def dead_letter_headers(
    record: ConsumerRecord, error: str, consumer_group: str, failed_at: datetime | None = None
) -> dict[str, str]:
    """The headers of ``record``'s dead letter: its own (decoded, as FastStream publishes
    strings), then where it came from, why and when it failed, and which group consumed it."""
    headers = {
        name: (value or b"").decode("utf-8", "replace") for name, value in record.headers or ()
    }
    headers.update(
        {
            ORIGINAL_TOPIC: record.topic,
            ORIGINAL_PARTITION: str(record.partition),
            ORIGINAL_OFFSET: str(record.offset),
            ERROR: error[:ERROR_MAX_CHARS],
            FAILED_AT: (failed_at or datetime.now(UTC)).isoformat(),
            CONSUMER_GROUP: consumer_group,
        }
    )
    return headers


@dataclass(frozen=True)
class Position:
    """A record's place, as ``--offset`` takes it: ``OFFSET`` or ``PARTITION:OFFSET``.

    ``partition`` is None for a bare offset, which is fine on a one-partition topic (every
    dead-letter topic of the catalogue has one).
    """

    partition: int | None
    offset: int

    @classmethod
    def parse(cls, text: str) -> Position:
        try:
            if ":" in text:
                partition, offset = text.split(":", 1)
                return cls(int(partition), int(offset))
            return cls(None, int(text))
        except ValueError:
            raise AdminError(f"--offset {text!r}: give OFFSET or PARTITION:OFFSET") from None

    def __str__(self) -> str:
        return str(self.offset) if self.partition is None else f"{self.partition}:{self.offset}"


def header(record: ConsumerRecord, name: str) -> str | None:
    """The last value of header ``name``, decoded, or None when the record has none."""
    value = None
    for key, raw in record.headers:
        if key == name:
            value = raw.decode("utf-8", errors="replace")
    return value


def original_headers(record: ConsumerRecord) -> list[tuple[str, bytes]]:
    """The record's headers without those the dead-letter step added."""
    return [(key, raw) for key, raw in record.headers if not key.startswith(DLQ_HEADER_PREFIX)]


def _short(raw: bytes | str | None, width: int) -> str:
    if raw is None:
        return "-"
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_dead_letter(record: ConsumerRecord, with_partition: bool = False) -> str:
    """One line about a dead letter: where it is, where it came from, why it failed.

    Its ``offset=`` is what ``dlq replay --offset`` takes (``PARTITION:OFFSET`` when the topic
    has more than one partition).
    """
    fields = [
        f"offset={_offset(record, with_partition)}",
        f"key={_short(record.key, 40)}",
        f"original={header(record, ORIGINAL_TOPIC) or '-'}"
        f"[{header(record, ORIGINAL_PARTITION) or '-'}]@{header(record, ORIGINAL_OFFSET) or '-'}",
        f"group={header(record, CONSUMER_GROUP) or '-'}",
        f"failed_at={header(record, FAILED_AT) or '-'}",
        f"error={_short(header(record, ERROR), 120)!r}",
        f"value={_short(record.value, 80)}",
    ]
    return "  ".join(fields)


def _offset(record: ConsumerRecord, with_partition: bool) -> str:
    return f"{record.partition}:{record.offset}" if with_partition else str(record.offset)


def require_dlq_name(topic: str) -> None:
    if not topic.endswith(DLQ_SUFFIX):
        raise AdminError(
            f"{topic!r} is not a dead-letter topic (their names end with {DLQ_SUFFIX})"
        )


@dataclass(frozen=True)
class TopicRange:
    """The offsets a partition holds now: ``start`` to ``end - 1``."""

    partition: int
    start: int
    end: int


async def topic_ranges(consumer: AIOKafkaConsumer, topic: str) -> list[TopicRange]:
    """The offsets each partition of ``topic`` holds; assigns them all to ``consumer``."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise AdminError(f"topic {topic!r} has no partitions the broker will tell us about")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    starts = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    return [
        TopicRange(tp.partition, starts[tp], await _true_end(consumer, tp, starts[tp], ends[tp]))
        for tp in tps
    ]


async def _true_end(consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int) -> int:
    """``end`` checked against the high watermark of a fetch of the last batch.

    The embedded broker (Tansu 0.6) answers "latest offset" with the last batch's base offset
    plus one, so a batch of several records looks like one record; the high watermark in its
    fetch responses is right. On Apache Kafka both agree and this costs one small fetch.
    """
    if end <= start:
        return end
    consumer.seek(tp, end - 1)
    await consumer.getmany(tp, timeout_ms=2000, max_records=1)
    return max(end, consumer.highwater(tp) or 0)


async def read_records(
    consumer: AIOKafkaConsumer, topic: str, reads: Mapping[int, tuple[int, int]]
) -> AsyncIterator[ConsumerRecord]:
    """The records of ``topic`` in ``[first, stop)`` per partition, in offset order per partition.

    No consumer group: nothing is committed, and reading changes nothing on the broker.
    """
    ranges = {TopicPartition(topic, p): bounds for p, bounds in reads.items()}
    async for record in read_ranges(consumer, ranges):
        yield record


async def list_dead_letters(
    settings: KafkaSettings, topic: str, limit: int | None
) -> AsyncIterator[str]:
    """Lines describing the dead letters of ``topic``, oldest first, then a summary."""
    require_dlq_name(topic)
    async with admin_client(settings) as admin:
        await _require_topics(admin, [topic], prefix=settings.kafka_topic_prefix)
    async with reader(settings) as consumer:
        ranges = await topic_ranges(consumer, topic)
        total = sum(r.end - r.start for r in ranges)
        shown = 0
        if total and limit != 0:
            reads = {r.partition: (r.start, r.end) for r in ranges}
            async for record in read_records(consumer, topic, reads):
                yield describe_dead_letter(record, with_partition=len(ranges) > 1)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    summary = f"{total} dead letter{'s' if total != 1 else ''} in {topic}"
    if shown < total:
        summary += f"; showed {shown} (use --limit to see more)"
    yield summary


async def select_dead_letters(
    consumer: AIOKafkaConsumer, topic: str, positions: Sequence[Position] | None
) -> list[ConsumerRecord]:
    """The dead letters at ``positions`` (all of them when None), in offset order."""
    ranges = {r.partition: r for r in await topic_ranges(consumer, topic)}
    if positions is None:
        reads = {p: (r.start, r.end) for p, r in ranges.items()}
        return [record async for record in read_records(consumer, topic, reads)]

    wanted: dict[int, set[int]] = {}
    for position in positions:
        partition = position.partition
        if partition is None:
            if len(ranges) > 1:
                raise AdminError(
                    f"{topic} has {len(ranges)} partitions: write --offset {position} as "
                    f"PARTITION:{position}, as `dlq list` shows it"
                )
            partition = next(iter(ranges))
        held = ranges.get(partition)
        if held is None:
            raise AdminError(f"{topic} has no partition {partition}")
        if not held.start <= position.offset < held.end:
            raise AdminError(
                f"offset {position} not found in {topic}: " + _describe_range(held, len(ranges) > 1)
            )
        wanted.setdefault(partition, set()).add(position.offset)
    reads = {p: (min(offsets), max(offsets) + 1) for p, offsets in wanted.items()}
    found = [
        record
        async for record in read_records(consumer, topic, reads)
        if record.offset in wanted[record.partition]
    ]
    missing = {(p, o) for p, offsets in wanted.items() for o in offsets} - {
        (r.partition, r.offset) for r in found
    }
    if missing:
        listed = ", ".join(f"{p}:{o}" for p, o in sorted(missing))
        raise AdminError(
            f"no record at offset {listed} in {topic} (a transaction marker, or compacted away)"
        )
    return found


def _describe_range(held: TopicRange, name_partition: bool) -> str:
    where = f"partition {held.partition} " if name_partition else ""
    if held.end == held.start:
        return f"{where}holds no records"
    return f"{where}holds offsets {held.start} to {held.end - 1}"


async def replay_dead_letters(
    settings: KafkaSettings, topic: str, positions: Sequence[Position] | None
) -> AsyncIterator[str]:
    """Publish the chosen dead letters back to their original topics; yield what was done.

    Each goes back with its original key, value and headers (the ``x-dlq-*`` ones dropped), to
    its original partition when that still exists. Every record is checked before the first is
    published, so a bad selection publishes nothing. The dead letters stay in ``topic``:
    consumers are idempotent, so replaying one twice is harmless.
    """
    require_dlq_name(topic)
    async with admin_client(settings) as admin:
        await _require_topics(admin, [topic], prefix=settings.kafka_topic_prefix)
        async with reader(settings) as consumer:
            records = await select_dead_letters(consumer, topic, positions)
            with_partition = len(consumer.partitions_for_topic(topic) or ()) > 1
        if not records:
            yield f"{topic} holds no dead letters; nothing to replay"
            return
        targets = _original_topics(records, topic)
        await _require_topics(admin, sorted(set(targets)), what="original topic")

    count = len(records)
    yield f"replaying {count} dead letter{'s' if count != 1 else ''} from {topic}"
    chosen = list(zip(records, targets, strict=True))
    per_topic: dict[str, int] = {}
    async with producer(settings) as publisher:
        partition_counts = {t: len(await publisher.partitions_for(t)) for t in set(targets)}
        for start in range(0, count, REPLAY_BATCH):
            batch = chosen[start : start + REPLAY_BATCH]
            sent = [
                await publisher.send(
                    target,
                    record.value,
                    key=record.key,
                    headers=original_headers(record),
                    partition=_original_partition(record, partition_counts[target]),
                )
                for record, target in batch
            ]
            for (record, target), metadata in zip(batch, await asyncio.gather(*sent), strict=True):
                per_topic[target] = per_topic.get(target, 0) + 1
                if count <= REPLAY_LINES_UP_TO:
                    yield (
                        f"replayed offset={_offset(record, with_partition)} "
                        f"key={_short(record.key, 40)} -> "
                        f"{target}[{metadata.partition}]@{metadata.offset}"
                    )
            if count > REPLAY_LINES_UP_TO:
                yield f"replayed {start + len(batch)}/{count}"
    where = ", ".join(f"{name} ({n})" for name, n in sorted(per_topic.items()))
    yield (
        f"done: {count} replayed to {where}. They stay in {topic}; consumers are idempotent, "
        "so a second replay is harmless"
    )


def _original_topics(records: Sequence[ConsumerRecord], topic: str) -> list[str]:
    targets = []
    for record in records:
        target = header(record, ORIGINAL_TOPIC)
        if not target:
            raise AdminError(
                f"the record at offset {record.partition}:{record.offset} of {topic} has no "
                f"{ORIGINAL_TOPIC} header, so it cannot be replayed; nothing was published"
            )
        targets.append(target)
    return targets


def _original_partition(record: ConsumerRecord, partitions: int) -> int | None:
    """The partition it came from, or None (the key decides) when that is gone or unknown."""
    raw = header(record, ORIGINAL_PARTITION)
    try:
        partition = int(raw) if raw is not None else None
    except ValueError:
        return None
    return partition if partition is not None and 0 <= partition < partitions else None


async def _require_topics(
    admin: AIOKafkaAdminClient, topics: Sequence[str], what: str = "topic", prefix: str = ""
) -> None:
    # Listing every topic, not asking for these by name: a metadata request that names a
    # missing topic creates it on brokers that auto-create topics.
    existing = set(await admin.list_topics())
    missing = [t for t in topics if t not in existing]
    if missing:
        message = f"{what} {', '.join(missing)} does not exist on the broker"
        if prefix and all(prefix + t in existing for t in missing):
            message += f" (KAFKA_TOPIC_PREFIX is {prefix!r}: did you mean {prefix}{missing[0]}?)"
        raise AdminError(message)
