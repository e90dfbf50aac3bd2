"""Events of the billing context: invoices, payments and cover."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from bpu_shared.events.envelope import Event, Month, Payload, RegionCode, Rupiah
from bpu_shared.events.registration import BenefitProgramme


class ContributionInvoicedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "invoice_id"

    invoice_id: str
    sponsor_id: str
    programme_id: str
    region_code: RegionCode
    period: Month
    worker_count: int = Field(ge=0)
    amount_by_benefit: dict[BenefitProgramme, Rupiah]
    amount_rupiah: Rupiah
    due_date: date


class ContributionInvoiced(Event[ContributionInvoicedPayload]):
    """A sponsor programme was invoiced for one month's contributions (iuran)."""

    TOPIC: ClassVar[str] = "billing.contribution-invoiced.v1"
