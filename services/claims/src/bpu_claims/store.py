"""Claims' MongoDB repository. Claims, their checks and payments arrive with the claims flow."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

#: Collections whose documents carry an outbox (none yet: claims publishes nothing so far).
OUTBOX_COLLECTIONS: tuple[str, ...] = ()


class ClaimsStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db

    async def ensure_indexes(self) -> None:
        """Nothing to index yet."""
