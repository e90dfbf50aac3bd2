"""Reporting's subscribers: the events it projects into coverage and benefit totals."""

from __future__ import annotations

from bpu_reporting.store import ReportingStore
from bpu_shared.events import ClaimPaid, WorkerRegistered
from bpu_shared.service import Runtime


def subscribe(runtime: Runtime, store: ReportingStore) -> None:
    runtime.consume(WorkerRegistered, store.apply_workers_registered)
    runtime.consume(ClaimPaid, store.apply_claims_paid)
