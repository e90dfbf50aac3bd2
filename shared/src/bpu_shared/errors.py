"""Domain errors: what rule failed and which field or row broke it, in words a person can act on.

They know nothing of HTTP; the API edge (``bpu_shared.http``) turns each kind into an RFC 9457
problem with its status (invalid 422, not found 404, conflict 409, forbidden 403,
unauthorized 401).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a handler raises on purpose."""

    title = "Error"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


class InvalidInput(DomainError):
    """A value broke a rule; ``field`` names it (``nik``, ``row 12: nik``)."""

    title = "Invalid input"

    def __init__(self, field: str, detail: str, **extra: Any) -> None:
        super().__init__(detail, field, **extra)


class NotFound(DomainError):
    """A thing named by the request does not exist (or is outside the caller's region, which
    the caller must not learn). Named in a path it is a 404; named by a body ``field``, the
    field is invalid (422)."""

    title = "Not found"

    def __init__(self, what: str, ident: str, field: str | None = None) -> None:
        super().__init__(f"{what} {ident!r} does not exist", field)
        self.what = what
        self.ident = ident


class Conflict(DomainError):
    """The request is valid but the state forbids it now (quota full, NIK already funded)."""

    title = "Conflict"


class Forbidden(DomainError):
    """The caller's role or region may not do this."""

    title = "Forbidden"


class Unauthorized(DomainError):
    """No valid API key was given."""

    title = "Unauthorized"


class Unavailable(DomainError):
    """Something to try again later (a random id collided, a dependency is down)."""

    title = "Service unavailable"
