"""Registration's import store on the real store: what the bulk enrolment relies on — the file in
GridFS, one job per file through the unique key, progress recorded once per chunk, the rejected
rows with their subdocuments, times read back as times, a carry-over's source paged by id."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from bpu_registration.domain import Applicant, Enrolment, Occupation, Worker, parse_identity
from bpu_registration.store import RegistrationRepository
from bpu_registration.store.imports import (
    IMPORT_FILES,
    IMPORTS,
    ChunkDone,
    Counts,
    ImportJob,
    JobKind,
    JobState,
    RejectedRow,
)
from bpu_shared.auth import Principal, Role
from bpu_shared.events import BenefitProgramme
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2026, 3, 2, 8, 0, 0, 123000, tzinfo=UTC)
OFFICER = Principal("paser-key", Role.SPONSOR, "64.01")


@pytest.fixture
async def repo(mongo_db: AsyncDatabase) -> RegistrationRepository:
    uow = UnitOfWork(mongo_db, RegistrationRepository.OUTBOX_COLLECTIONS)
    repository = RegistrationRepository(SimpleNamespace(db=mongo_db, uow=uow, api_keys=None))  # type: ignore[arg-type]
    await repository.ensure_import_indexes()
    return repository


def a_job(job_id: str, key: str = "file:PG-1:abc", **changes: object) -> ImportJob:
    job = ImportJob(
        job_id=job_id,
        kind=JobKind.FILE,
        programme_id="PG-1",
        region_code="64.01",
        dedup_key=key,
        created_by=OFFICER,
        created_at=T0,
        rows_total=5,
        headers=("NIK", "Nama", "Catatan"),
        positions={"nik": 0, "name": 1},
        filename="peserta.csv",
        file_format="csv",
        sha256="abc",
        size_bytes=9,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


async def test_a_file_is_kept_in_gridfs_and_a_second_job_of_the_same_key_is_not_made(repo):
    data = bytes(range(256)) * 5000  # 1.28 MB: several GridFS chunks
    job, created = await repo.add_import(a_job("IM-1"), data)
    assert created and job.job_id == "IM-1"
    assert await repo.import_file("IM-1") == data

    other, created = await repo.add_import(a_job("IM-2"), b"other bytes")
    assert not created and other.job_id == "IM-1"
    assert await repo.import_file("IM-2") is None  # its file was removed again
    # Read, not counted: the embedded store cannot count a collection whose name has a dot
    # ("no such column: data"), though it finds in it.
    assert len(await repo.db[f"{IMPORT_FILES}.files"].find({}).to_list()) == 1
    assert (await repo.import_job("IM-1")) == replace(job, headers=("NIK", "Nama", "Catatan"))


async def test_progress_is_recorded_once_per_chunk_with_its_rejected_rows(repo):
    await repo.add_import(a_job("IM-1"), b"nik\r\n1\r\n")
    job = await repo.start_import(await repo.import_job("IM-1"), T0)
    assert job is not None and job.state is JobState.RUNNING and job.started_at == T0
    rejected = (
        RejectedRow(3, (("nik", "must be 16 digits"), ("", "two problems")), ("123", "Siti", "")),
        RejectedRow(4, (("name", "the name is empty"),), ("6401011403850001", "", "x")),
    )
    first = ChunkDone(start=0, rows=3, counts=Counts(1, 0, 2, 0), rejected=rejected)
    assert await repo.record_chunk(job, first, T0 + timedelta(seconds=1))
    # Run again (a process that did not know it was recorded): its rows overwrite themselves.
    assert not await repo.record_chunk(job, first, T0 + timedelta(seconds=2))

    second = ChunkDone(start=3, rows=2, counts=Counts(1, 1, 0, 0), last=True)
    assert await repo.record_chunk(job, second, T0 + timedelta(seconds=3))
    done = await repo.import_job("IM-1")
    assert done is not None
    assert (done.state, done.rows_done, done.counts) == (JobState.DONE, 5, Counts(2, 1, 2, 0))
    # Times set by $set come back as the times written (the embedded store would keep text).
    assert done.started_at == T0
    assert done.finished_at == done.updated_at == T0 + timedelta(seconds=3)
    assert await repo.rejected_rows("IM-1") == list(rejected)
    assert await repo.import_file("IM-1") is None  # done: the file is not kept
    assert not await repo.record_chunk(done, second, T0)


async def test_a_resumed_run_forgets_the_rejected_rows_of_chunks_it_never_recorded(repo):
    await repo.add_import(a_job("IM-1"), None)
    job = await repo.start_import(await repo.import_job("IM-1"), T0)
    row = RejectedRow(2, (("nik", "bad"),), ("1",))
    assert await repo.record_chunk(job, ChunkDone(0, 2, Counts(0, 0, 1, 1), (row,)), T0)
    later = RejectedRow(5, (("nik", "bad"),), ("1",))
    await repo.db["import_errors"].insert_one(
        {
            "_id": "IM-1:0000002",
            "job_id": "IM-1",
            "start": 2,
            "rows": [{"row": 5, "problems": [{"column": "nik", "reason": "bad"}], "cells": ["1"]}],
        }
    )
    assert len(await repo.rejected_rows("IM-1")) == 2
    await repo.clear_import_errors("IM-1", 2)
    assert await repo.rejected_rows("IM-1") == [row]
    assert later not in await repo.rejected_rows("IM-1")


async def test_a_job_without_a_file_finishes_and_fails_like_one_with_a_file(repo):
    carry = a_job("IM-9", key="carry-over:PG-2:PG-1", kind=JobKind.CARRY_OVER)
    await repo.add_import(carry, None)
    job = await repo.start_import(carry, T0)
    assert await repo.record_chunk(job, ChunkDone(0, 0, Counts(), last=True, rows_total=0), T0)
    done = await repo.import_job("IM-9")
    assert done.state is JobState.DONE and done.dedup_key == "carry-over:PG-2:PG-1#IM-9"
    await repo.add_import(a_job("IM-8", key="k8"), b"x")
    await repo.fail_import(await repo.import_job("IM-8"), "gone", T0, give_up=True)
    await repo.fail_import(await repo.import_job("IM-8"), "gone", T0, give_up=True)  # no file now
    assert (await repo.import_job("IM-8")).state is JobState.FAILED


async def test_a_failed_job_gives_its_key_up_and_open_jobs_come_oldest_first(repo):
    await repo.add_import(a_job("IM-2", key="k2", created_at=T0 + timedelta(minutes=1)), b"x")
    await repo.add_import(a_job("IM-1", key="k1"), b"x")
    await repo.add_import(a_job("IM-3", key="k3", region_code="17.04"), b"x")
    assert [j.job_id for j in await repo.open_imports()] == ["IM-1", "IM-3", "IM-2"]

    job = await repo.import_job("IM-1")
    await repo.fail_import(job, "TypeError: odd", T0, give_up=False)
    assert (await repo.import_job("IM-1")).attempts == 1
    await repo.fail_import(job, "TypeError: odd", T0, give_up=True)
    failed = await repo.import_job("IM-1")
    assert (failed.state, failed.attempts, failed.error) == (JobState.FAILED, 2, "TypeError: odd")
    assert failed.dedup_key == "k1#IM-1" and await repo.import_file("IM-1") is None
    again, created = await repo.add_import(a_job("IM-4", key="k1"), b"x")
    assert created and again.job_id == "IM-4"

    assert [j.job_id for j in await repo.list_imports(None, "64.01", 10, 0)] == [
        "IM-2",
        "IM-4",
        "IM-1",
    ]
    assert [j.job_id for j in await repo.list_imports(None, "17.04", 10, 0)] == ["IM-3"]
    docs = await repo.db[IMPORTS].find({}, {"outbox_pending": 1}).to_list()
    assert all(d["outbox_pending"] == 0 for d in docs)  # jobs carry no events


async def test_a_carry_over_finds_every_worker_ever_in_the_programme(repo):
    identity = parse_identity("6401011403850001")
    applicant = Applicant(identity, "Budi", None, Occupation.FARMER, "64.01.01.2009", 1_000_000)
    for n in range(5):
        programme = "PG-2026" if n != 2 else "PG-other"
        worker = Worker.new(applicant, f"{n:011d}", T0)
        worker = replace(
            worker, worker_id=f"WK-{n}", identity=replace(identity, nik=f"640101140385000{n}")
        )
        enrolment = Enrolment(
            f"EN-{n}", programme, "SP", (BenefitProgramme.JKK,), Month(2026, 1), Month(2026, 12), T0
        )
        await repo.add_worker(worker.enrolled(enrolment), [], None)
    ids = await repo.worker_ids_ever_in("PG-2026")
    assert ids == ["WK-0", "WK-1", "WK-3", "WK-4"]
    assert [w.worker_id for w in await repo.workers_by_ids(ids[1:3])] == ["WK-1", "WK-3"]
    assert await repo.worker_ids_ever_in("PG-none") == []
