"""Reporting's use cases: record the facts events bring (each once), and answer the dashboard
from the counters the tallies keep. The tables at the bottom are the whole service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    CLAIM_STEPS,
    CONTRIBUTION_FIELDS,
    LEVEL_NAMES,
    RegionView,
    benefit_kind_field,
    benefits_paid_field,
    breakdown,
    claim_step_field,
    claims_paid_field,
    month_of,
    region_view,
)
from bpu_reporting.store import ReportingRepository
from bpu_shared.auth import KEY_COMMAND_HANDLERS, KEY_EVENT_HANDLERS, Principal, Role
from bpu_shared.events import (
    ClaimApproved,
    ClaimFiled,
    ClaimPaid,
    ClaimRejected,
    ContributionInvoiced,
    ContributionPaid,
    CoverageLapsed,
    WorkerRegistered,
)
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps

Reporting = Deps[ReportingRepository, Any]

_WORKER_FIELDS = {
    "province_code",
    "regency_code",
    "district_code",
    "village_code",
    "programme_id",
    "sponsor_id",
    "occupation",
    "cover_start",
    "registered_at",
}
_CLAIM_FIELDS = {
    "claim_id",
    "instalment",
    "province_code",
    "regency_code",
    "district_code",
    "benefit",
    "kind",
    "amount_rupiah",
    "amount_by_kind",
}


def covered_worker_facts(events: Sequence[WorkerRegistered]) -> dict[str, dict[str, Any]]:
    """One fact per worker, keyed by its worker id; no personal data."""
    return {
        e.payload.worker_id: {
            **e.payload.model_dump(mode="json", include=_WORKER_FIELDS),
            "registered_at": e.payload.registered_at,
            "event_id": str(e.event_id),
        }
        for e in events
    }


async def record_workers_covered(events: Sequence[WorkerRegistered], deps: Reporting) -> None:
    """The batch's facts, recorded in one write for the tally, which stores each once: the same
    worker arriving again (redelivered, published twice, replayed) finds its fact there and
    changes nothing; the tally counts each fact once."""
    await deps.repository.add_covered_workers(covered_worker_facts(events))


def paid_claim_key(event: ClaimPaid) -> str:
    """A payment of a claim is one fact: a claim is paid once, or in yearly scholarship
    instalments, each its own payment (events from before payments had ids: the claim id)."""
    return event.payload.payment_id or event.payload.claim_id


async def record_claims_paid(events: Sequence[ClaimPaid], deps: Reporting) -> None:
    """One fact per payment of a claim (see ``paid_claim_key``)."""
    await deps.repository.add_paid_claims(
        {
            paid_claim_key(e): {
                **e.payload.model_dump(mode="json", include=_CLAIM_FIELDS),
                "paid_at": e.payload.paid_at,
                "month": month_of(e.payload.paid_at),
                "event_id": str(e.event_id),
            }
            for e in events
        }
    )


_STEP_FIELDS = {"claim_id", "programme_id", "benefit", "province_code", "regency_code"}


def claim_step_facts(
    events: Sequence[ClaimFiled | ClaimApproved | ClaimRejected],
) -> dict[str, dict[str, Any]]:
    """One fact per claim and step (``CL-1|filed``): a claim is filed, approved or rejected
    once, so the same step arriving again (redelivered, published twice) adds nothing."""
    facts: dict[str, dict[str, Any]] = {}
    for e in events:
        p = e.payload
        if isinstance(e, ClaimApproved):
            step, at, amount = "approved", e.payload.approved_at, e.payload.amount_rupiah
        elif isinstance(e, ClaimRejected):
            step, at, amount = "rejected", e.payload.rejected_at, 0
        else:
            step, at, amount = "filed", e.payload.filed_at, 0
        facts[f"{p.claim_id}|{step}"] = {
            **p.model_dump(mode="json", include=_STEP_FIELDS),
            "district_code": p.district_code,
            "step": step,
            "month": month_of(at),
            "amount_rupiah": amount,
            "event_id": str(e.event_id),
        }
    return facts


async def record_claim_steps(
    events: Sequence[ClaimFiled | ClaimApproved | ClaimRejected], deps: Reporting
) -> None:
    """Claims filed, approved and rejected, one fact per claim and step (see
    ``claim_step_facts``)."""
    await deps.repository.add_claim_steps(claim_step_facts(events))


def _districts(by_district: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Workers and amount per district, as a list (district codes hold dots, which the store
    refuses in field names)."""
    return [
        {"district": code, "workers": int(d.workers), "amount_rupiah": int(d.amount_rupiah)}
        for code, d in sorted(by_district.items())
    ]


