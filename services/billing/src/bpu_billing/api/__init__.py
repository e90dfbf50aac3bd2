"""Billing's HTTP routes, one module per resource: parse, call the handler, answer."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_billing.api import invoices, planning, rates, runs

router = APIRouter()
for module in (rates, planning, runs, invoices):
    router.include_router(module.router)

__all__ = ["router"]
