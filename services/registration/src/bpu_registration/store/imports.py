"""Bulk-enrolment jobs in the store: the job document (its state, its counts and how far it
got), the uploaded file (GridFS, in chunks of the service's own database) and, per chunk of
rows, the rows it rejected with their reasons and their cells as sent.

A job holds ``dedup_key`` (the programme and the file's SHA-256, or the two programmes of a
carry-over) while the key stands for it; the key's unique index keeps a second job of the same
file off, and a job gives its key up by renaming it to its own id (a failed import, a finished
carry-over). Progress is one guarded write per chunk: the filter names the rows done before,
so two processes that both ran a chunk cannot both record it.

The times a job's progress sets are stored as ISO text: the embedded store turns a date given
to ``$set`` at the top level of a document into text of its own (see the registration store
checks); ``created_at``, written with the insert, stays a date and sorts the lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bpu_registration.store.workers import WORKERS
from bpu_shared.auth import Principal, Role
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from bpu_shared.store import prefix_query

IMPORTS = "imports"
#: One document per chunk of a job that rejected rows: the errors and those rows as sent.
IMPORT_ERRORS = "import_errors"
#: The GridFS bucket of uploaded files (``import_files.files`` and ``import_files.chunks``).
IMPORT_FILES = "import_files"


class JobKind(StrEnum):
    FILE = "file"  # rows of an uploaded CSV or XLSX
    CARRY_OVER = "carry_over"  # the workers of last year's programme


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


#: States in which a runner still has work to do on the job.
OPEN_STATES = (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class Counts:
    """What the rows done came to. Every row done is exactly one of the four."""

    accepted: int = 0  # enrolled by this job
    already_enrolled: int = 0  # enrolled in the programme before this job
    rejected: int = 0  # reported in the error report
    waiting: int = 0  # eligible, no seat: on the programme's waiting list

    @property
    def rows(self) -> int:
        return self.accepted + self.already_enrolled + self.rejected + self.waiting

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.accepted + other.accepted,
            self.already_enrolled + other.already_enrolled,
            self.rejected + other.rejected,
            self.waiting + other.waiting,
        )


@dataclass(frozen=True)
class ImportJob:
    """One bulk enrolment: where its rows come from, who asked, how far it got."""

    job_id: str
    kind: JobKind
    programme_id: str
    region_code: str  # the programme's, so a sponsor key sees only its region's jobs
    dedup_key: str
    created_by: Principal
    created_at: datetime
    rows_total: int
    #: The header of the rows as sent, in file order, and where each documented column is:
    #: what the error report is written with.
    headers: tuple[str, ...]
    positions: dict[str, int]
    state: JobState = JobState.QUEUED
    rows_done: int = 0
    counts: Counts = Counts()
    #: A carry-over's place in its source: the last worker id looked at.
    cursor: str | None = None
    filename: str | None = None
    file_format: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    from_programme_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class RejectedRow:
    """A rejected row for the error report: its number, each problem, its cells as sent."""

    row: int
    problems: tuple[tuple[str, str], ...]  # (column, reason)
    cells: tuple[str, ...]


@dataclass(frozen=True)
class ChunkDone:
    """What one chunk did, recorded in one write: the rows it covered, their counts, the
    rejected rows, and a carry-over's new cursor."""

    start: int  # rows done before the chunk
    rows: int
    counts: Counts
    rejected: tuple[RejectedRow, ...] = ()
    cursor: str | None = None
    last: bool = False  # the source has no rows left after this chunk
    rows_total: int | None = None  # a carry-over learns its total at the end


class NoJobRunner:
    """Until a runner is connected: queued jobs wait for its next look."""

    def wake(self) -> None:
        return None


