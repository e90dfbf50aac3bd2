"""Contributions: each invoice (``ContributionInvoiced``), payment applied to an invoice
(``ContributionPaid``) and lapse (``CoverageLapsed``) a fact; the contributions answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bpu_reporting.domain import (
    CONTRIBUTION_FIELDS,
)
from bpu_reporting.handlers.base import (
    RegionTotals,
    Reporting,
    ReportQuery,
    provenance,
    region_totals,
)
from bpu_shared.auth import Principal
from bpu_shared.events import (
    ContributionInvoiced,
    ContributionPaid,
    CoverageLapsed,
)


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
            **provenance(e),
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
            **provenance(e),
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
            **provenance(e),
        }
        for e in events
    }


async def record_coverage_lapsed(events: Sequence[CoverageLapsed], deps: Reporting) -> None:
    await deps.repository.add_lapses(lapse_facts(events))


@dataclass(frozen=True)
class GetContributions(ReportQuery):
    pass


CONTRIBUTION_TOTALS = CONTRIBUTION_FIELDS


async def contributions(q: GetContributions, principal: Principal, deps: Reporting) -> RegionTotals:
    """Contributions invoiced, paid and outstanding, workers covered and lapsed: the region's
    and its child regions', all time or in one month."""
    return await region_totals(q, CONTRIBUTION_TOTALS, principal, deps)
