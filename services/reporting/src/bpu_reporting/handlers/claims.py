"""Claims: each claim filed, approved, rejected (``ClaimFiled``, ``ClaimApproved``,
``ClaimRejected``) and each payment of one (``ClaimPaid``) a fact; the benefits answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bpu_reporting.domain import (
    BENEFIT_KINDS,
    CLAIM_PROGRAMMES,
    CLAIM_STEPS,
    benefit_kind_field,
    benefits_paid_field,
    claim_step_field,
    claims_paid_field,
    month_of,
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
    ClaimApproved,
    ClaimFiled,
    ClaimPaid,
    ClaimRejected,
)

_CLAIM_FIELDS = {
    "claim_id",
    "programme_id",
    "instalment",
    "province_code",
    "regency_code",
    "district_code",
    "benefit",
    "kind",
    "amount_rupiah",
    "amount_by_kind",
}


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
                **provenance(e),
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
            **provenance(e),
        }
    return facts


async def record_claim_steps(
    events: Sequence[ClaimFiled | ClaimApproved | ClaimRejected], deps: Reporting
) -> None:
    """Claims filed, approved and rejected, one fact per claim and step (see
    ``claim_step_facts``)."""
    await deps.repository.add_claim_steps(claim_step_facts(events))


@dataclass(frozen=True)
class GetBenefits(ReportQuery):
    pass


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


async def benefits(q: GetBenefits, principal: Principal, deps: Reporting) -> RegionTotals:
    """Claims filed, approved, rejected and paid, benefits paid per programme and kind: the
    region's and its child regions', all time or in one month."""
    return await region_totals(q, BENEFIT_TOTALS, principal, deps)
