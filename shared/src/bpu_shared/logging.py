"""JSON log lines carrying the correlation id, with every NIK masked before it is written."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from lokal import partial_mask

#: The correlation id of the request or event being handled; set by the HTTP middleware and
#: by the consumers.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Sixteen digits standing alone: a NIK, or something that must be treated as one.
_NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")


def mask_niks(text: str) -> str:
    """``1704014107900001`` becomes ``1704********0001``."""
    return _NIK.sub(lambda m: partial_mask("NIK", m.group(0)), text)


class JsonFormatter(logging.Formatter):
    _RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "color_message",
    }

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in self._RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_niks(json.dumps(entry, default=str, ensure_ascii=False))


class MaskingFormatter(logging.Formatter):
    """Plain-text lines for a terminal, masked the same way."""

    def format(self, record: logging.LogRecord) -> str:
        cid = correlation_id.get()
        line = super().format(record)
        return mask_niks(f"{line} [cid={cid}]" if cid else line)


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Route every logger (ours, uvicorn's, FastStream's) through one masked handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service)
        if json_lines
        else MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("pymongo").setLevel(max(logging.WARNING, root.level))
