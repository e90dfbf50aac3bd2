"""Events of the claims context: a claim filed, assessed, approved, rejected and paid. None
carries personal data: the worker appears by id, the heirs and their accounts not at all, the
region by code, the officers by their API key id."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import AwareDatetime, Field

from bpu_shared.events.envelope import Event, Payload, RegionCode, Rupiah
from bpu_shared.events.registration import BenefitProgramme


class ClaimFields(Payload):
    """What every claims event says of its claim."""

    KEY_FIELD: ClassVar[str] = "claim_id"

    claim_id: str
    worker_id: str
    programme_id: str
    benefit: BenefitProgramme
    incident_date: date
    province_code: RegionCode
    regency_code: RegionCode
    district_code: RegionCode
    version: int = Field(ge=1, description="The claim's version after this step")


class ClaimFiledPayload(ClaimFields):
    filed_by: str = Field(description="The API key id of the officer who filed it")
    filed_at: AwareDatetime
    heirs: int = Field(0, ge=0, description="How many heirs were named (never who)")
    children: int = Field(0, ge=0, description="How many children were named for the scholarship")


class ClaimFiled(Event[ClaimFiledPayload]):
    """A JKK (work accident) or JKM (death) claim was filed for a worker."""

    TOPIC: ClassVar[str] = "claims.claim-filed.v1"


class ClaimAssessedPayload(ClaimFields):
    assessed_by: str
    assessed_at: AwareDatetime
    amount_rupiah: Rupiah = Field(description="Paid at once: every line but the scholarship")
    amount_by_kind: dict[str, Rupiah] = Field(
        description="Per benefit kind (medical, transport, death, funeral, periodic, …)"
    )
    scholarship_rupiah: Rupiah = Field(0, description="The scholarship schedule, paid yearly")
    instalments: int = Field(0, ge=0, description="Scholarship instalments scheduled")


class ClaimAssessed(Event[ClaimAssessedPayload]):
    """The claim was found eligible and its benefits computed (again, when facts changed)."""

    TOPIC: ClassVar[str] = "claims.claim-assessed.v1"


class ClaimApprovedPayload(ClaimFields):
    approved_by: str = Field(description="A different officer than who filed or assessed it")
    approved_at: AwareDatetime
    amount_rupiah: Rupiah
    amount_by_kind: dict[str, Rupiah]


class ClaimApproved(Event[ClaimApprovedPayload]):
    """A second officer approved the assessed claim for payment (four eyes)."""

    TOPIC: ClassVar[str] = "claims.claim-approved.v1"


class RefusalReason(Payload):
    """A numbered reason a claim was refused, with its text."""

    code: str = Field(examples=["R02"])
    text: str


class ClaimRejectedPayload(ClaimFields):
    rejected_by: str
    rejected_at: AwareDatetime
    reasons: list[RefusalReason] = Field(min_length=1)


class ClaimRejected(Event[ClaimRejectedPayload]):
    """The claim was refused, with its numbered reasons."""

    TOPIC: ClassVar[str] = "claims.claim-rejected.v1"


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
    amount_by_kind: dict[str, Rupiah] = Field(
        default_factory=dict, description="The amount per benefit kind; they add up to the amount"
    )
    payment_id: str | None = Field(
        None, description="This payment: the claim's benefits, or one scholarship instalment"
    )
    instalment: int | None = Field(
        None, ge=1, description="The scholarship instalment this pays (1 the first year), if one"
    )


class ClaimPaid(Event[ClaimPaidPayload]):
    """A JKK or JKM benefit was paid to the worker or the heirs (ahli waris)."""

    TOPIC: ClassVar[str] = "claims.claim-paid.v1"
