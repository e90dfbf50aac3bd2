"""Claims' repository: its own view of cover (from registration's and billing's events), the
claims themselves, and their supporting documents (GridFS). It persists what the domain
decided, each change with its events in one document (through the unit of work).

One class for the handlers (``ClaimsRepository``), one module per aggregate."""

from __future__ import annotations

from typing import ClassVar

from bpu_claims.store.claims import CLAIMS, ClaimStore
from bpu_claims.store.cover import CoverStore
from bpu_claims.store.documents import DocumentStore
from bpu_shared.service import Repository


class ClaimsRepository(CoverStore, ClaimStore, DocumentStore, Repository):
    #: Collections whose documents carry events (the relay publishes exactly these).
    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]] = (CLAIMS,)

    async def ensure_indexes(self) -> None:
        await self.ensure_cover_indexes()
        await self.ensure_claim_indexes()
        await self.ensure_document_indexes()
