"""``/programmes``: open, read, list, change and close a sponsor's programmes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, status

from bpu_registration.api.base import ask
from bpu_registration.domain import Programme
from bpu_registration.handlers import (
    ChangeProgramme,
    CloseProgramme,
    Closing,
    GetProgramme,
    ListProgrammes,
    OpenProgramme,
    ProgrammeChanges,
)
from bpu_shared.auth import Anyone
from bpu_shared.events import ProgrammeFields, RegionCode
from bpu_shared.http import problem_responses

router = APIRouter(tags=["programmes"])


class ProgrammeOut(ProgrammeFields):
    enrolled: int
    seats_left: int

    @classmethod
    def of(cls, found: tuple[Programme, int]) -> ProgrammeOut:
        programme, enrolled = found
        return cls.model_validate(
            {
                **programme.model_dump(mode="json"),
                "enrolled": enrolled,
                "seats_left": max(programme.quota - enrolled, 0),
            }
        )


@router.post(
    "/programmes",
    status_code=status.HTTP_201_CREATED,
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 422),
)
async def open_programme(body: OpenProgramme, request: Request, who: Anyone) -> ProgrammeOut:
    return ProgrammeOut.of(await ask(request, body, who))


@router.get(
    "/programmes", response_model=list[ProgrammeOut], responses=problem_responses(401, 403, 422)
)
async def list_programmes(
    request: Request,
    who: Anyone,
    sponsor_id: Annotated[str | None, Query(max_length=100)] = None,
    region: Annotated[RegionCode | None, Query(description="Region-code prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    skip: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ProgrammeOut]:
    found = await ask(request, ListProgrammes(sponsor_id, region, limit, skip), who)
    return [ProgrammeOut.of(f) for f in found]


@router.get(
    "/programmes/{programme_id}",
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_programme(programme_id: str, request: Request, who: Anyone) -> ProgrammeOut:
    return ProgrammeOut.of(await ask(request, GetProgramme(programme_id), who))


@router.patch(
    "/programmes/{programme_id}",
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def change_programme(
    programme_id: str,
    request: Request,
    who: Anyone,
    body: Annotated[ProgrammeChanges, Body(examples=[{"quota": 8000}])],
) -> ProgrammeOut:
    """Change a programme: anything before its first month; its name, budget and quota after
    (a higher quota seats the next workers of its waiting list)."""
    return ProgrammeOut.of(await ask(request, ChangeProgramme(programme_id, body), who))


@router.post(
    "/programmes/{programme_id}/close",
    response_model=ProgrammeOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def close_programme(
    programme_id: str,
    request: Request,
    who: Anyone,
    body: Annotated[Closing | None, Body(examples=[{"last_month": "2026-09"}])] = None,
) -> ProgrammeOut:
    """Close a programme: it takes no one new, and its enrolments end with its last month."""
    cmd = CloseProgramme(programme_id, body or Closing())
    return ProgrammeOut.of(await ask(request, cmd, who))
