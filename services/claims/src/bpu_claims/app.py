"""Claims service wiring; ``bpu-claims`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_claims import events
from bpu_claims.api import router
from bpu_claims.store import OUTBOX_COLLECTIONS, ClaimsStore
from bpu_shared.service import Runtime, create_app, serve
from bpu_shared.settings import ServiceSettings


class ClaimsSettings(ServiceSettings):
    service_name: str = "claims"
    http_port: int = 8003


def build_app(settings: ClaimsSettings) -> FastAPI:
    runtime = Runtime(settings, OUTBOX_COLLECTIONS)
    store = ClaimsStore(runtime.db)
    runtime.on_startup(store.ensure_indexes)
    events.subscribe(runtime, store)
    app = create_app(
        runtime,
        title="Claims",
        description="JKK and JKM claims: eligibility, benefit calculation, approval, payment.",
        routers=[router],
    )
    app.state.store = store
    return app


def main() -> None:
    serve(build_app, ClaimsSettings())  # type: ignore[arg-type]
