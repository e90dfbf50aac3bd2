"""Billing's MongoDB repository. Invoices and payments arrive with the billing run."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

#: Collections whose documents carry an outbox (none yet: billing publishes nothing so far).
OUTBOX_COLLECTIONS: tuple[str, ...] = ()


class BillingStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    async def ensure_indexes(self) -> None:
        """Nothing to index yet."""
