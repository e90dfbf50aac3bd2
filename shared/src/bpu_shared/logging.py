"""Log lines carrying the correlation id, with every NIK masked before it is written: JSON lines
for files and collectors, and one human form for a terminal that both a service run with
``LOG_JSON=false`` and ``bpu-dev up`` (rendering its children's JSON lines) print."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from lokal import partial_mask

#: The correlation id of the request or event being handled; set by the HTTP middleware and
#: by the consumers.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Sixteen digits standing alone, also written in groups (17.04.01 410790 0001): a NIK, or
# something that must be treated as one.
_NIK = re.compile(r"(?<![\d.])\d{2}(?:[ .-]?\d{2}){2}[ .-]?\d{6}[ .-]?\d{4}(?![\d])")

# Attributes every LogRecord has; anything else on a record came as ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "color_message",
}

# Wide enough for the longest service name and level name in common use, so columns line up.
SERVICE_WIDTH = len("registration")
LEVEL_WIDTH = len("ERROR")


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


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, object]]:
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            yield key, value


class JsonFormatter(logging.Formatter):
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
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(_masked(entry), ensure_ascii=False)


# The keys of a JsonFormatter line that the human form shows in their own place (or, for the
# logger, leaves out); every other key is an ``extra=`` field.
_JSON_KEYS = frozenset({"ts", "level", "service", "logger", "msg", "correlation_id", "exc"})


@dataclass(frozen=True)
class LogLine:
    """One log line as a person reads it:
    ``12:03:04.123 registration INFO  worker enrolled  row=12  cid=ab12…``, the time local, the
    ``extra=`` fields after the message, an exception's traceback on the lines below."""

    time: datetime
    service: str
    level: str
    message: str
    fields: tuple[tuple[str, object], ...] = ()
    correlation_id: str | None = None
    exc: str | None = None

    @classmethod
    def from_record(
        cls, record: logging.LogRecord, service: str, exc: str | None = None
    ) -> LogLine:
        return cls(
            time=datetime.fromtimestamp(record.created, UTC),
            service=service,
            level=record.levelname,
            message=record.getMessage(),
            fields=tuple((k, _masked(v)) for k, v in _extras(record)),
            correlation_id=correlation_id.get() or None,
            exc=exc,
        )

    @classmethod
    def from_json(cls, text: str) -> LogLine | None:
        """The line JsonFormatter wrote, or None when ``text`` is not one (a traceback printed
        before logging was set up, another program's output)."""
        if not text.startswith("{"):
            return None
        try:
            entry = json.loads(text)
            time = datetime.fromisoformat(entry["ts"])
            service, level, message = entry["service"], entry["level"], entry["msg"]
        except (ValueError, TypeError, KeyError):
            return None
        if not all(isinstance(v, str) for v in (service, level, message)):
            return None
        cid, exc = entry.get("correlation_id"), entry.get("exc")
        return cls(
            time=time,
            service=service,
            level=level,
            message=message,
            fields=tuple((k, v) for k, v in entry.items() if k not in _JSON_KEYS),
            correlation_id=str(cid) if cid else None,
            exc=str(exc) if exc else None,
        )

    def parts(self) -> list[tuple[str, str]]:
        """The line as (text, kind) pieces, NIKs masked, for a caller that colours each kind
        (``time``, ``service``, ``level``, ``message``, ``fields``, ``cid``, ``exc``)."""
        local = self.time.astimezone()
        parts = [
            (local.strftime("%H:%M:%S.") + f"{local.microsecond // 1000:03d}", "time"),
            (" ", ""),
            (f"{self.service:<{SERVICE_WIDTH}}", "service"),
            (" ", ""),
            (f"{self.level:<{LEVEL_WIDTH}}", "level"),
            (" ", ""),
            (self.message, "message"),
        ]
        if self.fields:
            shown = " ".join(f"{k}={_field_text(v)}" for k, v in self.fields)
            parts += [("  ", ""), (shown, "fields")]
        if self.correlation_id:
            parts += [("  ", ""), (f"cid={self.correlation_id}", "cid")]
        if self.exc:
            parts += [("\n", ""), (self.exc, "exc")]
        return [(mask_niks(text), kind) for text, kind in parts]

    def human(self) -> str:
        return "".join(text for text, _ in self.parts())


def _field_text(value: object) -> str:
    """A field's value as it reads best: a bare word as it is, anything else as JSON, so that
    spaces and quotes inside it stay unambiguous."""
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class MaskingFormatter(logging.Formatter):
    """Human lines for a terminal (see ``LogLine``), masked the same way as the JSON lines."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        exc = self.formatException(record.exc_info) if record.exc_info else None
        return LogLine.from_record(record, self.service, exc).human()


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Route every logger (ours, uvicorn's, FastStream's) through one masked handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if json_lines else MaskingFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("pymongo").setLevel(max(logging.WARNING, root.level))
