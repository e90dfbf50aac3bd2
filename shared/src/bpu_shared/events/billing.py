"""Events of the billing context: invoices, payments received and applied, cover paid, cover
lapsed. None carries personal data: workers appear by id only, regions by code."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import AwareDatetime, Field

from bpu_shared.events.envelope import Event, Month, Payload, RegionCode, Rupiah
from bpu_shared.events.registration import BenefitProgramme, FundingSource


class DistrictTotal(Payload):
    """What one district (kecamatan) of an invoice adds up to."""

    workers: int = Field(ge=0)
    amount_rupiah: Rupiah


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
    due_date: date = Field(description="The 15th of the period, or the next working day")
    sequence: int = Field(0, ge=0, description="0 for the month's invoice, 1… supplementary")
    supplementary: bool = Field(False, description="Late enrolments for a month billed already")
    by_district: dict[RegionCode, DistrictTotal] = Field(
        default_factory=dict, description="Workers and amount per district code"
    )
    funding_source: FundingSource | None = None
    credit_applied_rupiah: Rupiah = Field(
        0, description="Credit held for the programme (overpayment, payment ahead) used on it"
    )
    over_budget: bool = Field(
        False, description="Invoiced in all, with this invoice, exceeds the programme's budget"
    )
    budget_rupiah: Rupiah | None = None
    invoiced_to_date_rupiah: Rupiah | None = Field(
        None, description="The programme's invoices so far, this one included"
    )


class ContributionInvoiced(Event[ContributionInvoicedPayload]):
    """A sponsor programme was invoiced for one month's contributions (iuran)."""

    TOPIC: ClassVar[str] = "billing.contribution-invoiced.v1"


class PaymentReceivedPayload(Payload):
    """A payment as a treasury or bank system reports it. ``reference`` is the idempotency key:
    the same reference twice is one payment."""

    KEY_FIELD: ClassVar[str] = "reference"

    reference: str = Field(min_length=1, max_length=100, description="Bank or treasury reference")
    amount_rupiah: Rupiah
    paid_at: AwareDatetime
    invoice_id: str | None = Field(None, description="The invoice paid (its number)")
    programme_id: str | None = Field(
        None, description="Or the programme, for a payment ahead before its invoices exist"
    )
    payer: str | None = Field(None, max_length=200, description="Who paid, as the bank shows it")


class PaymentReceived(Event[PaymentReceivedPayload]):
    """A treasury or bank system reports a payment of contributions (input to billing)."""

    TOPIC: ClassVar[str] = "billing.payment-received.v1"


class ContributionPaidPayload(Payload):
    KEY_FIELD: ClassVar[str] = "invoice_id"

    payment_id: str
    reference: str
    invoice_id: str
    sponsor_id: str
    programme_id: str
    region_code: RegionCode
    period: Month
    amount_rupiah: Rupiah = Field(description="What this payment put on this invoice")
    invoice_amount_rupiah: Rupiah
    invoice_paid_rupiah: Rupiah = Field(description="Paid on the invoice so far, this included")
    paid_in_full: bool
    workers_covered: int = Field(ge=0, description="Lines fully paid so far on the invoice")
    worker_count: int = Field(ge=0)
    by_district: dict[RegionCode, DistrictTotal] = Field(
        default_factory=dict, description="Workers newly covered and their amount, per district"
    )
    paid_at: AwareDatetime


class ContributionPaid(Event[ContributionPaidPayload]):
    """A payment was applied to an invoice (all of it, or the part the invoice still owed)."""

    TOPIC: ClassVar[str] = "billing.contribution-paid.v1"


class CoverPaidPayload(Payload):
    """Workers whose month is now paid: one event per block of an invoice's lines (at most a
    few thousand workers), so claims learns cover per worker-month from events alone."""

    KEY_FIELD: ClassVar[str] = "invoice_id"

    invoice_id: str
    programme_id: str
    sponsor_id: str
    period: Month
    worker_ids: list[str] = Field(max_length=10_000)


class CoverPaid(Event[CoverPaidPayload]):
    """These workers' month is paid, so they are covered for it."""

    TOPIC: ClassVar[str] = "billing.cover-paid.v1"


class CoverageLapsedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "programme_id"

    programme_id: str
    sponsor_id: str
    region_code: RegionCode
    lapsed_from: Month = Field(description="First month of the unpaid streak: no cover from it")
    unpaid_periods: list[Month]
    worker_count: int = Field(ge=0, description="Workers on the last unpaid invoice")


class CoverageLapsed(Event[CoverageLapsedPayload]):
    """More than the allowed consecutive months went unpaid: the programme's cover ends."""

    TOPIC: ClassVar[str] = "billing.coverage-lapsed.v1"
