"""What every service process is made of: settings, store, broker, the unit of work and its
relay (holding a lease, so replicas publish one at a time), consumers feeding the message bus,
background jobs (tallies), and a FastAPI app with health, readiness, metrics, auth,
correlation ids and problem details.

A service's ``app.py`` is its settings class and one ``service_app(...)`` call naming its
repository, its handler tables and its routers; ``serve`` runs it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Protocol, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bpu_shared import store
from bpu_shared.auth import KEYS_COLLECTION, ApiKeys, Authenticator, admin_router
from bpu_shared.clock import Clock, SystemClock
from bpu_shared.events import Event
from bpu_shared.http import document_problems, install_error_handlers
from bpu_shared.logging import configure_logging
from bpu_shared.messaging.broker import make_broker
from bpu_shared.messaging.consumer import Apply, BatchConsumer, DeadLetters, E, subscribe
from bpu_shared.messaging.lease import LEASES_COLLECTION, Lease, process_identity
from bpu_shared.messaging.relay import OutboxRelay
from bpu_shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from bpu_shared.service_layer.bus import CommandHandler, EventHandler, MessageBus, bootstrap
from bpu_shared.service_layer.context import caused_by
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from bpu_shared.settings import ServiceSettings
from bpu_shared.topics import create_topics, plan_topics

log = logging.getLogger(__name__)


class Background(Protocol):
    """A job that runs beside the consumers for the life of the process (a tally)."""

    async def ensure_indexes(self) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Runtime:
    """The process's connections and background work, started and stopped with the app."""

    def __init__(self, settings: ServiceSettings, outbox_collections: Sequence[str] = ()) -> None:
        self.settings = settings
        self.identity = process_identity()
        self.client: AsyncMongoClient = store.connect(settings)
        self.db: AsyncDatabase = store.database(self.client, settings)
        self.broker = make_broker(settings)
        self.uow = UnitOfWork(self.db, [KEYS_COLLECTION, *outbox_collections])
        self.api_keys = ApiKeys(self.db[KEYS_COLLECTION], self.uow)
        self.authenticator = Authenticator(
            settings.admin_api_key.get_secret_value(),
            self.api_keys,
            cache_seconds=settings.api_key_cache_seconds,
        )
        self.relay = OutboxRelay(
            self.db,
            self.uow.collections,
            self.broker,
            lease=self.lease("outbox-relay"),
            kafka_kwargs=settings.client_options(),
            republish_on_broker_loss=settings.outbox_republish_on_broker_loss,
            before_republish=self.ensure_topics,
            retained=settings.outbox_retained_events,
            interval=settings.outbox_relay_interval_seconds,
            topic_prefix=settings.kafka_topic_prefix,
            reset_check_interval=settings.outbox_reset_check_seconds,
        )
        self.uow.publisher = self.relay
        self.consumers: list[BatchConsumer] = []
        self.background: list[Background] = []
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self.dead_letters = DeadLetters(
            self.broker, self.group_id, topic_prefix=settings.kafka_topic_prefix
        )

    @property
    def group_id(self) -> str:
        """The service's consumer group: one for all its topics, shared by its replicas."""
        return self.settings.kafka_topic_prefix + self.settings.service_name

    def lease(self, name: str) -> Lease:
        """A lease of this process on a job only one replica may do at a time."""
        return Lease(
            self.db[LEASES_COLLECTION], name, self.identity, ttl=self.settings.lease_ttl_seconds
        )

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
        for job in self.background:
            await job.ensure_indexes()
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
        for job in self.background:
            job.start()

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
        """Stop the background jobs, the relay, the subscribers and the connections (leases are
        given up, so a replica takes over at once); a broker that is gone must not hold the
        process: each step gets ``timeout`` seconds."""

        async def bounded(step: Callable[[], Awaitable[None]]) -> None:
            try:
                await asyncio.wait_for(step(), timeout)
            except TimeoutError:
                log.warning("stopping: %s did not finish in %.0fs", step.__qualname__, timeout)

        # The background jobs at once: a service may run many (reporting a tally per kind of
        # fact), and each gives up its lease in the store, which may be gone too.
        await asyncio.gather(*(bounded(job.stop) for job in self.background))
        for step in (self.relay.stop, self.broker.stop, self.client.close):
            await bounded(step)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(store.ping(self.client), 3)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        checks["broker"] = "ok" if await self.broker.ping(timeout=3) else "unreachable"
        return checks


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

    # Swagger UI and ReDoc served from the package, not a CDN: /docs works without internet.
    app = FastAPIOffline(title=title, description=description, version="0.2.0", lifespan=lifespan)
    app.state.runtime = runtime

    app.add_middleware(Correlated)
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="The broker and the store are reachable",
        response_model=dict[str, str],
        responses={
            503: {
                "description": "The broker or the store is unreachable",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
            }
        },
    )
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "service": settings.service_name, **checks},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(admin_router())
    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        # Errors leave as problem details: the spec says so on every route (see http.py).
        # FastAPI caches its document (anew when routes change); documenting it is idempotent.
        return document_problems(FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class ServiceRepository(Protocol):
    """A service's repository: what it publishes from (its outbox collections) and its
    indexes."""

    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]]

    async def ensure_indexes(self) -> None: ...


