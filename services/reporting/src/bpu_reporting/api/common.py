"""What the dashboard routes share: the question's parameters (region, period or range,
filters, rows by region or month, format), Rupiah as an integer beside the string Indonesians
write, and the answer as JSON or CSV under an ETag, so a dashboard polling every few seconds
gets a bodiless 304 while nothing changed."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import lokal
from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bpu_reporting.handlers.base import ReportQuery
from bpu_shared.auth import Principal
from bpu_shared.errors import InvalidInput
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month
from bpu_shared.regions import RegionCode

log = logging.getLogger(__name__)

RegionQuery = Annotated[
    RegionCode | None,
    Query(
        description="Region code prefix: 17 (province), 17.04 (regency), 17.04.01 (district); "
        "the country when absent (a sponsor key: its own region)",
        examples=["17.04"],
    ),
]
PeriodQuery = Annotated[
    str | None,
    Query(
        pattern=PATTERN,
        description="One month, YYYY-MM; all time when absent (and no from/to)",
        examples=["2026-03"],
    ),
]
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        pattern=PATTERN,
        description="First month of a range, YYYY-MM (with to; at most 60 months)",
        examples=["2026-01"],
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        pattern=PATTERN,
        description="Last month of a range, YYYY-MM, inclusive (with from)",
        examples=["2026-06"],
    ),
]
SponsorQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Only the programmes of this sponsor (the sum of their figures); not with "
        "programme or occupation",
        examples=["SP-0123456789abcdef"],
    ),
]
ProgrammeQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Only this programme's figures",
        examples=["PG-0123456789abcdef"],
    ),
]
OccupationQuery = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Only workers of this occupation (worker figures only: /coverage)",
        examples=["farmer"],
    ),
]
ByQuery = Annotated[
    Literal["region", "month"],
    Query(
        description="Rows per child region (the next level down) or per month of the period "
        "or range (the last 12 months when none is given)",
        examples=["region"],
    ),
]
FormatQuery = Annotated[
    Literal["json", "csv"],
    Query(
        description="json, or csv: one row per breakdown row, then a total row, under a "
        "header naming the columns (also Accept: text/csv)",
        examples=["json"],
    ),
]


def month_param(value: str | None, name: str = "period") -> Month | None:
    if not value:
        return None
    try:
        return Month.parse(value)
    except ValueError as exc:
        raise InvalidInput(name, str(exc)) from exc


@dataclass(frozen=True)
class ReportParams:
    """What /coverage, /contributions and /benefits are asked: the route's parameters."""

    region: str | None
    period: str | None
    start: str | None
    end: str | None
    sponsor: str | None
    programme: str | None
    occupation: str | None
    by: str
    format: str

    def query(self) -> dict[str, Any]:
        """The handler's question (``ReportQuery`` fields)."""
        return {
            "region": self.region,
            "period": month_param(self.period),
            "start": month_param(self.start, "from"),
            "end": month_param(self.end, "to"),
            "sponsor": self.sponsor,
            "programme": self.programme,
            "occupation": self.occupation,
            "by": self.by,
        }


async def report_params(
    region: RegionQuery = None,
    period: PeriodQuery = None,
    start: FromQuery = None,
    to: ToQuery = None,
    sponsor: SponsorQuery = None,
    programme: ProgrammeQuery = None,
    occupation: OccupationQuery = None,
    by: ByQuery = "region",
    format: FormatQuery = "json",
) -> ReportParams:
    # async: FastAPI runs a plain function dependency in its thread pool, which cost a third
    # of a kept answer's throughput (bench/reporting_reads.py).
    return ReportParams(region, period, start, to, sponsor, programme, occupation, by, format)


#: The parameters the three routes share, declared once (a FastAPI dependency).
Report = Annotated[ReportParams, Depends(report_params)]


class Money(BaseModel):
    """An amount in Rupiah, as an integer and as Indonesians write it."""

    rupiah: int = Field(examples=[119784000])
    formatted: str = Field(examples=["Rp119.784.000"])

    @classmethod
    def of(cls, amount: int) -> Money:
        return cls(rupiah=amount, formatted=str(lokal.format_rupiah(amount)))


