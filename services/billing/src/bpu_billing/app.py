"""Billing service wiring; ``bpu-billing`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_billing import events
from bpu_billing.api import router
from bpu_billing.store import OUTBOX_COLLECTIONS, BillingStore
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = 8002


def build_app(settings: BillingSettings) -> FastAPI:
    return service_app(
        settings,
        title="Billing",
        description="Contribution rate tables, monthly invoices per sponsor programme, payments "
        "and cover.",
        store=BillingStore,
        routers=[router],
        outbox_collections=OUTBOX_COLLECTIONS,
        subscribe=events.subscribe,
    )


def main() -> None:
    serve(build_app, BillingSettings())  # type: ignore[arg-type]
