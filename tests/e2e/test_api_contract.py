"""Each service's HTTP API keeps its OpenAPI contract: schemathesis generates requests from the
spec the running service publishes (valid ones and invalid ones, with the admin key, with a key
that is not valid and with none) and finds no server error, no status the operation does not
document and no response that differs from its documented content type or schema. And ``/docs``
is served with every asset it needs, without internet."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation

from bpu_billing.app import BillingSettings
from bpu_billing.app import build_app as build_billing
from bpu_claims.app import ClaimsSettings
from bpu_claims.app import build_app as build_claims
from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from tests.e2e.test_slice import enrol
from tests.harness import ADMIN_KEY, settings_for, village_in

pytestmark = [
    pytest.mark.e2e,
    # schemathesis's negative generation draws from `random`, which Hypothesis seeds per example.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module:FutureWarning"),
]

SERVICES: dict[str, tuple[Callable[[Any], Any], type]] = {
    "registration": (build_registration, RegistrationSettings),
    "billing": (build_billing, BillingSettings),
    "claims": (build_claims, ClaimsSettings),
    "reporting": (build_reporting, ReportingSettings),
}

#: Checked on every response, besides the checks the installed schemathesis runs by default.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: A schema-valid request may still be invalid input: a region code of the right shape that is
#: not in the Kemendagri list, a NIK whose digits disagree, a programme id that does not exist,
#: a day before the first rate table. The services answer those 422 with the field named, as
#: documented; any other answer to valid data (400, 5xx...) still fails.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
            }
        }
    }
)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NOT_A_KEY = {"Authorization": "Bearer bpu_0000000000000000_not-a-key"}

#: Examples per operation and generation mode: enough to reach every documented answer of
#: these small operations, few enough for the file to run in about a minute on two cores.
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module", params=list(SERVICES))
async def service(
    request: pytest.FixtureRequest, infra: Any, prefix: str
) -> AsyncIterator[Running]:
    build, settings_cls = SERVICES[request.param]
    async with running(build, settings_for(settings_cls, infra, prefix)) as svc:
        yield svc


class LoopBridge:
    """An ASGI app that serves each request with the service's app in the test's event loop.

    schemathesis calls an ASGI app from an event loop in a thread of its own, while the
    service's store and broker connections belong to the test's loop: the request is read
    there, answered here, and its response messages are replayed there."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the fixture runs the service's own lifespan
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        future = asyncio.run_coroutine_threadsafe(self._serve(dict(scope), body), self.loop)
        for message in await asyncio.wrap_future(future):
            await send(message)

    async def _serve(self, scope: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        answered = asyncio.Event()
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            await self.app(scope, receive, send)
        except Exception:
            # As a server would: the app's own error middleware has sent its 500 already;
            # an app that sent nothing answers 500 here, which not_a_server_error reports.
            if not sent:
                sent = [
                    {"type": "http.response.start", "status": 500, "headers": []},
                    {"type": "http.response.body", "body": b""},
                ]
        finally:
            answered.set()
        return sent


@dataclass
class Findings:
    """Distinct failures across a run: one entry per operation, check and status."""

    seen: dict[tuple[str, str, int], str] = field(default_factory=dict)
    calls: int = 0

    def add(self, label: str, error: FailureGroup, status: int) -> None:
        for failure in error.exceptions:
            key = (label, failure.title, status)
            if key not in self.seen:
                self.seen[key] = f"{label} -> {status}: {failure.title}\n{str(error)[:1500]}"

    def report(self) -> str:
        return f"{len(self.seen)} distinct failures in {self.calls} calls:\n\n" + "\n\n".join(
            self.seen.values()
        )


def exercise(
    operation: Any,
    findings: Findings,
    *,
    mode: GenerationMode,
    auth: str = "admin",
    max_examples: int = MAX_EXAMPLES,
    path_parameters: dict[str, Any] | None = None,
) -> None:
    """Send up to ``max_examples`` generated requests to ``operation`` and record what the checks
    find. ``auth``: ``admin`` (the admin key: schemathesis also checks that the operation refuses
    the same request without it, or with a made-up key), ``made-up`` (a key never issued) or
    ``none`` (no ``Authorization`` header)."""
    headers = {"admin": ADMIN, "made-up": NOT_A_KEY, "none": None}[auth]

    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(
        case=operation.as_strategy(
            generation_mode=mode, path_parameters=path_parameters, headers=headers
        )
    )
    def run(case: Any) -> None:
        if auth == "none":
            case.headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
        findings.calls += 1
        try:
            response = case.call()
        except Exception as exc:  # the call itself failed: as bad as a server error
            findings.seen.setdefault(
                (operation.label, type(exc).__name__, 0),
                f"{operation.label}: {type(exc).__name__}: {exc}",
            )
            return
        try:
            case.validate_response(
                response,
                additional_checks=CHECKS,
                headers=ADMIN if auth == "admin" else None,  # the caller's own credentials
            )
        except FailureGroup as error:
            findings.add(operation.label, error, response.status_code)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if not mode.is_negative:
            raise
        # Nothing the operation takes can be made invalid (a free-form string in its path).


#: Where a request carries input (the one header, Authorization, is the credentials).
INPUT = (ParameterLocation.PATH, ParameterLocation.QUERY, ParameterLocation.BODY)


def takes_input(operation: Any) -> bool:
    return bool(
        any(p.location in INPUT for p in operation.iter_parameters()) or list(operation.body)
    )


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


async def contract_schema(svc: Running) -> Any:
    """The spec the running service publishes, loaded by schemathesis and bound to the app."""
    spec = await svc.client.get("/openapi.json")
    assert spec.status_code == 200, spec.text
    schema = schemathesis.openapi.from_dict(spec.json(), config=CONFIG)
    schema.app = LoopBridge(svc.app, asyncio.get_running_loop())
    return schema


async def test_every_operation_keeps_its_contract(service: Running) -> None:
    schema = await contract_schema(service)
    ops = operations(schema)
    assert len(ops) >= 7, [op.label for op in ops]
    findings = Findings()

    def fuzz() -> None:
        for op in ops:
            exercise(op, findings, mode=GenerationMode.POSITIVE)
            if takes_input(op):  # invalid input exists only where there is input
                exercise(op, findings, mode=GenerationMode.NEGATIVE)
            # Without a key, and with one that is not valid: 401 where a key is required.
            for auth in ("none", "made-up"):
                exercise(op, findings, mode=GenerationMode.POSITIVE, auth=auth, max_examples=5)

    await asyncio.to_thread(fuzz)
    assert not findings.seen, findings.report()


async def test_registration_answers_on_records_that_exist(infra: Any, prefix: str) -> None:
    """The reads by id answer 200 (and their schema is checked) when the id exists, not only
    404: a sponsor, a programme and a worker are made first."""
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix + "r.")
    ) as svc:
        [worker] = await enrol(svc, "17.04", village_in("17.04.01"))
        ids = {name: worker[name] for name in ("sponsor_id", "programme_id", "worker_id")}
        schema = await contract_schema(svc)
        by_id = {
            op: name
            for op in operations(schema)
            for name in ids
            if op.method == "get" and op.path.endswith("{" + name + "}")
        }
        assert len(by_id) == 3, [op.label for op in by_id]
        findings = Findings()

        def fuzz() -> None:
            for op, name in by_id.items():
                exercise(
                    op,
                    findings,
                    mode=GenerationMode.POSITIVE,
                    max_examples=5,
                    path_parameters={name: ids[name]},
                )

        await asyncio.to_thread(fuzz)
        assert not findings.seen, findings.report()
        listed = await svc.client.get("/sponsors", params={"region": "17.04"})
        assert [s["sponsor_id"] for s in listed.json()] == [ids["sponsor_id"]]


