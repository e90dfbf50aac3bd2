"""Billing service wiring; ``bpu-billing`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_billing import events
from bpu_billing.api import router
from bpu_billing.store import OUTBOX_COLLECTIONS, BillingStore
from bpu_shared.service import Runtime, create_app, serve
from bpu_shared.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = 8002


def build_app(settings: BillingSettings) -> FastAPI:
    runtime = Runtime(settings, OUTBOX_COLLECTIONS)
    store = BillingStore(runtime.db)
    runtime.on_startup(store.ensure_indexes)
    events.subscribe(runtime, store)
    app = create_app(
        runtime,
        title="Billing",
        description="Contribution rate tables, monthly invoices per sponsor programme, payments "
        "and cover.",
        routers=[router],
    )
    app.state.store = store
    return app


def main() -> None:
    serve(build_app, BillingSettings())  # type: ignore[arg-type]
