"""Registration's events: what each change publishes (through the outbox). Registration
consumes nothing of its own yet beyond the API-key events every service takes."""

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


def sponsor_registered(sponsor: Sponsor, correlation_id: str | None) -> SponsorRegistered:
    return SponsorRegistered.create(
        SponsorRegisteredPayload(
            sponsor_id=sponsor.sponsor_id,
            name=sponsor.name,
            kind=sponsor.kind,
            region_code=sponsor.region_code,
        ),
        producer=PRODUCER,
        correlation_id=correlation_id,
    )


def programme_opened(programme: Programme, correlation_id: str | None) -> ProgrammeOpened:
    return ProgrammeOpened.create(
        ProgrammeOpenedPayload(
            programme_id=programme.programme_id,
            sponsor_id=programme.sponsor_id,
            name=programme.name,
            region_code=programme.region_code,
            budget_year=programme.budget_year,
            budget_rupiah=programme.budget_rupiah,
            quota=programme.quota,
            benefits=list(programme.benefits),
            start_month=str(programme.start_month),
            end_month=str(programme.end_month),
            min_age=programme.min_age,
            max_age=programme.max_age,
        ),
        producer=PRODUCER,
        correlation_id=correlation_id,
    )


def worker_registered(worker: Worker, correlation_id: str | None) -> WorkerRegistered:
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
            cover_start=str(worker.cover_start),
            registered_at=worker.registered_at,
        ),
        producer=PRODUCER,
        correlation_id=correlation_id,
    )
