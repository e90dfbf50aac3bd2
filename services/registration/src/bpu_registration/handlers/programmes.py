"""Programmes over time: open, read, list, change before the start (quota and budget at any
time), close. A new budget year is a new programme (carrying workers over is an import job:
``handlers.imports``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field

from bpu_registration import events
from bpu_registration.domain import Programme
from bpu_registration.handlers.base import WRITERS, Registration, load_programme
from bpu_registration.handlers.waiting_list import fill_after_change
from bpu_shared.auth import Principal
from bpu_shared.errors import Conflict, NotFound
from bpu_shared.events import (
    BenefitProgramme,
    FundingSource,
    Occupation,
    ProgrammeTerms,
    RegionCode,
    Rupiah,
)
from bpu_shared.http import RequestModel
from bpu_shared.month import Month


class OpenProgramme(ProgrammeTerms):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    sponsor_id: str = Field(examples=["SP-0123456789abcdef"])
    # Optional in the request only: Programme.open fills in the sponsor's region and budget.
    # mypy sees the narrower fields of ProgrammeTerms overridden; pydantic fields may be
    # redeclared.
    region_code: RegionCode | None = Field(  # type: ignore[assignment]
        None, description="Defaults to the sponsor's region; may be narrower"
    )
    funding_source: FundingSource | None = Field(  # type: ignore[assignment]
        None, description="Defaults to the sponsor's own budget (APBD, APBDes or donor)"
    )


class ProgrammeChanges(RequestModel):
    """The fields to change; those left out stay. Before the programme's first month any of
    them; after, only the name, budget and quota."""

    name: str | None = Field(None, min_length=2, max_length=200)
    budget_rupiah: Rupiah | None = None
    quota: int | None = Field(None, ge=1, le=100_000_000)
    benefits: list[BenefitProgramme] | None = Field(None, min_length=2)
    start_month: Month | None = None
    end_month: Month | None = None
    min_age: int | None = Field(None, ge=1, le=120)
    max_age: int | None = Field(None, ge=1, le=120)
    occupations: list[Occupation] | None = None
    funding_source: FundingSource | None = None

    def changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in type(self).model_fields
            if getattr(self, name) is not None
        }


@dataclass(frozen=True)
class ChangeProgramme:
    programme_id: str
    changes: ProgrammeChanges


class Closing(RequestModel):
    last_month: Month | None = Field(
        None, description="Last month the programme pays for; defaults to its end month"
    )


@dataclass(frozen=True)
class CloseProgramme:
    programme_id: str
    closing: Closing


@dataclass(frozen=True)
class GetProgramme:
    programme_id: str


@dataclass(frozen=True)
class ListProgrammes:
    sponsor_id: str | None
    region: str | None
    limit: int
    skip: int


async def open_programme(
    cmd: OpenProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    sponsor = await deps.repository.sponsor(cmd.sponsor_id)
    if sponsor is None or not principal.can_access(sponsor.region_code):
        raise NotFound("sponsor", cmd.sponsor_id, field="sponsor_id")
    programme = Programme.open(sponsor, cmd)
    await deps.repository.add_programme(programme, [events.programme_opened(programme)])
    return programme, 0


async def get_programme(
    q: GetProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    return await load_programme(deps, principal, q.programme_id)


async def list_programmes(
    q: ListProgrammes, principal: Principal, deps: Registration
) -> list[tuple[Programme, int]]:
    principal.require_role(*WRITERS)
    return await deps.repository.list_programmes(
        q.sponsor_id, principal.scope(q.region), q.limit, q.skip
    )


async def change_programme(
    cmd: ChangeProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    for _attempt in range(5):
        found = await deps.repository.programme_with_version(cmd.programme_id)
        if found is None or not principal.can_access(found[0].region_code):
            raise NotFound("programme", cmd.programme_id)
        programme, enrolled, version = found
        sponsor = await deps.repository.sponsor(programme.sponsor_id)
        assert sponsor is not None, "a programme's sponsor is never deleted"
        changed_programme, changed = programme.change(
            sponsor, cmd.changes.changes(), deps.clock.today(), enrolled
        )
        if not changed:
            return programme, enrolled
        event = events.programme_changed(changed_programme, changed)
        if await deps.repository.save_programme(
            changed_programme, version, programme.quota, [event]
        ):
            if "quota" in changed:  # a raised quota seats the next workers of the waiting list
                await fill_after_change(changed_programme.programme_id, deps)
                return await load_programme(deps, principal, cmd.programme_id)
            return changed_programme, enrolled
    raise Conflict(
        f"programme {cmd.programme_id} kept changing meanwhile; try again", field="programme_id"
    )


async def close_programme(
    cmd: CloseProgramme, principal: Principal, deps: Registration
) -> tuple[Programme, int]:
    principal.require_role(*WRITERS)
    for _attempt in range(5):
        found = await deps.repository.programme_with_version(cmd.programme_id)
        if found is None or not principal.can_access(found[0].region_code):
            raise NotFound("programme", cmd.programme_id)
        programme, enrolled, version = found
        today = deps.clock.today()
        closed = programme.close(cmd.closing.last_month, today)
        event = events.programme_closed(closed, today)
        if await deps.repository.save_programme(closed, version, programme.quota, [event]):
            return closed, enrolled
    raise Conflict(
        f"programme {cmd.programme_id} kept changing meanwhile; try again", field="programme_id"
    )


__all__ = ["load_programme"]
