"""Services run inside the calling process, against a broker and store of the caller's choice,
with an HTTP client on the ASGI app: how the tests and the benchmarks drive them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from bpu_shared.service import Runtime
from bpu_shared.settings import ServiceSettings

T = TypeVar("T", bound=ServiceSettings)


def service_settings(
    settings_cls: type[T],
    *,
    prefix: str,
    admin_api_key: str,
    **overrides: Any,
) -> T:
    """One service's settings for one run: its own topics (``prefix``), consumer group and
    database, so several runs can share a broker and a store. ``overrides`` names the broker
    and store (``kafka_bootstrap_servers``, ``mongodb_url``) and anything else to change."""
    name = settings_cls.model_fields["service_name"].default
    values: dict[str, Any] = {
        "mongodb_database": f"{prefix}{name}".replace(".", "_"),
        "kafka_topic_prefix": prefix,
        "admin_api_key": admin_api_key,
        "log_json": False,
        **overrides,
    }
    return settings_cls(**values)


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def repository(self) -> Any:
        return self.app.state.repository


@contextlib.asynccontextmanager
async def running(build_app: Callable[[Any], FastAPI], settings: Any) -> AsyncIterator[Running]:
    """The service started (store, broker, consumers, relay) with an admin HTTP client on it."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{settings.service_name}",
            headers={"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"},
            timeout=60,
        ) as client:
            yield Running(app, client)
