"""Billing's subscribers and publishers. It consumes nothing of its own yet beyond the API-key
events every service takes; invoices (ContributionInvoiced) come with the billing run."""

from __future__ import annotations

from bpu_billing.store import BillingStore
from bpu_shared.service import Runtime


def subscribe(runtime: Runtime, store: BillingStore) -> None:
    """No subscriptions of billing's own yet."""
