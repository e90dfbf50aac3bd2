"""The programmes projection from registration's programme events: each programme's terms as
its newest event says (``ProgrammeOpened``, ``ProgrammeChanged``, ``ProgrammeClosed`` carry the
programme whole), set only when newer than what is stored, so a replay, a redelivery at other
offsets or a change arriving before its opening leaves the same document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_reporting.handlers.base import Reporting, provenance
from bpu_reporting.store.programmes import PROGRAMME_FIELDS
from bpu_shared.enrolments import as_of
from bpu_shared.events import ProgrammeChanged, ProgrammeClosed, ProgrammeOpened
from bpu_shared.store import event_order

ProgrammeEvent = ProgrammeOpened | ProgrammeChanged | ProgrammeClosed


def programme_order(event: ProgrammeEvent) -> str:
    """The event's place in time (``bpu_shared.store.event_order``: microseconds, then id)."""
    return event_order(event.occurred_at, str(event.event_id))


def programme_writes(events: Sequence[ProgrammeEvent]) -> list[tuple[str, dict[str, Any]]]:
    """(programme id, the fields reporting keeps, when the event happened (``occurred_at``,
    ISO) and its place in time (``as_of``, which the newer-only write compares)) per event."""
    writes = []
    for event in events:
        fields = event.payload.model_dump(mode="json")
        kept = {k: fields[k] for k in PROGRAMME_FIELDS}
        writes.append(
            (
                event.payload.programme_id,
                {**kept, "occurred_at": as_of(event), "as_of": programme_order(event)},
            )
        )
    return writes


async def record_programmes(events: Sequence[ProgrammeEvent], deps: Reporting) -> None:
    await deps.repository.apply_programmes(programme_writes(events))
    await deps.repository.note_applied([provenance(e) for e in events])
