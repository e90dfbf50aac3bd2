"""Registration's HTTP routes: parse, call the handler, answer. Nothing else happens here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict

from bpu_registration.domain import Occupation, Programme, Worker, mask_nik
from bpu_registration.handlers import (
    EnrolWorker,
    GetProgramme,
    GetSponsor,
    GetWorker,
    ListSponsors,
    OpenProgramme,
    RegisterSponsor,
)
from bpu_shared.auth import Anyone
from bpu_shared.events import BenefitProgramme, ProgrammeFields, RegionCode, SponsorKind
from bpu_shared.http import problem_responses

router = APIRouter(tags=["registration"])


async def _ask(request: Request, message: Any, principal: Any) -> Any:
    return await request.app.state.bus.handle(message, principal)


class SponsorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: str
    region_name: str


class ProgrammeOut(ProgrammeFields):
    enrolled: int

    @classmethod
    def of(cls, found: tuple[Programme, int]) -> ProgrammeOut:
        programme, enrolled = found
        return cls.model_validate({**programme.model_dump(mode="json"), "enrolled": enrolled})


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


@router.post(
    "/sponsors",
    status_code=status.HTTP_201_CREATED,
    response_model=SponsorOut,
    responses=problem_responses(401, 403, 422),
)
async def register_sponsor(body: RegisterSponsor, request: Request, who: Anyone) -> SponsorOut:
    return SponsorOut.model_validate(await _ask(request, body, who))


@router.get(
    "/sponsors", response_model=list[SponsorOut], responses=problem_responses(401, 403, 422)
)
async def list_sponsors(
    request: Request,
    who: Anyone,
    region: Annotated[RegionCode | None, Query(description="Region-code prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    skip: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[SponsorOut]:
    sponsors = await _ask(request, ListSponsors(region, limit, skip), who)
    return [SponsorOut.model_validate(s) for s in sponsors]


@router.get(
    "/sponsors/{sponsor_id}",
    response_model=SponsorOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_sponsor(sponsor_id: str, request: Request, who: Anyone) -> SponsorOut:
    return SponsorOut.model_validate(await _ask(request, GetSponsor(sponsor_id), who))


@router.post(
    "/programmes",
    status_code=status.HTTP_201_CREATED,
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 422),
)
async def open_programme(body: OpenProgramme, request: Request, who: Anyone) -> ProgrammeOut:
    return ProgrammeOut.of(await _ask(request, body, who))


@router.get(
    "/programmes/{programme_id}",
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_programme(programme_id: str, request: Request, who: Anyone) -> ProgrammeOut:
    return ProgrammeOut.of(await _ask(request, GetProgramme(programme_id), who))


@router.post(
    "/workers",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def enrol_worker(body: EnrolWorker, request: Request, who: Anyone) -> WorkerOut:
    return WorkerOut.of(await _ask(request, body, who))


@router.get(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_worker(worker_id: str, request: Request, who: Anyone) -> WorkerOut:
    return WorkerOut.of(await _ask(request, GetWorker(worker_id), who))
