"""Events of the claims context."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from bpu_shared.events.envelope import Event, Payload, RegionCode, Rupiah
from bpu_shared.events.registration import BenefitProgramme


class ClaimPaidPayload(Payload):
    KEY_FIELD: ClassVar[str] = "claim_id"

    claim_id: str
    worker_id: str
    programme_id: str
    benefit: BenefitProgramme
    kind: str
    province_code: RegionCode
    regency_code: RegionCode
    district_code: RegionCode
    amount_rupiah: Rupiah
    paid_at: AwareDatetime


class ClaimPaid(Event[ClaimPaidPayload]):
    """A JKK or JKM benefit was paid to the worker or the heirs (ahli waris)."""

    TOPIC: ClassVar[str] = "claims.claim-paid.v1"
