"""Registration's use cases, one handler each: load through the repository, ask the domain,
save through the unit of work. Access checks, "not found" and the clock live here; the tables
at the bottom are the whole service on one screen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field

from bpu_registration import events
from bpu_registration.domain import (
    AlreadyFunded,
    Occupation,
    Programme,
    QuotaExhausted,
    Sponsor,
    Worker,
)
from bpu_registration.store import NikTaken, RegistrationRepository
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS, Principal, Role
from bpu_shared.errors import NotFound
from bpu_shared.events import ProgrammeTerms, RegionCode, Rupiah, SponsorKind
from bpu_shared.http import RequestModel
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps

Registration = Deps[RegistrationRepository, Any]

#: Who may change registration data; sponsors only inside their region.
WRITERS = (Role.OPERATOR, Role.SPONSOR)


# -- commands and queries ----------------------------------------------------------------------


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


class OpenProgramme(ProgrammeTerms):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    sponsor_id: str = Field(examples=["SP-0123456789abcdef"])
    # Optional in the request only: Programme.open fills in the sponsor's region. mypy sees the
    # narrower field of ProgrammeTerms overridden; pydantic fields may be redeclared.
    region_code: RegionCode | None = Field(  # type: ignore[assignment]
        None, description="Defaults to the sponsor's region; may be narrower"
    )


@dataclass(frozen=True)
class GetProgramme:
    programme_id: str


class EnrolWorker(RequestModel):
    nik: str = Field(description="16-digit NIK", examples=["1704014107900001"])
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=20)
    occupation: Occupation
    domicile_code: RegionCode = Field(
        description="Current domicile village (desa/kelurahan) code", examples=["17.04.01.2001"]
    )
    declared_monthly_income: Rupiah = Field(
        1_000_000, le=10_000_000_000, description="Declared monthly income"
    )
    programme_id: str
    cover_start: Month | None = Field(
        None, description="First month of cover; defaults to this month or the programme's start"
    )


@dataclass(frozen=True)
class GetWorker:
    worker_id: str


# -- handlers ----------------------------------------------------------------------------------


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


async def open_programme(
    cmd: OpenProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    sponsor = await deps.repository.sponsor(cmd.sponsor_id)
    if sponsor is None:
        raise NotFound("sponsor", cmd.sponsor_id, field="sponsor_id")
    principal.require_region(sponsor.region_code)
    programme = Programme.open(sponsor, cmd)
    await deps.repository.add_programme(programme, [events.programme_opened(programme)])
    return programme, 0


async def get_programme(
    q: GetProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    found = await deps.repository.programme(q.programme_id)
    if found is None or not principal.can_access(found[0].region_code):
        raise NotFound("programme", q.programme_id)
    return found


async def enrol_worker(cmd: EnrolWorker, principal: Principal, deps: Registration) -> Worker:
    principal.require_role(*WRITERS)
    found = await deps.repository.programme(cmd.programme_id)
    if found is None or not principal.can_access(found[0].region_code):
        raise NotFound("programme", cmd.programme_id, field="programme_id")
    programme = found[0]
    principal.require_region(cmd.domicile_code)
    worker = Worker.enrol(
        programme,
        nik=cmd.nik,
        name=cmd.name,
        phone=cmd.phone,
        occupation=cmd.occupation,
        village_code=cmd.domicile_code,
        declared_monthly_income=cmd.declared_monthly_income,
        min_declared_income=deps.settings.min_declared_income,
        cover_start=cmd.cover_start,
        now=deps.clock.now(),
    )
    # The seat first: a full programme refuses before anything is written.
    if not await deps.repository.take_seat(programme.programme_id):
        raise QuotaExhausted(programme)
    try:
        await deps.repository.add_worker(worker, [events.worker_registered(worker)])
    except NikTaken as taken:
        await deps.repository.give_back_seat(programme.programme_id)
        raise AlreadyFunded(taken.programme_id) from None
    except BaseException:
        await deps.repository.give_back_seat(programme.programme_id)
        raise
    return worker


async def get_worker(q: GetWorker, principal: Principal, deps: Registration) -> Worker:
    principal.require_role(*WRITERS)
    worker = await deps.repository.worker(q.worker_id)
    if worker is None or not principal.can_access(worker.village_code):
        raise NotFound("worker", q.worker_id)
    return worker


# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    RegisterSponsor: register_sponsor,
    ListSponsors: list_sponsors,
    GetSponsor: get_sponsor,
    OpenProgramme: open_programme,
    GetProgramme: get_programme,
    EnrolWorker: enrol_worker,
    GetWorker: get_worker,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}
