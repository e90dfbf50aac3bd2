"""Payments, and the payment fields of invoices, line blocks and programmes.

A payment document (``payments``) is keyed by the id derived from its reference: ``reference``,
``kind`` ("payment", or "credit" for an application of a programme's credit), ``amount_rupiah``,
``paid_at`` (a time, inserted whole), ``requested_invoice_id`` (the invoice the payer named, or
None), ``programme_id``, ``sponsor_id``, ``region_code``, ``payer``, ``recorded_at``,
``recorded_by``, ``state`` ("recorded" until every write it causes is done, then "applied"),
and once applied ``applications`` ([{invoice_id, amount_rupiah}]) and ``credited_rupiah``.

On an issued invoice a payment changes, in ONE guarded write carrying ``ContributionPaid``:
``paid_rupiah``, ``paid_in_full``, ``lines_paid``, ``payments`` (+ the payment id: the guard
that applies it once), ``applied`` ({payment key: amount put on the invoice}),
``credit_applied_rupiah`` (what of it came from the programme's credit) and
``blocks_settled`` (False until every block's ``paid_lines`` caught up with ``lines_paid``).

On a programme: ``credit_rupiah`` (held for its next invoices), ``credit_payments`` (ids of
payments whose remainder was credited: the guard), ``credit_uses`` ({use key: {id,
invoice_id, amount_rupiah}}: credit taken for an invoice; its application is the payment
``id``), ``credit_use_ids`` (the guard), ``lapsed_from`` ("YYYY-MM", set once).

Subdocuments are added with ``$set`` of a dotted path, never ``$push``: NX-27017 stores a
pushed subdocument as a JSON string (see the store conformance suite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from bpu_shared.events import Event
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.service import Repository

PAYMENTS = "payments"
RECORDED, APPLIED = "recorded", "applied"
_PROGRAMMES, _INVOICES, _LINES = "programmes", "invoices", "invoice_lines"


def field_key(ident: str) -> str:
    """An id as a field name (ids never hold dots, but a field name must not)."""
    return ident.replace(".", "_").replace("$", "_")


class PaymentStore(Repository):
    async def ensure_payments_indexes(self) -> None:
        payments = self.db[PAYMENTS]
        await payments.create_index([("programme_id", ASCENDING)])
        await payments.create_index([("state", ASCENDING)])
        await self.db[_INVOICES].create_index([("blocks_settled", ASCENDING)])

    # -- payments ------------------------------------------------------------------------------

    async def insert_payment(self, doc: Mapping[str, Any]) -> bool:
        """Record a new payment (no events of its own); False when its id is stored already."""
        try:
            await self.db[PAYMENTS].insert_one(dict(doc))
        except DuplicateKeyError:
            return False
        return True

    async def payment(self, pid: str) -> dict[str, Any] | None:
        return await self.db[PAYMENTS].find_one({"_id": pid})

    async def payments_where(
        self, *, invoice_id: str | None, programme_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        where: dict[str, Any] = {}
        if invoice_id is not None:
            where["invoice_ids"] = {"$in": [invoice_id]}
        if programme_id is not None:
            where["programme_id"] = programme_id
        found = await self.db[PAYMENTS].find(where).to_list()
        found.sort(key=lambda p: (p["recorded_at"], p["_id"]))
        return found[:limit]

    async def applied_among(self, pids: Sequence[str]) -> set[str]:
        """Which of ``pids`` are payments applied in full."""
        if not pids:
            return set()
        found = (
            await self.db[PAYMENTS]
            .find({"_id": {"$in": list(pids)}, "state": APPLIED}, {"_id": 1})
            .to_list()
        )
        return {d["_id"] for d in found}

    async def payments_unfinished(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self.db[PAYMENTS].find({"state": RECORDED}).limit(limit).to_list()

    async def mark_applied(
        self, pid: str, applications: Sequence[Mapping[str, Any]], credited: int
    ) -> None:
        await self.db[PAYMENTS].update_one(
            {"_id": pid, "state": RECORDED},
            {
                "$set": {
                    "state": APPLIED,
                    "applications": [dict(a) for a in applications],
                    "invoice_ids": [a["invoice_id"] for a in applications],
                    "credited_rupiah": credited,
                }
            },
        )

    # -- invoices ------------------------------------------------------------------------------

    async def invoice_for_payment(self, invoice: str) -> dict[str, Any] | None:
        """The issued invoice with its payment fields (defaults for those not written yet)."""
        doc = await self.db[_INVOICES].find_one(
            {"_id": invoice, "state": "issued"}, {**OUTBOX_FIELDS, "applied_events": 0}
        )
        if doc is not None:
            doc.setdefault("paid_rupiah", 0)
            doc.setdefault("payments", [])
            doc.setdefault("applied", {})
            doc.setdefault("lines_paid", 0)
        return doc

    async def invoices_with_payment(self, pid: str) -> list[str]:
        """The invoices a payment was applied to (oldest first)."""
        found = (
            await self.db[_INVOICES]
            .find({"payments": {"$in": [pid]}}, {"_id": 1, "period": 1, "sequence": 1})
            .to_list()
        )
        return [d["_id"] for d in sorted(found, key=lambda d: (d["period"], d["sequence"]))]

    async def open_invoices(self, programme_id: str) -> list[dict[str, Any]]:
        """The programme's issued invoices not paid in full, oldest period first."""
        found = (
            await self.db[_INVOICES]
            .find(
                {"programme_id": programme_id, "state": "issued", "paid_in_full": {"$in": [False]}},
                {"_id": 1, "period": 1, "sequence": 1},
            )
            .to_list()
        )
        return sorted(found, key=lambda d: (d["period"], d["sequence"]))

    async def apply_to_invoice(
        self,
        invoice: str,
        pid: str,
        *,
        paid_before: int,
        paid_after: int,
        paid_in_full: bool,
        lines_paid: int,
        applied: int,
        from_credit: bool,
        events: Sequence[Event],
    ) -> dict[str, Any] | None:
        """The one guarded write applying a payment: only if the payment is not on the invoice
        yet and the invoice's paid amount is still ``paid_before``."""
        return await self.uow.update(
            _INVOICES,
            {
                "_id": invoice,
                "state": "issued",
                "payments": {"$nin": [pid]},
                "paid_rupiah": paid_before,
            },
            {
                "$set": {
                    "paid_rupiah": paid_after,
                    "paid_in_full": paid_in_full,
                    "lines_paid": lines_paid,
                    "blocks_settled": False,
                    f"applied.{field_key(pid)}": applied,
                },
                "$push": {"payments": pid},
                "$inc": {"credit_applied_rupiah": applied if from_credit else 0},
            },
            events,
        )

    async def settle_block(
        self, block: str, paid_before: int, paid_after: int, events: Sequence[Event]
    ) -> bool:
        """Move a block's ``paid_lines`` up, with its CoverPaid event, if it still has
        ``paid_before``."""
        doc = await self.uow.update(
            _LINES,
            {"_id": block, "paid_lines": paid_before},
            {"$set": {"paid_lines": paid_after}},
            events,
        )
        return doc is not None

    async def stream_blocks(self, invoice: str) -> AsyncIterator[dict[str, Any]]:
        """The invoice's line blocks in line order, a few at a time (a statement of a million
        lines never holds them all)."""
        cursor = (
            self.db[_LINES]
            .find({"invoice_id": invoice}, {"lines": 1, "block": 1})
            .sort("block", ASCENDING)
            .batch_size(4)
        )
        async for doc in cursor:
            yield doc

    async def block(self, block: str) -> dict[str, Any] | None:
        return await self.db[_LINES].find_one({"_id": block}, OUTBOX_FIELDS)

    async def mark_blocks_settled(self, invoice: str, lines_paid: int) -> None:
        await self.db[_INVOICES].update_one(
            {"_id": invoice, "lines_paid": lines_paid}, {"$set": {"blocks_settled": True}}
        )

    async def invoices_unsettled(self, limit: int = 100) -> list[str]:
        found = (
            await self.db[_INVOICES]
            .find({"blocks_settled": {"$in": [False]}}, {"_id": 1})
            .limit(limit)
            .to_list()
        )
        return [d["_id"] for d in found]

    # -- programmes: credit and lapse ----------------------------------------------------------

    async def programme_for_payment(self, programme_id: str) -> dict[str, Any] | None:
        doc = await self.db[_PROGRAMMES].find_one(
            {"_id": programme_id}, {**OUTBOX_FIELDS, "applied_events": 0}
        )
        if doc is not None:
            doc.setdefault("credit_rupiah", 0)
            doc.setdefault("credit_payments", [])
            doc["credit_uses"] = list((doc.get("credit_uses") or {}).values())
        return doc

    async def credit_programme(self, programme_id: str, pid: str, amount: int) -> bool:
        """Hold ``amount`` for the programme's next invoices, once per payment."""
        result = await self.db[_PROGRAMMES].update_one(
            {"_id": programme_id, "credit_payments": {"$nin": [pid]}},
            {"$inc": {"credit_rupiah": amount}, "$push": {"credit_payments": pid}},
        )
        return result.modified_count == 1

    async def take_credit(
        self, programme_id: str, credit_before: int, use: Mapping[str, Any]
    ) -> bool:
        """Take ``use["amount_rupiah"]`` of the programme's credit for an invoice, if the credit
        is still ``credit_before`` (and the use is new)."""
        result = await self.db[_PROGRAMMES].update_one(
            {
                "_id": programme_id,
                "credit_rupiah": credit_before,
                "credit_payments": {"$nin": [use["id"]]},
                "credit_use_ids": {"$nin": [use["id"]]},
            },
            {
                "$inc": {"credit_rupiah": -int(use["amount_rupiah"])},
                "$set": {f"credit_uses.{field_key(use['id'])}": dict(use)},
                "$push": {"credit_use_ids": use["id"]},
            },
        )
        return result.modified_count == 1

    async def programmes_with_credit(self) -> list[dict[str, Any]]:
        """Programmes holding credit or having taken some (the sweep checks its uses)."""
        return (
            await self.db[_PROGRAMMES]
            .find(
                {"credit_use_ids": {"$exists": True}},
                {"_id": 1, "credit_rupiah": 1, "credit_uses": 1},
            )
            .to_list()
        ) + (
            await self.db[_PROGRAMMES]
            .find(
                {"credit_use_ids": {"$exists": False}, "credit_rupiah": {"$gt": 0}},
                {"_id": 1, "credit_rupiah": 1, "credit_uses": 1},
            )
            .to_list()
        )

    async def programmes_not_lapsed(
        self, programme_ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Programmes whose cover has not lapsed (of ``programme_ids``, or all)."""
        where: dict[str, Any] = {"lapsed_from": {"$exists": False}}
        if programme_ids is not None:
            where["_id"] = {"$in": list(programme_ids)}
        return (
            await self.db[_PROGRAMMES].find(where, {**OUTBOX_FIELDS, "applied_events": 0}).to_list()
        )

    async def set_lapsed(
        self, programme_id: str, lapsed_from: str, events: Sequence[Event]
    ) -> bool:
        doc = await self.uow.update(
            _PROGRAMMES,
            {"_id": programme_id, "lapsed_from": {"$exists": False}},
            {"$set": {"lapsed_from": lapsed_from}},
            events,
        )
        return doc is not None
