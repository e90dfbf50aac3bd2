"""Bulk enrolment: a clerk's file of up to 100,000 workers, or last year's programme carried
over, enrolled as a background job that reports as it goes.

Starting a job reads and checks the whole file at once (a file that cannot be read is refused
then, and enrols no one), stores it and answers with the job. The runner (``ImportRunner``,
one replica at a time through a lease) takes the rows in chunks: each row is parsed, checked
as ``POST /workers`` checks it, and the chunk's candidates are enrolled by ``enrol_many``;
those the quota has no seat for go on the waiting list. After each chunk the job records how
far it got, its counts and the rows it rejected, in one guarded write: a process that stops
resumes from the last chunk recorded, and running a chunk twice enrols no one twice
(``enrol_many`` finds them enrolled). Workers registered in a chunk are published as the chunk
is written, so reporting counts them while the job runs.

The same file uploaded again for the same programme answers the job it made (unless that job
failed): its counts and error report stand for the file. A carry-over asked again while one
runs answers that one; asked after it finished, it runs again and finds the workers carried
already enrolled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal, Protocol, cast

from pydantic import Field

from bpu_registration.domain import (
    Applicant,
    EnrolmentStatus,
    Programme,
    ProgrammeClosedError,
    Worker,
    mask_nik,
    new_id,
)
from bpu_registration.files import (
    COLUMN_NAMES,
    Row,
    RowError,
    RowValues,
    Sheet,
    cell_text,
    duplicate_niks,
    error_report_csv,
    parse_row,
    read_sheet,
    sheet_niks,
)
from bpu_registration.handlers.base import WRITERS, Registration, load_programme
from bpu_registration.handlers.waiting_list import put_on_waiting_list
from bpu_registration.handlers.workers import Candidate, Enrolled, NoSeat, Outcome, enrol_many
from bpu_registration.store import RegistrationRepository
from bpu_registration.store.imports import (
    ChunkDone,
    Counts,
    ImportJob,
    JobKind,
    JobState,
    RejectedRow,
    positions_of,
)
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import SystemClock
from bpu_shared.errors import DomainError, InvalidInput, NotFound
from bpu_shared.events import EndReason, ProgrammeStatus
from bpu_shared.http import RequestModel
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop, LeaseLost
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import Deps
from bpu_shared.store import TRANSIENT_STORE_ERRORS

log = logging.getLogger(__name__)

#: A job whose chunk fails this many times (not for a store outage) fails for good.
MAX_ATTEMPTS = 3

#: The columns of a carry-over's rows, as the template names them, and the worker's id: the
#: error report of a carry-over reads like an import file.
CARRY_OVER_HEADERS = (
    "nik",
    "name",
    "phone",
    "occupation",
    "domicile_code",
    "declared_monthly_income",
    "worker_id",
)

#: Who sees whole NIKs in a carry-over's error report (its rows come from the store, not from
#: the caller's own file); everyone else sees them masked.
SEES_NIK = (Role.ADMIN, Role.OPERATOR)


# -- commands and queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class StartImport:
    """A clerk's file for a programme: CSV (Excel's too) or XLSX, as the template says."""

    programme_id: str
    filename: str | None
    data: bytes


class CarryOverRequest(RequestModel):
    from_programme_id: str = Field(
        max_length=100, description="Last year's programme, whose workers this one takes on"
    )


@dataclass(frozen=True)
class CarryOver:
    programme_id: str
    request: CarryOverRequest


@dataclass(frozen=True)
class GetImport:
    import_id: str


@dataclass(frozen=True)
class ListImports:
    programme_id: str | None = None
    limit: int = 100
    skip: int = 0


@dataclass(frozen=True)
class GetImportErrors:
    import_id: str


@dataclass(frozen=True)
class Started:
    """The job the request made (``created``), or the one made before for the same file."""

    job: ImportJob
    created: bool


@dataclass(frozen=True)
class ErrorReport:
    filename: str
    content: bytes


class JobFailed(Exception):
    """The job cannot go on (its programme or its file is gone): it fails at once."""


# -- start -------------------------------------------------------------------------------------


async def start_import(cmd: StartImport, principal: Principal, deps: Registration) -> Started:
    """Check the whole file and queue it; ``FileRefused`` (nothing stored, nobody enrolled)
    when it cannot be read. The same file for the same programme answers its earlier job."""
    principal.require_role(*WRITERS)
    programme, _ = await load_programme(deps, principal, cmd.programme_id, field="programme_id")
    if programme.status is ProgrammeStatus.CLOSED:
        raise ProgrammeClosedError(programme)
    settings = deps.settings
    # Reading 100,000 rows takes a second of CPU: in a thread, the event loop keeps serving.
    sheet = await asyncio.to_thread(
        read_sheet,
        cmd.data,
        cmd.filename,
        max_rows=settings.import_max_rows,
        max_bytes=settings.import_max_bytes,
    )
    sha256 = hashlib.sha256(cmd.data).hexdigest()
    key = f"file:{programme.programme_id}:{sha256}"
    existing = await deps.repository.import_by_key(key)
    if existing is not None:
        return Started(existing, created=False)
    job = ImportJob(
        job_id=new_id("IM"),
        kind=JobKind.FILE,
        programme_id=programme.programme_id,
        region_code=programme.region_code,
        dedup_key=key,
        created_by=principal,
        created_at=deps.clock.now(),
        rows_total=len(sheet.rows),
        headers=sheet.headers,
        positions=dict(sheet.positions),
        filename=cmd.filename,
        file_format=sheet.format,
        sha256=sha256,
        size_bytes=len(cmd.data),
    )
    return Started(*await deps.repository.add_import(job, cmd.data))


async def carry_over(cmd: CarryOver, principal: Principal, deps: Registration) -> Started:
    """Queue the carry-over of last year's workers into ``programme_id``: each is enrolled
    with the checks of a new enrolment (ages on the new first month, the one-payer rule)."""
    principal.require_role(*WRITERS)
    target, _ = await load_programme(deps, principal, cmd.programme_id)
    source_id = cmd.request.from_programme_id
    source, enrolled = await load_programme(deps, principal, source_id, field="from_programme_id")
    if source.programme_id == target.programme_id:
        raise InvalidInput("from_programme_id", "a programme cannot carry its workers to itself")
    if target.status is ProgrammeStatus.CLOSED:
        raise ProgrammeClosedError(target)
    key = f"carry-over:{target.programme_id}:{source.programme_id}"
    existing = await deps.repository.import_by_key(key)
    if existing is not None:
        return Started(existing, created=False)
    job = ImportJob(
        job_id=new_id("IM"),
        kind=JobKind.CARRY_OVER,
        programme_id=target.programme_id,
        region_code=target.region_code,
        dedup_key=key,
        created_by=principal,
        created_at=deps.clock.now(),
        rows_total=enrolled,  # its seats taken; the exact count is known at the end
        headers=CARRY_OVER_HEADERS,
        positions=positions_of(CARRY_OVER_HEADERS, COLUMN_NAMES),
        from_programme_id=source.programme_id,
    )
    return Started(*await deps.repository.add_import(job, None))


# -- read --------------------------------------------------------------------------------------


async def get_import(q: GetImport, principal: Principal, deps: Registration) -> ImportJob:
    principal.require_role(*WRITERS)
    return await _visible_job(deps, principal, q.import_id)


async def list_imports(q: ListImports, principal: Principal, deps: Registration) -> list[ImportJob]:
    """Newest first; a sponsor key sees its region's jobs."""
    principal.require_role(*WRITERS)
    region = principal.scope(None)
    return await deps.repository.list_imports(q.programme_id, region, q.limit, q.skip)


