"""What every service process is made of: settings, store, broker, outbox relay, consumers, and
a FastAPI app with health, readiness, metrics, auth, correlation ids and problem details.

A service's ``app.py`` builds a ``Runtime``, registers its consumers on ``runtime.broker``, and
calls ``create_app`` with its routers; ``serve`` runs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.exceptions import HTTPException as StarletteHTTPException

from bpu_shared import store
from bpu_shared.admin import create_topics, plan_topics
from bpu_shared.auth import KEYS_COLLECTION, Authenticator, admin_router
from bpu_shared.errors import Problem
from bpu_shared.events import ApiKeyIssued, ApiKeyRevoked
from bpu_shared.logging import configure_logging, correlation_id
from bpu_shared.messaging.broker import make_broker
from bpu_shared.messaging.consumer import Apply, BatchConsumer, DeadLetters, E, subscribe
from bpu_shared.messaging.relay import OutboxRelay
from bpu_shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from bpu_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Runtime:
    """The process's connections and background work, started and stopped with the app."""

    def __init__(self, settings: ServiceSettings, outbox_collections: Sequence[str] = ()) -> None:
        self.settings = settings
        self.client: AsyncMongoClient = store.connect(settings)
        self.db: AsyncDatabase = store.database(self.client, settings)
        self.broker = make_broker(settings)
        self.authenticator = Authenticator(
            settings.admin_api_key.get_secret_value(), self.db[KEYS_COLLECTION]
        )
        self.relay = OutboxRelay(
            self.db,
            [KEYS_COLLECTION, *outbox_collections],
            self.broker,
            kafka_kwargs=settings.client_options(),
            before_republish=self.ensure_topics,
            retained=settings.outbox_retained_events,
            interval=settings.outbox_relay_interval_seconds,
            topic_prefix=settings.kafka_topic_prefix,
            reset_check_interval=settings.outbox_reset_check_seconds,
        )
        self.consumers: list[BatchConsumer] = []
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self.dead_letters = DeadLetters(
            self.broker, self.group_id, topic_prefix=settings.kafka_topic_prefix
        )
        # Every service keeps its own copy of the issued API keys.
        self.consume(ApiKeyIssued, self.authenticator.apply_issued)
        self.consume(ApiKeyRevoked, self.authenticator.apply_revoked)

    @property
    def group_id(self) -> str:
        """The service's consumer group: one for all its topics."""
        return self.settings.kafka_topic_prefix + self.settings.service_name

    def consume(self, event_type: type[E], apply: Apply[E]) -> BatchConsumer:
        """Apply ``event_type``'s events with ``apply`` (idempotent; one bulk write ideally)."""
        consumer = BatchConsumer(
            event_type,
            apply,
            self.dead_letters,
            attempts=self.settings.consumer_retry_attempts,
            backoff=self.settings.consumer_retry_backoff_seconds,
        )
        self.consumers.append(consumer)
        return consumer

    def on_startup(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` once the store is reachable, before the broker starts (indexes...)."""
        self._startup.append(step)

    async def start(self) -> None:
        await self._wait_for_store()
        await self.relay.ensure_indexes()
        for step in self._startup:
            await step()
        await self.ensure_topics()
        subscribe(
            self.broker,
            self.consumers,
            group_id=self.group_id,
            max_records=self.settings.consumer_max_records,
            topic_prefix=self.settings.kafka_topic_prefix,
        )
        await self.broker.start()
        self.relay.start()

    async def ensure_topics(self) -> None:
        """Create the catalogue's missing topics with their partitions: a broker that creates
        topics on first use would give them its default partition count instead."""
        if not self.settings.kafka_create_topics:
            return
        outcomes = await create_topics(
            self.settings, plan_topics(prefix=self.settings.kafka_topic_prefix)
        )
        failed = [o.line() for o in outcomes if o.status == "failed"]
        if failed:
            raise RuntimeError("could not create topics: " + "; ".join(failed))

    async def _wait_for_store(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await store.ping(self.client)
                return
            except store.TRANSIENT_STORE_ERRORS:
                if time.monotonic() > deadline:
                    raise
                log.warning("waiting for the store (MONGODB_URL)")
                await asyncio.sleep(1)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the relay, the subscribers and the connections; a broker that is gone must not
        hold the process: each step gets ``timeout`` seconds."""
        for step in (self.relay.stop, self.broker.stop, self.client.close):
            try:
                await asyncio.wait_for(step(), timeout)
            except TimeoutError:
                log.warning("stopping: %s did not finish in %.0fs", step.__qualname__, timeout)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(store.ping(self.client), 3)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        checks["broker"] = "ok" if await self.broker.ping(timeout=3) else "unreachable"
        return checks


def _problem(request: Request, problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
    )


def _field_path(loc: Sequence[Any]) -> str:
    """``("body", "nik")`` becomes ``nik``, as the domain names it; ``query.region`` stays."""
    parts = list(loc[1:] if loc and loc[0] == "body" and len(loc) > 1 else loc)
    return ".".join(str(part) for part in parts)


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("%s ready on %s:%s", settings.service_name, settings.http_host, settings.http_port)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime

    @app.middleware("http")
    async def correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        cid = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        request.state.correlation_id = cid
        token = correlation_id.set(cid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            correlation_id.reset(token)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, response.status_code).inc()
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers["x-correlation-id"] = cid
        return response

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return _problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        body = {
            "type": "about:blank",
            "title": "Invalid input",
            "status": 422,
            "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            "instance": request.url.path,
            "errors": errors,
        }
        return JSONResponse(jsonable_encoder(body), status_code=422, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(
            request, Problem(detail=str(exc.detail), status=exc.status_code, title="Error")
        )

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/ready", tags=["operations"], summary="The broker and the store are reachable")
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": settings.service_name, **checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=True)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(admin_router(settings.service_name))
    for router in routers:
        app.include_router(router)
    return app


class ServiceStore(Protocol):
    async def ensure_indexes(self) -> None: ...


S = TypeVar("S", bound=ServiceStore)


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    store: Callable[[AsyncDatabase], S],
    routers: Sequence[APIRouter],
    outbox_collections: Sequence[str] = (),
    subscribe: Callable[[Runtime, S], None] | None = None,
) -> FastAPI:
    """One service's app: its runtime, its store (indexes made at start), its subscribers and
    its routes. Routes reach the store as ``request.app.state.store``."""
    runtime = Runtime(settings, outbox_collections)
    service_store = store(runtime.db)
    runtime.on_startup(service_store.ensure_indexes)
    if subscribe is not None:
        subscribe(runtime, service_store)
    app = create_app(runtime, title=title, description=description, routers=routers)
    app.state.store = service_store
    app.state.settings = settings
    return app


def serve(app_factory: Callable[[ServiceSettings], FastAPI], settings: ServiceSettings) -> None:
    """Run one service process: logging, then uvicorn on the configured host and port."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    uvicorn.run(
        app_factory(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=True,
        lifespan="on",
    )
