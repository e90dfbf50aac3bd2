"""Registration's HTTP routes: parse, ask the domain, store with the events, answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from bpu_registration import events
from bpu_registration.domain import Occupation, Programme, Sponsor, Worker, mask_nik
from bpu_registration.store import RegistrationStore
from bpu_shared.auth import Principal, Role, require
from bpu_shared.errors import NotFound
from bpu_shared.events import BenefitProgramme, Month, RegionCode, Rupiah, SponsorKind
from bpu_shared.service import Runtime

router = APIRouter(tags=["registration"])

Staff = Annotated[Principal, Depends(require(Role.OPERATOR))]
StaffOrSponsor = Annotated[Principal, Depends(require(Role.OPERATOR, Role.SPONSOR))]


def _store(request: Request) -> RegistrationStore:
    return request.app.state.store


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


Store = Annotated[RegistrationStore, Depends(_store)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- sponsors ----------------------------------------------------------------------------------


class NewSponsor(Strict):
    name: str = Field(min_length=2, max_length=200, examples=["Pemerintah Kabupaten Kaur"])
    kind: SponsorKind = Field(examples=["regency"])
    region_code: RegionCode = Field(examples=["17.04"])


class SponsorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: str
    region_name: str


@router.post("/sponsors", status_code=status.HTTP_201_CREATED, response_model=SponsorOut)
async def register_sponsor(
    body: NewSponsor, request: Request, store: Store, _: Staff
) -> SponsorOut:
    sponsor = Sponsor.register(body.name, body.kind, body.region_code)
    await store.add_sponsor(
        sponsor, events.sponsor_registered(sponsor, request.state.correlation_id)
    )
    _runtime(request).relay.wake()
    return SponsorOut.model_validate(sponsor)


@router.get("/sponsors", response_model=list[SponsorOut])
async def list_sponsors(
    store: Store,
    principal: StaffOrSponsor,
    region: Annotated[RegionCode | None, Query(description="Region-code prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    skip: Annotated[int, Query(ge=0)] = 0,
) -> list[SponsorOut]:
    if principal.role is Role.SPONSOR:
        region = region or principal.region_scope
        principal.require_region(region or "")
    return [SponsorOut.model_validate(s) for s in await store.list_sponsors(region, limit, skip)]


@router.get("/sponsors/{sponsor_id}", response_model=SponsorOut)
async def get_sponsor(sponsor_id: str, store: Store, principal: StaffOrSponsor) -> SponsorOut:
    sponsor = await store.sponsor(sponsor_id)
    if sponsor is None or not principal.can_access(sponsor.region_code):
        raise NotFound("sponsor", sponsor_id)
    return SponsorOut.model_validate(sponsor)


# -- programmes --------------------------------------------------------------------------------


class NewProgramme(Strict):
    sponsor_id: str
    name: str = Field(min_length=2, max_length=200, examples=["Perlindungan Pekerja Rentan 2024"])
    region_code: RegionCode | None = Field(
        None, description="Defaults to the sponsor's region; may be narrower"
    )
    budget_year: int = Field(ge=2015, le=2100, examples=[2024])
    budget_rupiah: Rupiah = Field(examples=[1_437_408_000])
    quota: int = Field(ge=1, examples=[7130])
    benefits: list[BenefitProgramme] = Field(
        default_factory=lambda: [BenefitProgramme.JKK, BenefitProgramme.JKM], min_length=2
    )
    start_month: Month = Field(examples=["2024-01"])
    end_month: Month = Field(examples=["2024-12"])
    min_age: int = Field(15, ge=1, le=120, description="Youngest age the programme takes")
    max_age: int = Field(64, ge=1, le=120, description="Oldest age the programme takes")


class ProgrammeOut(BaseModel):
    programme_id: str
    sponsor_id: str
    name: str
    region_code: str
    budget_year: int
    budget_rupiah: int
    quota: int
    enrolled: int
    benefits: list[BenefitProgramme]
    start_month: str
    end_month: str
    min_age: int
    max_age: int

    @classmethod
    def of(cls, p: Programme, enrolled: int) -> ProgrammeOut:
        return cls(
            programme_id=p.programme_id,
            sponsor_id=p.sponsor_id,
            name=p.name,
            region_code=p.region_code,
            budget_year=p.budget_year,
            budget_rupiah=p.budget_rupiah,
            quota=p.quota,
            enrolled=enrolled,
            benefits=list(p.benefits),
            start_month=str(p.start_month),
            end_month=str(p.end_month),
            min_age=p.min_age,
            max_age=p.max_age,
        )


@router.post("/programmes", status_code=status.HTTP_201_CREATED, response_model=ProgrammeOut)
async def open_programme(
    body: NewProgramme, request: Request, store: Store, principal: StaffOrSponsor
) -> ProgrammeOut:
    sponsor = await store.sponsor(body.sponsor_id)
    if sponsor is None:
        raise NotFound("sponsor", body.sponsor_id, field="sponsor_id")
    principal.require_region(sponsor.region_code)
    programme = Programme.open(
        sponsor,
        name=body.name,
        region_code=body.region_code,
        budget_year=body.budget_year,
        budget_rupiah=body.budget_rupiah,
        quota=body.quota,
        benefits=body.benefits,
        start_month=body.start_month,
        end_month=body.end_month,
        min_age=body.min_age,
        max_age=body.max_age,
    )
    await store.add_programme(
        programme, events.programme_opened(programme, request.state.correlation_id)
    )
    _runtime(request).relay.wake()
    return ProgrammeOut.of(programme, 0)


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut)
async def get_programme(programme_id: str, store: Store, principal: StaffOrSponsor) -> ProgrammeOut:
    found = await store.programme(programme_id)
    if found is None or not principal.can_access(found[0].region_code):
        raise NotFound("programme", programme_id)
    return ProgrammeOut.of(*found)


# -- workers -----------------------------------------------------------------------------------


class NewWorker(Strict):
    nik: str = Field(description="16-digit NIK", examples=["1704014107900001"])
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=20)
    occupation: Occupation
    domicile_code: RegionCode = Field(
        description="Current domicile village (desa/kelurahan) code", examples=["17.04.01.2001"]
    )
    declared_monthly_income: Rupiah = Field(1_000_000, description="Declared monthly income")
    programme_id: str
    cover_start: Month | None = Field(
        None, description="First month of cover; defaults to this month or the programme's start"
    )


class WorkerOut(BaseModel):
    worker_id: str
    nik_masked: str
    name: str
    gender: str
    birth_date: date
    occupation: Occupation
    domicile_code: str
    district_code: str
    regency_code: str
    province_code: str
    declared_monthly_income: int
    programme_id: str
    sponsor_id: str
    benefits: list[BenefitProgramme]
    cover_start: str
    registered_at: datetime

    @classmethod
    def of(cls, w: Worker) -> WorkerOut:
        return cls(
            worker_id=w.worker_id,
            nik_masked=mask_nik(w.identity.nik),
            name=w.name,
            gender=w.identity.gender,
            birth_date=w.identity.birth_date,
            occupation=w.occupation,
            domicile_code=w.village_code,
            district_code=w.district_code,
            regency_code=w.regency_code,
            province_code=w.province_code,
            declared_monthly_income=w.declared_monthly_income,
            programme_id=w.programme_id,
            sponsor_id=w.sponsor_id,
            benefits=list(w.benefits),
            cover_start=str(w.cover_start),
            registered_at=w.registered_at,
        )


@router.post("/workers", status_code=status.HTTP_201_CREATED, response_model=WorkerOut)
async def register_worker(
    body: NewWorker, request: Request, store: Store, principal: StaffOrSponsor
) -> WorkerOut:
    found = await store.programme(body.programme_id)
    if found is None or not principal.can_access(found[0].region_code):
        raise NotFound("programme", body.programme_id, field="programme_id")
    programme = found[0]
    principal.require_region(body.domicile_code)
    worker = Worker.enrol(
        programme,
        nik=body.nik,
        name=body.name,
        phone=body.phone,
        occupation=body.occupation,
        village_code=body.domicile_code,
        declared_monthly_income=body.declared_monthly_income,
        min_declared_income=request.app.state.settings.min_declared_income,
        cover_start=body.cover_start,
        today=date.today(),
    )
    await store.enrol(
        worker, programme.quota, events.worker_registered(worker, request.state.correlation_id)
    )
    _runtime(request).relay.wake()
    return WorkerOut.of(worker)


@router.get("/workers/{worker_id}", response_model=WorkerOut)
async def get_worker(worker_id: str, store: Store, principal: StaffOrSponsor) -> WorkerOut:
    worker = await store.worker(worker_id)
    if worker is None or not principal.can_access(worker.village_code):
        raise NotFound("worker", worker_id)
    return WorkerOut.of(worker)
