"""The dashboard API: coverage, contributions and benefit totals per province, regency,
district and village, all time or per month, one module per resource. Routes only translate
to the handlers."""

from __future__ import annotations

from fastapi import APIRouter

from bpu_reporting.api import (
    benefits,
    contributions,
    coverage,
    dashboard,
    freshness,
    monitoring,
    targets,
)

router = APIRouter()
for module in (coverage, contributions, benefits, dashboard, monitoring, targets, freshness):
    router.include_router(module.router)

__all__ = ["router"]
