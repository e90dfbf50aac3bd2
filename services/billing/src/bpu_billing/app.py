"""Billing service wiring: settings and one ``service_app`` call; ``bpu-billing`` runs it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from bpu_billing.api import router
from bpu_billing.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_billing.handlers.cover import cover_jobs
from bpu_billing.handlers.payments import payment_jobs
from bpu_billing.handlers.runs import run_jobs
from bpu_billing.store import BillingRepository
from bpu_shared.clock import Clock
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = 8002
    #: The contribution rate table (JSON, the shipped data/rates.json's layout); the shipped
    #: one when not given. A regulation's change is a new row in it, never an edit.
    rates_file: Path | None = None
    #: Billing runs: how often the runner looks for a run a stopped process left, how often the
    #: monthly loop looks at the date, and on how many first days of a month it starts the run.
    billing_run_poll_seconds: float = 5.0
    billing_monthly_check_seconds: float = 60.0
    billing_monthly_days: int = 1
    #: Payments: how often the sweep finishes payments, credit and cover a crash left half
    #: done; how often every programme's unpaid months are checked for a lapse of cover.
    payment_sweep_seconds: float = 30.0
    coverage_lapse_check_seconds: float = 86_400.0


def build_app(settings: BillingSettings, clock: Clock | None = None) -> FastAPI:
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
        background=lambda runtime, repository: [
            *run_jobs(
                runtime,
                repository,
                interval=settings.billing_run_poll_seconds,
                monthly_interval=settings.billing_monthly_check_seconds,
                monthly_days=settings.billing_monthly_days,
                clock=clock,
            ),
            *payment_jobs(runtime, repository, settings.payment_sweep_seconds, clock),
            *cover_jobs(runtime, repository, settings.coverage_lapse_check_seconds, clock),
        ],
        clock=clock,
    )


def main() -> None:
    serve(build_app, BillingSettings())
