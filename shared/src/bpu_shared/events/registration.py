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


class ProgrammeTerms(Payload):
    """What a sponsor decides for a programme. Defined once: the API's request and answer,
    the domain's ``Programme``, the store and ``ProgrammeOpened`` all use these fields."""

    KEY_FIELD: ClassVar[str] = "programme_id"

    name: str = Field(min_length=2, max_length=200, examples=["Perlindungan Pekerja Rentan 2026"])
    region_code: RegionCode = Field(
        examples=["17.04"], description="The sponsor's region, or a narrower one"
    )
    budget_year: int = Field(ge=2015, le=2100, examples=[2026])
    budget_rupiah: Rupiah = Field(examples=[1_437_408_000])
    quota: int = Field(ge=1, le=100_000_000, examples=[7130])
    benefits: list[BenefitProgramme] = Field(
        default_factory=lambda: [BenefitProgramme.JKK, BenefitProgramme.JKM],
        min_length=2,
        description="JKK and JKM are mandatory; JHT is optional",
    )
    start_month: Month = Field(examples=["2026-01"])
    end_month: Month = Field(examples=["2026-12"])
    min_age: int = Field(15, ge=1, le=120, description="Youngest age the programme takes")
    max_age: int = Field(64, ge=1, le=120, description="Oldest age the programme takes")


class ProgrammeFields(ProgrammeTerms):
    """A programme as it exists: its terms, its id and its sponsor."""

    programme_id: str
    sponsor_id: str


class ProgrammeOpenedPayload(ProgrammeFields):
    pass


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
    "ProgrammeFields",
    "ProgrammeOpened",
    "ProgrammeOpenedPayload",
    "ProgrammeTerms",
    "SponsorKind",
    "SponsorRegistered",
    "SponsorRegisteredPayload",
    "WorkerRegistered",
    "WorkerRegisteredPayload",
]
