"""Claims' own view of cover, from registration's and billing's events (claims never reads
another service's database). Every write is idempotent by key or by value, so an event
delivered twice, at other batch boundaries, or after a crash between two writes of a batch,
leaves the same state: no counters, only facts and values set once.

``cover_programmes``: ``_id`` the programme id; its ``benefits``, ``region_code``,
``start_month``/``end_month`` and ``status`` from the latest programme event (``as_of`` guard in
the filter: an older event never overwrites a newer one); ``benefits_at.t<digits of as_of>``:
the benefits of every opening and change, with its ``as_of`` and Jakarta ``month`` (set by
value: the same event again writes the same entry); ``due.<YYYY-MM>``: each month billing
invoiced, with its due date (ISO date); ``lapsed.<YYYY-MM>``: the first months of unpaid
streaks that ended the programme's cover. Both are maps set by dotted path, by value (the
embedded store's ``$addToSet`` adds nothing to a document without the array: see the
conformance suite). Billing's facts arrive on other topics than the programme's, so each
write upserts: whichever comes first creates the document.

``cover_enrolments``: ``_id`` the enrolment id (``WorkerRegistered.enrolment_id``, else
``<worker_id>|<programme_id>|<cover_start>``), ``worker_id``, ``programme_id``, ``first_month``,
``last_month`` (None: to the programme's end), ``benefits``, ``income`` (declared at
registration), the region codes, ``as_of``, ``ended_as_of`` (the last ``EnrolmentEnded``
applied, ``NEVER`` before) and ``registered`` (False when learnt from its end first).

``cover_changes``: one document per ``WorkerChanged`` (``_id`` its event id): ``worker_id``,
``effective_month``, ``as_of``, the declared income and regions after the change.

``cover_paid``: one document per worker, programme and month paid (``_id``
``<worker_id>|<programme_id>|<YYYY-MM>``), inserted once in unordered bulk writes (a
``CoverPaid`` names up to 10,000 workers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne

from bpu_shared import store
from bpu_shared.service import Repository
from bpu_shared.store import insert_new

COVER_PROGRAMMES, COVER_ENROLMENTS = "cover_programmes", "cover_enrolments"
COVER_CHANGES, COVER_PAID = "cover_changes", "cover_paid"


def paid_key(worker_id: str, programme_id: str, period: str) -> str:
    return f"{worker_id}|{programme_id}|{period}"


@dataclass(frozen=True)
class ProgrammeTerms:
    """A programme's terms as an event gave them, with the event's time (``as_of``, UTC ISO)
    and month (``month``, Asia/Jakarta); ``keeps_benefits``: its benefits join the history
    (an opening or a change; a closing changes none)."""

    programme_id: str
    terms: Mapping[str, Any]
    as_of: str
    month: str = ""
    keeps_benefits: bool = True


def history_key(as_of: str) -> str:
    """A field name for an event time: its digits (a fixed-width UTC time sorts as time does),
    prefixed, since a dotted path must hold no dots and no bare number."""
    return "t" + "".join(ch for ch in as_of if ch.isdigit())


@dataclass(frozen=True)
class MonthInvoiced:
    programme_id: str
    period: str
    due_date: str


@dataclass(frozen=True)
class MonthsPaid:
    programme_id: str
    period: str
    invoice_id: str
    worker_ids: Sequence[str]


class CoverStore(Repository):
    async def ensure_cover_indexes(self) -> None:
        await self.db[COVER_ENROLMENTS].create_index([("worker_id", ASCENDING)])
        await self.db[COVER_CHANGES].create_index([("worker_id", ASCENDING)])
        await self.db[COVER_PAID].create_index([("worker_id", ASCENDING)])

    # -- writes from registration's events -----------------------------------------------------

    async def apply_programme_terms(self, writes: Iterable[ProgrammeTerms]) -> int:
        """Each programme's terms unless a newer event was applied; how many changed."""
        changed = 0
        coll = self.db[COVER_PROGRAMMES]
        ordered = sorted(writes, key=lambda w: w.as_of)
        for w in ordered:
            fields = {**w.terms, "as_of": w.as_of}
            if await store.set_if_newer(coll, w.programme_id, fields):
                changed += 1
                continue
            # Stored: as new as this event or newer, or made by billing's facts before any
            # programme event (no ``as_of`` yet); the latter takes the terms now.
            result = await coll.update_one(
                {"_id": w.programme_id, "as_of": {"$exists": False}},
                {"$set": {**fields, store.ORDER_FIELD: store.event_order(w.as_of)}},
            )
            changed += result.matched_count
        history = [
            UpdateOne(
                {"_id": w.programme_id},
                {
                    "$set": {
                        f"benefits_at.{history_key(w.as_of)}": {
                            "as_of": w.as_of,
                            "month": w.month,
                            "benefits": list(w.terms["benefits"]),
                        }
                    }
                },
                upsert=True,
            )
            for w in ordered
            if w.keeps_benefits and w.month and "benefits" in w.terms
        ]
        if history:
            await coll.bulk_write(history, ordered=False)
        return changed

    async def add_enrolments(self, docs: Sequence[Mapping[str, Any]]) -> int:
        """Enrolments from ``WorkerRegistered`` in one unordered bulk insert; how many were new.
        One learnt from its end first gets the registration's fields, keeping its end."""
        return await store.add_enrolments(self.db[COVER_ENROLMENTS], docs)

    async def end_enrolment(
        self, enrolment_id: str, last_month: str, as_of: str, stub: Mapping[str, Any]
    ) -> bool:
        """The enrolment ends with ``last_month`` unless a newer end was applied; one not
        stored yet is stored from ``stub``. True when something changed."""
        return await store.end_enrolment(
            self.db[COVER_ENROLMENTS], enrolment_id, last_month, as_of, stub
        )

    async def add_worker_changes(self, docs: Sequence[Mapping[str, Any]]) -> int:
        """Changes of workers' facts, each kept once (by event id); how many were new."""
        return len(docs) - len(await insert_new(self.db[COVER_CHANGES], docs))

    # -- writes from billing's events ----------------------------------------------------------

    async def add_months_invoiced(self, months: Iterable[MonthInvoiced]) -> None:
        """Each programme-month invoiced, with its due date: set by value, once or again."""
        ops = [
            UpdateOne(
                {"_id": m.programme_id},
                {"$set": {f"due.{m.period}": m.due_date}},
                upsert=True,
            )
            for m in months
        ]
        if ops:
            await self.db[COVER_PROGRAMMES].bulk_write(ops, ordered=False)

    async def add_lapses(self, lapses: Iterable[tuple[str, str]]) -> None:
        """(programme id, first month of the unpaid streak): cover lapsed from that month."""
        ops = [
            UpdateOne({"_id": pid}, {"$set": {f"lapsed.{month}": True}}, upsert=True)
            for pid, month in lapses
        ]
        if ops:
            await self.db[COVER_PROGRAMMES].bulk_write(ops, ordered=False)

    async def add_months_paid(self, paid: Iterable[MonthsPaid]) -> int:
        """One document per worker-month paid, inserted once (unordered, in bulk); how many
        were new."""
        docs: dict[str, dict[str, Any]] = {}
        for block in paid:
            for worker_id in block.worker_ids:
                key = paid_key(worker_id, block.programme_id, block.period)
                docs.setdefault(
                    key,
                    {
                        "_id": key,
                        "worker_id": worker_id,
                        "programme_id": block.programme_id,
                        "period": block.period,
                        "invoice_id": block.invoice_id,
                    },
                )
        new = list(docs.values())
        refused = 0
        for start in range(0, len(new), 10_000):
            refused += len(await insert_new(self.db[COVER_PAID], new[start : start + 10_000]))
        return len(new) - refused

    # -- readers -------------------------------------------------------------------------------

    async def cover_programme(self, programme_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.db[COVER_PROGRAMMES].find_one({"_id": programme_id})
        return doc

    async def cover_enrolments(self, worker_id: str) -> list[dict[str, Any]]:
        """The worker's enrolments, oldest first."""
        docs = await self.db[COVER_ENROLMENTS].find({"worker_id": worker_id}).to_list()
        return sorted(docs, key=lambda d: (d["first_month"], d["_id"]))

    async def cover_changes(self, worker_id: str) -> list[dict[str, Any]]:
        """The worker's changes of facts, by effective month then time."""
        docs = await self.db[COVER_CHANGES].find({"worker_id": worker_id}).to_list()
        return sorted(docs, key=lambda d: (d["effective_month"], d["as_of"]))

    async def months_paid(self, worker_id: str) -> list[tuple[str, str]]:
        """(programme id, month) of every month paid for the worker, in month order."""
        docs = (
            await self.db[COVER_PAID]
            .find({"worker_id": worker_id}, {"programme_id": 1, "period": 1})
            .to_list()
        )
        return sorted((d["programme_id"], d["period"]) for d in docs)