class ImportStore:
    db: AsyncDatabase
    uow: UnitOfWork
    #: Told when a job is queued (the background runner), as the unit of work tells the relay.
    import_runner: Any = NoJobRunner()

    @property
    def _files(self) -> AsyncGridFSBucket:
        return AsyncGridFSBucket(self.db, bucket_name=IMPORT_FILES)

    async def ensure_import_indexes(self) -> None:
        jobs = self.db[IMPORTS]
        await jobs.create_index([("dedup_key", ASCENDING)], unique=True)
        await jobs.create_index([("programme_id", ASCENDING), ("created_at", DESCENDING)])
        await jobs.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
        await self.db[IMPORT_ERRORS].create_index([("job_id", ASCENDING), ("start", ASCENDING)])

    # -- jobs ------------------------------------------------------------------------------

    async def add_import(self, job: ImportJob, data: bytes | None) -> tuple[ImportJob, bool]:
        """Store a new job (and its file first, under the job's id); the job and True, or —
        its ``dedup_key`` taken by another job meanwhile — that job and False, the file
        removed again."""
        if data is not None:
            await self._files.upload_from_stream_with_id(
                job.job_id, job.filename or job.job_id, data, metadata={"sha256": job.sha256}
            )
        try:
            await self.uow.insert(IMPORTS, job_doc(job), [])
        except DuplicateKeyError:
            if data is not None:
                await self._delete_file(job.job_id)
            existing = await self.import_by_key(job.dedup_key)
            if existing is None:  # given up meanwhile: the caller may try again
                raise
            return existing, False
        self.import_runner.wake()
        return job, True

    async def import_job(self, job_id: str) -> ImportJob | None:
        doc = await self.db[IMPORTS].find_one({"_id": job_id}, OUTBOX_FIELDS)
        return to_job(doc) if doc else None

    async def import_by_key(self, dedup_key: str) -> ImportJob | None:
        doc = await self.db[IMPORTS].find_one({"dedup_key": dedup_key}, OUTBOX_FIELDS)
        return to_job(doc) if doc else None

    async def list_imports(
        self, programme_id: str | None, region_prefix: str | None, limit: int, skip: int
    ) -> list[ImportJob]:
        """Newest first."""
        query = prefix_query("region_code", region_prefix)
        if programme_id:
            query["programme_id"] = programme_id
        docs = (
            await self.db[IMPORTS]
            .find(query, OUTBOX_FIELDS)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
            .to_list()
        )
        return [to_job(d) for d in docs]

    async def open_imports(self) -> list[ImportJob]:
        """Jobs with work left, oldest first."""
        docs = (
            await self.db[IMPORTS]
            .find({"state": {"$in": [s.value for s in OPEN_STATES]}}, OUTBOX_FIELDS)
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .to_list()
        )
        return [to_job(d) for d in docs]

    async def start_import(self, job: ImportJob, now: datetime) -> ImportJob | None:
        """The job marked running (its first start kept); None once it is no longer open."""
        doc = await self.uow.update(
            IMPORTS,
            {"_id": job.job_id, "state": {"$in": [s.value for s in OPEN_STATES]}},
            {
                "$set": {
                    "state": JobState.RUNNING.value,
                    "started_at": _iso(job.started_at or now),
                    "updated_at": _iso(now),
                }
            },
            [],
        )
        return to_job(doc) if doc else None

    async def clear_import_errors(self, job_id: str, from_start: int) -> None:
        """Forget what chunks from row ``from_start`` on reported: a run that stopped before
        recording them may have written some, and the resumed run writes them again."""
        await self.db[IMPORT_ERRORS].delete_many({"job_id": job_id, "start": {"$gte": from_start}})

    async def record_chunk(self, job: ImportJob, chunk: ChunkDone, now: datetime) -> bool:
        """The chunk's rejected rows, then its progress, if the job is still where ``chunk``
        started (``rows_done``); False when another process recorded it first. Written again
        after a crash between the two, the rejected rows overwrite themselves."""
        if chunk.rejected:
            key = f"{job.job_id}:{chunk.start:07d}"
            await self.db[IMPORT_ERRORS].replace_one(
                {"_id": key},
                {
                    # Named again in the document: the embedded store's upsert would give the
                    # new document an id of its own, and a second run a second document.
                    "_id": key,
                    "job_id": job.job_id,
                    "start": chunk.start,
                    "rows": [
                        {
                            "row": r.row,
                            "problems": [{"column": c, "reason": why} for c, why in r.problems],
                            "cells": list(r.cells),
                        }
                        for r in chunk.rejected
                    ],
                },
                upsert=True,
            )
        done = chunk.start + chunk.rows
        fields: dict[str, Any] = {
            "rows_done": done,
            "updated_at": _iso(now),
            "cursor": chunk.cursor,
        }
        if chunk.last:
            fields.update(state=JobState.DONE.value, finished_at=_iso(now))
            if job.kind is JobKind.CARRY_OVER:  # the next carry-over of the two may run
                fields["dedup_key"] = f"{job.dedup_key}#{job.job_id}"
        if chunk.rows_total is not None:
            fields["rows_total"] = chunk.rows_total
        c = chunk.counts
        saved = await self.uow.update(
            IMPORTS,
            {"_id": job.job_id, "rows_done": chunk.start, "state": JobState.RUNNING.value},
            {
                "$set": fields,
                "$inc": {
                    "accepted": c.accepted,
                    "already_enrolled": c.already_enrolled,
                    "rejected": c.rejected,
                    "waiting": c.waiting,
                },
            },
            [],
        )
        if saved is not None and chunk.last:
            await self._delete_file(job.job_id)
        return saved is not None

    async def fail_import(self, job: ImportJob, error: str, now: datetime, give_up: bool) -> None:
        """Note a failed attempt; with ``give_up`` the job fails for good, its key given up
        (the same file may then be uploaded again) and its file deleted."""
        fields: dict[str, Any] = {"error": error, "updated_at": _iso(now)}
        if give_up:
            fields.update(
                state=JobState.FAILED.value,
                finished_at=_iso(now),
                dedup_key=f"{job.dedup_key}#{job.job_id}",
            )
        await self.uow.update(
            IMPORTS,
            {"_id": job.job_id, "state": {"$in": [s.value for s in OPEN_STATES]}},
            {"$set": fields, "$inc": {"attempts": 1}},
            [],
        )
        if give_up:
            await self._delete_file(job.job_id)

    # -- the file and the rejected rows ----------------------------------------------------

    async def import_file(self, job_id: str) -> bytes | None:
        try:
            stream = await self._files.open_download_stream(job_id)
        except NoFile:
            return None
        return bytes(await stream.read())

    async def _delete_file(self, job_id: str) -> None:
        # Looked for first: the embedded store answers the delete of a missing file with a
        # plain OperationFailure where MongoDB's GridFS raises NoFile (a carry-over has none).
        if await self.db[f"{IMPORT_FILES}.files"].find_one({"_id": job_id}, {"_id": 1}) is None:
            return
        try:
            await self._files.delete(job_id)
        except NoFile:
            pass

    async def rejected_rows(self, job_id: str) -> list[RejectedRow]:
        """Every rejected row of the job, in row order."""
        docs = (
            await self.db[IMPORT_ERRORS].find({"job_id": job_id}).sort("start", ASCENDING).to_list()
        )
        rows = [
            RejectedRow(
                row=int(r["row"]),
                problems=tuple((p["column"], p["reason"]) for p in r["problems"]),
                cells=tuple(r["cells"]),
            )
            for d in docs
            for r in d["rows"]
        ]
        return sorted(rows, key=lambda r: r.row)

    # -- a carry-over's source -------------------------------------------------------------

    async def worker_ids_ever_in(self, programme_id: str) -> list[str]:
        """The ids of the workers with any enrolment in the programme (active or ended), in
        order: one index read. The workers are then read by id, a page at a time (a range on
        ``_id`` beside another condition reads every document on the embedded store)."""
        cursor = self.db[WORKERS].find({"programme_ids": {"$in": [programme_id]}}, {"_id": 1})
        return sorted([str(d["_id"]) async for d in cursor])


