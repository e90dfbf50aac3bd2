"""Billing's HTTP routes, one module per resource: parse, call the handler, answer."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_billing.api import budget, cover, invoices, payments, planning, rates, runs, statements

router = APIRouter()
for module in (rates, planning, runs, invoices, payments, cover, budget, statements):
    router.include_router(module.router)

__all__ = ["router"]