def invoice_facts(events: Sequence[ContributionInvoiced]) -> dict[str, dict[str, Any]]:
    """One fact per invoice, keyed by its id: its period, region, amount and districts."""
    return {
        e.payload.invoice_id: {
            "programme_id": e.payload.programme_id,
            "sponsor_id": e.payload.sponsor_id,
            "region_code": e.payload.region_code,
            "period": str(e.payload.period),
            "amount_rupiah": e.payload.amount_rupiah,
            "worker_count": e.payload.worker_count,
            "by_district": _districts(e.payload.by_district),
            "event_id": str(e.event_id),
        }
        for e in events
    }


async def record_contributions_invoiced(
    events: Sequence[ContributionInvoiced], deps: Reporting
) -> None:
    await deps.repository.add_invoices(invoice_facts(events))


def payment_key(event: ContributionPaid) -> str:
    """A payment applied to an invoice is one fact: billing applies a payment to an invoice
    once (a payment may spread over several invoices, an invoice take several payments)."""
    return f"{event.payload.payment_id}|{event.payload.invoice_id}"


def payment_facts(events: Sequence[ContributionPaid]) -> dict[str, dict[str, Any]]:
    return {
        payment_key(e): {
            "invoice_id": e.payload.invoice_id,
            "programme_id": e.payload.programme_id,
            "sponsor_id": e.payload.sponsor_id,
            "region_code": e.payload.region_code,
            "period": str(e.payload.period),
            "amount_rupiah": e.payload.amount_rupiah,
            "by_district": _districts(e.payload.by_district),
            "event_id": str(e.event_id),
        }
        for e in events
    }


async def record_contributions_paid(events: Sequence[ContributionPaid], deps: Reporting) -> None:
    await deps.repository.add_payments(payment_facts(events))


def lapse_facts(events: Sequence[CoverageLapsed]) -> dict[str, dict[str, Any]]:
    """One fact per programme and month its cover lapsed from (a programme reinstated may
    lapse again later, from another month)."""
    return {
        f"{e.payload.programme_id}|{e.payload.lapsed_from}": {
            "programme_id": e.payload.programme_id,
            "sponsor_id": e.payload.sponsor_id,
            "region_code": e.payload.region_code,
            "lapsed_from": str(e.payload.lapsed_from),
            "worker_count": e.payload.worker_count,
            "event_id": str(e.event_id),
        }
        for e in events
    }


async def record_coverage_lapsed(events: Sequence[CoverageLapsed], deps: Reporting) -> None:
    await deps.repository.add_lapses(lapse_facts(events))


@dataclass(frozen=True)
class GetCoverage:
    region: str | None


@dataclass(frozen=True)
class RegionFigures:
    code: str
    name: str
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int


@dataclass(frozen=True)
class CoverageReport:
    view: RegionView
    level: str
    registered_workers: int
    claims_paid: int
    benefits_paid_rupiah: int
    breakdown: list[RegionFigures]
    as_of: datetime
    #: Per benefit programme (JKK, JKM): claims paid, and benefits paid in Rupiah.
    claims_paid_by_programme: dict[str, int]
    benefits_paid_by_programme: dict[str, int]


