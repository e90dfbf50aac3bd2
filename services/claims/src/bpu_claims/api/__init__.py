"""Claims' HTTP routes, one module per resource: parse, call the handler, answer."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_claims.api import benefits

router = APIRouter()
for module in (benefits,):
    router.include_router(module.router)

__all__ = ["router"]
