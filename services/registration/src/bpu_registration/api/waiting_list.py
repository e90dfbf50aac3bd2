"""``/programmes/{id}/waiting-list`` and ``/waiting-list/{entry_id}``: a programme's line in
order, its length per district, one entry, and withdrawing from it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_registration.api.base import ask
from bpu_registration.domain import WaitingEntry, WaitingState, mask_nik
from bpu_registration.handlers import (
    GetWaitingEntry,
    GetWaitingList,
    GetWaitingListSummary,
    WithdrawFromWaitingList,
)
from bpu_registration.handlers.waiting_list import Place, WaitingListPage, WaitingListSummary
from bpu_shared.auth import Anyone, Principal, Role
from bpu_shared.clock import JAKARTA
from bpu_shared.events import Occupation, RegionCode
from bpu_shared.http import problem_responses

router = APIRouter(tags=["waiting list"])

#: Who sees a waiting worker's whole NIK (as on ``/workers``); everyone else sees it masked.
SEES_NIK = (Role.ADMIN, Role.OPERATOR)

ORDER = (
    "The order: the sponsor's `priority` first (1 is served first; an entry without a priority "
    "comes after every entry with one), then `requested_on` (earlier first), then arrival (the "
    "entry written first). A seat freed by an ended or moved enrolment, or by a raised quota, "
    "goes to the first entry in this order, automatically."
)

#: An entry's order key, the cursor of the list.
ORDER_KEY = r"^\d{19}\.\d{4}-\d{2}-\d{2}\.\d{12}$"


class WaitingEntryOut(BaseModel):
    entry_id: str
    programme_id: str
    sponsor_id: str
    nik: str = Field(description="The whole NIK for admin and operator keys, masked otherwise")
    nik_masked: str
    name: str
    occupation: Occupation
    domicile_code: str
    district_code: str
    declared_monthly_income: int
    cover_start: str | None = Field(
        description="First month wished for; a seat is never back-dated (this month at the "
        "earliest)"
    )
    priority: int | None = Field(description="Sponsor's priority; 1 is served first")
    requested_on: date
    order: str = Field(description="The entry's order key; `after` takes it to read on")
    position: int | None = Field(
        description="Place in the programme's whole line (1 is next); null once the entry has "
        "left it, and in the answer to POST /workers"
    )
    state: WaitingState = Field(
        description="waiting, or how it left: enrolled, withdrawn, refused, programme_closed"
    )
    added_by: str = Field(description="The key that put the worker on the list")
    added_at: datetime
    left_at: datetime | None
    worker_id: str | None = Field(description="The worker enrolled from this entry")
    detail: str | None = Field(description="Why the entry was refused or closed")

    @classmethod
    def of(cls, e: WaitingEntry, who: Principal, position: int | None = None) -> WaitingEntryOut:
        masked = mask_nik(e.nik)
        return cls(
            entry_id=e.entry_id,
            programme_id=e.programme_id,
            sponsor_id=e.sponsor_id,
            nik=e.nik if who.role in SEES_NIK else masked,
            nik_masked=masked,
            name=e.name,
            occupation=e.occupation,
            domicile_code=e.village_code,
            district_code=e.district_code,
            declared_monthly_income=e.declared_monthly_income,
            cover_start=str(e.cover_start) if e.cover_start else None,
            priority=e.priority,
            requested_on=e.requested_on,
            order=e.order,
            position=position,
            state=e.state,
            added_by=e.added_by,
            added_at=e.added_at.astimezone(JAKARTA),
            left_at=e.left_at.astimezone(JAKARTA) if e.left_at else None,
            worker_id=e.worker_id,
            detail=e.detail,
        )

    @classmethod
    def at(cls, place: Place, who: Principal) -> WaitingEntryOut:
        return cls.of(place.entry, who, place.position)


class WaitingListOut(BaseModel):
    programme_id: str
    entries: list[WaitingEntryOut] = Field(description="In the order of the line")
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null on the last page"
    )

    @classmethod
    def of(cls, page: WaitingListPage, who: Principal) -> WaitingListOut:
        return cls(
            programme_id=page.programme_id,
            entries=[WaitingEntryOut.at(p, who) for p in page.places],
            next_after=page.next_after,
        )


class DistrictWaiting(BaseModel):
    district_code: str
    name: str = Field(description="The district (kecamatan) name, from the Kemendagri list")
    waiting: int


class WaitingListSummaryOut(BaseModel):
    programme_id: str
    total: int = Field(description="Workers waiting for a seat")
    districts: list[DistrictWaiting] = Field(
        description="Per district of the worker's domicile; a regency's programme lists every "
        "district of the regency, at zero where nobody waits"
    )

    @classmethod
    def of(cls, s: WaitingListSummary) -> WaitingListSummaryOut:
        return cls(
            programme_id=s.programme_id,
            total=s.total,
            districts=[DistrictWaiting(**vars(d)) for d in s.districts],
        )


@router.get(
    "/programmes/{programme_id}/waiting-list",
    response_model=WaitingListOut,
    responses=problem_responses(401, 403, 404, 422),
    description="The programme's waiting list, in order, with each entry's place in the whole "
    "line (also when filtered by district). " + ORDER,
)
async def get_waiting_list(
    programme_id: str,
    request: Request,
    who: Anyone,
    district: Annotated[
        RegionCode | None, Query(description="Only this district (kecamatan), e.g. 17.04.01")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None, Query(pattern=ORDER_KEY, description="`next_after` of the previous page")
    ] = None,
) -> WaitingListOut:
    page = await ask(request, GetWaitingList(programme_id, district, limit, after), who)
    return WaitingListOut.of(page, who)


@router.get(
    "/programmes/{programme_id}/waiting-list/summary",
    response_model=WaitingListSummaryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_waiting_list_summary(
    programme_id: str, request: Request, who: Anyone
) -> WaitingListSummaryOut:
    """How many workers wait for a seat of the programme, in all and per district."""
    return WaitingListSummaryOut.of(await ask(request, GetWaitingListSummary(programme_id), who))


@router.get(
    "/waiting-list/{entry_id}",
    response_model=WaitingEntryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_waiting_entry(entry_id: str, request: Request, who: Anyone) -> WaitingEntryOut:
    """One entry: its place in line while it waits, or how it left (enrolled: the worker)."""
    return WaitingEntryOut.at(await ask(request, GetWaitingEntry(entry_id), who), who)


@router.post(
    "/waiting-list/{entry_id}/withdraw",
    response_model=WaitingEntryOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def withdraw_from_waiting_list(
    entry_id: str, request: Request, who: Anyone
) -> WaitingEntryOut:
    """Take a waiting worker off the line (``WaitingListLeft`` with reason withdrawn). The same
    withdrawal again answers the withdrawn entry; an entry that left otherwise is a 409."""
    return WaitingEntryOut.of(await ask(request, WithdrawFromWaitingList(entry_id), who), who)
