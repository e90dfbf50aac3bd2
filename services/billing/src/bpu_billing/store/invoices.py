"""Invoices and their lines.

An invoice is one document in ``invoices``: one programme, one period (``YYYY-MM``), sequence
0 for the month's invoice and 1, 2… for supplementary invoices of late enrolments. Its id is
deterministic, ``INV-<period>-<programme id>-<sequence>``, so a run repeated finds it.

Fields of an invoice document (the store's own layout; events are built from it):
``programme_id``, ``sponsor_id``, ``region_code``, ``funding_source``, ``period`` ("YYYY-MM"),
``sequence``, ``supplementary``, ``state`` ("drafting" while its lines are being written,
"issued" once complete: only an issued invoice is published, paid or shown), ``run_id``,
``worker_count``, ``amount_rupiah``, ``amount_by_benefit`` ({"JKK": int, …}), ``by_district``
({district code: {"workers": int, "amount_rupiah": int}}), ``due_date`` ("YYYY-MM-DD"),
``issued_at`` (ISO string), ``over_budget``, ``budget_rupiah``, ``invoiced_to_date_rupiah``,
``blocks`` (how many line blocks), and for payments: ``paid_rupiah``, ``paid_in_full``,
``lines_paid`` (how many lines, in line order, the paid amount covers fully), ``payments``
(ids of the payments applied, the guard that applies each once).

Lines are not one document each: a million lines would cost the store a million inserts. They
are kept in blocks of up to ``BLOCK_LINES`` in ``invoice_lines``, ``_id``
``<invoice id>|<block:05d>``, each holding its lines as one BSON blob (the store reads and
writes bytes for a fraction of the cost of walking subdocuments), with ``invoice_id``,
``block``, ``first_line`` (index in the invoice of its first line), ``count``,
``amount_before`` (the invoice's amount in lines before this block), ``amount_rupiah``,
``first_enrolment``/``last_enrolment`` (lines are in enrolment-id order, so one worker's line
is found by a range), and ``paid_lines`` (how many of its lines are covered and announced in
``CoverPaid`` events, which the block carries in its own outbox).

A line: ``enrolment_id``, ``worker_id``, ``district_code``, ``village_code``, ``occupation``,
``income`` (declared monthly income the month was priced at), ``amounts`` ({"JKK": int, …})
and ``amount`` (their sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from bson import Binary
from pymongo import ASCENDING, DESCENDING

from bpu_shared.month import Month
from bpu_shared.service import Repository

INVOICES, INVOICE_LINES = "invoices", "invoice_lines"
BLOCK_LINES = 5_000
DRAFTING, ISSUED = "drafting", "issued"


@dataclass(frozen=True)
class Line:
    """One worker-month on an invoice."""

    enrolment_id: str
    worker_id: str
    district_code: str
    village_code: str
    occupation: str
    income: int
    amounts: Mapping[str, int]
    amount: int

    def to_doc(self) -> dict[str, Any]:
        return {
            "enrolment_id": self.enrolment_id,
            "worker_id": self.worker_id,
            "district_code": self.district_code,
            "village_code": self.village_code,
            "occupation": self.occupation,
            "income": self.income,
            "amounts": dict(self.amounts),
            "amount": self.amount,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Line:
        return cls(
            enrolment_id=doc["enrolment_id"],
            worker_id=doc["worker_id"],
            district_code=doc["district_code"],
            village_code=doc["village_code"],
            occupation=doc["occupation"],
            income=int(doc["income"]),
            amounts=dict(doc["amounts"]),
            amount=int(doc["amount"]),
        )


def invoice_id(period: Month, programme_id: str, sequence: int) -> str:
    return f"INV-{period}-{programme_id}-{sequence}"


def block_id(invoice: str, block: int) -> str:
    return f"{invoice}|{block:05d}"


def encode_lines(lines: Sequence[Line]) -> Binary:
    """A block's lines as one BSON blob."""
    return Binary(bson.encode({"lines": [line.to_doc() for line in lines]}))


def decode_lines(blob: bytes) -> list[Line]:
    return [Line.from_doc(doc) for doc in bson.decode(bytes(blob))["lines"]]


def line_blocks(
    invoice: str, lines: Sequence[Line], size: int = BLOCK_LINES
) -> Iterable[dict[str, Any]]:
    """The block documents of an invoice's ``lines`` (already in enrolment-id order)."""
    before = 0
    for block, start in enumerate(range(0, len(lines), size)):
        chunk = lines[start : start + size]
        amount = sum(line.amount for line in chunk)
        yield {
            "_id": block_id(invoice, block),
            "invoice_id": invoice,
            "block": block,
            "first_line": start,
            "count": len(chunk),
            "amount_before": before,
            "amount_rupiah": amount,
            "first_enrolment": chunk[0].enrolment_id,
            "last_enrolment": chunk[-1].enrolment_id,
            "lines": encode_lines(chunk),
            "paid_lines": 0,
        }
        before += amount


class InvoiceStore(Repository):
    """Reading invoices and their lines (the billing run writes them)."""

    async def ensure_invoice_indexes(self) -> None:
        invoices = self.db[INVOICES]
        await invoices.create_index([("programme_id", ASCENDING), ("period", ASCENDING)])
        await invoices.create_index([("sponsor_id", ASCENDING), ("period", ASCENDING)])
        await invoices.create_index([("period", ASCENDING)])
        await self.db[INVOICE_LINES].create_index(
            [("invoice_id", ASCENDING), ("first_enrolment", ASCENDING)]
        )

    async def invoice(self, invoice: str) -> dict[str, Any] | None:
        """The issued invoice, or None (a draft is not an invoice yet)."""
        return await self.db[INVOICES].find_one(
            {"_id": invoice, "state": ISSUED}, {"outbox": 0, "outbox_sent": 0}
        )

    async def invoices_of(
        self, programme_id: str, period: Month | None = None
    ) -> list[dict[str, Any]]:
        """The programme's issued invoices (of one period, or all), by period then sequence."""
        where: dict[str, Any] = {"programme_id": programme_id, "state": ISSUED}
        if period is not None:
            where["period"] = str(period)
        found = await self.db[INVOICES].find(where, {"outbox": 0, "outbox_sent": 0}).to_list()
        return sorted(found, key=lambda doc: (doc["period"], doc["sequence"]))

    async def blocks_of(self, invoice: str) -> list[dict[str, Any]]:
        """The invoice's line blocks, in line order."""
        return (
            await self.db[INVOICE_LINES]
            .find({"invoice_id": invoice}, {"outbox": 0, "outbox_sent": 0})
            .sort("block", ASCENDING)
            .to_list()
        )

    async def lines_of(self, invoice: str) -> list[Line]:
        """Every line of the invoice, in line order."""
        return [
            line for block in await self.blocks_of(invoice) for line in decode_lines(block["lines"])
        ]

    async def line_of(self, invoice: str, enrolment_id: str) -> tuple[int, Line] | None:
        """The enrolment's line on the invoice and its index, or None."""
        block = await (
            self.db[INVOICE_LINES]
            .find({"invoice_id": invoice, "first_enrolment": {"$lte": enrolment_id}})
            .sort("first_enrolment", DESCENDING)
            .limit(1)
            .to_list()
        )
        if not block:
            return None
        for i, line in enumerate(decode_lines(block[0]["lines"])):
            if line.enrolment_id == enrolment_id:
                return block[0]["first_line"] + i, line
        return None