class Answer(BaseModel):
    """What every dashboard answer says of the question it answers."""

    model_config = ConfigDict(populate_by_name=True)

    region: str = Field(
        description="The region-code prefix asked about; empty for the country", examples=["17.04"]
    )
    region_name: str = Field(examples=["Kabupaten Kaur, Bengkulu"])
    level: str = Field(
        description="country, province, regency, district or village", examples=["regency"]
    )
    period: str | None = Field(
        description="The month asked, YYYY-MM; null for a range or all time", examples=["2026-03"]
    )
    from_: str | None = Field(
        alias="from", description="First month of the range asked (or of the last 12 months)"
    )
    to: str | None = Field(description="Last month of the range asked")
    by: str = Field(description="region or month: what the breakdown rows are", examples=["region"])
    filters: dict[str, str] = Field(
        description="The sponsor, programme or occupation filter applied",
        examples=[{"programme": "PG-0123456789abcdef"}],
    )
    breakdown_level: str | None = Field(
        description="What a breakdown row is: province, regency, district, village or month",
        examples=["district"],
    )
    as_of: datetime | None = Field(
        description="The newest event the figures include (null before any)",
        examples=["2026-03-14T03:00:00Z"],
    )


def row_place(r: Any, code: str, name: str) -> dict[str, Any]:
    """A breakdown row's ``region``, ``month`` and ``name``: a child region's code, or the
    region asked and the row's month when the rows are months."""
    by_month = r.breakdown_level == "month"
    return {
        "region": r.view.code if by_month else code,
        "month": code if by_month else None,
        "name": name,
    }


def answer_fields(r: Any) -> dict[str, Any]:
    """``Answer``'s fields from a handler's report (``RegionTotals``, ``CoverageReport``)."""
    return {
        "region": r.view.code,
        "region_name": r.view.name,
        "level": r.level,
        "period": str(r.period) if r.period else None,
        "from": str(r.start) if r.start else None,
        "to": str(r.end) if r.end else None,
        "by": r.by,
        "filters": r.filters,
        "breakdown_level": r.breakdown_level,
        "as_of": r.as_of,
    }


def responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a dashboard route: its JSON model, CSV, 304 and problems."""
    return {
        200: {
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "region,name,covered\r\n17.04.01,Kinal,476\r\nTOTAL,Kabupaten "
                    "Kaur,7130\r\n",
                }
            },
            "headers": {
                "ETag": {
                    "description": "Send it back in If-None-Match",
                    "schema": {"type": "string"},
                }
            },
        },
        304: {"description": "Not modified: the answer is the one of the ETag sent"},
        **problem_responses(401, 403, 422),
    }


def _flat(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        if set(value) == {"rupiah", "formatted"}:  # Money: the integer
            into[f"{prefix}_rupiah" if not prefix.endswith("rupiah") else prefix] = value["rupiah"]
            return
        for key, inner in value.items():
            _flat(f"{prefix}_{key}" if prefix else str(key), inner, into)
    elif isinstance(value, list):
        return  # nested rows are rows of their own
    elif value is not None:  # absent (a row without a target): empty cells
        into[prefix] = value


def csv_rows(body: Mapping[str, Any], key: str, figures: list[str]) -> Iterator[str]:
    """The answer as CSV lines: a header, each breakdown row, then the total row (``TOTAL`` in
    the first column); money as integer Rupiah."""
    rows: list[dict[str, Any]] = []
    for row in body["breakdown"]:
        flat: dict[str, Any] = {}
        _flat("", {k: v for k, v in row.items() if k in figures}, flat)
        rows.append({key: row[key], "name": row["name"], **flat})
    total: dict[str, Any] = {}
    _flat("", {k: v for k, v in body.items() if k in figures}, total)
    rows.append({key: "TOTAL", "name": body["region_name"], **total})
    columns = list(dict.fromkeys([*rows[-1], *(c for row in rows for c in row)]))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="")
    writer.writeheader()
    yield out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(row)
        yield out.getvalue()


def wants_csv(request: Request, fmt: str) -> bool:
    return fmt == "csv" or "text/csv" in request.headers.get("accept", "")


@dataclass
class _Answer:
    """An answer as sent: its body, and (made when first asked) its ETag per format and its
    JSON bytes."""

    body: dict[str, Any]
    until: float
    etags: dict[bool, str] = field(default_factory=dict)
    encoded: bytes | None = None

    def etag(self, as_csv: bool) -> str:
        if as_csv not in self.etags:
            digest = hashlib.sha256(
                json.dumps([self.body, as_csv], sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            self.etags[as_csv] = f'"{digest[:32]}"'
        return self.etags[as_csv]

    def json(self) -> bytes:
        if self.encoded is None:
            self.encoded = json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()
        return self.encoded


class AnswerCache:
    """Answers kept for ``seconds`` (the ``DASHBOARD_CACHE_SECONDS`` setting), by path, query
    and the asker's role and region scope (what the handlers' access checks depend on): fifty
    dashboards polling the same region cost the store one read of it a second, not fifty.
    Refusals (401, 403, 422) are never kept.

    Requests asking what is being built already wait for that build (one flight). An answer
    past its ``seconds`` is still sent, for at most ``seconds`` more, while one build of the
    new one runs beside (stale while revalidating): no request waits for a build while the
    question is asked at least every ``seconds``. So an answer is at most twice ``seconds`` (and
    one build) older than the counters; its ``as_of`` says how old they are."""

    #: Answers kept at most; beyond it the cache starts again.
    LIMIT = 10_000

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._now = now
        self._answers: dict[tuple[Any, ...], _Answer] = {}
        self._building: dict[tuple[Any, ...], asyncio.Future[_Answer]] = {}

    def get(self, key: tuple[Any, ...]) -> _Answer | None:
        """The answer kept and still fresh."""
        found = self._answers.get(key)
        return found if found is not None and found.until > self._now() else None

    async def fetch(
        self, key: tuple[Any, ...], build: Callable[[], Awaitable[BaseModel]]
    ) -> _Answer:
        """The answer kept (fresh, or stale while a new one is built), or the one being built,
        or a new one."""
        kept = self._answers.get(key)
        now = self._now()
        if kept is not None and kept.until > now:
            return kept
        flight = self._building.get(key)
        if flight is None or flight.done():  # done: its answer is the stale one (or failed)
            flight = self._fly(key, build)
        if kept is not None and kept.until + self.seconds > now:
            return kept
        # Shielded: a waiter that goes away (client disconnected) leaves the build to the rest.
        return await asyncio.shield(flight)

    def _fly(
        self, key: tuple[Any, ...], build: Callable[[], Awaitable[BaseModel]]
    ) -> asyncio.Future[_Answer]:
        async def make() -> _Answer:
            return self.put(key, (await build()).model_dump(mode="json", by_alias=True))

        flight = asyncio.ensure_future(make())
        self._building[key] = flight

        def landed(done: asyncio.Future[_Answer]) -> None:
            if self._building.get(key) is done:
                del self._building[key]
            if not done.cancelled() and done.exception() is not None:
                # Its waiters get the error; a build no one waited for (a stale answer was
                # sent) is only logged.
                log.debug("answer %s not rebuilt: %s", key, done.exception())

        flight.add_done_callback(landed)
        return flight

    def put(self, key: tuple[Any, ...], body: dict[str, Any]) -> _Answer:
        kept = _Answer(body, self._now() + self.seconds)
        if self.seconds > 0:
            if len(self._answers) >= self.LIMIT:
                self._answers.clear()
            self._answers[key] = kept
        return kept


async def answer(
    request: Request,
    who: Principal,
    build: Callable[[], Awaitable[BaseModel]],
    fmt: str,
    *,
    figures: list[str],
    name: str,
) -> Response:
    """The answer ``build`` makes (or the one kept for this question and asker, see
    ``AnswerCache``), sent under its ETag."""
    cache: AnswerCache = request.app.state.answers
    kept = await cache.fetch(
        (
            request.url.path,
            tuple(sorted(request.query_params.multi_items())),
            who.role.value,
            who.region_scope,
        ),
        build,
    )
    return send(request, kept, fmt, figures=figures, name=name)


def send(request: Request, kept: _Answer, fmt: str, *, figures: list[str], name: str) -> Response:
    """The answer under its ETag (a hash of what is sent, so it changes when a figure or
    ``as_of`` does): 304 when the request's If-None-Match names it, else JSON or CSV."""
    body = kept.body
    as_csv = wants_csv(request, fmt)
    etag = kept.etag(as_csv)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    sent = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in sent or f"W/{etag}" in sent:
        return Response(status_code=304, headers=headers)
    if as_csv:
        key = "month" if body["by"] == "month" else "region"
        filename = f"{name}-{body['region'] or 'ID'}.csv"
        return StreamingResponse(
            csv_rows(body, key, figures),
            media_type="text/csv",
            headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(kept.json(), media_type="application/json", headers=headers)


__all__ = [
    "Answer",
    "AnswerCache",
    "ByQuery",
    "FormatQuery",
    "FromQuery",
    "Money",
    "OccupationQuery",
    "PeriodQuery",
    "ProgrammeQuery",
    "RegionQuery",
    "Report",
    "ReportParams",
    "ReportQuery",
    "SponsorQuery",
    "ToQuery",
    "answer",
    "answer_fields",
    "month_param",
    "responses",
    "row_place",
    "send",
]
