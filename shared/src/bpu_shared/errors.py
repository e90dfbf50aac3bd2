"""Errors a person can act on, rendered as RFC 9457 problem details naming the failing field."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """Base of every error the API turns into ``application/problem+json``."""

    def __init__(
        self,
        detail: str,
        field: str | None = None,
        status: int = 400,
        title: str = "Bad request",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.status = status
        self.title = title
        self.extra = extra or {}

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field:
            body["errors"] = [{"field": self.field, "message": self.detail}]
        body.update(self.extra)
        return body


class InvalidInput(Problem):
    """A value broke a rule; ``field`` names it (``body.nik``, ``row 12: nik``)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail=detail, field=field, status=422, title="Invalid input")


class NotFound(Problem):
    def __init__(self, what: str, ident: str, field: str | None = None) -> None:
        # A missing thing named in a request body is an invalid field (422); in a path, a 404.
        super().__init__(
            detail=f"{what} {ident!r} does not exist",
            field=field,
            status=404 if field is None else 422,
            title="Not found",
        )


class Conflict(Problem):
    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail=detail, field=field, status=409, title="Conflict")


class Forbidden(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail, status=403, title="Forbidden")
