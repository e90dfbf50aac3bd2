"""Registration's events: what each change publishes (through the unit of work's outbox). The
events it consumes are listed in ``handlers.EVENT_HANDLERS``."""

from __future__ import annotations

from bpu_registration.domain import Programme, Sponsor, Worker
from bpu_shared.events import (
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    SponsorRegistered,
    SponsorRegisteredPayload,
    WorkerRegistered,
    WorkerRegisteredPayload,
)

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


def worker_registered(worker: Worker) -> WorkerRegistered:
    """No NIK, name, phone or birth date leave registration."""
    return WorkerRegistered.create(
        WorkerRegisteredPayload(
            worker_id=worker.worker_id,
            sponsor_id=worker.sponsor_id,
            programme_id=worker.programme_id,
            province_code=worker.province_code,
            regency_code=worker.regency_code,
            district_code=worker.district_code,
            village_code=worker.village_code,
            occupation=worker.occupation.value,
            gender=worker.identity.gender,
            declared_monthly_income=worker.declared_monthly_income,
            benefits=list(worker.benefits),
            cover_start=worker.cover_start,
            registered_at=worker.registered_at,
        ),
        producer=PRODUCER,
    )
