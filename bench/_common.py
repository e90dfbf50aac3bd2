"""What the benchmark scripts share: an embedded broker and store of their own, services run
in-process against them, percentiles, progress bars and result tables.

Each script starts Tansu and NX-27017 on free ports in a temporary folder (as the test suite
does) and stops them when it ends, also on Ctrl-C or an error. The servers get SIGTERM if the
script itself is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from pymongo import AsyncMongoClient, monitoring
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bpu_devstack.inprocess import Running, service_settings
from bpu_devstack.inprocess import running as run_in_process
from bpu_devstack.servers import EmbeddedKafka, EmbeddedMongo, free_port

ADMIN_KEY = "bench-admin-key-" + "0" * 16
T = TypeVar("T")

#: Wide enough for the result tables when the output goes to a file.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@dataclass(frozen=True)
class Infra:
    kafka: EmbeddedKafka
    mongo: EmbeddedMongo
    folder: Path

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def mongodb_url(self) -> str:
        return self.mongo.url

    def dead(self) -> str | None:
        """Why a server of ours is no longer running, with the end of its log; else None."""
        logs = {
            "kafka": [self.folder / "kafka.log"],
            "mongodb": [self.folder / "mongo.log", self.mongo.data_dir / "nx-27017.log"],
        }
        for server in (self.kafka, self.mongo):
            if server.proc is not None and server.proc.poll() is not None:
                tail = []
                for path in logs[server.name]:
                    if path.exists():
                        tail += path.read_text(errors="replace").splitlines()[-15:]
                return (
                    f"the embedded {server.name} exited with code {server.proc.returncode}; "
                    "its last log lines:\n" + "\n".join(tail)
                )
        return None


@contextlib.contextmanager
def embedded_infra() -> Iterator[Infra]:
    """Tansu and NX-27017 on free ports, their data and logs in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bpu-bench-") as tmp:
        folder = Path(tmp)
        kafka = EmbeddedKafka(port=free_port(), log_path=folder / "kafka.log")
        mongo = EmbeddedMongo(
            port=free_port(), data_dir=folder / "mongodb", log_path=folder / "mongo.log"
        )
        try:
            with console.status("starting the embedded broker and store"):
                kafka.start(die_with_parent=True)
                mongo.start(die_with_parent=True)
            console.print(
                f"broker {kafka.bootstrap_servers}, store {mongo.url}, data in {folder}",
                style="dim",
            )
            yield Infra(kafka, mongo, folder)
        finally:
            kafka.stop()
            mongo.stop()


@contextlib.asynccontextmanager
async def watched(infra: Infra, grace: float = 30.0) -> AsyncIterator[None]:
    """Stop the benchmark when the broker or store dies under it, rather than wait forever:
    the body is cancelled with the server's log tail; if it does not end within ``grace``
    seconds (a client stuck on the dead server), the process exits."""
    main = asyncio.current_task()
    assert main is not None
    reason: list[str] = []

    async def watch() -> None:
        while True:  # a child process has no awaitable exit here: poll it
            why = infra.dead()
            if why is not None:
                break
            await asyncio.sleep(0.5)
        reason.append(why)
        console.print(why, style="bold red")
        main.cancel()
        await asyncio.sleep(grace)
        console.print("still not stopped: exiting", style="bold red")
        infra.kafka.stop()
        infra.mongo.stop()
        shutil.rmtree(infra.folder, ignore_errors=True)
        os._exit(1)

    watcher = asyncio.create_task(watch())
    try:
        yield
    except asyncio.CancelledError:
        if reason:
            raise RuntimeError(reason[0]) from None
        raise
    finally:
        watcher.cancel()


def unique_prefix() -> str:
    """A topic prefix (and database name stem) of this run's own, as the tests use."""
    return f"b{uuid.uuid4().hex[:8]}."


def settings_for(settings_cls: type[T], infra: Infra, prefix: str, **overrides: Any) -> T:
    """A service's settings against ``infra``, logging warnings only."""
    return service_settings(
        settings_cls,
        prefix=prefix,
        admin_api_key=ADMIN_KEY,
        **{
            "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
            "mongodb_url": infra.mongodb_url,
            "log_level": "WARNING",
            **overrides,
        },
    )


@contextlib.asynccontextmanager
async def running(build_app: Callable[[Any], FastAPI], settings: Any) -> AsyncIterator[Running]:
    """The service started in this process, as the tests run it, with warnings logged."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    async with run_in_process(build_app, settings) as service:
        yield service


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    on_value: Callable[[T], None] | None = None,
) -> tuple[T, float]:
    """Poll ``probe`` until ``accept`` holds; the last value and the seconds it took."""
    started = time.perf_counter()
    while True:
        value = await probe()
        if on_value is not None:
            on_value(value)
        if accept(value):
            return value, time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"still {value!r} after {timeout:.0f}s")
        await asyncio.sleep(interval)


def percentile(values: list[float], p: int) -> float:
    """The ``p``-th percentile (1–99) of ``values``, interpolated between closest ranks."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def show(title: str, rows: list[tuple[str, str]]) -> None:
    """A two-column table of figures."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "n/a"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


async def raw_insert_rate(url: str, count: int) -> float:
    """What the store can do, the reference beside a measured figure: small plain documents,
    1,000 per ``insert_many``, into a database of their own, per second."""
    client: AsyncMongoClient = AsyncMongoClient(url)
    name = f"raw_{unique_prefix().strip('.')}"
    try:
        coll = client[name]["plain"]
        began = time.perf_counter()
        for start in range(0, count, 1000):
            await coll.insert_many(
                [{"_id": i, "n": i} for i in range(start, min(start + 1000, count))]
            )
        return count / (time.perf_counter() - began)
    finally:
        await client.drop_database(name)
        await client.close()


async def read_topic(bootstrap: str, topic: str, key: Callable[[bytes], str]) -> tuple[int, int]:
    """Records on every partition of ``topic`` and how many distinct ``key(value)`` among them,
    read from the beginning. Read rather than taken from ``end_offsets``: Tansu 0.6 answers
    ListOffsets(latest) with the last *batch's* first offset + 1, short of the true end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return 0, 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records, distinct = 0, set()
        while batch := await consumer.getmany(timeout_ms=1000, max_records=10_000):
            for recs in batch.values():
                records += len(recs)
                distinct.update(key(r.value or b"") for r in recs)
        return records, len(distinct)
    finally:
        await consumer.stop()


class StoreTime(monitoring.CommandListener):
    """Seconds and round trips per store command (``update``, ``aggregate``...), as PyMongo's
    command monitoring reports them for every client created after ``register()``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def register(self) -> StoreTime:
        monitoring.register(self)
        return self

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event.command_name, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event.command_name, event.duration_micros)

    def _add(self, name: str, micros: int) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + micros / 1e6
        self.calls[name] = self.calls.get(name, 0) + 1
