"""Registration's events: what each change publishes (through the unit of work's outbox). The
events it consumes are listed in ``handlers.EVENT_HANDLERS``. No NIK, name, phone or birth date
leaves registration: worker events carry the worker id, regions, occupation and income."""

from __future__ import annotations

from datetime import date
from typing import Any

from bpu_registration.domain import Enrolment, Programme, Sponsor, WaitingEntry, Worker
from bpu_shared.events import (
    EnrolmentEnded,
    EnrolmentEndedPayload,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    SponsorRegistered,
    SponsorRegisteredPayload,
    WaitingListEntryPayload,
    WaitingListLeft,
    WaitingListLeftPayload,
    WaitingListReason,
    WorkerChanged,
    WorkerChangedPayload,
    WorkerRegistered,
    WorkerRegisteredPayload,
    WorkerWaitlisted,
)
from bpu_shared.month import Month

PRODUCER = "registration"


def sponsor_registered(sponsor: Sponsor) -> SponsorRegistered:
    return SponsorRegistered.create(
        SponsorRegisteredPayload(
            sponsor_id=sponsor.sponsor_id,
            name=sponsor.name,
            kind=sponsor.kind,
            region_code=sponsor.region_code,
        ),
        producer=PRODUCER,
    )


def programme_opened(programme: Programme) -> ProgrammeOpened:
    return ProgrammeOpened.create(
        ProgrammeOpenedPayload.model_validate(programme.model_dump(mode="json")), producer=PRODUCER
    )


def programme_changed(programme: Programme, changed: list[str]) -> ProgrammeChanged:
    return ProgrammeChanged.create(
        ProgrammeChangedPayload.model_validate(
            {**programme.model_dump(mode="json"), "changed": changed}
        ),
        producer=PRODUCER,
    )


def programme_closed(programme: Programme, on: date) -> ProgrammeClosed:
    return ProgrammeClosed.create(
        ProgrammeClosedPayload.model_validate(
            {**programme.model_dump(mode="json"), "closed_on": on}
        ),
        producer=PRODUCER,
    )


def worker_facts(worker: Worker) -> dict[str, Any]:
    """The fields every worker event carries."""
    return {
        "worker_id": worker.worker_id,
        "province_code": worker.province_code,
        "regency_code": worker.regency_code,
        "district_code": worker.district_code,
        "village_code": worker.village_code,
        "occupation": worker.occupation.value,
        "gender": worker.identity.gender,
        "declared_monthly_income": worker.declared_monthly_income,
    }


def worker_registered(worker: Worker, enrolment: Enrolment | None = None) -> WorkerRegistered:
    """One enrolment of ``worker`` (its latest unless given)."""
    e = enrolment or worker.latest
    return WorkerRegistered.create(
        WorkerRegisteredPayload(
            **worker_facts(worker),
            sponsor_id=e.sponsor_id,
            programme_id=e.programme_id,
            benefits=list(e.benefits),
            cover_start=e.first_month,
            cover_end=e.last_month,
            enrolment_id=e.enrolment_id,
            registered_at=e.enrolled_at,
            waiting_list_entry=e.waiting_list_entry,
        ),
        producer=PRODUCER,
    )


def worker_changed(worker: Worker, changed: list[str], effective: Month) -> WorkerChanged:
    return WorkerChanged.create(
        WorkerChangedPayload(**worker_facts(worker), changed=changed, effective_month=effective),
        producer=PRODUCER,
    )


def enrolment_ended(worker: Worker, enrolment: Enrolment) -> EnrolmentEnded:
    assert enrolment.end_reason is not None and enrolment.ended_on is not None
    return EnrolmentEnded.create(
        EnrolmentEndedPayload(
            **worker_facts(worker),
            enrolment_id=enrolment.enrolment_id,
            sponsor_id=enrolment.sponsor_id,
            programme_id=enrolment.programme_id,
            cover_start=enrolment.first_month,
            cover_end=enrolment.last_month,
            reason=enrolment.end_reason,
            effective_on=enrolment.ended_on,
        ),
        producer=PRODUCER,
    )


def _entry_facts(e: WaitingEntry) -> dict[str, Any]:
    return {
        "entry_id": e.entry_id,
        "programme_id": e.programme_id,
        "sponsor_id": e.sponsor_id,
        "province_code": e.province_code,
        "regency_code": e.regency_code,
        "district_code": e.district_code,
        "village_code": e.village_code,
        "occupation": e.occupation.value,
        "priority": e.priority,
        "requested_on": e.requested_on,
    }


def worker_waitlisted(e: WaitingEntry) -> WorkerWaitlisted:
    return WorkerWaitlisted.create(WaitingListEntryPayload(**_entry_facts(e)), producer=PRODUCER)


def waiting_list_left(e: WaitingEntry) -> WaitingListLeft:
    return WaitingListLeft.create(
        WaitingListLeftPayload(
            **_entry_facts(e),
            reason=WaitingListReason(e.state.value),
            worker_id=e.worker_id,
            detail=e.detail,
        ),
        producer=PRODUCER,
    )
