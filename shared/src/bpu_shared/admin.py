"""``bpu-admin``, the operator's command line: create every topic, list and replay dead letters.

It reads the broker connection from the same env vars as the services (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``); it needs no API key.

    bpu-admin create-topics [--replication-factor N]
    bpu-admin dlq list <topic>.dlq [--limit N]
    bpu-admin dlq replay <topic>.dlq (--offset O [--offset O ...] | --all)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code

from bpu_shared.events import DLQ_SUFFIX, all_topics
from bpu_shared.settings import KafkaSettings

#: Headers the messaging kit adds to a dead letter (values are UTF-8 strings).
ORIGINAL_TOPIC = "x-dlq-original-topic"
ORIGINAL_PARTITION = "x-dlq-original-partition"
ORIGINAL_OFFSET = "x-dlq-original-offset"
ERROR = "x-dlq-error"
FAILED_AT = "x-dlq-failed-at"
CONSUMER_GROUP = "x-dlq-consumer-group"
DLQ_HEADER_PREFIX = "x-dlq-"

#: With more records than this, replay prints progress lines instead of one line per record.
REPLAY_LINES_UP_TO = 20
#: Records sent before waiting for the broker's acknowledgements, and between progress lines.
REPLAY_BATCH = 1000
#: How long reading a topic may go without progress before we give up.
READ_STALL_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 20.0
TOPIC_ALREADY_EXISTS = 36


class AdminError(Exception):
    """A failure the operator can act on; printed without a traceback, exit code 1."""


# --- topics -----------------------------------------------------------------------------------


def plan_topics(
    replication_factor: int = 1, topics: Mapping[str, int] | None = None, prefix: str = ""
) -> list[NewTopic]:
    """The topics to create: by default every topic of the catalogue, DLQs included, each
    named with ``prefix`` (``KAFKA_TOPIC_PREFIX``) before it, as the services name them."""
    if replication_factor < 1:
        raise AdminError(f"--replication-factor must be at least 1, not {replication_factor}")
    catalogue = all_topics() if topics is None else topics
    return [
        NewTopic(prefix + name, num_partitions=partitions, replication_factor=replication_factor)
        for name, partitions in catalogue.items()
    ]


@dataclass(frozen=True)
class TopicOutcome:
    name: str
    status: Literal["created", "exists", "failed"]
    partitions: int
    wanted_partitions: int
    detail: str = ""

    def line(self) -> str:
        text = f"{self.status:<8} {self.name}  partitions={self.partitions}"
        if self.status == "exists" and self.partitions < self.wanted_partitions:
            text += (
                f"  WARNING: the code wants {self.wanted_partitions}; adding partitions moves "
                "keys to other partitions, so do it only between deployments"
            )
        if self.detail:
            text += f"  {self.detail}"
        return text


async def create_topics(settings: KafkaSettings, plan: Sequence[NewTopic]) -> list[TopicOutcome]:
    """Create the planned topics that do not exist yet; report the others as they are."""
    async with _admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        to_create = [topic for topic in plan if topic.name not in existing]
        errors: dict[str, tuple[int, str]] = {}
        if to_create:
            response = await admin.create_topics(to_create)
            for error in response.to_object()["topic_errors"]:
                if error["error_code"]:
                    errors[error["topic"]] = (error["error_code"], error["error_message"] or "")
        # Only names known to exist are described: a metadata request naming a missing topic
        # creates it on brokers that auto-create topics.
        described = [
            topic.name
            for topic in plan
            if topic.name in existing or errors.get(topic.name, (0,))[0] == TOPIC_ALREADY_EXISTS
        ]
        partitions = await _partition_counts(admin, described)

    outcomes = []
    for topic in plan:
        wanted = topic.num_partitions
        code, message = errors.get(topic.name, (0, ""))
        if topic.name in existing or code == TOPIC_ALREADY_EXISTS:
            outcomes.append(
                TopicOutcome(topic.name, "exists", partitions.get(topic.name, 0), wanted)
            )
        elif code:
            detail = f"{for_code(code).__name__}: {message}".rstrip(": ")
            outcomes.append(TopicOutcome(topic.name, "failed", 0, wanted, detail))
        else:
            outcomes.append(
                TopicOutcome(
                    topic.name,
                    "created",
                    wanted,
                    wanted,
                    f"replication={topic.replication_factor}",
                )
            )
    return outcomes


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in await admin.describe_topics(names)
        if topic["error_code"] == 0
    }


# --- dead letters -----------------------------------------------------------------------------


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
    pending = {}
    for partition, (first, stop) in reads.items():
        if first < stop:
            tp = TopicPartition(topic, partition)
            consumer.seek(tp, first)
            pending[tp] = stop
    loop = asyncio.get_running_loop()
    last_progress = loop.time()
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for tp, records in batches.items():
            for record in records:
                if tp in pending and record.offset < pending[tp]:
                    yield record
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp]:
                del pending[tp]
        if any(batches.values()):
            last_progress = loop.time()
        elif loop.time() - last_progress > READ_STALL_SECONDS:
            where = ", ".join(f"partition {tp.partition}" for tp in pending)
            raise AdminError(
                f"reading {topic} made no progress for {READ_STALL_SECONDS:.0f}s ({where})"
            )


async def list_dead_letters(
    settings: KafkaSettings, topic: str, limit: int | None
) -> AsyncIterator[str]:
    """Lines describing the dead letters of ``topic``, oldest first, then a summary."""
    require_dlq_name(topic)
    async with _admin_client(settings) as admin:
        await _require_topics(admin, [topic], prefix=settings.kafka_topic_prefix)
    async with _consumer(settings) as consumer:
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
    async with _admin_client(settings) as admin:
        await _require_topics(admin, [topic], prefix=settings.kafka_topic_prefix)
        async with _consumer(settings) as consumer:
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
    async with _producer(settings) as producer:
        partition_counts = {t: len(await producer.partitions_for(t)) for t in set(targets)}
        for start in range(0, count, REPLAY_BATCH):
            batch = chosen[start : start + REPLAY_BATCH]
            sent = [
                await producer.send(
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


# --- connections ------------------------------------------------------------------------------


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


def _unreachable(settings: KafkaSettings, error: BaseException) -> AdminError:
    if isinstance(error, TimeoutError):
        why = f" (no answer within {CONNECT_TIMEOUT_SECONDS:.0f}s)"
    elif isinstance(error, KafkaConnectionError):
        why = ""  # aiokafka has logged the cause for each address it tried
    else:
        why = f" ({error})"
    return AdminError(
        f"cannot reach the Kafka broker at {settings.kafka_bootstrap_servers}{why}: check "
        "KAFKA_BOOTSTRAP_SERVERS, that the broker is up, and the KAFKA_SASL_* credentials"
    )


async def _start(client: Any, settings: KafkaSettings) -> None:
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_SECONDS)
    except (KafkaConnectionError, TimeoutError, OSError) as error:
        raise _unreachable(settings, error) from error


@asynccontextmanager
async def _admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(client_id="bpu-admin", **settings.client_options())
    try:
        await _start(admin, settings)
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def _consumer(settings: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        client_id="bpu-admin",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.client_options(),
    )
    try:
        await _start(consumer, settings)
        await consumer.topics()  # fills the metadata every partition lookup reads
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def _producer(settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        client_id="bpu-admin",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        **settings.client_options(),
    )
    try:
        await _start(producer, settings)
        yield producer
    finally:
        await producer.stop()


# --- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpu-admin",
        description="Operator commands: create the Kafka topics, list and replay dead letters. "
        "The broker comes from KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL and "
        "KAFKA_SASL_MECHANISM/USERNAME/PASSWORD, as for the services.",
    )
    parser.add_argument(
        "--bootstrap-servers", help="overrides KAFKA_BOOTSTRAP_SERVERS (host:port[,host:port])"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create-topics",
        help="create every topic of the event catalogue with its partition count",
        description="Create every topic the platform uses (dead-letter topics included) with "
        "its partition count, each name preceded by KAFKA_TOPIC_PREFIX if set. Topics that "
        "exist already are left as they are.",
    )
    create.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition (1 for a single broker; 3 for a production cluster)",
    )

    dlq = commands.add_parser("dlq", help="list or replay the dead letters of a topic")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")

    listing = dlq_commands.add_parser(
        "list", help="print the dead letters of a .dlq topic, oldest first (reads only)"
    )
    listing.add_argument(
        "topic", help="a dead-letter topic, <topic>.dlq, named as on the broker (with any prefix)"
    )
    listing.add_argument(
        "--limit", type=int, default=100, help="print at most this many (default 100)"
    )

    replay = dlq_commands.add_parser(
        "replay",
        help="publish dead letters back to their original topic",
        description="Publish dead letters back to their original topic with their original "
        "key, value and headers. They stay in the dead-letter topic.",
    )
    replay.add_argument(
        "topic", help="a dead-letter topic, <topic>.dlq, named as on the broker (with any prefix)"
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--offset",
        action="append",
        metavar="[PARTITION:]OFFSET",
        help="a dead letter to replay, as `dlq list` shows it; repeat for more",
    )
    which.add_argument("--all", action="store_true", help="replay every dead letter of the topic")
    return parser


async def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code. ``main`` is the console script around it."""
    args = build_parser().parse_args(argv)
    try:
        settings = KafkaSettings()
        if args.bootstrap_servers:
            settings = settings.model_copy(
                update={"kafka_bootstrap_servers": args.bootstrap_servers}
            )
        if args.command == "create-topics":
            return await _run_create_topics(settings, args.replication_factor)
        if args.dlq_command == "list":
            if args.limit < 0:
                raise AdminError(f"--limit must be 0 or more, not {args.limit}")
            async for line in list_dead_letters(settings, args.topic, args.limit):
                _say(line)
            return 0
        positions = None if args.all else [Position.parse(text) for text in args.offset]
        async for line in replay_dead_letters(settings, args.topic, positions):
            _say(line)
        return 0
    except (AdminError, ValueError) as error:
        print(f"bpu-admin: error: {error}", file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"bpu-admin: error: Kafka refused: {error!r}", file=sys.stderr)
        return 1


async def _run_create_topics(settings: KafkaSettings, replication_factor: int) -> int:
    plan = plan_topics(replication_factor, prefix=settings.kafka_topic_prefix)
    outcomes = await create_topics(settings, plan)
    for outcome in outcomes:
        _say(outcome.line())
    counts = {status: sum(o.status == status for o in outcomes) for status in ("created", "exists")}
    failed = [o for o in outcomes if o.status == "failed"]
    _say(
        f"{len(outcomes)} topics: {counts['created']} created, {counts['exists']} existed already"
        + (f", {len(failed)} failed" if failed else "")
    )
    if failed:
        raise AdminError(f"could not create {', '.join(o.name for o in failed)}")
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print("bpu-admin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