async def import_error_report(
    q: GetImportErrors, principal: Principal, deps: Registration
) -> ErrorReport:
    """The rejected rows as sent, each after its row number, the columns at fault and the
    reasons: a clerk fixes them and uploads the report itself again. A carry-over's NIKs come
    from the store, so they are masked for keys that see NIKs masked elsewhere."""
    principal.require_role(*WRITERS)
    job = await _visible_job(deps, principal, q.import_id)
    rejected = await deps.repository.rejected_rows(job.job_id)
    mask = job.kind is JobKind.CARRY_OVER and principal.role not in SEES_NIK
    nik_at = job.positions.get("nik")
    rows = []
    for r in rejected:
        cells = list(r.cells)
        if mask and nik_at is not None and nik_at < len(cells) and len(cells[nik_at]) == 16:
            cells[nik_at] = mask_nik(cells[nik_at])
        rows.append(Row(r.row, tuple(cells), job.headers))
    sheet = Sheet(
        format=cast(Literal["csv", "xlsx"], job.file_format or "csv"),
        headers=job.headers,
        columns=tuple(sorted(job.positions, key=job.positions.__getitem__)),
        ignored_columns=(),
        rows=rows,
        positions=job.positions,
    )
    errors = [RowError(r.row, column, reason) for r in rejected for column, reason in r.problems]
    return ErrorReport(_report_name(job), error_report_csv(sheet, errors))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _report_name(job: ImportJob) -> str:
    stem = (job.filename or job.job_id).rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return f"{_UNSAFE.sub('_', stem).strip('_') or job.job_id}-errors.csv"


