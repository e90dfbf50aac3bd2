"""Billing's use cases. So far: the rate table in force on a day, and the API-key handlers;
invoices, payments and cover come with the billing flow, in this same shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bpu_billing.domain import ContributionRate, rate_on
from bpu_billing.store import BillingRepository
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS, Principal, Role
from bpu_shared.service_layer.bus import Deps

Billing = Deps[BillingRepository, Any]


@dataclass(frozen=True)
class GetRate:
    on: date | None


async def rate_in_force(q: GetRate, principal: Principal, deps: Billing) -> ContributionRate:
    principal.require_role(Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)
    return rate_on(q.on or deps.clock.today())  # NotInForce names the "on" field


# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    GetRate: rate_in_force,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}
