"""Sponsors (pemberi iuran): register, list, read."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from bpu_registration import events
from bpu_registration.domain import Sponsor
from bpu_registration.handlers.base import WRITERS, Registration
from bpu_shared.auth import Principal, Role
from bpu_shared.errors import NotFound
from bpu_shared.events import RegionCode, SponsorKind
from bpu_shared.http import RequestModel


class RegisterSponsor(RequestModel):
    name: str = Field(min_length=2, max_length=200, examples=["Pemerintah Kabupaten Kaur"])
    kind: SponsorKind = Field(examples=["regency"])
    region_code: RegionCode = Field(examples=["17.04"])


@dataclass(frozen=True)
class ListSponsors:
    region: str | None
    limit: int
    skip: int


@dataclass(frozen=True)
class GetSponsor:
    sponsor_id: str


async def register_sponsor(
    cmd: RegisterSponsor, principal: Principal, deps: Registration
) -> Sponsor:
    principal.require_role(Role.OPERATOR)
    sponsor = Sponsor.register(cmd.name, cmd.kind, cmd.region_code)
    await deps.repository.add_sponsor(sponsor, [events.sponsor_registered(sponsor)])
    return sponsor


async def list_sponsors(q: ListSponsors, principal: Principal, deps: Registration) -> list[Sponsor]:
    principal.require_role(*WRITERS)
    region = principal.scope(q.region)
    return await deps.repository.list_sponsors(region, q.limit, q.skip)


async def get_sponsor(q: GetSponsor, principal: Principal, deps: Registration) -> Sponsor:
    principal.require_role(*WRITERS)
    sponsor = await deps.repository.sponsor(q.sponsor_id)
    # Outside a sponsor's region is "not found": a key must not learn what lies elsewhere.
    if sponsor is None or not principal.can_access(sponsor.region_code):
        raise NotFound("sponsor", q.sponsor_id)
    return sponsor
