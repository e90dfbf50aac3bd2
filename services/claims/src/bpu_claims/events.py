"""Claims' subscribers and publishers. It consumes nothing of its own yet beyond the API-key
events every service takes; ClaimPaid comes with the claims flow."""

from __future__ import annotations

from bpu_claims.store import ClaimsStore
from bpu_shared.service import Runtime


def subscribe(runtime: Runtime, store: ClaimsStore) -> None:
    """No subscriptions of claims' own yet."""
