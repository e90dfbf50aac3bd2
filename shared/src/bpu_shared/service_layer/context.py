"""What caused the work in hand: the correlation id shared by everything one request set off,
and the causation id, the request or event that directly caused it. The HTTP edge sets both for
a command; the consumer sets both for each event it applies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bpu_shared.logging import correlation_id

#: The id of the request or event being handled, stamped on the events it raises.
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


@contextmanager
def caused_by(correlation: str | None, causation: str | None) -> Iterator[None]:
    """Run a block as the effect of ``causation`` within ``correlation``."""
    c_token = correlation_id.set(correlation)
    k_token = causation_id.set(causation)
    try:
        yield
    finally:
        causation_id.reset(k_token)
        correlation_id.reset(c_token)
