"""Registration's repository: sponsors, programmes and workers in MongoDB, and the collections
of its imports, waiting lists and enrolment requests. It persists what the domain decided, each
change with its events in one document (through the unit of work); the rules and their
messages live in the domain and the handlers. It may enforce a rule atomically (the NIK's
unique index, a seat counter, a worker's version) but never words it.

One class for the handlers (``RegistrationRepository``), one module per aggregate."""

from __future__ import annotations

from typing import ClassVar

from bpu_registration.store.imports import ImportStore
from bpu_registration.store.programmes import PROGRAMMES, SPONSORS, ProgrammeStore
from bpu_registration.store.requests import RequestStore
from bpu_registration.store.search import SearchStore
from bpu_registration.store.waiting_list import WaitingListStore
from bpu_registration.store.workers import WORKERS, NikTaken, Stale, WorkerStore
from bpu_shared.service import Repository

__all__ = ["NikTaken", "RegistrationRepository", "Stale"]

IMPORTS, WAITING_LIST, REQUESTS = "imports", "waiting_list", "enrolment_requests"


class RegistrationRepository(
    ProgrammeStore,
    WorkerStore,
    SearchStore,
    WaitingListStore,
    RequestStore,
    ImportStore,
    Repository,
):
    #: Collections whose documents carry events (the relay publishes exactly these).
    OUTBOX_COLLECTIONS: ClassVar[tuple[str, ...]] = (
        SPONSORS,
        PROGRAMMES,
        WORKERS,
        IMPORTS,
        WAITING_LIST,
        REQUESTS,
    )

    async def ensure_indexes(self) -> None:
        await self.ensure_programme_indexes()
        await self.ensure_worker_indexes()
        await self.ensure_search_indexes()
        await self.ensure_waiting_list_indexes()
        await self.ensure_request_indexes()
        await self.ensure_import_indexes()
