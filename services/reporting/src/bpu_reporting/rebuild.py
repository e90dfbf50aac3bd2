"""Rebuilding reporting's projections from the topics, while the service keeps running.

``bpu-reporting-rebuild`` (``python -m bpu_reporting.rebuild``):

1. takes the lease of every tally from the live service (the live tallies pause; its consumers
   go on recording facts, which is idempotent, so nothing they record meanwhile is lost);
2. drops every projection collection (``projection_collections``: facts, their inboxes, the
   counters and tally batches, found from the repository's ``Facts`` and ``Tally``
   attributes, and the repository's ``PROJECTION_COLLECTIONS``), never the targets, the API
   keys or the leases;
3. reads the end offsets of every topic reporting projects (``projected_topics``: the topics
   of ``EVENT_HANDLERS`` but the API keys', see below), then replays each from its beginning
   to those ends through the same message bus and handlers, decoding as the live consumer does
   (a record that is not a valid event is skipped and counted), in large batches;
4. runs the tallies until their inboxes are empty, under the held leases, and gives the
   leases back: the live tallies count whatever was recorded after.

Dropping comes before reading the ends: a fact the live consumers recorded before the drop
came from a record below the ends read after it, so the replay records it again; one recorded
after the drop is kept. A live tally may still be writing when its lease is taken (it checks
its lease before each counter write, trusting its own view of the lease for half the ttl), so
the rebuild waits a whole ttl before dropping anything.

The API keys (``ApiKeyIssued``/``ApiKeyRevoked``) are not replayed: every service keeps the
key hashes as the auth kit applies them (guarded, state by state), they are no reporting
projection, and dropping them would lock the dashboards out for the length of a rebuild.

Progress goes to the terminal (``rich``) and to a state document (collection ``rebuilds``),
which ``GET /freshness`` reads; a lease (``reporting-rebuild``) keeps two rebuilds from
running at once and tells a rebuild that died from one still running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bpu_reporting.store import ReportingRepository
from bpu_shared.auth import KEY_EVENT_HANDLERS, KEYS_COLLECTION
from bpu_shared.clock import SystemClock
from bpu_shared.events import Event
from bpu_shared.kafka_clients import (
    CLIENT_ID,
    CONNECT_TIMEOUT_SECONDS,
    AdminError,
    read_ranges,
    reader,
)
from bpu_shared.messaging.broker import true_end_offsets
from bpu_shared.messaging.exactly_once import Facts, Tally
from bpu_shared.messaging.lease import LEASES_COLLECTION, Lease
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from bpu_shared.settings import KafkaSettings, ServiceSettings
from bpu_shared.store import TRANSIENT_STORE_ERRORS

log = logging.getLogger(__name__)

#: The rebuild's state document (``_id`` ``reporting``) and the lease a rebuild holds.
REBUILDS, REBUILD_ID, REBUILD_LEASE = "rebuilds", "reporting", "reporting-rebuild"
#: Collections a rebuild never drops, whatever a repository declares.
NEVER_DROPPED = frozenset({KEYS_COLLECTION, LEASES_COLLECTION, "targets", REBUILDS})
#: Events applied per call of the handlers: one inbox document per topic and batch.
BATCH_SIZE = 5_000
#: Seconds between two readings of the live end offsets (how far behind the rebuild is).
LIVE_ENDS_EVERY = 2.0


# -- what a rebuild drops and reads -------------------------------------------------------------


def projection_collections(repository: ReportingRepository) -> list[str]:
    """Every collection the repository projects into: the collections of its ``Facts`` and
    ``Tally`` attributes (facts, inboxes, counters, tally batches) and its declared
    ``PROJECTION_COLLECTIONS``. Refuses a set naming admin data, the keys or the leases."""
    names = set(repository.PROJECTION_COLLECTIONS)
    for value in vars(repository).values():
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, Facts):
                names |= {item.coll.name, item.inbox.name}
            elif isinstance(item, Tally):
                names |= {item.facts.name, item.inbox.name, item.counters.name, item.batches.name}
    if kept := names & NEVER_DROPPED:
        raise ValueError(f"not projections, never dropped: {', '.join(sorted(kept))}")
    return sorted(names)


def projected_topics(
    handlers: Mapping[type, Sequence[Any]] | None = None,
) -> dict[str, type[Event]]:
    """The catalogue topics reporting projects, each with its event type: those of the event
    handlers' table (``EVENT_HANDLERS`` by default) but the API keys' (see the module's
    docstring)."""
    if handlers is None:
        handlers = _event_handlers()
    return {
        kind.TOPIC: kind
        for kind in handlers
        if kind not in KEY_EVENT_HANDLERS and issubclass(kind, Event)
    }


def _event_handlers() -> Mapping[type, Sequence[Any]]:
    # At call time: the handlers' module imports this one (for /freshness).
    from bpu_reporting.handlers import EVENT_HANDLERS

    return EVENT_HANDLERS


async def end_offsets(
    consumer: AIOKafkaConsumer, topics: Iterable[str]
) -> dict[TopicPartition, int]:
    """The end offset of every partition of ``topics`` (those the broker knows), right on the
    embedded broker too. Assigns the partitions to ``consumer``."""
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    return await true_end_offsets(consumer, partitions) if partitions else {}


async def consumer_lag(
    settings: KafkaSettings, group_id: str, topics: Sequence[str]
) -> dict[str, int]:
    """Per topic, the records the consumer group has not committed yet: end offsets minus
    committed offsets, summed over the partitions (a partition never committed counts whole).
    One client in the group that never joins it (it subscribes to nothing, commits nothing):
    the embedded broker's answer to an admin client's offset fetch does not decode."""
    consumer = AIOKafkaConsumer(
        client_id=CLIENT_ID,
        group_id=group_id,
        enable_auto_commit=False,
        **settings.client_options(),
    )
    try:
        try:
            await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT_SECONDS)
        except (KafkaConnectionError, TimeoutError, OSError) as error:
            raise AdminError(
                f"cannot reach the Kafka broker at {settings.kafka_bootstrap_servers}: {error!r}"
            ) from error
        await consumer.topics()
        ends = await end_offsets(consumer, topics)
        lag = dict.fromkeys(topics, 0)
        for tp, end in ends.items():
            committed = await consumer.committed(tp) or 0
            lag[tp.topic] += max(end - committed, 0)
        return lag
    finally:
        await consumer.stop()


# -- the state a rebuild leaves for /freshness ---------------------------------------------------


def _iso(moment: datetime | None = None) -> str:
    # ISO strings: the embedded store turns a top-level datetime in $set into a zone-less string.
    return (moment or datetime.now(UTC)).isoformat()


async def rebuild_status(db: AsyncDatabase, ttl: float = 5.0) -> dict[str, Any]:
    """The last rebuild's state document (without its id), ``running`` only while its process
    still holds the rebuild lease (a rebuild killed half-way is not running)."""
    doc = await db[REBUILDS].find_one({"_id": REBUILD_ID}) or {}
    doc.pop("_id", None)
    holder = await Lease(db[LEASES_COLLECTION], REBUILD_LEASE, "", ttl).holder()
    running = bool(doc.get("running")) and holder is not None and holder == doc.get("owner")
    if doc.get("running") and not running:
        doc["outcome"] = doc.get("outcome") or "stopped before the end (its process died)"
    return {**doc, "running": running}


async def facts_waiting(repository: ReportingRepository) -> dict[str, bool]:
    """Per tally, whether facts wait to be counted: one indexed find-one on its inbox and one
    on its waiting facts (never a count)."""
    waiting: dict[str, bool] = {}
    for tally in repository.tallies:
        recorded = await tally.inbox.find_one({}, {"_id": 1})
        unclaimed = await tally.facts.find_one({"tally": 0}, {"_id": 1})
        waiting[tally.tally_name] = recorded is not None or unclaimed is not None
    return waiting


async def read_all(
    consumer: AIOKafkaConsumer,
    reads: Mapping[TopicPartition, tuple[int, int]],
    max_records: int = BATCH_SIZE,
) -> AsyncIterator[ConsumerRecord]:
    """The records of every partition in ``[first, stop)``, every topic at once (one topic
    after another costs the embedded broker half a second each): ``read_ranges`` over the
    partitions assigned."""
    pending = [tp for tp, (first, stop) in reads.items() if first < stop]
    if not pending:
        return
    consumer.assign(pending)
    async for record in read_ranges(consumer, reads, max_records):
        yield record


# -- replaying records through the handlers ------------------------------------------------------


@dataclass
class Replay:
    """Records in, events applied by the service's bus in batches of ``batch_size`` per topic.
    A record that is not a valid event of its topic is skipped (the live consumer sent it to
    the dead-letter topic); an event whose handlers keep failing is counted as failed."""

    bus: MessageBus[Any, Any]
    event_types: Mapping[str, type[Event]]  # by topic as on the broker
    batch_size: int = BATCH_SIZE
    attempts: int = 5
    backoff: float = 0.2  # seconds before the second attempt, doubling after
    read: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    _pending: dict[str, list[Event]] = field(default_factory=dict)

    async def add(self, topic: str, value: bytes | None) -> None:
        self.read += 1
        try:
            event = self.event_types[topic].from_wire(value or b"")
        except ValidationError:
            self.skipped += 1
            return
        pending = self._pending.setdefault(topic, [])
        pending.append(event)
        if len(pending) >= self.batch_size:
            await self.flush(topic)

    async def flush(self, topic: str | None = None) -> None:
        for name in [topic] if topic else list(self._pending):
            events = self._pending.pop(name, [])
            if events:
                await self._apply(events)

    async def _apply(self, events: list[Event]) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                await self.bus.apply(events)
                self.applied += len(events)
                return
            except TRANSIENT_STORE_ERRORS:
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            except Exception:
                break
        for event in events:  # the batch keeps failing: find the events that cannot succeed
            try:
                await self.bus.apply([event])
                self.applied += 1
            except TRANSIENT_STORE_ERRORS:
                raise
            except Exception:
                self.failed += 1
                log.exception("event %s of %s not applied", event.event_id, event.TOPIC)


# -- the rebuild ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildSummary:
    collections: int
    topics: int
    events: int  # records read
    applied: int
    skipped: int
    failed: int
    counted: int  # facts the tallies counted before giving their leases back
    seconds: float  # the replay, from the first record read to the last applied
    behind: int  # records on the topics past the ends replayed, when the replay ended
    counting_seconds: float = 0.0  # the tallies, after the replay

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"rebuilt {self.collections} collections from {self.topics} topics: "
            f"{self.events:,} events replayed in {self.seconds:.1f} s ({self.rate:,.0f} events/s), "
            f"{self.skipped:,} skipped as invalid, {self.failed:,} failed; "
            f"{self.counted:,} facts counted in {self.counting_seconds:.1f} s; "
            f"{self.behind:,} newer events left to the live consumers"
        )


Hook = Callable[[], Awaitable[None]]


class _Leases:
    """The tallies' leases taken from the live service and the rebuild's own, kept renewed
    until ``release``."""

    def __init__(self, own: Lease, taken: Sequence[Lease]) -> None:
        self.own = own
        self.taken = list(taken)
        self._keeper: asyncio.Task[None] | None = None

    async def take(self) -> None:
        if not await self.own.acquire():
            holder = await self.own.holder()
            raise AdminError(f"a rebuild is running already ({holder}); wait for it to end")
        longest = self.own.ttl
        for lease in self.taken:
            now = time.time()
            before = await lease.coll.find_one_and_update(
                {"_id": lease.name},
                {"$set": {"owner": lease.owner, "expires": now + lease.ttl, "renewed": now}},
                upsert=True,
            )
            if before is not None and "renewed" in before:  # the live holder's own ttl
                longest = max(longest, float(before["expires"]) - float(before["renewed"]))
            if not await lease.acquire():
                raise AdminError(f"could not take the lease {lease.name}")
        self._keeper = asyncio.create_task(self._keep(), name="rebuild leases")
        # A live holder trusts its view of the lease for half its ttl and may be between two
        # writes of a batch: a whole ttl and a margin, and it has stopped writing.
        await asyncio.sleep(longest + 0.5)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.own.ttl / 4)
            for lease in (self.own, *self.taken):
                with contextlib.suppress(*TRANSIENT_STORE_ERRORS):
                    await lease.acquire()

    async def release(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        for lease in (*self.taken, self.own):
            with contextlib.suppress(Exception):
                await lease.release()


class _LiveEnds:
    """How many records the projected topics hold now (start to end, every partition), read
    every ``LIVE_ENDS_EVERY`` seconds by a reader of its own."""

    def __init__(self, settings: KafkaSettings, topics: Sequence[str], starts: int) -> None:
        self.settings = settings
        self.topics = topics
        self.starts = starts
        self.total = 0

    async def follow(self) -> None:
        async with reader(self.settings) as consumer:
            while True:
                with contextlib.suppress(KafkaError):
                    ends = await end_offsets(consumer, self.topics)
                    self.total = sum(ends.values()) - self.starts
                await asyncio.sleep(LIVE_ENDS_EVERY)


async def rebuild(
    settings: ServiceSettings,
    *,
    console: Console | None = None,
    batch_size: int = BATCH_SIZE,
    after_ends: Hook | None = None,
) -> RebuildSummary:
    """Rebuild reporting's projections in ``settings``' store from its topics (see the
    module's docstring). ``console`` shows the progress (none without); ``after_ends`` runs
    once the end offsets to replay to are read (tests publish there)."""
    runtime = Runtime(settings)
    repository = ReportingRepository(runtime)
    bus: MessageBus[Any, Any] = bootstrap(
        repository=repository,
        publisher=runtime.relay,
        clock=SystemClock(),
        settings=settings,
        commands={},
        events=_event_handlers(),
    )
    db = runtime.db
    state = db[REBUILDS]
    prefix = settings.kafka_topic_prefix
    kinds = {prefix + topic: kind for topic, kind in projected_topics().items()}
    topics = sorted(kinds)
    collections = projection_collections(repository)
    leases = _Leases(runtime.lease(REBUILD_LEASE), [t.lease for t in repository.tallies])
    replay = Replay(bus, kinds, batch_size=batch_size)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} · behind live by {task.fields[behind]} events"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=False,
    )
    follower: asyncio.Task[None] | None = None
    outcome = "failed"
    try:
        await leases.take()
        started_at = _iso()
        await state.replace_one(
            {"_id": REBUILD_ID},
            {
                "_id": REBUILD_ID,  # named again: NX-27017 upserts a replacement without it
                "running": True,
                "owner": leases.own.owner,
                "started_at": started_at,
                "phase": "dropping",
                "replayed": 0,
                "total": None,
                "behind": None,
            },
            upsert=True,
        )
        for name in collections:
            await db.drop_collection(name)
        await repository.ensure_indexes()
        for tally in repository.tallies:
            await tally.ensure_indexes()

        async with reader(settings) as consumer:
            ends = await end_offsets(consumer, topics)
            # Only where there is something: the embedded broker takes 0.2 s per empty one.
            filled = [tp for tp, end in ends.items() if end > 0]
            starts = await consumer.beginning_offsets(filled) if filled else {}
            total = sum(ends[tp] - starts.get(tp, 0) for tp in ends)
            await state.update_one(
                {"_id": REBUILD_ID}, {"$set": {"phase": "replaying", "total": total}}
            )
            if after_ends is not None:
                await after_ends()
            live = _LiveEnds(settings, topics, sum(starts.values()))
            live.total = total
            follower = asyncio.create_task(live.follow(), name="rebuild live ends")
            began = time.monotonic()
            last_shown = 0.0
            with progress:
                task = progress.add_task("replaying", total=total, rate="", behind=f"{total:,}")
                reads = {tp: (starts.get(tp, 0), end) for tp, end in ends.items()}
                async for record in read_all(consumer, reads, batch_size):
                    await replay.add(record.topic, record.value)
                    if (now := time.monotonic()) - last_shown >= 0.5:
                        last_shown = now
                        await _show(progress, task, state, replay, live, began)
                await replay.flush()
                await _show(progress, task, state, replay, live, began)
            seconds = time.monotonic() - began

        await state.update_one({"_id": REBUILD_ID}, {"$set": {"phase": "counting"}})
        counting = time.monotonic()
        with console.status("counting") if console is not None else contextlib.nullcontext():
            counted = await _count_all(repository.tallies)
        summary = RebuildSummary(
            collections=len(collections),
            topics=len(topics),
            events=replay.read,
            applied=replay.applied,
            skipped=replay.skipped,
            failed=replay.failed,
            counted=counted,
            seconds=seconds,
            behind=max(live.total - replay.read, 0),
            counting_seconds=time.monotonic() - counting,
        )
        outcome = "done"
        await state.update_one(
            {"_id": REBUILD_ID},
            {
                "$set": {
                    "phase": "done",
                    "replayed": replay.read,
                    "skipped": replay.skipped,
                    "failed": replay.failed,
                    "rate_per_second": round(summary.rate, 1),
                    "seconds": round(seconds, 2),
                    "summary": summary.line(),
                }
            },
        )
        return summary
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
        with contextlib.suppress(Exception):
            await state.update_one(
                {"_id": REBUILD_ID, "owner": leases.own.owner},
                {"$set": {"running": False, "finished_at": _iso(), "outcome": outcome}},
            )
        await leases.release()
        await runtime.client.close()


async def _show(
    progress: Progress,
    task: Any,
    state: Any,
    replay: Replay,
    live: _LiveEnds,
    began: float,
) -> None:
    seconds = max(time.monotonic() - began, 1e-9)
    behind = max(live.total - replay.read, 0)
    progress.update(
        task,
        completed=replay.read,
        rate=f"{replay.read / seconds:,.0f} events/s",
        behind=f"{behind:,}",
    )
    with contextlib.suppress(*TRANSIENT_STORE_ERRORS):
        await state.update_one(
            {"_id": REBUILD_ID}, {"$set": {"replayed": replay.read, "behind": behind}}
        )


async def _count_all(tallies: Sequence[Tally], passes: int = 10) -> int:
    """Run the tallies, side by side, each until its inbox is empty (the live consumers may go
    on recording: after ``passes`` passes what is left is the live tallies' once the leases
    are back); how many facts they counted."""

    async def count(tally: Tally) -> int:
        counted = 0
        for _ in range(passes):
            counted += await tally.run_once()
            if await tally.inbox.find_one({}, {"_id": 1}) is None:
                break
        return counted

    return sum(await asyncio.gather(*(count(tally) for tally in tallies)))


# -- the command ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpu-reporting-rebuild",
        description="Drop reporting's projections and replay every topic it projects from the "
        "beginning, while the service keeps running. Reads the service's settings from the "
        "environment (MONGODB_URL, MONGODB_DATABASE, KAFKA_BOOTSTRAP_SERVERS, "
        "KAFKA_TOPIC_PREFIX, KAFKA_SASL_*, LEASE_TTL_SECONDS).",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        help=f"events applied per handler call (default {BATCH_SIZE:,})",
    )
    return parser


def _settings() -> ServiceSettings:
    from bpu_reporting.app import ReportingSettings  # the app imports this module's readers

    # The rebuild serves no HTTP: it needs no admin key, the settings do.
    needs_key = {} if os.environ.get("ADMIN_API_KEY") else {"admin_api_key": "-" * 16}
    return ReportingSettings(**needs_key)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.batch_size < 1:
        print("bpu-reporting-rebuild: error: --batch-size must be 1 or more", file=sys.stderr)
        return 2
    console = Console(highlight=False)
    try:
        summary = asyncio.run(rebuild(_settings(), console=console, batch_size=args.batch_size))
    except (AdminError, ValueError) as error:
        print(f"bpu-reporting-rebuild: error: {error}", file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"bpu-reporting-rebuild: error: Kafka refused: {error!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bpu-reporting-rebuild: interrupted", file=sys.stderr)
        return 130
    print(summary.line(), flush=True)  # one line, however narrow the terminal
    return 0


if __name__ == "__main__":
    sys.exit(main())