async def coverage(q: GetCoverage, principal: Principal, deps: Reporting) -> CoverageReport:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(q.region))  # a sponsor's dashboard starts at its region
    own, children = await deps.repository.coverage(view.code)
    counts = {code: figures["workers"] for code, figures in children.items()}
    rows = [
        RegionFigures(
            code,
            name,
            workers,
            children.get(code, {}).get("claims_paid", 0),
            children.get(code, {}).get("benefits_paid_rupiah", 0),
        )
        for code, name, workers in (breakdown(view, counts) if view.level < 4 else [])
    ]
    return CoverageReport(
        view=view,
        level=LEVEL_NAMES[view.level],
        registered_workers=own["workers"],
        claims_paid=own["claims_paid"],
        benefits_paid_rupiah=own["benefits_paid_rupiah"],
        breakdown=rows,
        as_of=deps.clock.now(),
        claims_paid_by_programme={p: own.get(claims_paid_field(p), 0) for p in CLAIM_PROGRAMMES},
        benefits_paid_by_programme={
            p: own.get(benefits_paid_field(p), 0) for p in CLAIM_PROGRAMMES
        },
    )


@dataclass(frozen=True)
class GetContributions:
    region: str | None
    period: Month | None = None


@dataclass(frozen=True)
class GetBenefits:
    region: str | None
    period: Month | None = None


@dataclass(frozen=True)
class RegionTotals:
    """A region's counters (all time or one month) and its child regions' (the next level)."""

    view: RegionView
    level: str
    period: Month | None
    totals: dict[str, int]
    breakdown: list[tuple[str, str, dict[str, int]]]
    as_of: datetime


CONTRIBUTION_TOTALS = CONTRIBUTION_FIELDS
BENEFIT_TOTALS = (
    "claims_paid",
    "benefits_paid_rupiah",
    "benefits_approved_rupiah",
    *(claim_step_field(s) for s in CLAIM_STEPS),
    *(claim_step_field(s, p) for s in CLAIM_STEPS for p in CLAIM_PROGRAMMES),
    *(claims_paid_field(p) for p in CLAIM_PROGRAMMES),
    *(benefits_paid_field(p) for p in CLAIM_PROGRAMMES),
    *(benefit_kind_field(k) for k in BENEFIT_KINDS),
)


async def _region_totals(
    region: str | None,
    period: Month | None,
    fields: Sequence[str],
    principal: Principal,
    deps: Reporting,
) -> RegionTotals:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    view = region_view(principal.scope(region))  # a sponsor's dashboard starts at its region
    own, children = await deps.repository.figures(view.code, str(period) if period else None)

    def pick(figures: Mapping[str, int]) -> dict[str, int]:
        return {f: int(figures.get(f, 0)) for f in fields}

    counts = {code: 0 for code in children}
    rows = [
        (code, name, pick(children.get(code, {})))
        for code, name, _ in (breakdown(view, counts) if view.level < 4 else [])
    ]
    return RegionTotals(view, LEVEL_NAMES[view.level], period, pick(own), rows, deps.clock.now())


async def contributions(q: GetContributions, principal: Principal, deps: Reporting) -> RegionTotals:
    """Contributions invoiced, paid and outstanding, workers covered and lapsed: the region's
    and its child regions', all time or in one month."""
    return await _region_totals(q.region, q.period, CONTRIBUTION_TOTALS, principal, deps)


async def benefits(q: GetBenefits, principal: Principal, deps: Reporting) -> RegionTotals:
    """Claims filed, approved, rejected and paid, benefits paid per programme and kind: the
    region's and its child regions', all time or in one month."""
    return await _region_totals(q.region, q.period, BENEFIT_TOTALS, principal, deps)


# -- the service on one screen -----------------------------------------------------------------

COMMAND_HANDLERS: dict[type, Any] = {
    GetCoverage: coverage,
    GetContributions: contributions,
    GetBenefits: benefits,
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
    **KEY_EVENT_HANDLERS,  # ApiKeyIssued, ApiKeyRevoked: every service keeps the key hashes
}
