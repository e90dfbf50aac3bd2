"""Claims service wiring: settings and one ``service_app`` call; ``bpu-claims`` runs it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from bpu_claims.api import router
from bpu_claims.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_claims.store import ClaimsRepository
from bpu_shared.clock import Clock
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    service_name: str = "claims"
    http_port: int = 8003
    #: The benefit table (JSON, the shipped data/benefits.json's layout); the shipped one when
    #: not given. A regulation's change is a new row in it, never an edit.
    benefits_file: Path | None = None
    #: Months an unpaid month stays payable after it falls due, as billing's rate table says
    #: (its arrears rule): past it, a claim for that month is refused (R02).
    arrears_window_months: int = 3


def build_app(settings: ClaimsSettings, clock: Clock | None = None) -> FastAPI:
    return service_app(
        settings,
        title="Claims",
        description="JKK and JKM claims: eligibility, benefit calculation, approval, payment.",
        repository=ClaimsRepository,
        outbox_collections=ClaimsRepository.OUTBOX_COLLECTIONS,
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
        routers=[router],
        clock=clock,
    )


def main() -> None:
    serve(build_app, ClaimsSettings())
