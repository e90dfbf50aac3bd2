"""Claims service wiring: settings and one ``service_app`` call; ``bpu-claims`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_claims.api import router
from bpu_claims.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_claims.store import ClaimsRepository
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    service_name: str = "claims"
    http_port: int = 8003


def build_app(settings: ClaimsSettings) -> FastAPI:
    return service_app(
        settings,
        title="Claims",
        description="JKK and JKM claims: eligibility, benefit calculation, approval, payment.",
        repository=ClaimsRepository,
        outbox_collections=ClaimsRepository.OUTBOX_COLLECTIONS,
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
        routers=[router],
    )


def main() -> None:
    serve(build_app, ClaimsSettings())
