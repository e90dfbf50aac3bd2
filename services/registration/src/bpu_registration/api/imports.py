"""``/imports``: upload a list of workers (CSV or XLSX), follow the job, download the error
report and the templates; ``/programmes/{id}/carry-over``: last year's workers into this year's
programme, as a job of the same kind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, Field

from bpu_registration import files
from bpu_registration.api.base import ask
from bpu_registration.handlers import (
    CarryOver,
    CarryOverRequest,
    ErrorReport,
    GetImport,
    GetImportErrors,
    ListImports,
    Started,
    StartImport,
)
from bpu_registration.store.imports import ImportJob, JobKind, JobState
from bpu_shared.auth import Anyone
from bpu_shared.clock import JAKARTA
from bpu_shared.http import problem_responses

router = APIRouter(tags=["imports"])

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportOut(BaseModel):
    """A bulk enrolment and how far it got. ``rows_done`` = ``accepted`` +
    ``already_enrolled`` + ``rejected`` + ``waiting``."""

    import_id: str
    kind: JobKind = Field(description="file: an uploaded list; carry_over: last year's workers")
    programme_id: str
    from_programme_id: str | None = Field(description="A carry-over's source programme")
    filename: str | None
    format: str | None = Field(description="csv or xlsx")
    sha256: str | None = Field(description="Of the file as uploaded")
    state: JobState
    rows_total: int = Field(
        description="Data rows of the file; for a carry-over an estimate until it is done"
    )
    rows_done: int
    accepted: int = Field(description="Rows enrolled by this import")
    already_enrolled: int = Field(description="Rows whose worker was enrolled in it before")
    rejected: int = Field(description="Rows in the error report")
    waiting: int = Field(description="Eligible rows the quota had no seat for: on the waiting list")
    created_by: str = Field(description="The key that asked")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows_per_second: float | None = Field(description="Rows done per second since it started")
    error: str | None = Field(description="Why the last attempt failed, if one did")
    errors_url: str

    @classmethod
    def of(cls, job: ImportJob) -> ImportOut:
        c = job.counts
        rate = None
        if job.started_at is not None and job.updated_at is not None and job.rows_done:
            seconds = ((job.finished_at or job.updated_at) - job.started_at).total_seconds()
            rate = round(job.rows_done / seconds, 1) if seconds > 0 else None
        return cls(
            import_id=job.job_id,
            kind=job.kind,
            programme_id=job.programme_id,
            from_programme_id=job.from_programme_id,
            filename=job.filename,
            format=job.file_format,
            sha256=job.sha256,
            state=job.state,
            rows_total=job.rows_total,
            rows_done=job.rows_done,
            accepted=c.accepted,
            already_enrolled=c.already_enrolled,
            rejected=c.rejected,
            waiting=c.waiting,
            created_by=job.created_by.key_id,
            created_at=job.created_at.astimezone(JAKARTA),
            started_at=job.started_at.astimezone(JAKARTA) if job.started_at else None,
            finished_at=job.finished_at.astimezone(JAKARTA) if job.finished_at else None,
            rows_per_second=rate,
            error=job.error,
            errors_url=f"/imports/{job.job_id}/errors",
        )


def _answer(started: Started, response: Response) -> ImportOut:
    response.headers["Location"] = f"/imports/{started.job.job_id}"
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return ImportOut.of(started.job)


_STARTED = {
    200: {
        "description": "The same file was imported for this programme before",
        "model": ImportOut,
    },
    **problem_responses(401, 403, 404, 409, 422),
}


@router.post(
    "/imports", status_code=status.HTTP_202_ACCEPTED, response_model=ImportOut, responses=_STARTED
)
async def start_import(
    request: Request,
    response: Response,
    who: Anyone,
    file: Annotated[
        UploadFile,
        File(description="CSV (comma, semicolon or tab; UTF-8 or Windows-1252) or XLSX"),
    ],
    programme_id: Annotated[str, Form(max_length=100)],
) -> ImportOut:
    """Enrol the workers of a file in a programme, as a job (202, ``Location`` the job).
    The whole file is read at once: one that cannot be read is refused (422 naming the
    problem) and enrols no one. The same file again for the same programme answers the job it
    made (200)."""
    data = await file.read()
    started = await ask(request, StartImport(programme_id, file.filename, data), who)
    return _answer(started, response)


@router.get("/imports", response_model=list[ImportOut], responses=problem_responses(401, 403, 422))
async def list_imports(
    request: Request,
    who: Anyone,
    programme_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    skip: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ImportOut]:
    """Imports and carry-overs, newest first."""
    jobs = await ask(request, ListImports(programme_id, limit, skip), who)
    return [ImportOut.of(j) for j in jobs]


# The templates come before /imports/{import_id}, which would take "template.csv" as an id.
@router.get(
    "/imports/template.csv",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}, **problem_responses(401)},
)
async def template_csv(who: Anyone) -> Response:
    """The import file's columns and an example row, as Excel in Indonesia opens a CSV."""
    return _download(files.template_csv(), CSV, "template-peserta.csv")


@router.get(
    "/imports/template.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **problem_responses(401)},
)
async def template_xlsx(who: Anyone) -> Response:
    """The XLSX template: sheet "Peserta" to fill in, sheet "Petunjuk" describing each
    column."""
    return _download(files.template_xlsx(), XLSX, "template-peserta.xlsx")


@router.get(
    "/imports/{import_id}",
    response_model=ImportOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_import(import_id: str, request: Request, who: Anyone) -> ImportOut:
    """The job's state and counts, as they stand after its last chunk."""
    return ImportOut.of(await ask(request, GetImport(import_id), who))


@router.get(
    "/imports/{import_id}/errors",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}, **problem_responses(401, 403, 404, 422)},
)
async def import_errors(import_id: str, request: Request, who: Anyone) -> Response:
    """The error report: each rejected row as sent, after its row number, the column(s) at
    fault and the reason(s). Fix the rows and upload this file again."""
    report: ErrorReport = await ask(request, GetImportErrors(import_id), who)
    return _download(report.content, CSV, report.filename)


@router.post(
    "/programmes/{programme_id}/carry-over",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    responses=_STARTED,
)
async def carry_over(
    programme_id: str, body: CarryOverRequest, request: Request, response: Response, who: Anyone
) -> ImportOut:
    """Enrol last year's workers (active, or ended with their programme) in this programme,
    each with the checks of a new enrolment, as a job like an import (202). Asked again while
    it runs, the running job (200)."""
    started = await ask(request, CarryOver(programme_id, body), who)
    return _answer(started, response)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
