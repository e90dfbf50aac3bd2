"""Reporting service wiring: settings and one ``service_app`` call; ``bpu-reporting`` runs it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field, field_validator

from bpu_reporting.api import router
from bpu_reporting.api.common import AnswerCache
from bpu_reporting.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from bpu_reporting.handlers.targets import load_targets_file
from bpu_reporting.store import ReportingRepository
from bpu_shared.service import serve, service_app
from bpu_shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    http_port: int = 8004
    targets_file: Path | None = Field(
        None,
        description="A targets CSV loaded at start (deploy/targets/bengkulu-2026.csv); what an "
        "operator set since through the API stays",
    )

    dashboard_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="How long an answer of /coverage, /contributions and /benefits is kept for "
        "the same question and asker (0: never); its as_of says how old the counters are",
    )

    @field_validator("targets_file", mode="before")
    @classmethod
    def _no_file(cls, value: object) -> object:
        """An empty ``TARGETS_FILE`` (compose passes one when .env sets none) is no file."""
        return None if value == "" else value


def build_app(settings: ReportingSettings) -> FastAPI:
    app = service_app(
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
    app.state.answers = AnswerCache(settings.dashboard_cache_seconds)
    if settings.targets_file is not None:
        path, deps = settings.targets_file, app.state.bus.deps

        async def load_targets() -> None:
            await load_targets_file(path, deps.repository, deps.clock)

        app.state.runtime.on_startup(load_targets)
    return app


def main() -> None:
    serve(build_app, ReportingSettings())
