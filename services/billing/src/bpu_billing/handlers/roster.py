"""Billing's roster from registration's events, each applied exactly once in effect.

- ``ProgrammeOpened``/``ProgrammeChanged``/``ProgrammeClosed``: the programme's terms, applied
  only when newer than what is stored (an ``as_of`` guard in the filter).
- ``WorkerRegistered``: the enrolment, inserted once by its deterministic id (one unordered
  bulk insert per batch: a 32,268-worker import comes as batches of up to a thousand events).
- ``EnrolmentEnded``: the enrolment's last month, set by value, unless a newer end was applied.
- ``WorkerChanged``: the change kept once by its event id, from its effective month on.

Every write is idempotent by key or by value, so a batch delivered again, at other boundaries,
or after a crash between two of its writes, leaves the same state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bpu_billing.handlers.base import Billing
from bpu_billing.store.roster import NEVER, ProgrammeWrite, enrolment_key
from bpu_shared.events import (
    EnrolmentEnded,
    ProgrammeChanged,
    ProgrammeClosed,
    ProgrammeOpened,
    WorkerChanged,
    WorkerRegistered,
)

#: The terms a programme event sets (never payments' fields of the programme document).
TERMS = (
    "sponsor_id",
    "name",
    "region_code",
    "budget_year",
    "budget_rupiah",
    "quota",
    "benefits",
    "start_month",
    "end_month",
    "funding_source",
    "status",
    "occupations",
    "closed_on",
)


def as_of(event: Any) -> str:
    """When the event happened, as an ISO string in UTC that sorts as time does."""
    return str(event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"))


async def programmes_changed(
    events: Sequence[ProgrammeOpened | ProgrammeChanged | ProgrammeClosed], deps: Billing
) -> None:
    writes = []
    for event in events:
        fields = event.payload.model_dump(mode="json")
        terms = {k: fields[k] for k in TERMS if k in fields}
        writes.append(ProgrammeWrite(event.payload.programme_id, terms, as_of(event)))
    await deps.repository.apply_programmes(writes)


def enrolment_doc(event: WorkerRegistered) -> dict[str, Any]:
    p = event.payload
    first = str(p.cover_start)
    return {
        "_id": enrolment_key(p.enrolment_id, p.worker_id, p.programme_id, first),
        "worker_id": p.worker_id,
        "programme_id": p.programme_id,
        "sponsor_id": p.sponsor_id,
        "first_month": first,
        "last_month": str(p.cover_end) if p.cover_end is not None else None,
        "benefits": [str(b) for b in p.benefits],
        "occupation": p.occupation,
        "province_code": p.province_code,
        "regency_code": p.regency_code,
        "district_code": p.district_code,
        "village_code": p.village_code,
        "income": p.declared_monthly_income,
        "as_of": as_of(event),
        "ended_as_of": NEVER,
        "registered": True,
    }


async def workers_registered(events: Sequence[WorkerRegistered], deps: Billing) -> None:
    docs: dict[str, dict[str, Any]] = {}
    for event in events:
        doc = enrolment_doc(event)
        docs.setdefault(doc["_id"], doc)  # the same event twice in one batch: once
    await deps.repository.add_enrolments(list(docs.values()))


async def enrolments_ended(events: Sequence[EnrolmentEnded], deps: Billing) -> None:
    for event in sorted(events, key=as_of):
        p = event.payload
        first = str(p.cover_start)
        stub = {
            "worker_id": p.worker_id,
            "programme_id": p.programme_id,
            "sponsor_id": p.sponsor_id,
            "first_month": first,
            "benefits": None,  # the programme's, until the registration comes
            "occupation": p.occupation,
            "province_code": p.province_code,
            "regency_code": p.regency_code,
            "district_code": p.district_code,
            "village_code": p.village_code,
            "income": p.declared_monthly_income,
            "as_of": as_of(event),
        }
        key = enrolment_key(p.enrolment_id, p.worker_id, p.programme_id, first)
        await deps.repository.end_enrolment(key, str(p.cover_end), as_of(event), stub)


async def workers_changed(events: Sequence[WorkerChanged], deps: Billing) -> None:
    docs: dict[str, dict[str, Any]] = {}
    for event in events:
        p = event.payload
        docs[str(event.event_id)] = {
            "_id": str(event.event_id),
            "worker_id": p.worker_id,
            "effective_month": str(p.effective_month),
            "as_of": as_of(event),
            "changed": list(p.changed),
            "income": p.declared_monthly_income,
            "occupation": p.occupation,
            "province_code": p.province_code,
            "regency_code": p.regency_code,
            "district_code": p.district_code,
            "village_code": p.village_code,
        }
    await deps.repository.add_worker_changes(list(docs.values()))


ROSTER_EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    ProgrammeOpened: [programmes_changed],
    ProgrammeChanged: [programmes_changed],
    ProgrammeClosed: [programmes_changed],
    WorkerRegistered: [workers_registered],
    EnrolmentEnded: [enrolments_ended],
    WorkerChanged: [workers_changed],
}
