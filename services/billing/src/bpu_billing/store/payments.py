"""Billing's payments collections."""

from __future__ import annotations

from bpu_shared.service import Repository

PAYMENTS = "payments"


class PaymentStore(Repository):
    async def ensure_payments_indexes(self) -> None:
        return None
