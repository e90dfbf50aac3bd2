"""Registration's HTTP routes, one module per resource: parse, call the handler, answer.
Nothing else happens here."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_registration.api import programmes, sponsors, workers

router = APIRouter()
for module in (sponsors, programmes, workers):
    router.include_router(module.router)

__all__ = ["router"]
