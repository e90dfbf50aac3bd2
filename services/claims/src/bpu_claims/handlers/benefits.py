"""The benefit table in force on a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_claims.domain import BenefitTable, benefits_on
from bpu_claims.handlers.base import Claims
from bpu_shared.auth import Principal, Role


@dataclass(frozen=True)
class GetBenefits:
    on: date | None


async def benefits_in_force(q: GetBenefits, principal: Principal, deps: Claims) -> BenefitTable:
    principal.require_role(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)
    return benefits_on(q.on or deps.clock.today())  # NotInForce names the "on" field
