"""JSON Schemas of every event, generated from the models, for integrators.

``python -m bpu_shared.events.schemas docs/events`` writes one ``<topic>.json`` per event and an
``index.json`` listing topic, event type, key and partitions; a test fails when the committed
files differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bpu_shared.events import ALL_EVENTS, dlq_topic


def schema_of(event: type) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")  # type: ignore[attr-defined]
    schema["$id"] = f"{event.TOPIC}.json"  # type: ignore[attr-defined]
    schema["x-topic"] = event.TOPIC  # type: ignore[attr-defined]
    return schema


def documents() -> dict[str, str]:
    """File name → content, exactly as committed."""
    files: dict[str, str] = {}
    index = []
    for event in ALL_EVENTS:
        files[f"{event.TOPIC}.json"] = json.dumps(schema_of(event), indent=2, sort_keys=True) + "\n"
        index.append(
            {
                "event_type": event.__name__,
                "topic": event.TOPIC,
                "dead_letter_topic": dlq_topic(event.TOPIC),
                "partitions": event.PARTITIONS,
                "key": event.model_fields["payload"].annotation.KEY_FIELD,  # type: ignore[union-attr]
                "description": (event.__doc__ or "").strip(),
                "schema": f"{event.TOPIC}.json",
            }
        )
    files["index.json"] = json.dumps(index, indent=2) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/events")
    target.mkdir(parents=True, exist_ok=True)
    for name, content in documents().items():
        (target / name).write_text(content)
        print(target / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
