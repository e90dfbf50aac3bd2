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
from typing import Any

from bpu_billing.handlers.base import Billing
from bpu_billing.store.roster import ProgrammeWrite
from bpu_shared.enrolments import (
    as_of,
    enrolment_ends,
    registered_enrolments,
    worker_changes,
)
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


#: What billing keeps of an enrolment beyond what every copy of it keeps
#: (``bpu_shared.enrolments``): the sponsor it bills, and the occupation it prices.
ENROLMENT_EXTRA = ("sponsor_id", "occupation")
#: And of a worker's change: what changed, and the occupation.
CHANGE_EXTRA = ("changed", "occupation")


async def programmes_changed(
    events: Sequence[ProgrammeOpened | ProgrammeChanged | ProgrammeClosed], deps: Billing
) -> None:
    writes = []
    for event in events:
        fields = event.payload.model_dump(mode="json")
        terms = {k: fields[k] for k in TERMS if k in fields}
        writes.append(ProgrammeWrite(event.payload.programme_id, terms, as_of(event)))
    await deps.repository.apply_programmes(writes)


async def workers_registered(events: Sequence[WorkerRegistered], deps: Billing) -> None:
    await deps.repository.add_enrolments(registered_enrolments(events, ENROLMENT_EXTRA))


async def enrolments_ended(events: Sequence[EnrolmentEnded], deps: Billing) -> None:
    for end in enrolment_ends(events, ENROLMENT_EXTRA):
        await deps.repository.end_enrolment(end.key, end.last_month, end.as_of, end.stub)


async def workers_changed(events: Sequence[WorkerChanged], deps: Billing) -> None:
    await deps.repository.add_worker_changes(worker_changes(events, CHANGE_EXTRA))


ROSTER_EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    ProgrammeOpened: [programmes_changed],
    ProgrammeChanged: [programmes_changed],
    ProgrammeClosed: [programmes_changed],
    WorkerRegistered: [workers_registered],
    EnrolmentEnded: [enrolments_ended],
    WorkerChanged: [workers_changed],
}