async def _visible_job(deps: Registration, principal: Principal, job_id: str) -> ImportJob:
    job = await deps.repository.import_job(job_id)
    # Outside a sponsor's region is "not found": a key must not learn what lies elsewhere.
    if job is None or not principal.can_access(job.region_code):
        raise NotFound("import", job_id)
    return job


# -- the rows of a job -------------------------------------------------------------------------


@dataclass
class Batch:
    """The next rows of a job, checked: the candidates to enrol, the rows refused already
    (row → problems as (column, reason)), and how to show a row as sent."""

    start: int  # rows of the job before this batch
    rows: int
    candidates: list[Candidate]
    refused: dict[int, list[tuple[str, str]]]
    cells_of: Callable[[int], tuple[str, ...]]
    cursor: str | None = None
    last: bool = False
    rows_total: int | None = None


class Source(Protocol):
    async def batch(self, start: int, cursor: str | None, size: int) -> Batch:
        """Up to ``size`` rows after the first ``start`` (or after ``cursor``)."""
        ...


def column_of(field: str | None) -> str:
    """The file column a domain error's field names; "" (the row as a whole) for a field that
    is not a column (the programme, closed meanwhile)."""
    return field if field in COLUMN_NAMES else ""


def check_applicant(
    number: int, refused: dict[int, list[tuple[str, str]]], min_income: int, **fields: Any
) -> Applicant | None:
    """The row's applicant as ``Applicant.check`` makes it, or None with the domain's reason
    noted for row ``number``."""
    try:
        return Applicant.check(**fields, min_declared_income=min_income)
    except DomainError as error:
        refused[number] = [(column_of(error.field), error.detail)]
        return None


#: Rows checked between two looks at the event loop: a batch is prepared beside the chunks
#: being written, not in front of them.
_SLICE = 100


@dataclass(frozen=True)
class ParsedRow:
    row: Row
    values: RowValues | None
    problems: list[tuple[str, str]]