# -- documents ---------------------------------------------------------------------------------


def job_doc(job: ImportJob) -> dict[str, Any]:
    c = job.counts
    return {
        "_id": job.job_id,
        "kind": job.kind.value,
        "programme_id": job.programme_id,
        "region_code": job.region_code,
        "dedup_key": job.dedup_key,
        "created_by": {
            "key_id": job.created_by.key_id,
            "role": job.created_by.role.value,
            "region_scope": job.created_by.region_scope,
        },
        "created_at": job.created_at,
        "rows_total": job.rows_total,
        "headers": list(job.headers),
        "positions": dict(job.positions),
        "state": job.state.value,
        "rows_done": job.rows_done,
        "accepted": c.accepted,
        "already_enrolled": c.already_enrolled,
        "rejected": c.rejected,
        "waiting": c.waiting,
        "cursor": job.cursor,
        "filename": job.filename,
        "file_format": job.file_format,
        "sha256": job.sha256,
        "size_bytes": job.size_bytes,
        "from_programme_id": job.from_programme_id,
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "updated_at": _iso(job.updated_at),
        "error": job.error,
        "attempts": job.attempts,
    }


def to_job(d: dict[str, Any]) -> ImportJob:
    who = d["created_by"]
    return ImportJob(
        job_id=d["_id"],
        kind=JobKind(d["kind"]),
        programme_id=d["programme_id"],
        region_code=d["region_code"],
        dedup_key=d["dedup_key"],
        created_by=Principal(who["key_id"], Role(who["role"]), who.get("region_scope")),
        created_at=d["created_at"],
        rows_total=int(d["rows_total"]),
        headers=tuple(d.get("headers") or ()),
        positions={k: int(v) for k, v in (d.get("positions") or {}).items()},
        state=JobState(d["state"]),
        rows_done=int(d["rows_done"]),
        counts=Counts(
            int(d["accepted"]), int(d["already_enrolled"]), int(d["rejected"]), int(d["waiting"])
        ),
        cursor=d.get("cursor"),
        filename=d.get("filename"),
        file_format=d.get("file_format"),
        sha256=d.get("sha256"),
        size_bytes=d.get("size_bytes"),
        from_programme_id=d.get("from_programme_id"),
        started_at=_time(d.get("started_at")),
        finished_at=_time(d.get("finished_at")),
        updated_at=_time(d.get("updated_at")),
        error=d.get("error"),
        attempts=int(d.get("attempts", 0)),
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _time(stored: str | datetime | None) -> datetime | None:
    return datetime.fromisoformat(stored) if isinstance(stored, str) else stored


def positions_of(headers: Sequence[str], columns: Sequence[str]) -> dict[str, int]:
    """Where each of ``columns`` is in ``headers`` (a carry-over writes the template's
    column names as its headers)."""
    return {name: headers.index(name) for name in columns if name in headers}
