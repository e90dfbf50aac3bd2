"""The waiting list: each entry joining it (``WorkerWaitlisted``) and leaving it
(``WaitingListLeft``: enrolled, withdrawn or refused) a fact keyed by the entry, so its length
is the entries that joined less those that left, whatever order they come in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_reporting.handlers.base import COUNTED_UNDER, Reporting, provenance
from bpu_shared.events import WaitingListLeft, WorkerWaitlisted

_ENTRY_FIELDS = {*COUNTED_UNDER, "requested_on"}


def waitlisted_facts(events: Sequence[WorkerWaitlisted]) -> dict[str, dict[str, Any]]:
    """One fact per waiting-list entry, keyed by its id; no personal data."""
    return {
        e.payload.entry_id: {
            **e.payload.model_dump(mode="json", include=_ENTRY_FIELDS),
            **provenance(e),
        }
        for e in events
    }


def waiting_left_facts(events: Sequence[WaitingListLeft]) -> dict[str, dict[str, Any]]:
    """One fact per entry that left the list, keyed by its id (an entry leaves once), dated
    when it left (the event's time)."""
    return {
        e.payload.entry_id: {
            **e.payload.model_dump(mode="json", include=_ENTRY_FIELDS | {"reason"}),
            "left_at": e.occurred_at,
            **provenance(e),
        }
        for e in events
    }


async def record_waitlisted(events: Sequence[WorkerWaitlisted], deps: Reporting) -> None:
    await deps.repository.add_waitlisted(waitlisted_facts(events))


async def record_waiting_left(events: Sequence[WaitingListLeft], deps: Reporting) -> None:
    await deps.repository.add_waiting_left(waiting_left_facts(events))
