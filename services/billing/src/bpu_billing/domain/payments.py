"""Payments applied to invoices (pure rules, no I/O).

A payment is applied to an invoice up to what the invoice still owes; what it does not owe is
credit held for the programme (an overpayment, a payment 3, 6 or 12 months ahead) and applied
to the programme's open invoices, oldest first, as they are issued. The reference a bank or
treasury gives a payment is its idempotency key: the payment's id is derived from it, so the
same reference twice is one payment.

Statement rows: one CSV row per invoice line, in the order of the sponsor's invoices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The benefits a statement lists, in this order (one column each).
STATEMENT_BENEFITS = ("JKK", "JKM", "JHT")
STATEMENT_HEADER = (
    "invoice_id",
    "period",
    "programme_id",
    "worker_id",
    "district_code",
    "village_code",
    *(f"{b.lower()}_rupiah" for b in STATEMENT_BENEFITS),
    "amount_rupiah",
)


def payment_id(reference: str) -> str:
    """The payment's id, derived from its bank or treasury reference (the idempotency key)."""
    return "PAY-" + hashlib.sha256(reference.encode()).hexdigest()[:24]


def credit_id(invoice_id: str, use: int) -> str:
    """The id of the ``use``-th application of a programme's credit to an invoice (a payment of
    its own: it is applied once, like any payment)."""
    return f"CREDIT-{invoice_id}-{use}"


@dataclass(frozen=True)
class Application:
    """What ``amount`` does to an invoice owing ``invoice_amount - paid_before``."""

    applied: int  # put on the invoice
    remainder: int  # what the invoice does not owe: credit for the programme
    paid_after: int
    paid_in_full: bool


def apply_payment(amount: int, invoice_amount: int, paid_before: int) -> Application:
    """Apply ``amount`` to an invoice: partial, exact or over (the excess is the remainder).
    Nothing is ever applied past the invoice's amount."""
    if amount < 0 or invoice_amount < 0 or paid_before < 0:
        raise ValueError("amounts are never negative")
    owed = max(invoice_amount - paid_before, 0)
    applied = min(amount, owed)
    paid_after = paid_before + applied
    return Application(applied, amount - applied, paid_after, paid_after >= invoice_amount)


def spread(amount: int, owed: Sequence[int]) -> tuple[list[int], int]:
    """Spread ``amount`` over invoices owing ``owed`` (oldest first): what each gets and what is
    left over (credit)."""
    given: list[int] = []
    left = amount
    for due in owed:
        part = min(left, max(due, 0))
        given.append(part)
        left -= part
    return given, left


def differing_field(
    existing: Mapping[str, Any],
    *,
    amount_rupiah: int,
    invoice_id: str | None,
    programme_id: str | None,
) -> str | None:
    """The field in which a payment sent again under its reference differs from the one
    recorded (None: it is the same payment)."""
    if existing.get("amount_rupiah") != amount_rupiah:
        return "amount_rupiah"
    if existing.get("requested_invoice_id") != invoice_id:
        return "invoice_id"
    if invoice_id is None and existing.get("programme_id") != programme_id:
        return "programme_id"
    return None


def statement_rows(
    invoice: Mapping[str, Any], lines: Iterable[Any]
) -> Iterable[tuple[str | int, ...]]:
    """The CSV rows of one invoice's lines (``Line`` objects of store/invoices.py)."""
    for line in lines:
        yield (
            invoice["_id"],
            invoice["period"],
            invoice["programme_id"],
            line.worker_id,
            line.district_code,
            line.village_code,
            *(int(line.amounts.get(b, 0)) for b in STATEMENT_BENEFITS),
            line.amount,
        )


@dataclass(frozen=True)
class Totals:
    workers: int
    amount_rupiah: int


def district_totals(invoices: Iterable[Mapping[str, Any]]) -> dict[str, Totals]:
    """Workers and amount per district over ``invoices`` (their ``by_district``)."""
    totals: dict[str, list[int]] = {}
    for invoice in invoices:
        for code, row in (invoice.get("by_district") or {}).items():
            t = totals.setdefault(code, [0, 0])
            t[0] += int(row["workers"])
            t[1] += int(row["amount_rupiah"])
    return {code: Totals(w, a) for code, (w, a) in sorted(totals.items())}
