"""Registration's repository in memory, for handler tests: what the handlers call, with the
store's guarantees (a seat counter that cannot overshoot, one worker per NIK, a version that
refuses a stale write, card serials handed out once)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from bpu_registration.domain import (
    EnrolmentStatus,
    Programme,
    Sponsor,
    WaitingEntry,
    WaitingState,
    Worker,
)
from bpu_registration.store import NikTaken, Stale
from bpu_shared.events import Event
from bpu_shared.regions import within


class FakeRegistrationRepository:
    """``events`` is the outbox: every event committed with a change, in order."""

    def __init__(self, api_keys: Any = None) -> None:
        self.sponsors: dict[str, Sponsor] = {}
        self.programmes: dict[str, Programme] = {}
        self.programme_versions: dict[str, int] = {}
        self.enrolled: dict[str, int] = {}
        self.workers: dict[str, Worker] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.events: list[Event] = []
        self.api_keys = api_keys
        self.card_serial = 0
        #: Worker ids whose next save is refused as stale (another writer came first).
        self.stale_once: set[str] = set()

    # -- sponsors and programmes -----------------------------------------------------------

    async def add_sponsor(self, sponsor: Sponsor, events: list[Event]) -> None:
        self.sponsors[sponsor.sponsor_id] = sponsor
        self.events += events

    async def sponsor(self, sponsor_id: str) -> Sponsor | None:
        return self.sponsors.get(sponsor_id)

    async def list_sponsors(
        self, region_prefix: str | None, limit: int, skip: int
    ) -> list[Sponsor]:
        found = [
            s
            for _, s in sorted(self.sponsors.items())
            if not region_prefix or within(s.region_code, region_prefix)
        ]
        return found[skip : skip + limit]

    async def add_programme(self, programme: Programme, events: list[Event]) -> None:
        self.programmes[programme.programme_id] = programme
        self.programme_versions[programme.programme_id] = 0
        self.enrolled[programme.programme_id] = 0
        self.events += events

    async def programme(self, programme_id: str) -> tuple[Programme, int] | None:
        programme = self.programmes.get(programme_id)
        return None if programme is None else (programme, self.enrolled[programme_id])

    async def programme_with_version(self, programme_id: str) -> tuple[Programme, int, int] | None:
        programme = self.programmes.get(programme_id)
        if programme is None:
            return None
        return programme, self.enrolled[programme_id], self.programme_versions[programme_id]

    async def list_programmes(
        self, sponsor_id: str | None, region_prefix: str | None, limit: int, skip: int
    ) -> list[tuple[Programme, int]]:
        found = [
            (p, self.enrolled[p.programme_id])
            for _, p in sorted(self.programmes.items())
            if (not sponsor_id or p.sponsor_id == sponsor_id)
            and (not region_prefix or within(p.region_code, region_prefix))
        ]
        return found[skip : skip + limit]

    async def save_programme(
        self, programme: Programme, version: int, quota_before: int, events: list[Event]
    ) -> bool:
        if self.programme_versions[programme.programme_id] != version:
            return False
        self.programmes[programme.programme_id] = programme
        self.programme_versions[programme.programme_id] += 1
        self.events += events
        return True

    async def take_seats(self, programme_id: str, wanted: int) -> int:
        left = self.programmes[programme_id].quota - self.enrolled[programme_id]
        taken = max(0, min(left, wanted))
        self.enrolled[programme_id] += taken
        return taken

    async def take_seat(self, programme_id: str) -> bool:
        return await self.take_seats(programme_id, 1) == 1

    async def give_back_seats(self, programme_id: str, count: int = 1) -> None:
        self.enrolled[programme_id] -= count

    async def give_back_seat(self, programme_id: str) -> None:
        await self.give_back_seats(programme_id, 1)

    # -- workers ---------------------------------------------------------------------------

    async def reserve_card_serials(self, count: int) -> range:
        self.card_serial += count
        return range(self.card_serial - count + 1, self.card_serial + 1)

    async def add_worker(self, worker: Worker, events: Sequence[Event], history: str) -> None:
        if any(w.identity.nik == worker.identity.nik for w in self.workers.values()):
            raise NikTaken(worker.identity.nik)
        self.workers[worker.worker_id] = worker
        self.history[worker.worker_id] = [json.loads(history)]
        self.events += events

    async def add_workers(self, changes: Iterable[tuple[Worker, Sequence[Event], str]]) -> set[str]:
        stored = set()
        for worker, events, history in changes:
            try:
                await self.add_worker(worker, events, history)
            except NikTaken:
                continue
            stored.add(worker.worker_id)
        return stored

    async def save_worker(self, worker: Worker, events: Sequence[Event], history: str) -> Worker:
        current = self.workers.get(worker.worker_id)
        if worker.worker_id in self.stale_once:
            self.stale_once.discard(worker.worker_id)
            assert current is not None
            self.workers[worker.worker_id] = dataclasses.replace(
                current, version=current.version + 1
            )
            raise Stale(worker.worker_id)
        if current is None or current.version != worker.version:
            raise Stale(worker.worker_id)
        saved = dataclasses.replace(worker, version=worker.version + 1)
        self.workers[worker.worker_id] = saved
        self.history[worker.worker_id].append(json.loads(history))
        self.events += events
        return saved

    async def worker(self, worker_id: str) -> Worker | None:
        return self.workers.get(worker_id)

    async def worker_by_nik(self, nik: str) -> Worker | None:
        return next((w for w in self.workers.values() if w.identity.nik == nik), None)

    async def worker_by_card(self, card_number: str) -> Worker | None:
        return next((w for w in self.workers.values() if w.card_number == card_number), None)

    async def workers_by_nik(self, niks: Sequence[str]) -> dict[str, Worker]:
        wanted = set(niks)
        return {w.identity.nik: w for w in self.workers.values() if w.identity.nik in wanted}

    async def worker_history(self, worker_id: str) -> list[dict[str, Any]] | None:
        return self.history.get(worker_id)

    async def workers_in_programme(
        self, programme_id: str, after: str | None = None, limit: int = 1000
    ) -> list[Worker]:
        found = sorted(
            (
                w
                for w in self.workers.values()
                if any(
                    e.programme_id == programme_id and e.status is EnrolmentStatus.ACTIVE
                    for e in w.enrolments
                )
                and (after is None or w.worker_id > after)
            ),
            key=lambda w: w.worker_id,
        )
        return found[:limit]

    async def each_in_programme(
        self, programme_id: str, chunk: int = 1000
    ) -> AsyncIterator[list[Worker]]:
        """Every active worker of the programme, ``chunk`` at a time (as the store walks)."""
        found = await self.workers_in_programme(programme_id, None, 10**9)
        for start in range(0, len(found), chunk):
            yield found[start : start + chunk]

    # -- waiting lists (handlers/waiting_list.py) --------------------------------------------
    # The store's guarantees: one waiting entry per (programme, NIK) at a time, the line read
    # in order-key order, a transition only while the entry still waits. The state is made on
    # first use, so the constructor above stays as it is.

    @property
    def waiting(self) -> dict[str, WaitingEntry]:
        """Every waiting-list entry by id, whatever its state."""
        return self.__dict__.setdefault("_waiting", {})

    def _open_entry(self, programme_id: str, nik: str) -> WaitingEntry | None:
        return next(
            (
                e
                for e in self.waiting.values()
                if e.programme_id == programme_id
                and e.nik == nik
                and e.state is WaitingState.WAITING
            ),
            None,
        )

    def _line(self, programme_id: str) -> list[WaitingEntry]:
        return sorted(
            (
                e
                for e in self.waiting.values()
                if e.programme_id == programme_id and e.state is WaitingState.WAITING
            ),
            key=lambda e: e.order,
        )

    async def reserve_waiting_seqs(self, count: int) -> range:
        end = self.__dict__.get("_waiting_seq", 0) + count
        self.__dict__["_waiting_seq"] = end
        return range(end - count + 1, end + 1)

    async def add_waiting(
        self, entries: Sequence[tuple[WaitingEntry, Sequence[Event]]]
    ) -> set[str]:
        stored = set()
        for entry, events in entries:
            if self._open_entry(entry.programme_id, entry.nik) is not None:
                continue
            self.waiting[entry.entry_id] = entry
            self.events += events
            stored.add(entry.entry_id)
        return stored

    async def waiting_entry(self, entry_id: str) -> WaitingEntry | None:
        return self.waiting.get(entry_id)

    async def waiting_by_nik(
        self, programme_id: str, niks: Sequence[str]
    ) -> dict[str, WaitingEntry]:
        found = (self._open_entry(programme_id, n) for n in niks)
        return {e.nik: e for e in found if e is not None}

    async def next_waiting(
        self,
        programme_id: str,
        limit: int,
        after: str | None = None,
        district_code: str | None = None,
    ) -> list[WaitingEntry]:
        line = [
            e
            for e in self._line(programme_id)
            if (after is None or e.order > after)
            and (district_code is None or e.district_code == district_code)
        ]
        return line[:limit]

    async def waiting_ahead(self, programme_id: str, order: str) -> int:
        return sum(e.order < order for e in self._line(programme_id))

    async def waiting_orders_between(self, programme_id: str, first: str, last: str) -> list[str]:
        return [e.order for e in self._line(programme_id) if first <= e.order <= last]

    async def waiting_per_district(self, programme_id: str) -> dict[str, int]:
        return dict(Counter(e.district_code for e in self._line(programme_id)))

    async def programmes_with_waiting(self) -> list[str]:
        return sorted(
            {e.programme_id for e in self.waiting.values() if e.state is WaitingState.WAITING}
        )

    async def leave_waiting(self, entry: WaitingEntry, events: Sequence[Event]) -> bool:
        current = self.waiting.get(entry.entry_id)
        if current is None or current.state is not WaitingState.WAITING:
            return False
        self.waiting[entry.entry_id] = entry
        self.events += events
        return True
