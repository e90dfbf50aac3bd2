"""Payments: recorded once per reference, applied to invoices, the rest held as credit.

``record_payment`` serves ``POST /payments`` and ``billing.payment-received.v1`` alike. Its
writes, each a single-document write that a retry of the same payment repeats harmlessly:

1. the payment document, keyed by its reference (the same reference again finds it);
2. per invoice it pays, ONE guarded write of the invoice (the payment id not on it yet, its
   paid amount as read) carrying ``ContributionPaid``;
3. what no invoice owed, credited to the programme once (guarded by the payment id);
4. per line block, ``paid_lines`` moved up to what the invoice's paid amount covers
   (``cover.allocate``), guarded by the block's ``paid_lines`` as read, carrying ``CoverPaid``
   for the workers newly covered — each worker announced once;
5. the payment marked applied.

Credit held for a programme is applied to its open invoices, oldest first, whenever it grows
and whenever billing's own ``ContributionInvoiced`` says a new invoice was issued: the credit is
taken from the programme (guarded by its amount), then applied as a payment of its own
(``CREDIT-<invoice id>-<n>``). A crash between any two writes is finished by the payment sent
again, and by ``PaymentSweep``, which finishes payments left "recorded", credit taken but not
applied, and invoices whose blocks lag behind their paid amount.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bpu_billing.domain.cover import allocate
from bpu_billing.domain.payments import (
    apply_payment,
    credit_id,
    differing_field,
    payment_id,
)
from bpu_billing.handlers.base import READERS, SYSTEM, WRITERS, Billing
from bpu_billing.handlers.cover import check_lapses
from bpu_billing.store.invoices import decode_lines
from bpu_billing.store.payments import APPLIED, RECORDED, field_key
from bpu_shared.auth import Principal
from bpu_shared.clock import Clock, SystemClock
from bpu_shared.errors import Conflict, InvalidInput, NotFound
from bpu_shared.events import (
    ContributionInvoiced,
    ContributionPaid,
    ContributionPaidPayload,
    CoverPaid,
    CoverPaidPayload,
    DistrictTotal,
    PaymentReceived,
)
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import Deps

log = logging.getLogger(__name__)

PRODUCER = "billing"


@dataclass(frozen=True)
class RecordPayment:
    reference: str
    amount_rupiah: int
    paid_at: datetime
    invoice_id: str | None = None
    programme_id: str | None = None
    payer: str | None = None


@dataclass(frozen=True)
class Recorded:
    payment: dict[str, Any]
    created: bool


@dataclass(frozen=True)
class GetPayment:
    payment_id: str


@dataclass(frozen=True)
class ListPayments:
    invoice_id: str | None = None
    programme_id: str | None = None
    limit: int = 100


# -- recording -----------------------------------------------------------------------------------


async def record_payment(cmd: RecordPayment, principal: Principal, deps: Billing) -> Recorded:
    """Record a payment once per reference and apply it; the payment as it stands, and whether
    this call recorded it. The same reference with another amount or invoice is a conflict
    naming the field."""
    principal.require_role(*WRITERS)
    if cmd.amount_rupiah <= 0:
        raise InvalidInput("amount_rupiah", "a payment is a positive amount of Rupiah")
    if (cmd.invoice_id is None) == (cmd.programme_id is None):
        raise InvalidInput(
            "invoice_id", "name the invoice paid, or the programme for a payment ahead (one)"
        )
    repo = deps.repository
    pid = payment_id(cmd.reference)
    doc = await repo.payment(pid)
    created = False
    if doc is None:
        doc = await _new_payment(cmd, pid, principal, deps)
        created = await repo.insert_payment(doc)
        if not created:  # recorded meanwhile by another request or event
            doc = await repo.payment(pid)
            assert doc is not None
    if not created:
        field = differing_field(
            doc,
            amount_rupiah=cmd.amount_rupiah,
            invoice_id=cmd.invoice_id,
            programme_id=cmd.programme_id,
        )
        if field is not None:
            raise Conflict(
                f"reference {cmd.reference!r} was recorded as payment {pid} with another "
                f"{field.removesuffix('_rupiah')}",
                field,
            )
    payment = await finish_payment(doc, deps)
    await check_lapses(deps, [payment["programme_id"]])  # daily, after each run and payment
    return Recorded(payment, created)


async def _new_payment(
    cmd: RecordPayment, pid: str, principal: Principal, deps: Billing
) -> dict[str, Any]:
    repo = deps.repository
    if cmd.invoice_id is not None:
        invoice = await repo.invoice_for_payment(cmd.invoice_id)
        if invoice is None or not principal.can_access(invoice["region_code"]):
            raise NotFound("invoice", cmd.invoice_id, field="invoice_id")
        programme_id = invoice["programme_id"]
    else:
        programme_id = cmd.programme_id or ""
    programme = await repo.programme_for_payment(programme_id)
    if programme is None or not principal.can_access(programme.get("region_code", "")):
        raise NotFound("programme", programme_id, field="programme_id")
    return {
        "_id": pid,
        "reference": cmd.reference,
        "kind": "payment",
        "amount_rupiah": cmd.amount_rupiah,
        "paid_at": cmd.paid_at,
        "requested_invoice_id": cmd.invoice_id,
        "programme_id": programme_id,
        "sponsor_id": programme.get("sponsor_id"),
        "region_code": programme.get("region_code"),
        "payer": cmd.payer,
        "recorded_at": deps.clock.now(),
        "recorded_by": principal.key_id,
        "state": RECORDED,
        "invoice_ids": [cmd.invoice_id] if cmd.invoice_id else [],
    }


async def finish_payment(doc: Mapping[str, Any], deps: Billing) -> dict[str, Any]:
    """Apply a recorded payment: each step is guarded, so a payment finished half-way (a crash,
    the same payment sent again) is finished, never applied twice."""
    repo = deps.repository
    pid = doc["_id"]
    if doc["state"] == APPLIED:
        for invoice in doc.get("invoice_ids", []):
            await settle_invoice(invoice, deps)
        if doc.get("credited_rupiah") and doc.get("kind") == "payment":
            await apply_credit(doc["programme_id"], deps)  # credit taken, not applied yet
        return dict(doc)
    programme_id = doc["programme_id"]
    programme = await repo.programme_for_payment(programme_id)
    credited_before = programme is not None and pid in programme["credit_payments"]
    if doc.get("requested_invoice_id"):
        targets = [doc["requested_invoice_id"]]
    else:  # a programme's payment: its open invoices, oldest first (after those it paid)
        targets = await repo.invoices_with_payment(pid)
        if not credited_before:  # once its remainder is credit, it pays nothing more
            targets += [
                i["_id"] for i in await repo.open_invoices(programme_id) if i["_id"] not in targets
            ]
    left = int(doc["amount_rupiah"])
    applications: list[dict[str, Any]] = []
    for invoice in targets:
        applied = await apply_to_invoice(invoice, doc, left, deps)
        if applied:
            applications.append({"invoice_id": invoice, "amount_rupiah": applied})
            left -= applied
    if left > 0 and not credited_before:
        await repo.credit_programme(programme_id, pid, left)
    for application in applications:
        await settle_invoice(application["invoice_id"], deps)
    await repo.mark_applied(pid, applications, left)
    if left > 0 and doc.get("kind") == "payment":
        await apply_credit(programme_id, deps)
    found = await repo.payment(pid)
    assert found is not None
    return found


async def apply_to_invoice(
    invoice: str, payment: Mapping[str, Any], amount: int, deps: Billing
) -> int:
    """Put up to ``amount`` of ``payment`` on the invoice in one guarded write with its
    ``ContributionPaid``; what was put on it (by this call or an earlier one)."""
    repo = deps.repository
    pid = payment["_id"]
    lines = None
    while True:
        doc = await repo.invoice_for_payment(invoice)
        if doc is None:
            return 0
        if pid in doc["payments"]:
            return int(doc["applied"].get(field_key(pid), 0))
        if amount <= 0:
            return 0
        paid_before = int(doc["paid_rupiah"])
        step = apply_payment(amount, int(doc["amount_rupiah"]), paid_before)
        if step.applied == 0:
            return 0
        if lines is None:
            lines = await repo.lines_of(invoice)
        covered = allocate(step.paid_after, [line.amount for line in lines])
        by_district: dict[str, list[int]] = {}
        for line in lines[int(doc["lines_paid"]) : covered]:
            total = by_district.setdefault(line.district_code, [0, 0])
            total[0] += 1
            total[1] += line.amount
        event = ContributionPaid.create(
            ContributionPaidPayload(
                payment_id=pid,
                reference=payment["reference"],
                invoice_id=invoice,
                sponsor_id=doc["sponsor_id"],
                programme_id=doc["programme_id"],
                region_code=doc["region_code"],
                period=doc["period"],
                amount_rupiah=step.applied,
                invoice_amount_rupiah=int(doc["amount_rupiah"]),
                invoice_paid_rupiah=step.paid_after,
                paid_in_full=step.paid_in_full,
                workers_covered=covered,
                worker_count=int(doc["worker_count"]),
                by_district={
                    code: DistrictTotal(workers=w, amount_rupiah=a)
                    for code, (w, a) in sorted(by_district.items())
                },
                paid_at=payment["paid_at"],
            ),
            producer=PRODUCER,
        )
        written = await repo.apply_to_invoice(
            invoice,
            pid,
            paid_before=paid_before,
            paid_after=step.paid_after,
            paid_in_full=step.paid_in_full,
            lines_paid=covered,
            applied=step.applied,
            from_credit=payment.get("kind") == "credit",
            events=[event],
        )
        if written is not None:
            return step.applied
        # Another payment was applied meanwhile (or this one was): read again.


async def settle_invoice(invoice: str, deps: Billing) -> int:
    """Move each block's ``paid_lines`` up to the invoice's ``lines_paid``, each block in one
    guarded write with a ``CoverPaid`` naming the workers newly covered; how many workers."""
    repo = deps.repository
    doc = await repo.invoice_for_payment(invoice)
    if doc is None:
        return 0
    lines_paid = int(doc["lines_paid"])
    announced = 0
    for block in await repo.blocks_of(invoice):
        target = max(0, min(lines_paid - int(block["first_line"]), int(block["count"])))
        current: Mapping[str, Any] | None = block
        while current is not None and int(current["paid_lines"]) < target:
            before = int(current["paid_lines"])
            lines = decode_lines(current["lines"])
            event = CoverPaid.create(
                CoverPaidPayload(
                    invoice_id=invoice,
                    programme_id=doc["programme_id"],
                    sponsor_id=doc["sponsor_id"],
                    period=doc["period"],
                    worker_ids=[line.worker_id for line in lines[before:target]],
                ),
                producer=PRODUCER,
            )
            if await repo.settle_block(current["_id"], before, target, [event]):
                announced += target - before
                break
            current = await repo.block(current["_id"])
    await repo.mark_blocks_settled(invoice, lines_paid)
    return announced


# -- credit --------------------------------------------------------------------------------------


async def apply_credit(programme_id: str, deps: Billing) -> None:
    """Apply the credit the programme holds to its open invoices, oldest first, and finish any
    credit taken but not applied (a crash between the two writes)."""
    repo = deps.repository
    for _ in range(1000):  # each round takes credit or ends; a bound against surprises
        programme = await repo.programme_for_payment(programme_id)
        if programme is None:
            return
        done = await repo.applied_among([use["id"] for use in programme["credit_uses"]])
        for use in programme["credit_uses"]:
            if use["id"] not in done:
                await _apply_credit_use(programme, use, deps)
        credit = int(programme["credit_rupiah"])
        if credit <= 0:
            return
        open_invoices = await repo.open_invoices(programme_id)
        if not open_invoices:
            return
        invoice = await repo.invoice_for_payment(open_invoices[0]["_id"])
        if invoice is None:
            return
        owed = int(invoice["amount_rupiah"]) - int(invoice["paid_rupiah"])
        if owed <= 0:
            return
        uses = sum(1 for u in programme["credit_uses"] if u["invoice_id"] == invoice["_id"])
        use = {
            "id": credit_id(invoice["_id"], uses + 1),
            "invoice_id": invoice["_id"],
            "amount_rupiah": min(credit, owed),
        }
        if await repo.take_credit(programme_id, credit, use):
            await _apply_credit_use(programme, use, deps)


async def _apply_credit_use(
    programme: Mapping[str, Any], use: Mapping[str, Any], deps: Billing
) -> None:
    doc = {
        "_id": use["id"],
        "reference": use["id"],
        "kind": "credit",
        "amount_rupiah": int(use["amount_rupiah"]),
        "paid_at": deps.clock.now(),
        "requested_invoice_id": use["invoice_id"],
        "programme_id": programme["_id"],
        "sponsor_id": programme.get("sponsor_id"),
        "region_code": programme.get("region_code"),
        "payer": "credit held for the programme",
        "recorded_at": deps.clock.now(),
        "recorded_by": SYSTEM.key_id,
        "state": RECORDED,
        "invoice_ids": [use["invoice_id"]],
    }
    if not await deps.repository.insert_payment(doc):
        found = await deps.repository.payment(use["id"])
        assert found is not None
        doc = found
    await finish_payment(doc, deps)


# -- reading -------------------------------------------------------------------------------------


async def get_payment(q: GetPayment, principal: Principal, deps: Billing) -> dict[str, Any]:
    principal.require_role(*READERS)
    doc = await deps.repository.payment(q.payment_id)
    if doc is None or not principal.can_access(doc.get("region_code") or ""):
        raise NotFound("payment", q.payment_id)
    return doc


async def list_payments(
    q: ListPayments, principal: Principal, deps: Billing
) -> list[dict[str, Any]]:
    principal.require_role(*READERS)
    found = await deps.repository.payments_where(
        invoice_id=q.invoice_id, programme_id=q.programme_id, limit=q.limit
    )
    return [p for p in found if principal.can_access(p.get("region_code") or "")]


# -- events --------------------------------------------------------------------------------------


async def payments_received(events: Sequence[PaymentReceived], deps: Billing) -> None:
    """A treasury's or bank's payments: recorded as ``POST /payments`` records them. A payment
    naming no known invoice, or a reference seen with another amount, fails and goes to the
    dead-letter topic for a person to look at."""
    for event in events:
        p = event.payload
        await record_payment(
            RecordPayment(
                reference=p.reference,
                amount_rupiah=p.amount_rupiah,
                paid_at=p.paid_at,
                invoice_id=p.invoice_id,
                programme_id=p.programme_id,
                payer=p.payer,
            ),
            SYSTEM,
            deps,
        )


async def credit_new_invoices(events: Sequence[ContributionInvoiced], deps: Billing) -> None:
    """A new invoice was issued: apply the credit its programme holds."""
    for programme_id in dict.fromkeys(e.payload.programme_id for e in events):
        await apply_credit(programme_id, deps)


# -- the background sweep ------------------------------------------------------------------------


async def sweep(deps: Billing) -> int:
    """Finish what a crash left half done; how many things were finished."""
    repo = deps.repository
    done = 0
    for payment in await repo.payments_unfinished():
        await finish_payment(payment, deps)
        done += 1
    for programme in await repo.programmes_with_credit():
        await apply_credit(programme["_id"], deps)
    for invoice in await repo.invoices_unsettled():
        done += 1 if await settle_invoice(invoice, deps) else 0
    return done


class PaymentSweep(LeasedLoop):
    """Every ``interval`` seconds, one replica at a time: payments left recorded, credit taken
    but not applied, blocks lagging behind their invoice's paid amount."""

    def __init__(self, deps: Billing, lease: Lease, interval: float) -> None:
        super().__init__("payment-sweep", lease, interval)
        self.deps = deps

    async def ensure_indexes(self) -> None:
        """The repository makes the payments' indexes."""

    async def run_pass(self) -> None:
        finished = await sweep(self.deps)
        if finished:
            log.info("payment sweep: %d left half done finished", finished)


def payment_jobs(
    runtime: Runtime, repository: Any, interval: float, clock: Clock | None = None
) -> list[PaymentSweep]:
    """The sweep, for ``service_app(background=...)``."""
    deps: Billing = Deps(repository, runtime.relay, clock or SystemClock(), runtime.settings)
    return [PaymentSweep(deps, runtime.lease("payment-sweep"), interval)]