def typed(schema: dict[str, Any]) -> bool:
    """A JSON schema that says what the body holds: a model, a list of typed items, a map of
    typed values (not ``{}`` nor any object)."""
    if "$ref" in schema:
        return True
    if "anyOf" in schema:
        return all(typed(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return typed(schema.get("items", {}))
    if kind == "object":
        values = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(values, dict) and typed(values))
    return kind is not None


async def test_the_spec_documents_every_answer(service: Running) -> None:
    """Read from the spec alone: success bodies are typed, every error status is problem details
    as ``application/problem+json`` only (FastAPI's own 422 schema is gone), a route that needs a
    key documents 401 and a route with input documents 422."""
    spec = (await service.client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    problem = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    wrong = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("2") and "application/json" in content:
                    if not typed(content["application/json"]["schema"]):
                        wrong.append(f"{where} {status}: untyped body")
                if status.startswith("4") and content != {"application/problem+json": problem}:
                    wrong.append(f"{where} {status}: {sorted(content)} is not problem details")
            if operation.get("security") and "401" not in responses:
                wrong.append(f"{where}: 401 undocumented")
            if (operation.get("parameters") or operation.get("requestBody")) and (
                "422" not in responses
            ):
                wrong.append(f"{where}: 422 undocumented")
    assert not wrong, "\n".join(wrong)


async def test_numeric_query_parameters_are_bounded(service: Running) -> None:
    """Every integer in a query has documented bounds, and a number outside them (however
    long) is invalid input naming the parameter, before the store sees it."""
    spec = (await service.client.get("/openapi.json")).json()
    checked = set()
    for path, item in spec["paths"].items():
        if "{" in path:
            continue
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] != "query" or "integer" not in str(schema):
                    continue
                name = parameter["name"]
                assert "minimum" in schema and "maximum" in schema, (method, path, name)
                for value in (
                    schema["minimum"] - 1,
                    schema["maximum"] + 1,
                    "99999999999999999999",
                    "-99999999999999999999",
                ):
                    response = await service.client.request(method, path, params={name: str(value)})
                    assert response.status_code == 422, (method, path, name, value)
                    assert response.headers["content-type"] == "application/problem+json"
                    assert response.json()["errors"][0]["field"] == f"query.{name}"
                checked.add(name)
    if spec["info"]["title"] == "Registration":
        assert {"limit", "skip"} <= checked, checked


async def test_docs_need_no_internet(service: Running) -> None:
    """Swagger UI and ReDoc pages load every script, stylesheet and icon from the service."""
    for page in ("/docs", "/redoc"):
        response = await service.client.get(page, headers={"Authorization": ""})
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html")
        urls = set(re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text))
        external = set(re.findall(r"""(?:https?:)?//[\w.-]+\.\w+[^'"\s)]*""", response.text))
        assert not external, f"{page} loads {sorted(external)} from the internet"
        assets = {u for u in urls if u.startswith("/static-offline-docs/")}
        assert assets, f"{page} references no offline assets: {sorted(urls)}"
        for url in sorted(assets | {u for u in urls if u == "/openapi.json"}):
            asset = await service.client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
