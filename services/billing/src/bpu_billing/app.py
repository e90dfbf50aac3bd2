"""Billing service wiring: settings and one ``service_app`` call; ``bpu-billing`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_billing.api import router
from bpu_billing.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_billing.store import BillingRepository
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
        repository=BillingRepository,
        outbox_collections=BillingRepository.OUTBOX_COLLECTIONS,
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
        routers=[router],
    )


def main() -> None:
    serve(build_app, BillingSettings())
