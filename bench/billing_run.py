"""One month's billing run for N workers: the roster filled through the roster handler's bulk
path (``workers_registered``'s enrolment documents, 1,000 to an insert as the consumer writes
them), then ``bill_programme`` for the programme's month timed phase by phase: reading the
roster (a projection, large batches), pricing and totalling the lines, encoding the line
blocks, drafting, writing the blocks (several inserts at a time) and issuing the invoice with
its ``ContributionInvoiced``. A second run of the same month (it must create nothing) is timed
too.

Beside them, in the same run, the store's raw ``insert_many`` rate of small plain documents,
and the peak resident memory of this process and of the store.

    uv run --frozen python bench/billing_run.py --workers 100000
    uv run --frozen python bench/billing_run.py --workers 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import (
    console,
    embedded_infra,
    progress,
    rate,
    raw_insert_rate,
    show,
    unique_prefix,
    watched,
)
from pymongo import AsyncMongoClient

from bpu_billing.handlers.runs import bill_programme
from bpu_billing.store import BillingRepository
from bpu_billing.store.roster import NEVER, PROGRAMMES
from bpu_shared.clock import FixedClock
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps
from bpu_shared.service_layer.unit_of_work import UnitOfWork

PERIOD = Month(2026, 1)
PROGRAMME = "PG-bench-2026"
#: Paser's ten districts, a few villages each, and incomes over several JKK bands.
DISTRICTS = [f"64.01.{d:02d}" for d in range(1, 11)]
INCOMES = [1_000_000, 1_000_000, 1_000_000, 1_500_000, 2_200_000, 3_000_000]
OCCUPATIONS = ["farmer", "fisher", "trader", "farm_labourer"]


def enrolment(i: int) -> dict[str, Any]:
    """The document ``workers_registered`` stores for one ``WorkerRegistered``."""
    district = DISTRICTS[i % len(DISTRICTS)]
    return {
        "_id": f"EN-{i:08d}",
        "worker_id": f"WK-{i:08d}",
        "programme_id": PROGRAMME,
        "sponsor_id": "SP-bench",
        "first_month": "2026-01",
        "last_month": None,
        "benefits": ["JKK", "JKM"],
        "occupation": OCCUPATIONS[i % len(OCCUPATIONS)],
        "province_code": "64",
        "regency_code": "64.01",
        "district_code": district,
        "village_code": f"{district}.{2001 + i % 7}",
        "income": INCOMES[i % len(INCOMES)],
        "as_of": "2025-12-20T01:00:00.000000+00:00",
        "ended_as_of": NEVER,
        "registered": True,
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb(pid: int | None) -> float | None:
    """A process's peak resident memory (Linux ``/proc``), in MB."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def bench(url: str, n: int, store_pid: int | None, raw: int) -> None:
    client: AsyncMongoClient = AsyncMongoClient(url, tz_aware=True)
    db = client[f"billing_{unique_prefix().strip('.')}"]
    uow = UnitOfWork(db, BillingRepository.OUTBOX_COLLECTIONS)
    repo = BillingRepository(SimpleNamespace(db=db, uow=uow, api_keys=None))  # type: ignore[arg-type]
    await repo.ensure_indexes()
    deps = Deps(repo, uow.publisher, FixedClock(datetime(2026, 1, 1, 1, tzinfo=UTC)), None)
    try:
        await db[PROGRAMMES].insert_one(
            {
                "_id": PROGRAMME,
                "sponsor_id": "SP-bench",
                "name": "Bench",
                "region_code": "64.01",
                "budget_year": 2026,
                "budget_rupiah": 16_800 * 12 * n,
                "quota": n,
                "benefits": ["JKK", "JKM"],
                "start_month": "2026-01",
                "end_month": "2026-12",
                "funding_source": "apbd_regency",
                "status": "open",
                "occupations": [],
                "as_of": "2025-12-01T00:00:00.000000+00:00",
            }
        )
        with console.status("raw insert_many of plain documents"):
            before = await raw_insert_rate(url, raw)
        began = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("roster (bulk path, 1,000 a batch)", total=n)
            for start in range(0, n, 1000):
                await repo.add_enrolments(
                    [enrolment(i) for i in range(start, min(n, start + 1000))]
                )
                bar.update(task, completed=min(n, start + 1000))
        fill = time.perf_counter() - began

        marks: dict[str, float] = {}

        async def mark(point: str) -> None:
            marks[point] = time.perf_counter()

        rss_before = rss_mb()
        with console.status(f"billing {PERIOD} for {n:,} workers"):
            began = marks["start"] = time.perf_counter()
            billed = await bill_programme(deps, PROGRAMME, PERIOD, "bench", mark)
            run = time.perf_counter() - began
        assert billed.lines == n, billed
        invoice = await repo.invoice(billed.invoice_id or "")
        assert invoice is not None and invoice["worker_count"] == n
        with console.status("the same month again (creates nothing)"):
            began = time.perf_counter()
            again = await bill_programme(deps, PROGRAMME, PERIOD, "bench-again")
            rerun = time.perf_counter() - began
        assert again.invoice_id is None, again
        with console.status("raw insert_many of plain documents, again"):
            after = await raw_insert_rate(url, raw)
        store_peak = peak_mb(store_pid)

        def step(start: str, end: str) -> str:
            return f"{marks[end] - marks[start]:,.2f} s"

        show(
            f"one month's billing run, {n:,} workers ({billed.invoice_id})",
            [
                ("roster filled (bulk path)", f"{fill:,.1f} s ({rate(n, fill)})"),
                ("run: read the roster (blobs)", step("start", "roster-read")),
                ("run: price and total the lines", step("roster-read", "priced")),
                ("run: encode the line blocks", step("priced", "encoded")),
                ("run: draft the invoice", step("encoded", "drafted")),
                ("run: write the line blocks", step("drafted", "blocks-written")),
                ("run: issue (one write, with the event)", step("blocks-written", "issued")),
                ("run: in all", f"{run:,.2f} s"),
                ("invoice lines per second", rate(n, run)),
                ("invoice amount", f"Rp{invoice['amount_rupiah']:,}"),
                ("the same month again (nothing new)", f"{rerun:,.2f} s"),
                ("store: insert_many of plain documents, before", f"{before:,.0f}/s"),
                ("store: insert_many of plain documents, after", f"{after:,.0f}/s"),
                ("lines/s ÷ plain inserts/s", f"{n / run / ((before + after) / 2):.2f}"),
                ("peak RSS, this process (before the run)", f"{rss_before:,.0f} MB"),
                ("peak RSS, this process", f"{rss_mb():,.0f} MB"),
                ("peak RSS, the store", f"{store_peak:,.0f} MB" if store_peak else "n/a"),
            ],
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        async with watched(infra):
            proc = infra.mongo.proc
            await bench(infra.mongodb_url, args.workers, proc.pid if proc else None, args.raw)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=100_000, help="workers (N)")
    parser.add_argument(
        "--raw", type=int, default=100_000, help="plain documents for the reference"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