class FileRows:
    """The rows of an uploaded file, parsed once (a NIK repeating an earlier row's is reported
    over the whole file) and taken in the waiting-list order — priority, date of request, row
    — so that when the quota runs out part-way, the seats went to the rows the sponsor put
    first, whichever chunk they were in. Rows that cannot be read come first (they take no
    seat). Each row is checked as an enrolment request when its batch is taken."""

    def __init__(self, sheet: Sheet, min_income: int) -> None:
        self.sheet = sheet
        self.min_income = min_income
        self.width = len(sheet.headers)
        repeated: dict[int, list[RowError]] = {}
        for error in duplicate_niks(sheet_niks(sheet)):
            repeated.setdefault(error.row, []).append(error)
        parsed = []
        for row in sheet.rows:
            values, errors = parse_row(sheet, row)
            errors += repeated.get(row.number, [])
            problems = [(e.column, e.reason) for e in errors]
            parsed.append(ParsedRow(row, None if problems else values, problems))
        self.rows = sorted(parsed, key=_file_order)

    @classmethod
    def read(cls, data: bytes, filename: str | None, min_income: int) -> FileRows:
        return cls(
            read_sheet(data, filename, max_rows=MAX_ROWS_READ, max_bytes=len(data)), min_income
        )

    async def batch(self, start: int, cursor: str | None, size: int) -> Batch:
        rows = self.rows[start : start + size]
        refused: dict[int, list[tuple[str, str]]] = {}
        candidates: list[Candidate] = []
        for n, p in enumerate(rows):
            if n and not n % _SLICE:
                await asyncio.sleep(0)
            values = p.values
            if values is None:
                refused[p.row.number] = p.problems
                continue
            applicant = check_applicant(
                p.row.number,
                refused,
                self.min_income,
                nik=values.nik,
                name=values.name,
                phone=values.phone,
                occupation=values.occupation,
                village_code=values.domicile_code,
                declared_monthly_income=values.declared_monthly_income,
            )
            if applicant is not None:
                candidates.append(
                    Candidate(
                        p.row.number,
                        applicant,
                        values.cover_start,
                        values.priority,
                        values.requested_on,
                    )
                )
        by_number = {p.row.number: p.row for p in rows}

        def cells_of(number: int) -> tuple[str, ...]:
            return tuple(cell_text(v) for v in by_number[number].values[: self.width])

        return Batch(
            start=start,
            rows=len(rows),
            candidates=candidates,
            refused=refused,
            cells_of=cells_of,
            last=start + len(rows) >= len(self.rows),
        )


#: A stored file was checked against the limits when it came; reading it again, only its
#: own size bounds it.
MAX_ROWS_READ = 10**9


def _file_order(p: ParsedRow) -> tuple[int, date, int]:
    v = p.values
    if v is None:
        return (-1, date.min, p.row.number)
    # The order of Candidate.order (enrol_many's seat order within a call), over the file.
    return (
        v.priority if v.priority is not None else 2**62,
        v.requested_on or date.max,
        p.row.number,
    )


def carries_over(worker: Worker, programme_id: str) -> bool:
    """Whether the worker goes on to next year's programme: its enrolment in ``programme_id``
    is active, or ended only because the programme ended (closed at the year's end). Who
    died, moved away, withdrew or moved to another programme does not."""
    return any(
        e.programme_id == programme_id
        and (e.status is EnrolmentStatus.ACTIVE or e.end_reason is EndReason.PROGRAMME_ENDED)
        for e in worker.enrolments
    )


class CarriedWorkers:
    """The workers of last year's programme, by worker id, each checked again as a new
    enrolment request with what the store holds of them."""

    def __init__(self, repository: RegistrationRepository, from_programme_id: str, min_income: int):
        self.repository = repository
        self.from_programme_id = from_programme_id
        self.min_income = min_income
        self.ids: list[str] | None = None

    async def batch(self, start: int, cursor: str | None, size: int) -> Batch:
        if self.ids is None:
            self.ids = await self.repository.worker_ids_ever_in(self.from_programme_id)
        at = 0 if cursor is None else bisect_right(self.ids, cursor)
        page = self.ids[at : at + size]
        workers = await self.repository.workers_by_ids(page)
        carried = [w for w in workers if carries_over(w, self.from_programme_id)]
        refused: dict[int, list[tuple[str, str]]] = {}
        candidates: list[Candidate] = []
        by_number: dict[int, Worker] = {}
        for number, w in enumerate(carried, start=start + 1):
            by_number[number] = w
            applicant = check_applicant(
                number,
                refused,
                self.min_income,
                nik=w.identity.nik,
                name=w.name,
                phone=w.phone,
                occupation=w.occupation,
                village_code=w.village_code,
                declared_monthly_income=w.declared_monthly_income,
            )
            if applicant is not None:
                candidates.append(Candidate(number, applicant))

        def cells_of(number: int) -> tuple[str, ...]:
            w = by_number[number]
            return (
                w.identity.nik,
                w.name,
                w.phone or "",
                w.occupation.value,
                w.village_code,
                str(w.declared_monthly_income),
                w.worker_id,
            )

        last = at + size >= len(self.ids)
        return Batch(
            start=start,
            rows=len(carried),
            candidates=candidates,
            refused=refused,
            cells_of=cells_of,
            cursor=page[-1] if page else cursor,
            last=last,
            rows_total=start + len(carried) if last else None,
        )


