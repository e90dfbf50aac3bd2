"""Claims' use cases. So far: the benefit table in force on a day, and the API-key handlers;
filing, checking, four-eyes approval and payment come with the claims flow, in this shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bpu_claims.domain import BenefitTable, benefits_on
from bpu_claims.store import ClaimsRepository
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS, Principal, Role
from bpu_shared.service_layer.bus import Deps

Claims = Deps[ClaimsRepository, Any]


@dataclass(frozen=True)
class GetBenefits:
    on: date | None


async def benefits_in_force(q: GetBenefits, principal: Principal, deps: Claims) -> BenefitTable:
    principal.require_role(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)
    return benefits_on(q.on or deps.clock.today())  # NotInForce names the "on" field


# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    GetBenefits: benefits_in_force,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}
