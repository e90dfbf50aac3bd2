"""``/sponsors``: register, list and read the bodies that pay (pemberi iuran)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict

from bpu_registration.api.base import ask
from bpu_registration.handlers import GetSponsor, ListSponsors, RegisterSponsor
from bpu_shared.auth import Anyone
from bpu_shared.events import RegionCode, SponsorKind
from bpu_shared.http import problem_responses

router = APIRouter(tags=["sponsors"])


class SponsorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: str
    region_name: str


@router.post(
    "/sponsors",
    status_code=status.HTTP_201_CREATED,
    response_model=SponsorOut,
    responses=problem_responses(401, 403, 422),
)
async def register_sponsor(body: RegisterSponsor, request: Request, who: Anyone) -> SponsorOut:
    return SponsorOut.model_validate(await ask(request, body, who))


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
    sponsors = await ask(request, ListSponsors(region, limit, skip), who)
    return [SponsorOut.model_validate(s) for s in sponsors]


@router.get(
    "/sponsors/{sponsor_id}",
    response_model=SponsorOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_sponsor(sponsor_id: str, request: Request, who: Anyone) -> SponsorOut:
    return SponsorOut.model_validate(await ask(request, GetSponsor(sponsor_id), who))
