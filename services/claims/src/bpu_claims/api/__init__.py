"""Claims' HTTP routes, one module per resource: parse, call the handler, answer."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_claims.api import benefits, claims, documents

router = APIRouter()
for module in (benefits, claims, documents):
    router.include_router(module.router)

__all__ = ["router"]
