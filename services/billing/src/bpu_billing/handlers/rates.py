"""Reading the rate table: what is in force on a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_billing.domain import ContributionRate, rate_on
from bpu_billing.handlers.base import Billing
from bpu_shared.auth import Principal, Role


@dataclass(frozen=True)
class GetRate:
    on: date | None


async def rate_in_force(q: GetRate, principal: Principal, deps: Billing) -> ContributionRate:
    principal.require_role(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)
    return rate_on(q.on or deps.clock.today())  # NotInForce names the "on" field
