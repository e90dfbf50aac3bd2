"""Events of the registration context: sponsors, their programmes, and workers."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from bpu_shared.events.envelope import Event, Month, Payload, RegionCode, Rupiah


class BenefitProgramme(StrEnum):
    """JKK = work-accident insurance, JKM = death insurance, JHT = old-age savings."""

    JKK = "JKK"
    JKM = "JKM"
    JHT = "JHT"


class SponsorKind(StrEnum):
    """Who pays: a regency or city (Pemkab/Pemkot), a province (Pemprov), a village budget
    (APBDes), or a donor/CSR programme."""

    REGENCY = "regency"
    CITY = "city"
    PROVINCE = "province"
    VILLAGE = "village"
    DONOR = "donor"


class SponsorRegisteredPayload(Payload):
    KEY_FIELD: ClassVar[str] = "sponsor_id"

    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: RegionCode = Field(description="The region the sponsor governs or funds")


class SponsorRegistered(Event[SponsorRegisteredPayload]):
    """A sponsor (pemberi iuran) was registered."""

    TOPIC: ClassVar[str] = "registration.sponsor-registered.v1"
    PARTITIONS: ClassVar[int] = 3


class ProgrammeOpenedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "programme_id"

    programme_id: str
    sponsor_id: str
    name: str
    region_code: RegionCode
    budget_year: int
    budget_rupiah: Rupiah
    quota: int = Field(ge=1)
    benefits: list[BenefitProgramme]
    start_month: Month
    end_month: Month
    min_age: int
    max_age: int


class ProgrammeOpened(Event[ProgrammeOpenedPayload]):
    """A sponsor opened a programme: a budget year, budget, quota, benefits and months."""

    TOPIC: ClassVar[str] = "registration.programme-opened.v1"
    PARTITIONS: ClassVar[int] = 3


class WorkerRegisteredPayload(Payload):
    """No NIK, name or birth date: those stay in registration."""

    KEY_FIELD: ClassVar[str] = "worker_id"

    worker_id: str
    sponsor_id: str
    programme_id: str
    province_code: RegionCode
    regency_code: RegionCode
    district_code: RegionCode
    village_code: RegionCode = Field(description="Current domicile (desa/kelurahan)")
    occupation: str
    gender: str = Field(pattern="^[LP]$", description="L = male, P = female")
    declared_monthly_income: Rupiah
    benefits: list[BenefitProgramme]
    cover_start: Month
    registered_at: AwareDatetime


class WorkerRegistered(Event[WorkerRegisteredPayload]):
    """A worker was enrolled in a sponsor programme."""

    TOPIC: ClassVar[str] = "registration.worker-registered.v1"
    PARTITIONS: ClassVar[int] = 12


__all__ = [
    "BenefitProgramme",
    "ProgrammeOpened",
    "ProgrammeOpenedPayload",
    "SponsorKind",
    "SponsorRegistered",
    "SponsorRegisteredPayload",
    "WorkerRegistered",
    "WorkerRegisteredPayload",
]
