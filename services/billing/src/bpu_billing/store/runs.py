"""Billing runs: one document per run in ``billing_runs``.

``_id`` ``BR-<period>-<programme id or "all">-<n>`` (``number`` n counts the runs asked for that period
and programme, so two requests at once make one run: the second insert is refused and answers
the first), ``period``, ``programme_id`` (None: every programme), ``state`` (queued, running,
done, failed), ``programmes`` (the ids the run bills, fixed when it starts), ``done`` (those
finished), ``programmes_total``/``programmes_done``, ``lines_written``, ``invoices_issued``,
``supplementary_issued``, ``errors``, ``attempts``, ``created_by``, and times as ISO strings
(``created_at``, ``started_at``, ``finished_at``). Progress is recorded per programme in one
guarded write (``done`` must not hold the programme yet), so a programme finished twice (by a
process that died before recording it, then by the next holder) is counted once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from bpu_shared.month import Month
from bpu_shared.service import Repository

RUNS = "billing_runs"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
OPEN_STATES = (QUEUED, RUNNING)


def run_id(period: Month, programme_id: str | None, n: int) -> str:
    return f"BR-{period}-{programme_id or 'all'}-{n}"


def _asked(doc: dict[str, Any]) -> tuple[str, int]:
    """When a run was asked for; of one period and programme, the later run second (a clock
    may give two runs the same time)."""
    return doc["created_at"], int(doc.get("number", 0))


class RunStore(Repository):
    #: Woken when a run is queued (the background runner sets it).
    run_runner: Any = None

    async def ensure_runs_indexes(self) -> None:
        await self.db[RUNS].create_index([("period", ASCENDING), ("created_at", ASCENDING)])

    async def new_run(
        self, period: Month, programme_id: str | None, created_by: str, now: datetime
    ) -> tuple[dict[str, Any], bool]:
        """The run queued for the period and programme, or the one queued or running already
        (``created`` False)."""
        coll = self.db[RUNS]
        while True:
            same = await coll.find({"period": str(period), "programme_id": programme_id}).to_list()
            for doc in same:
                if doc["state"] in OPEN_STATES:
                    return doc, False
            doc = {
                "_id": run_id(period, programme_id, len(same) + 1),
                "number": len(same) + 1,
                "period": str(period),
                "programme_id": programme_id,
                "state": QUEUED,
                "programmes": [],
                "done": [],
                "programmes_total": 0,
                "programmes_done": 0,
                "lines_written": 0,
                "invoices_issued": 0,
                "supplementary_issued": 0,
                "errors": [],
                "attempts": 0,
                "created_by": created_by,
                "created_at": now.isoformat(),
                "started_at": None,
                "finished_at": None,
            }
            try:
                await coll.insert_one(doc)
            except DuplicateKeyError:
                continue  # asked for at the same moment: answer that one
            if self.run_runner is not None:
                self.run_runner.wake()
            return doc, True

    async def billing_run(self, run: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self.db[RUNS].find_one({"_id": run})
        return found

    async def billing_runs(self, period: Month | None = None) -> list[dict[str, Any]]:
        where = {"period": str(period)} if period is not None else {}
        docs = await self.db[RUNS].find(where).to_list()
        return sorted(docs, key=_asked, reverse=True)

    async def open_runs(self) -> list[dict[str, Any]]:
        """Runs queued or left running, oldest first."""
        docs = await self.db[RUNS].find({"state": {"$in": list(OPEN_STATES)}}).to_list()
        return sorted(docs, key=_asked)

    async def start_run(
        self, run: str, programmes: list[str], now: datetime
    ) -> dict[str, Any] | None:
        """A queued run starts with the programmes it bills; a running one (left by a stopped
        process) keeps its own. The run after, or None if it is over."""
        coll = self.db[RUNS]
        await coll.update_one(
            {"_id": run, "state": QUEUED},
            {
                "$set": {
                    "state": RUNNING,
                    "programmes": programmes,
                    "programmes_total": len(programmes),
                    "started_at": now.isoformat(),
                }
            },
        )
        found: dict[str, Any] | None = await coll.find_one_and_update(
            {"_id": run, "state": RUNNING},
            {"$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return found

    async def programme_billed(
        self, run: str, programme_id: str, lines: int, invoices: int, supplementary: int
    ) -> None:
        """Record a programme finished, once."""
        await self.db[RUNS].update_one(
            {"_id": run, "done": {"$nin": [programme_id]}},
            {
                "$push": {"done": programme_id},
                "$inc": {
                    "programmes_done": 1,
                    "lines_written": lines,
                    "invoices_issued": invoices,
                    "supplementary_issued": supplementary,
                },
            },
        )

    async def programme_failed(self, run: str, error: str) -> None:
        await self.db[RUNS].update_one(
            {"_id": run}, {"$push": {"errors": {"$each": [error[:500]], "$slice": -20}}}
        )

    async def finish_run(self, run: str, state: str, now: datetime) -> None:
        await self.db[RUNS].update_one(
            {"_id": run, "state": RUNNING},
            {"$set": {"state": state, "finished_at": now.isoformat()}},
        )

    async def has_run(self, period: Month, programme_id: str | None = None) -> bool:
        found = await self.db[RUNS].find_one(
            {"period": str(period), "programme_id": programme_id}, {"_id": 1}
        )
        return found is not None