# -- run ---------------------------------------------------------------------------------------


def tally(
    outcomes: Sequence[Outcome], refused: dict[int, list[tuple[str, str]]], since: datetime
) -> tuple[Counts, dict[int, list[tuple[str, str]]]]:
    """What a chunk came to: each row counted once, as accepted, already enrolled, rejected
    (``refused`` before enrolment, or by it) or waiting. An enrolment found made since
    ``since`` (the job's first start) counts as accepted: this job made it, in a run that
    stopped before recording the chunk."""
    problems = dict(refused)
    accepted = already = waiting = 0
    for outcome in outcomes:
        if isinstance(outcome, Enrolled):
            if outcome.created or outcome.enrolment.enrolled_at >= since:
                accepted += 1
            else:
                already += 1
        elif isinstance(outcome, NoSeat):
            waiting += 1
        else:
            problems[outcome.ref] = [(column_of(outcome.field), outcome.reason)]
    return Counts(accepted, already, len(problems), waiting), problems


async def enrol_batch(
    job: ImportJob, programme: Programme, batch: Batch, deps: Registration
) -> ChunkDone:
    """Enrol a batch's candidates (``enrol_many``: a few round trips for the whole batch), put
    those without a seat on the waiting list, and count what came of every row."""
    principal = job.created_by
    outcomes: list[Outcome] = []
    if batch.candidates:
        outcomes = await enrol_many(programme, batch.candidates, principal, deps)
    no_seat = [o.candidate for o in outcomes if isinstance(o, NoSeat)]
    if no_seat:
        await put_on_waiting_list(programme, no_seat, principal, deps)
    counts, problems = tally(outcomes, batch.refused, job.started_at or job.created_at)
    if counts.rows != batch.rows:
        raise AssertionError(f"chunk at row {batch.start}: {counts} for {batch.rows} rows")
    rejected = tuple(
        RejectedRow(row, tuple(problems[row]), batch.cells_of(row)) for row in sorted(problems)
    )
    return ChunkDone(
        start=batch.start,
        rows=batch.rows,
        counts=counts,
        rejected=rejected,
        cursor=batch.cursor,
        last=batch.last,
        rows_total=batch.rows_total,
    )


async def source_of(job: ImportJob, deps: Registration) -> Source:
    min_income = deps.settings.min_declared_income
    if job.kind is JobKind.CARRY_OVER:
        assert job.from_programme_id is not None
        return CarriedWorkers(deps.repository, job.from_programme_id, min_income)
    data = await deps.repository.import_file(job.job_id)
    if data is None:
        raise JobFailed(f"the file of import {job.job_id} is no longer stored")
    # A second of CPU for 100,000 rows: in a thread, the event loop keeps serving.
    return await asyncio.to_thread(FileRows.read, data, job.filename, min_income)


#: Chunks enrolled at once: the next chunk's rows are checked and turned into documents while
#: the store writes the one before. Chunks are still recorded one after the other.
PIPELINE = 2


def seats_for(free: int, batches: Sequence[Batch]) -> bool:
    """Whether ``free`` seats cover every candidate of ``batches``: then they may be enrolled
    together. When seats are short, chunks go one at a time, so the seats go in order."""
    return free >= sum(len(b.candidates) for b in batches)


