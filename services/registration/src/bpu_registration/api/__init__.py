"""Registration's HTTP routes, one module per resource: parse, call the handler, answer.
Nothing else happens here."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_registration.api import programmes, sponsors, waiting_list, workers

router = APIRouter()
for module in (sponsors, programmes, workers, waiting_list):
    router.include_router(module.router)

__all__ = ["router"]
