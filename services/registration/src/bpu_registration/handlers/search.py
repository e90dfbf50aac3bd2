"""Finding workers and what was done to them: the list with its filters and cursor, a worker's
history (which key did what), and the participant card to print. Reads only; a sponsor key
sees inside its region."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bpu_registration.cards import CardView, card_enrolment, card_of
from bpu_registration.domain import EnrolmentStatus, Occupation, Programme, Worker
from bpu_registration.handlers.base import WRITERS, Registration, load_programme
from bpu_registration.store.search import After, UnknownCursor, WorkerSearch
from bpu_shared.auth import Principal
from bpu_shared.errors import InvalidInput, NotFound
from bpu_shared.month import Month
from bpu_shared.regions import check_region, within

# -- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchWorkers:
    """``GET /workers``: the filters combine; ``after`` is the ``next`` of the previous page."""

    region: str | None = None
    programme_id: str | None = None
    occupation: Occupation | None = None
    status: EnrolmentStatus | None = None
    month: Month | None = None
    limit: int = 50
    after: str | None = None


@dataclass(frozen=True)
class WorkerPage:
    workers: list[Worker]
    next: str | None  # the cursor of the next page; None on the last


@dataclass(frozen=True)
class GetWorkerHistory:
    worker_id: str


@dataclass(frozen=True)
class HistoryLine:
    """One change of a worker: when, which API key (``registration`` for what the service did
    by itself), what, and the details the change recorded."""

    at: datetime
    by: str
    action: str
    details: dict[str, Any]

    @classmethod
    def of(cls, line: dict[str, Any]) -> HistoryLine:
        details = {k: v for k, v in line.items() if k not in ("at", "by", "action")}
        return cls(datetime.fromisoformat(line["at"]), line["by"], line["action"], details)


@dataclass(frozen=True)
class GetCard:
    worker_id: str
    enrolment_id: str | None = None


# -- handlers ----------------------------------------------------------------------------------


async def search_workers(q: SearchWorkers, principal: Principal, deps: Registration) -> WorkerPage:
    """A page of the workers matching ``q``, in the order of domicile village and card number.
    A sponsor key lists its own region (another region is forbidden); a programme filter
    narrows the region to the programme's."""
    principal.require_role(*WRITERS)
    region = principal.scope(q.region)
    if region:
        check_region(region, "region")
    if q.programme_id is not None:
        programme, _ = await load_programme(deps, principal, q.programme_id, field="programme_id")
        narrowed = _narrower(region, programme)
        if narrowed is None:  # the region asked for and the programme's do not meet
            return WorkerPage([], None)
        region = narrowed
    search = WorkerSearch(region, q.programme_id, q.occupation, q.status, q.month)
    after = None if q.after is None else decode_cursor(q.after)
    try:
        page = await deps.repository.search_workers(search, q.limit, after)
    except UnknownCursor:
        raise InvalidInput(
            "after", "this cursor does not belong to this listing; start again without it"
        ) from None
    last = page.workers[-1] if page.more else None
    return WorkerPage(page.workers, None if last is None else encode_cursor(last))


async def worker_history(
    q: GetWorkerHistory, principal: Principal, deps: Registration
) -> list[HistoryLine]:
    """Every change of the worker, oldest first, each with the key that made it."""
    principal.require_role(*WRITERS)
    await _visible_worker(deps, principal, q.worker_id)
    lines = await deps.repository.worker_history(q.worker_id)
    return [HistoryLine.of(line) for line in lines or []]


async def worker_card(q: GetCard, principal: Principal, deps: Registration) -> CardView:
    """The card of one of the worker's enrolments (by default the latest active one) whose
    programme the key may see: a Kaur key prints Kaur's cards, not the province's."""
    principal.require_role(*WRITERS)
    worker = await _visible_worker(deps, principal, q.worker_id)
    visible: dict[str, Programme] = {}
    for programme_id in {e.programme_id for e in worker.enrolments}:
        found = await deps.repository.programme(programme_id)
        if found is not None and principal.can_access(found[0].region_code):
            visible[programme_id] = found[0]
    enrolment = card_enrolment(worker, visible.keys(), q.enrolment_id)
    if enrolment is None:
        raise NotFound("enrolment", q.enrolment_id or f"of worker {q.worker_id}")
    programme = visible[enrolment.programme_id]
    sponsor = await deps.repository.sponsor(programme.sponsor_id)
    assert sponsor is not None, "a programme's sponsor is never deleted"
    return card_of(worker, enrolment, programme.name, sponsor.name)


# -- helpers -----------------------------------------------------------------------------------


async def _visible_worker(deps: Registration, principal: Principal, worker_id: str) -> Worker:
    worker = await deps.repository.worker(worker_id)
    # Outside a sponsor's region is "not found": a key must not learn what lies elsewhere.
    if worker is None or not principal.can_access(worker.village_code):
        raise NotFound("worker", worker_id)
    return worker


def _narrower(region: str | None, programme: Programme) -> str | None:
    """The smaller of the region asked for and the programme's; None when they do not meet."""
    if region is None or within(programme.region_code, region):
        return programme.region_code
    return region if within(region, programme.region_code) else None


def encode_cursor(last: Worker) -> str:
    """An opaque cursor: the last worker's id and the village it was listed under (no NIK, no
    card number: cursors travel in URLs and access logs)."""
    raw = json.dumps([last.village_code, last.worker_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> After:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        village_code, worker_id = json.loads(raw)
        if not isinstance(village_code, str) or not isinstance(worker_id, str):
            raise ValueError(cursor)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInput(
            "after", "not a cursor of this listing; pass the `next` of the previous page"
        ) from None
    return After(village_code, worker_id)
