"""Registration's HTTP routes, one module per resource: parse, call the handler, answer.
Nothing else happens here."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_registration.api import (
    imports,
    programmes,
    sponsors,
    waiting_list,
    worker_views,
    workers,
)

router = APIRouter()
# worker_views' paths (GET /workers, /workers/{id}/history, /workers/{id}/card) differ from
# workers' in method or segments, so their order does not matter (tested).
for module in (sponsors, programmes, workers, worker_views, waiting_list, imports):
    router.include_router(module.router)

__all__ = ["router"]
