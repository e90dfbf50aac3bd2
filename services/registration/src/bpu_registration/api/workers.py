"""``/workers``: enrol, read, look up, change, end an enrolment, move to another programme."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from bpu_registration.api.base import ask
from bpu_registration.api.waiting_list import ORDER, WaitingEntryOut
from bpu_registration.domain import Enrolment, WaitingEntry, Worker, mask_nik
from bpu_registration.handlers import (
    ChangeWorker,
    EndEnrolment,
    Ending,
    Enrolled,
    EnrolWorker,
    FindWorker,
    GetWorker,
    Move,
    MoveWorker,
    WorkerChanges,
)
from bpu_shared.auth import Anyone, Principal, Role
from bpu_shared.clock import JAKARTA
from bpu_shared.events import BenefitProgramme, EndReason, Occupation
from bpu_shared.http import RequestModel, problem_responses

router = APIRouter(tags=["workers"])

#: Who sees a worker's whole NIK; everyone else sees it masked.
SEES_NIK = (Role.ADMIN, Role.OPERATOR)


class EnrolmentOut(BaseModel):
    enrolment_id: str
    programme_id: str
    sponsor_id: str
    benefits: list[BenefitProgramme]
    first_month: str
    last_month: str
    status: str
    enrolled_at: datetime
    end_reason: EndReason | None
    ended_on: date | None
    waiting_list_entry: str | None

    @classmethod
    def of(cls, e: Enrolment) -> EnrolmentOut:
        return cls(
            enrolment_id=e.enrolment_id,
            programme_id=e.programme_id,
            sponsor_id=e.sponsor_id,
            benefits=list(e.benefits),
            first_month=str(e.first_month),
            last_month=str(e.last_month),
            status=e.status.value,
            enrolled_at=e.enrolled_at.astimezone(JAKARTA),
            end_reason=e.end_reason,
            ended_on=e.ended_on,
            waiting_list_entry=e.waiting_list_entry,
        )


class WorkerOut(BaseModel):
    worker_id: str
    nik: str = Field(description="The whole NIK for admin and operator keys, masked otherwise")
    nik_masked: str
    card_number: str = Field(description="Participant card number: 11 digits, the last a check")
    name: str
    phone: str | None
    gender: str
    birth_date: date
    occupation: Occupation
    domicile_code: str
    district_code: str
    regency_code: str
    province_code: str
    declared_monthly_income: int
    status: str = Field(description="active when an enrolment is active, else ended")
    registered_at: datetime
    enrolments: list[EnrolmentOut] = Field(description="Every enrolment, oldest first")
    # The latest enrolment's terms, for clients that think of one enrolment at a time.
    programme_id: str
    sponsor_id: str
    benefits: list[BenefitProgramme]
    cover_start: str

    @classmethod
    def of(cls, w: Worker, who: Principal) -> WorkerOut:
        masked = mask_nik(w.identity.nik)
        return cls(
            worker_id=w.worker_id,
            nik=w.identity.nik if who.role in SEES_NIK else masked,
            nik_masked=masked,
            card_number=w.card_number,
            name=w.name,
            phone=w.phone,
            gender=w.identity.gender,
            birth_date=w.identity.birth_date,
            occupation=w.occupation,
            domicile_code=w.village_code,
            district_code=w.district_code,
            regency_code=w.regency_code,
            province_code=w.province_code,
            declared_monthly_income=w.declared_monthly_income,
            status=w.status.value,
            registered_at=w.registered_at.astimezone(JAKARTA),
            enrolments=[EnrolmentOut.of(e) for e in w.enrolments],
            programme_id=w.programme_id,
            sponsor_id=w.sponsor_id,
            benefits=list(w.benefits),
            cover_start=str(w.cover_start),
        )


class Lookup(RequestModel):
    """A NIK or a card number, in the body so it stays out of URLs and access logs."""

    nik: str | None = Field(None, max_length=32)
    card_number: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _one_of(self) -> Lookup:
        if (self.nik is None) == (self.card_number is None):
            raise ValueError("give either nik or card_number")
        return self


@router.post(
    "/workers",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkerOut,
    responses={
        200: {"description": "The same enrolment was made before", "model": WorkerOut},
        202: {
            "description": "Eligible, but the quota is full: the worker waits on the "
            "programme's waiting list (the entry; the same request again answers the same "
            "entry). " + ORDER,
            "model": WaitingEntryOut,
        },
        **problem_responses(401, 403, 409, 422),
    },
)
async def enrol_worker(
    body: EnrolWorker, request: Request, response: Response, who: Anyone
) -> WorkerOut | JSONResponse:
    """Enrol a worker in a programme. A new NIK, or a known one for months no other programme
    pays for, is enrolled (201); the same enrolment again answers the existing one (200); an
    eligible worker the quota has no seat for is put on the waiting list (202)."""
    done: Enrolled | WaitingEntry = await ask(request, body, who)
    if isinstance(done, WaitingEntry):
        # Its own body, not the route's WorkerOut: answered as it is.
        entry = WaitingEntryOut.of(done, who).model_dump(mode="json")
        return JSONResponse(entry, status_code=status.HTTP_202_ACCEPTED)
    if not done.created:
        response.status_code = status.HTTP_200_OK
    return WorkerOut.of(done.worker, who)


@router.post(
    "/workers/lookup",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def lookup_worker(body: Lookup, request: Request, who: Anyone) -> WorkerOut:
    """Find a worker by NIK or participant card number."""
    worker = await ask(request, FindWorker(body.nik, body.card_number), who)
    return WorkerOut.of(worker, who)


@router.get(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_worker(worker_id: str, request: Request, who: Anyone) -> WorkerOut:
    return WorkerOut.of(await ask(request, GetWorker(worker_id), who), who)


@router.patch(
    "/workers/{worker_id}",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def change_worker(
    worker_id: str,
    request: Request,
    who: Anyone,
    body: Annotated[WorkerChanges, Body(examples=[{"declared_monthly_income": 1_500_000}])],
) -> WorkerOut:
    """Change a worker's domicile, phone, occupation or declared income."""
    return WorkerOut.of(await ask(request, ChangeWorker(worker_id, body), who), who)


@router.post(
    "/workers/{worker_id}/end",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def end_enrolment(worker_id: str, body: Ending, request: Request, who: Anyone) -> WorkerOut:
    """End an enrolment (death, moved away, programme ended, withdrawn) from a date; its seat
    goes to the next worker on the programme's waiting list."""
    return WorkerOut.of(await ask(request, EndEnrolment(worker_id, body), who), who)


@router.post(
    "/workers/{worker_id}/move",
    response_model=WorkerOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def move_worker(worker_id: str, body: Move, request: Request, who: Anyone) -> WorkerOut:
    """Move a worker to another programme from a month (the old one pays up to the month
    before)."""
    return WorkerOut.of(await ask(request, MoveWorker(worker_id, body), who), who)
