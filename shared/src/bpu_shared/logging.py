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

# Sixteen digits standing alone, also written in groups (17.04.01 410790 0001): a NIK, or
# something that must be treated as one.
_NIK = re.compile(r"(?<![\d.])\d{2}(?:[ .-]?\d{2}){2}[ .-]?\d{6}[ .-]?\d{4}(?![\d])")


def mask_niks(text: str) -> str:
    """``1704014107900001`` (or ``17.04.01.410790.0001``) becomes ``1704********0001``."""
    return _NIK.sub(lambda m: partial_mask("NIK", m.group(0)), text)


def _masked(value: object) -> object:
    """The value ready for JSON with NIKs masked: strings masked, a 16-digit number turned into
    its masked string, containers walked, anything else by its ``str``."""
    if isinstance(value, str):
        return mask_niks(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        text = mask_niks(str(value))
        return value if text == str(value) else text
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    return mask_niks(str(value))


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
        return json.dumps(_masked(entry), ensure_ascii=False)


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
