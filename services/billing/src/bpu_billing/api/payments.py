"""``/payments``: record a payment (the reference is its idempotency key), read one, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from bpu_billing.handlers.payments import GetPayment, ListPayments, Recorded, RecordPayment
from bpu_shared.auth import Anyone
from bpu_shared.clock import JAKARTA
from bpu_shared.http import problem_responses

router = APIRouter(tags=["payments"])


class PaymentIn(BaseModel):
    reference: str = Field(
        min_length=1,
        max_length=100,
        description="Bank or treasury reference: the same reference twice is one payment",
    )
    amount_rupiah: int = Field(gt=0)
    paid_at: AwareDatetime
    invoice_id: str | None = Field(None, description="The invoice paid")
    programme_id: str | None = Field(
        None,
        description="Or the programme: paid to its open invoices, oldest first, the rest "
        "held as credit for its next invoices (a payment ahead)",
    )
    payer: str | None = Field(None, max_length=200)


class Application(BaseModel):
    invoice_id: str
    amount_rupiah: int


class PaymentOut(BaseModel):
    payment_id: str
    reference: str
    kind: str = Field(description="payment, or credit: credit held for the programme applied")
    amount_rupiah: int
    paid_at: datetime
    invoice_id: str | None = Field(description="The invoice the payer named")
    programme_id: str
    sponsor_id: str | None
    payer: str | None
    recorded_at: datetime
    state: str = Field(description="recorded while being applied, then applied")
    applications: list[Application] = Field(description="What went on which invoice")
    credited_rupiah: int = Field(description="What no invoice owed: held for the programme")

    @classmethod
    def of(cls, doc: dict[str, Any]) -> PaymentOut:
        return cls(
            payment_id=doc["_id"],
            reference=doc["reference"],
            kind=doc.get("kind", "payment"),
            amount_rupiah=doc["amount_rupiah"],
            paid_at=doc["paid_at"].astimezone(JAKARTA),
            invoice_id=doc.get("requested_invoice_id"),
            programme_id=doc["programme_id"],
            sponsor_id=doc.get("sponsor_id"),
            payer=doc.get("payer"),
            recorded_at=doc["recorded_at"].astimezone(JAKARTA),
            state=doc["state"],
            applications=[Application(**a) for a in doc.get("applications", [])],
            credited_rupiah=doc.get("credited_rupiah", 0),
        )


@router.post(
    "/payments",
    response_model=PaymentOut,
    status_code=201,
    responses={
        200: {"description": "The same reference again: the payment recorded"},
        **problem_responses(401, 403, 409, 422),
    },
)
async def record_payment(
    body: PaymentIn, request: Request, response: Response, who: Anyone
) -> PaymentOut:
    """Record a payment and apply it: to the invoice named (what it does not owe is credited to
    the programme), or to the programme's open invoices. The same reference again answers the
    payment recorded (200); with another amount or invoice it is a 409 naming the field."""
    done: Recorded = await request.app.state.bus.handle(RecordPayment(**body.model_dump()), who)
    if not done.created:
        response.status_code = 200
    return PaymentOut.of(done.payment)


@router.get(
    "/payments/{payment_id}", response_model=PaymentOut, responses=problem_responses(401, 403, 404)
)
async def get_payment(payment_id: str, request: Request, who: Anyone) -> PaymentOut:
    return PaymentOut.of(await request.app.state.bus.handle(GetPayment(payment_id), who))


@router.get(
    "/payments", response_model=list[PaymentOut], responses=problem_responses(401, 403, 422)
)
async def list_payments(
    request: Request,
    who: Anyone,
    invoice_id: str | None = None,
    programme_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PaymentOut]:
    """Payments applied to an invoice, or of a programme, in the order recorded."""
    found = await request.app.state.bus.handle(ListPayments(invoice_id, programme_id, limit), who)
    return [PaymentOut.of(p) for p in found]