async def run_import(
    job: ImportJob, deps: Registration, still_ours: Callable[[], Awaitable[bool]]
) -> ImportJob | None:
    """Run ``job`` from where it got to until done, chunk by chunk, each recorded (in order)
    before the job counts it. ``still_ours`` is asked before each chunk (the runner's lease);
    ``LeaseLost`` when another process took the job over."""
    repo, size = deps.repository, deps.settings.import_chunk_rows
    started = await repo.start_import(job, deps.clock.now())
    if started is None:
        return None
    job = started
    source = await source_of(job, deps)
    await repo.clear_import_errors(job.job_id, job.rows_done)
    running: deque[tuple[Batch, asyncio.Task[ChunkDone]]] = deque()
    start, cursor, exhausted = job.rows_done, job.cursor, False
    try:
        while job.state is JobState.RUNNING:
            while not exhausted and len(running) < PIPELINE:
                if not await still_ours():
                    raise LeaseLost(job.job_id)
                found = await repo.programme(job.programme_id)
                if found is None:
                    raise JobFailed(f"programme {job.programme_id} no longer exists")
                programme, enrolled = found
                batch = await source.batch(start, cursor, size)
                waiting_for = [b for b, _ in running]
                if running and not seats_for(programme.quota - enrolled, [*waiting_for, batch]):
                    while running:  # the seats go in order: one chunk at a time
                        job = await _record(job, running, deps)
                task = asyncio.create_task(enrol_batch(job, programme, batch, deps))
                running.append((batch, task))
                start, cursor, exhausted = batch.start + batch.rows, batch.cursor, batch.last
            job = await _record(job, running, deps)
    finally:
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(t for _, t in running), return_exceptions=True)
    return job


async def _record(
    job: ImportJob, running: deque[tuple[Batch, asyncio.Task[ChunkDone]]], deps: Registration
) -> ImportJob:
    """Wait for the oldest running chunk and record it; the job as it stands then."""
    _, task = running.popleft()
    done = await task
    if not await deps.repository.record_chunk(job, done, deps.clock.now()):
        raise LeaseLost(job.job_id)
    return replace(
        job,
        rows_done=done.start + done.rows,
        counts=job.counts + done.counts,
        cursor=done.cursor,
        state=JobState.DONE if done.last else JobState.RUNNING,
        rows_total=done.rows_total if done.rows_total is not None else job.rows_total,
    )


#: Not the job's fault: the runner stops (or the loop retries later) and the job stays open.
STOP: tuple[type[BaseException], ...] = (LeaseLost, asyncio.CancelledError, *TRANSIENT_STORE_ERRORS)


class ImportRunner(LeasedLoop):
    """Runs the queued jobs, oldest first, one replica at a time (a lease): woken when a job
    is queued, and every ``interval`` seconds for a job a stopped process left half done."""

    def __init__(self, deps: Registration, lease: Lease, interval: float) -> None:
        super().__init__("imports", lease, interval)
        self.deps = deps

    async def ensure_indexes(self) -> None:
        """The repository makes the imports' indexes."""

    async def still_ours(self) -> bool:
        return self.lease.held or await self.lease.acquire()

    async def run_pass(self) -> None:
        # Until no job is left that this pass has not tried: one queued meanwhile runs now,
        # not at the next tick (a wake during a pass is not kept).
        tried: set[str] = set()
        while True:
            waiting = [
                j for j in await self.deps.repository.open_imports() if j.job_id not in tried
            ]
            if not waiting:
                return
            job = waiting[0]
            tried.add(job.job_id)
            try:
                await run_import(job, self.deps, self.still_ours)
            except STOP:
                raise
            except Exception as exc:
                give_up = isinstance(exc, JobFailed) or job.attempts + 1 >= MAX_ATTEMPTS
                log.exception("import %s failed%s", job.job_id, "" if give_up else "; retrying")
                reason = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
                await self.deps.repository.fail_import(job, reason, self.deps.clock.now(), give_up)


def import_jobs(
    runtime: Runtime, repository: RegistrationRepository, interval: float
) -> list[ImportRunner]:
    """The background runner, for ``service_app(background=...)``; the repository wakes it
    when a job is queued."""
    deps: Registration = Deps(repository, runtime.relay, SystemClock(), runtime.settings)
    runner = ImportRunner(deps, runtime.lease("imports"), interval)
    repository.import_runner = runner
    return [runner]
