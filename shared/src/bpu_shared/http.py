"""The HTTP edge every service shares: domain errors and invalid requests as RFC 9457 problem
details, the problem schema documented on each route, and the base of request bodies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from bpu_shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
)

PROBLEM_JSON = "application/problem+json"

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    """Only ``YYYY-MM-DD`` (pydantic's lax mode would read ``-1.5e-9`` as 1970-01-01)."""
    if isinstance(value, str) and _DAY.fullmatch(value) is None:
        raise ValueError("write the day as YYYY-MM-DD")
    return value


#: A day in a query string, written ``YYYY-MM-DD`` and nothing else.
Day = Annotated[
    date,
    BeforeValidator(_iso_day),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-01-15"]}),
]
_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class RequestModel(BaseModel):
    """Base of every request body and command: unknown fields are refused (a misspelt field
    must not be silently dropped) and text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldError(BaseModel):
    field: str = Field(description="The field or row that failed, as the request names it")
    message: str
    type: str | None = None


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422),
    (Conflict, 409),
    (Forbidden, 403),
    (Unauthorized, 401),
    (Unavailable, 503),
)

_DESCRIPTIONS = {
    400: "The body could not be read as JSON",
    401: "No valid API key (`Authorization: Bearer <key>`)",
    403: "The key's role or region may not do this",
    404: "Not found (or outside the key's region)",
    409: "The current state forbids it",
    422: "Invalid input; `errors` names each field",
    503: "Try again later",
}


def status_of(error: DomainError) -> int:
    if isinstance(error, NotFound):
        # A missing thing named in a body field makes that field invalid; in a path, a 404.
        return 404 if error.field is None else 422
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def problem_body(error: DomainError, instance: str | None = None) -> dict[str, Any]:
    status = status_of(error)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Invalid input" if status == 422 else error.title,
        "status": status,
        "detail": error.detail,
    }
    if instance:
        body["instance"] = instance
    if error.field:
        body["errors"] = [{"field": error.field, "message": error.detail}]
    body.update(error.extra)
    return body


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status it can answer, as problem details (and only as
    ``application/problem+json``, the type the error handlers answer with)."""
    return {status: _problem_response(status) for status in sorted(set(statuses))}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"{_REF}ProblemDetails"}}},
    }


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the error handlers answer. FastAPI documents a 422 of its own
    (``HTTPValidationError``, as ``application/json``) on every route with input; here it is the
    problem details the handler sends. Whatever the framework itself answers is documented on
    every route it applies to: 422 where there is input, 400 where a body may not be JSON, 401
    where a key is required."""
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template=_REF + "{model}")
    components.update(problem.pop("$defs", {}))
    components["ProblemDetails"] = problem
    for item in spec.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            framework: set[int] = set()
            if operation.get("parameters") or operation.get("requestBody"):
                framework.add(422)
            if operation.get("requestBody"):
                framework.add(400)
            if operation.get("security"):
                framework.add(401)
            for status in framework:
                responses[str(status)] = _problem_response(status)
            operation["responses"] = dict(sorted(responses.items()))
    if "HTTPValidationError" not in str(spec.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return spec


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _field_path(loc: Sequence[Any]) -> str:
    """``("body", "nik")`` becomes ``nik``, as the domain names it; ``query.region`` stays."""
    parts = list(loc[1:] if loc and loc[0] == "body" and len(loc) > 1 else loc)
    return ".".join(str(part) for part in parts)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as problem details."""

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
        body = problem_body(exc, request.url.path)
        return JSONResponse(
            jsonable_encoder(body), status_code=body["status"], media_type=PROBLEM_JSON
        )

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
        body = {
            "type": "about:blank",
            "title": _phrase(exc.status_code),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": request.url.path,
        }
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers
        )
