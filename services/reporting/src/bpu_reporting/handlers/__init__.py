"""Reporting's use cases: record the facts events bring (each once), and answer the dashboard
from the counters the tallies keep. The tables at the bottom are the whole service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_reporting.handlers.base import RegionTotals
from bpu_reporting.handlers.claims import (
    BENEFIT_TOTALS,
    GetBenefits,
    benefits,
    claim_step_facts,
    paid_claim_key,
    record_claim_steps,
    record_claims_paid,
)
from bpu_reporting.handlers.contributions import (
    CONTRIBUTION_TOTALS,
    GetContributions,
    contributions,
    invoice_facts,
    lapse_facts,
    payment_facts,
    payment_key,
    record_contributions_invoiced,
    record_contributions_paid,
    record_coverage_lapsed,
)
from bpu_reporting.handlers.coverage import (
    CoverageReport,
    GetCoverage,
    RegionFigures,
    coverage,
    covered_worker_facts,
    enrolment_key,
    record_workers_covered,
)
from bpu_reporting.handlers.freshness import GetFreshness, freshness
from bpu_reporting.handlers.monitoring import GetMonitoring, monitoring
from bpu_reporting.handlers.programmes import record_programmes
from bpu_reporting.handlers.targets import (
    GetTargets,
    SetTarget,
    UploadTargets,
    set_target,
    targets,
    upload_targets,
)
from bpu_reporting.handlers.waiting import (
    record_waiting_left,
    record_waitlisted,
    waiting_left_facts,
    waitlisted_facts,
)
from bpu_reporting.handlers.workers import ended_enrolment_facts, record_enrolments_ended
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS
from bpu_shared.events import (
    ClaimApproved,
    ClaimFiled,
    ClaimPaid,
    ClaimRejected,
    ContributionInvoiced,
    ContributionPaid,
    CoverageLapsed,
    EnrolmentEnded,
    ProgrammeChanged,
    ProgrammeClosed,
    ProgrammeOpened,
    WaitingListLeft,
    WorkerRegistered,
    WorkerWaitlisted,
)

# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    GetCoverage: coverage,
    GetContributions: contributions,
    GetBenefits: benefits,
    GetTargets: targets,
    SetTarget: set_target,
    UploadTargets: upload_targets,
    GetMonitoring: monitoring,
    GetFreshness: freshness,
    **KEY_COMMAND_HANDLERS,  # issue, revoke and list API keys
}

EVENT_HANDLERS: dict[type, Sequence[Any]] = {
    WorkerRegistered: [record_workers_covered],
    ClaimPaid: [record_claims_paid],
    ClaimFiled: [record_claim_steps],
    ClaimApproved: [record_claim_steps],
    ClaimRejected: [record_claim_steps],
    ContributionInvoiced: [record_contributions_invoiced],
    ContributionPaid: [record_contributions_paid],
    CoverageLapsed: [record_coverage_lapsed],
    EnrolmentEnded: [record_enrolments_ended],
    WorkerWaitlisted: [record_waitlisted],
    WaitingListLeft: [record_waiting_left],
    ProgrammeOpened: [record_programmes],
    ProgrammeChanged: [record_programmes],
    ProgrammeClosed: [record_programmes],
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}

__all__ = [
    "BENEFIT_TOTALS",
    "COMMAND_HANDLERS",
    "CONTRIBUTION_TOTALS",
    "EVENT_HANDLERS",
    "CoverageReport",
    "GetBenefits",
    "GetContributions",
    "GetCoverage",
    "RegionFigures",
    "RegionTotals",
    "claim_step_facts",
    "covered_worker_facts",
    "ended_enrolment_facts",
    "enrolment_key",
    "invoice_facts",
    "lapse_facts",
    "paid_claim_key",
    "payment_facts",
    "payment_key",
    "waiting_left_facts",
    "waitlisted_facts",
]
