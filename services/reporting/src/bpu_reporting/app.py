"""Reporting service wiring: settings and one ``service_app`` call; ``bpu-reporting`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from bpu_reporting.api import router
from bpu_reporting.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_reporting.store import ReportingRepository
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8004


def build_app(settings: ReportingSettings) -> FastAPI:
    return service_app(
        settings,
        title="Reporting",
        description="Coverage and benefit totals per province, regency, district and village, "
        "projected from the platform's events. Holds no personal data.",
        repository=ReportingRepository,
        outbox_collections=ReportingRepository.OUTBOX_COLLECTIONS,
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
        routers=[router],
        background=lambda runtime, repository: repository.tallies,
    )


def main() -> None:
    serve(build_app, ReportingSettings())
