"""The outbox: events stored inside the document whose change caused them.

A document that produces events carries ``outbox`` (pending entries, oldest first),
``outbox_pending`` (their count: the relay's query key, since the embedded store cannot query
"array is not empty") and ``outbox_sent`` (the newest sent entries, kept so they can be published
again after the broker loses its data). Writing the change and its events is one single-document
write, so neither can exist without the other. A new document whose first events were all
published together may lack ``outbox`` (the relay renamed it to ``outbox_sent``); the next
``outbox_push`` creates it again.

Each entry is stored as one JSON string, not a subdocument: the embedded store turns
subdocuments ``$push``-ed onto an existing array into strings of its own (see the store
conformance suite), while strings push, match and pull alike on both stores.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bpu_shared.events import Event


def outbox_entry(event: Event) -> str:
    """What the relay needs to publish the event, the value exactly as it goes on the wire."""
    return json.dumps(
        {
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "topic": event.TOPIC,
            "key": event.key,
            "value": event.to_wire().decode(),
            "correlation_id": event.correlation_id,
            "created_at": datetime.now(UTC).isoformat(),
        },
        separators=(",", ":"),
    )


def read_entry(entry: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(entry)
    return parsed


def with_outbox(document: dict[str, Any], *events: Event) -> dict[str, Any]:
    """A new document carrying its first events, for ``insert_one``."""
    entries = [outbox_entry(e) for e in events]
    return {**document, "outbox": entries, "outbox_pending": len(entries), "outbox_sent": []}


def outbox_push(*events: Event) -> dict[str, Any]:
    """Update operators that add events to an existing document; merge them into the update."""
    entries = [outbox_entry(e) for e in events]
    return {
        "$push": {"outbox": {"$each": entries}},
        "$inc": {"outbox_pending": len(entries)},
    }


def merge_updates(*updates: dict[str, Any]) -> dict[str, Any]:
    """Merge update documents operator by operator (their fields must not overlap)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for op, fields in update.items():
            target = merged.setdefault(op, {})
            overlap = target.keys() & fields.keys()
            if overlap:
                raise ValueError(f"{op} sets {sorted(overlap)} twice")
            target.update(fields)
    return merged


#: Fields of the outbox, for projections that must not return them.
OUTBOX_FIELDS = {"outbox": 0, "outbox_pending": 0, "outbox_sent": 0}
