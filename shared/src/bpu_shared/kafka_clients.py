"""Short-lived aiokafka clients (admin client, group-less reader, producer) opened from
``KafkaSettings``, for topic creation and operator work; an unreachable broker is one clear error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from bpu_shared.settings import KafkaSettings

CONNECT_TIMEOUT_SECONDS = 20.0
#: How these clients name themselves to the broker, whether the CLI or a service opened them.
CLIENT_ID = "bpu-admin"

C = TypeVar("C")


class AdminError(Exception):
    """A failure the operator can act on; printed without a traceback, exit code 1."""


#: Reading a range gives up after this long without a record.
READ_STALL_SECONDS = 30.0


async def read_ranges(
    consumer: AIOKafkaConsumer,
    reads: Mapping[TopicPartition, tuple[int, int]],
    max_records: int | None = None,
) -> AsyncIterator[ConsumerRecord]:
    """The records of each assigned partition in ``[first, stop)``, in offset order per
    partition, every partition at once. No consumer group: nothing is committed, and reading
    changes nothing on the broker. Gives up (``AdminError``) when no record came for
    ``READ_STALL_SECONDS``."""
    pending = {tp: stop for tp, (first, stop) in reads.items() if first < stop}
    for tp in pending:
        consumer.seek(tp, reads[tp][0])
    loop = asyncio.get_running_loop()
    last_progress = loop.time()
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=max_records)
        for tp, records in batches.items():
            stop = pending.get(tp, 0)
            for record in records:
                if record.offset < stop:
                    yield record
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp]:
                del pending[tp]
        if any(batches.values()):
            last_progress = loop.time()
        elif loop.time() - last_progress > READ_STALL_SECONDS:
            where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in pending)
            raise AdminError(f"reading made no progress for {READ_STALL_SECONDS:.0f}s ({where})")


def admin_client(settings: KafkaSettings) -> AbstractAsyncContextManager[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(client_id=CLIENT_ID, **settings.client_options())
    return _started(admin, settings, admin.close)


@asynccontextmanager
async def reader(settings: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer without a group: it commits nothing, so reading changes nothing on the broker."""
    consumer = AIOKafkaConsumer(
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.client_options(),
    )
    async with _started(consumer, settings, consumer.stop):
        await consumer.topics()  # fills the metadata every partition lookup reads
        yield consumer


def producer(settings: KafkaSettings) -> AbstractAsyncContextManager[AIOKafkaProducer]:
    client = AIOKafkaProducer(
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        **settings.client_options(),
    )
    return _started(client, settings, client.stop)


@asynccontextmanager
async def _started(
    client: C, settings: KafkaSettings, close: Callable[[], Awaitable[Any]]
) -> AsyncIterator[C]:
    try:
        await _start(client, settings)
        yield client
    finally:
        await close()


async def _start(client: Any, settings: KafkaSettings) -> None:
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_SECONDS)
    except (KafkaConnectionError, TimeoutError, OSError) as error:
        raise _unreachable(settings, error) from error


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
