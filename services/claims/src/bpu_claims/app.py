"""Claims service wiring; ``bpu-claims`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_claims import events
from bpu_claims.api import router
from bpu_claims.store import OUTBOX_COLLECTIONS, ClaimsStore
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
        store=ClaimsStore,
        routers=[router],
        outbox_collections=OUTBOX_COLLECTIONS,
        subscribe=events.subscribe,
    )


def main() -> None:
    serve(build_app, ClaimsSettings())  # type: ignore[arg-type]
