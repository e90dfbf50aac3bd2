"""Claims' use cases, one handler each: load through the repository, ask the domain, save
through the unit of work. The two tables below are the whole service on one screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_claims.handlers.benefits import (
    GetBenefits,
    ListBenefits,
    benefits_in_force,
    list_benefits,
)
from bpu_claims.handlers.claims import CLAIM_COMMAND_HANDLERS
from bpu_claims.handlers.cover import COVER_EVENT_HANDLERS
from bpu_claims.handlers.documents import DOCUMENT_COMMAND_HANDLERS
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS

# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    ListBenefits: list_benefits,
    GetBenefits: benefits_in_force,
    **CLAIM_COMMAND_HANDLERS,  # file, change facts, assess, approve, pay, find
    **DOCUMENT_COMMAND_HANDLERS,  # attach, list and read a claim's documents
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
    **COVER_EVENT_HANDLERS,  # registration's enrolments, billing's invoices, payments, lapses
}
