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
is found by a range), ``ids`` (when the billing run wrote the block: each line's enrolment
id and worker id, a tab between them, one line each, which a run reads to know what is billed
without decoding the lines), and ``paid_lines`` (how many of its lines are covered and
announced in ``CoverPaid`` events, which the block carries in its own outbox).

A line: ``enrolment_id``, ``worker_id``, ``district_code``, ``village_code``, ``occupation``,
``income`` (declared monthly income the month was priced at), ``amounts`` ({"JKK": int, …})
and ``amount`` (their sum).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from bson import Binary
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from bpu_shared.events import Event
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


def decode_lines(blob: bytes) -> list[Line]:
    return [Line.from_doc(doc) for doc in bson.decode(bytes(blob))["lines"]]


def line_blocks(
    invoice: str, lines: Sequence[Line], size: int = BLOCK_LINES
) -> list[dict[str, Any]]:
    """The block documents of an invoice's ``lines`` (already in enrolment-id order): the same
    blocks the billing run writes."""
    return line_doc_blocks(invoice, [line.to_doc() for line in lines], size)


def line_doc_blocks(
    invoice: str, lines: Sequence[Mapping[str, Any]], size: int = BLOCK_LINES
) -> list[dict[str, Any]]:
    """The block documents of an invoice's lines given as line documents (``Line.to_doc``'s
    layout, already in enrolment-id order): each block's lines encoded once, as one blob."""
    blocks = []
    before = 0
    for block, start in enumerate(range(0, len(lines), size)):
        chunk = lines[start : start + size]
        amount = sum(line["amount"] for line in chunk)
        blocks.append(
            {
                "_id": block_id(invoice, block),
                "invoice_id": invoice,
                "block": block,
                "first_line": start,
                "count": len(chunk),
                "amount_before": before,
                "amount_rupiah": amount,
                "first_enrolment": chunk[0]["enrolment_id"],
                "last_enrolment": chunk[-1]["enrolment_id"],
                "lines": Binary(bson.encode({"lines": chunk})),
                "ids": "\n".join(f"{line['enrolment_id']}\t{line['worker_id']}" for line in chunk),
                "paid_lines": 0,
            }
        )
        before += amount
    return blocks


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

    # -- writing (the billing run) -------------------------------------------------------------

    async def billed_in(
        self, programme_id: str, period: Month
    ) -> tuple[list[dict[str, Any]], set[str], set[str]]:
        """The programme-month's issued invoices, and the enrolment and worker ids their lines
        hold (read from the blocks: the guard against billing a worker-month twice)."""
        issued = await self.invoices_of(programme_id, period)
        enrolments: set[str] = set()
        workers: set[str] = set()
        for invoice in issued:
            without: list[str] = []
            async for block in self.db[INVOICE_LINES].find(
                {"invoice_id": invoice["_id"]}, {"ids": 1}
            ):
                if "ids" not in block:
                    without.append(block["_id"])
                    continue
                for pair in block["ids"].split("\n"):
                    enrolment, worker = pair.split("\t")
                    enrolments.add(enrolment)
                    workers.add(worker)
            if without:  # blocks written without their ids: read their lines
                async for block in self.db[INVOICE_LINES].find(
                    {"_id": {"$in": without}}, {"lines": 1}
                ):
                    for line in bson.decode(bytes(block["lines"]))["lines"]:
                        enrolments.add(line["enrolment_id"])
                        workers.add(line["worker_id"])
        return issued, enrolments, workers

    async def draft_of(self, programme_id: str, period: Month) -> dict[str, Any] | None:
        """The programme-month's invoice left drafting by an attempt that stopped, if any."""
        found: dict[str, Any] | None = await self.db[INVOICES].find_one(
            {"programme_id": programme_id, "period": str(period), "state": DRAFTING}
        )
        return found

    async def invoiced_to_date(self, programme_id: str) -> int:
        """What the programme's issued invoices add up to, every period."""
        total = 0
        async for doc in self.db[INVOICES].find(
            {"programme_id": programme_id, "state": ISSUED}, {"amount_rupiah": 1}
        ):
            total += int(doc.get("amount_rupiah", 0))
        return total

    async def save_draft(self, doc: Mapping[str, Any]) -> None:
        """The invoice, drafting: inserted, or a draft left by a stopped attempt rewritten."""
        try:
            await self.db[INVOICES].insert_one(dict(doc))
        except DuplicateKeyError:
            fields = {k: v for k, v in doc.items() if k != "_id"}
            await self.db[INVOICES].update_one(
                {"_id": doc["_id"], "state": DRAFTING}, {"$set": fields}
            )

    async def drop_draft(self, invoice: str) -> None:
        """A draft no longer needed: its blocks, then itself (never an issued invoice)."""
        await self.db[INVOICE_LINES].delete_many({"invoice_id": invoice})
        await self.db[INVOICES].delete_one({"_id": invoice, "state": DRAFTING})

    async def lines_page(self, invoice: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """Lines ``offset`` to ``offset + limit`` of the invoice, as line documents (blocks
        hold ``BLOCK_LINES`` lines each but the last, so the blocks needed are known)."""
        first, last = offset // BLOCK_LINES, (offset + max(limit, 1) - 1) // BLOCK_LINES
        ids = [block_id(invoice, b) for b in range(first, last + 1)]
        blocks = await self.db[INVOICE_LINES].find({"_id": {"$in": ids}}).to_list()
        lines: list[dict[str, Any]] = []
        for block in sorted(blocks, key=lambda b: b["block"]):
            docs = bson.decode(bytes(block["lines"]))["lines"]
            start = block["first_line"]
            lines.extend(d for i, d in enumerate(docs) if offset <= start + i < offset + limit)
        return lines

    async def write_blocks(
        self, blocks: Sequence[Mapping[str, Any]], per_write: int = 4, parallel: int = 8
    ) -> None:
        """The line blocks of a draft, ``per_write`` to an insert, ``parallel`` inserts at a
        time. Any block of the invoice written before (a stopped attempt) is deleted first."""
        if not blocks:
            return
        coll = self.db[INVOICE_LINES]
        await coll.delete_many({"invoice_id": blocks[0]["invoice_id"]})
        limit = asyncio.Semaphore(parallel)

        async def insert(group: Sequence[Mapping[str, Any]]) -> None:
            async with limit:
                await coll.insert_many([dict(b) for b in group], ordered=False)

        await asyncio.gather(
            *(insert(blocks[i : i + per_write]) for i in range(0, len(blocks), per_write))
        )

    async def issue(
        self, invoice: str, fields: Mapping[str, Any], event: Event
    ) -> dict[str, Any] | None:
        """A draft issued: its totals, state "issued" and its ``ContributionInvoiced``, in one
        write through the unit of work; None when it is not drafting (issued already)."""
        return await self.uow.update(
            INVOICES,
            {"_id": invoice, "state": DRAFTING},
            {"$set": {**fields, "state": ISSUED}},
            [event],
        )

    async def invoices_where(
        self,
        *,
        programme_id: str | None = None,
        period: Month | None = None,
        sponsor_id: str | None = None,
        limit: int = 100,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        """Issued invoices matching, by period, programme, sequence."""
        where: dict[str, Any] = {"state": ISSUED}
        if programme_id is not None:
            where["programme_id"] = programme_id
        if period is not None:
            where["period"] = str(period)
        if sponsor_id is not None:
            where["sponsor_id"] = sponsor_id
        found = await self.db[INVOICES].find(where, {"outbox": 0, "outbox_sent": 0}).to_list()
        found.sort(key=lambda d: (d["period"], d["programme_id"], d["sequence"]))
        return found[skip : skip + limit]
