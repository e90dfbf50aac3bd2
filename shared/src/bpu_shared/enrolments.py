"""An enrolment as registration's events tell it, for the services that keep their own copy of
the enrolments (billing's roster, claims' cover view): pure functions from an event to the
document the service stores. Each service names the worker's facts it keeps beyond the common
ones (``extra``: attribute names of the event's payload).

The common document of an enrolment: ``_id`` (``enrolment_key``), ``worker_id``,
``programme_id``, ``first_month``, ``last_month`` ("YYYY-MM", or None: to the programme's end),
``benefits``, ``income`` (declared at registration), the region codes, ``as_of`` (when
registered), ``ended_as_of`` (the last ``EnrolmentEnded`` applied, ``NEVER`` before any) and
``registered`` (False for an enrolment first learnt from its end: topics are not ordered among
themselves). A ``WorkerChanged`` is one document (``_id`` its event id): ``worker_id``,
``effective_month``, ``as_of``, ``income`` and the region codes after the change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from bpu_shared.events import EnrolmentEnded, Event, WorkerChanged, WorkerRegistered

#: ``ended_as_of`` before any end: an ISO time before every event (the embedded store's update
#: filters do not order "" before a time: see the conformance suite).
NEVER = "0001-01-01T00:00:00.000000+00:00"
REGIONS = ("province_code", "regency_code", "district_code", "village_code")


def as_of(event: Event[Any]) -> str:
    """When the event happened, as an ISO string in UTC that sorts as time does."""
    return event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")


def enrolment_key(
    enrolment_id: str | None, worker_id: str, programme_id: str, cover_start: str
) -> str:
    """The enrolment's id: registration's, or one made of what identifies it."""
    return enrolment_id or f"{worker_id}|{programme_id}|{cover_start}"


def _facts(payload: Any, extra: Sequence[str]) -> dict[str, Any]:
    return {
        "income": payload.declared_monthly_income,
        **{k: getattr(payload, k) for k in (*REGIONS, *extra)},
    }


def registered_enrolment(event: WorkerRegistered, extra: Sequence[str] = ()) -> dict[str, Any]:
    """The enrolment a ``WorkerRegistered`` makes, with the payload's ``extra`` fields."""
    p = event.payload
    first = str(p.cover_start)
    return {
        "_id": enrolment_key(p.enrolment_id, p.worker_id, p.programme_id, first),
        "worker_id": p.worker_id,
        "programme_id": p.programme_id,
        "first_month": first,
        "last_month": str(p.cover_end) if p.cover_end is not None else None,
        "benefits": [str(b) for b in p.benefits],
        **_facts(p, extra),
        "as_of": as_of(event),
        "ended_as_of": NEVER,
        "registered": True,
    }


def registered_enrolments(
    events: Iterable[WorkerRegistered], extra: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The batch's enrolments, each once (the same event twice in one batch makes one)."""
    docs: dict[str, dict[str, Any]] = {}
    for event in events:
        doc = registered_enrolment(event, extra)
        docs.setdefault(doc["_id"], doc)
    return list(docs.values())


@dataclass(frozen=True)
class EnrolmentEnd:
    """An ``EnrolmentEnded`` as a write: the enrolment's id, its last month, the event's time,
    and ``stub``: the enrolment to store if its registration has not come yet."""

    key: str
    last_month: str
    as_of: str
    stub: Mapping[str, Any]


def enrolment_end(event: EnrolmentEnded, extra: Sequence[str] = ()) -> EnrolmentEnd:
    p = event.payload
    first = str(p.cover_start)
    stub = {
        "worker_id": p.worker_id,
        "programme_id": p.programme_id,
        "first_month": first,
        "benefits": None,  # the programme's, until the registration comes
        **_facts(p, extra),
        "as_of": as_of(event),
    }
    key = enrolment_key(p.enrolment_id, p.worker_id, p.programme_id, first)
    return EnrolmentEnd(key, str(p.cover_end), as_of(event), stub)


def enrolment_ends(
    events: Iterable[EnrolmentEnded], extra: Sequence[str] = ()
) -> list[EnrolmentEnd]:
    """The batch's ends, oldest first (a newer end of one enrolment is applied after)."""
    return [enrolment_end(e, extra) for e in sorted(events, key=as_of)]


def worker_changes(
    events: Iterable[WorkerChanged], extra: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One document per ``WorkerChanged`` (by event id, so kept once)."""
    docs = {
        str(e.event_id): {
            "_id": str(e.event_id),
            "worker_id": e.payload.worker_id,
            "effective_month": str(e.payload.effective_month),
            "as_of": as_of(e),
            **_facts(e.payload, extra),
        }
        for e in events
    }
    return list(docs.values())