R = TypeVar("R", bound=ServiceRepository)


class Repository:
    """Base of a service's repository: its database, the unit of work its changes go
    through, and the service's copy of the API keys (the key handlers use it)."""

    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.uow = runtime.uow
        self.api_keys = runtime.api_keys

    async def ensure_indexes(self) -> None:
        """Indexes the service's queries need; none in the base."""


def service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    repository: Callable[[Runtime], R],
    outbox_collections: Sequence[str],
    commands: Mapping[type, CommandHandler],
    events: Mapping[type[Event], Sequence[EventHandler]],
    routers: Sequence[APIRouter],
    background: Callable[[Runtime, R], Sequence[Background]] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """One service's app: its runtime, its repository (indexes made at start), its handler
    tables behind a message bus (every event type in ``events`` is consumed), its background
    jobs and its routes. Routes reach the bus as ``request.app.state.bus``."""
    runtime = Runtime(settings, outbox_collections)
    repo = repository(runtime)
    runtime.on_startup(repo.ensure_indexes)
    if background is not None:
        runtime.background.extend(background(runtime, repo))
    bus: MessageBus[Any, Any] = bootstrap(
        repository=repo,
        publisher=runtime.relay,
        clock=clock or SystemClock(),
        settings=settings,
        commands=commands,
        events=events,
    )
    for event_type in bus.events:
        runtime.consume(event_type, bus.apply)
    app = create_app(runtime, title=title, description=description, routers=routers)
    app.state.bus = bus
    app.state.repository = repo
    app.state.settings = settings
    return app


S = TypeVar("S", bound=ServiceSettings)


class Correlated:
    """Every HTTP request gets a correlation id (the caller's ``X-Correlation-Id``, or a new
    one) and a request id, both answered as headers and made the cause of whatever its handler
    does and logs; its count and latency go to the metrics by route. A plain ASGI middleware:
    Starlette's ``BaseHTTPMiddleware`` runs each request's handler in a task of its own and
    cost a dashboard read about a third of its time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = Headers(scope=scope).get("x-correlation-id") or str(uuid.uuid4())
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = cid
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-correlation-id"] = cid
                headers["x-request-id"] = request_id
            await send(message)

        # The request is the cause of whatever its handler raises.
        with caused_by(cid, f"request:{request_id}"):
            await self.app(scope, receive, answer)
        path = getattr(scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(scope["method"], path, status).inc()
        HTTP_LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)


async def freeze_heap() -> None:
    """Every object alive once the service has started (modules, settings, the region list,
    the app) moved out of the cycle collector's reach (``gc.freeze``): its full collections then
    walk only what requests and batches make. Without it a dashboard read waited now and then
    for a collection of the whole heap: p99 of 55–78 ms where p90 was 23 ms
    (bench/reporting_reads.py)."""
    gc.collect()
    gc.freeze()


def serve(app_factory: Callable[[S], FastAPI], settings: S) -> None:
    """Run one service process: logging, then uvicorn on the configured host and port."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    app = app_factory(settings)
    app.state.runtime.on_startup(freeze_heap)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=True,
        lifespan="on",
    )
