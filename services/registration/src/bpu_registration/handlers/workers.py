"""Workers: enrol one, enrol many (the bulk path imports, carry-overs, the waiting list and
enrolment requests share), read, change, end an enrolment, move to another programme, and end
the enrolments of a closed programme.

Every write of a worker is guarded by its version: a concurrent change makes the write miss
(``Stale``) and the handler reads again and decides again. A seat is taken before a worker is
written and given back if the write does not happen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from pydantic import Field

from bpu_registration import events
from bpu_registration.domain import (
    Applicant,
    Enrolment,
    EnrolmentStatus,
    Programme,
    QuotaExhausted,
    WaitingEntry,
    Worker,
    card_number,
    mask_nik,
    valid_card_number,
)
from bpu_registration.handlers.base import SYSTEM, WRITERS, Registration, load_programme
from bpu_registration.store import NikTaken, Stale
from bpu_registration.store.workers import history_entry
from bpu_shared.auth import Principal
from bpu_shared.errors import Conflict, DomainError, InvalidInput, NotFound
from bpu_shared.events import EndReason, Occupation, ProgrammeClosed, RegionCode, Rupiah
from bpu_shared.http import RequestModel
from bpu_shared.month import Month

#: How often a handler reads again after a concurrent change before it gives up (409).
ATTEMPTS = 8


# -- commands and queries ----------------------------------------------------------------------


class EnrolWorker(RequestModel):
    nik: str = Field(description="16-digit NIK", examples=["1704014107900001"])
    name: str = Field(min_length=1, max_length=200, examples=["Siti Aminah"])
    phone: str | None = Field(None, max_length=20, description="Indonesian phone (08…, 62…, +62…)")
    occupation: Occupation
    domicile_code: RegionCode = Field(
        description="Current domicile village (desa/kelurahan) code", examples=["17.04.01.2001"]
    )
    declared_monthly_income: Rupiah = Field(
        1_000_000, le=10_000_000_000, description="Declared monthly income"
    )
    programme_id: str
    cover_start: Month | None = Field(
        None, description="First month of cover; defaults to this month or the programme's start"
    )
    priority: int | None = Field(
        None, ge=1, le=1_000_000_000, description="Waiting-list priority if the quota is full"
    )
    requested_on: date | None = Field(
        None, description="Date of the worker's request (waiting-list order); default today"
    )


@dataclass(frozen=True)
class GetWorker:
    worker_id: str


@dataclass(frozen=True)
class FindWorker:
    """Look a worker up by NIK or participant card number."""

    nik: str | None = None
    card_number: str | None = None


class WorkerChanges(RequestModel):
    """New values; those left out stay. The phone may be set to null to remove it."""

    domicile_code: RegionCode | None = None
    phone: str | None = Field(None, max_length=20)
    declared_monthly_income: Rupiah | None = Field(None, le=10_000_000_000)
    occupation: Occupation | None = None
    effective_month: Month | None = Field(
        None, description="First month the change applies to; default this month"
    )


@dataclass(frozen=True)
class ChangeWorker:
    worker_id: str
    changes: WorkerChanges


class Ending(RequestModel):
    enrolment_id: str | None = Field(
        None, description="Which enrolment; default the worker's active one"
    )
    reason: EndReason
    effective_on: date = Field(description="The day it ends (the programme pays that month)")


@dataclass(frozen=True)
class EndEnrolment:
    worker_id: str
    ending: Ending


class Move(RequestModel):
    programme_id: str = Field(description="The programme that pays from ``from_month``")
    from_month: Month


@dataclass(frozen=True)
class MoveWorker:
    worker_id: str
    move: Move


@dataclass(frozen=True)
class Enrolled:
    """An enrolment made (``created``) or found already made (the same request again)."""

    worker: Worker
    enrolment: Enrolment
    created: bool


@dataclass(frozen=True)
class Candidate:
    """One person of a bulk enrolment; ``ref`` is the caller's (a row number)."""

    ref: int
    applicant: Applicant
    cover_start: Month | None = None
    priority: int | None = None
    requested_on: date | None = None
    waiting_list_entry: str | None = None
    request_id: str | None = None  # an enrolment request's id: it marks the enrolment made

    def order(self) -> tuple[int, date, int]:
        """The waiting-list order: priority (none last), then date of request, then ref."""
        return (
            self.priority if self.priority is not None else 2**62,
            self.requested_on or date.max,
            self.ref,
        )


@dataclass(frozen=True)
class Rejected:
    ref: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class NoSeat:
    """Eligible, but the quota is full: the caller puts it on the waiting list."""

    candidate: Candidate


Outcome = Enrolled | Rejected | NoSeat


# -- enrol -------------------------------------------------------------------------------------


def _applicant(cmd: EnrolWorker, deps: Registration) -> Applicant:
    return Applicant.check(
        nik=cmd.nik,
        name=cmd.name,
        phone=cmd.phone,
        occupation=cmd.occupation,
        village_code=cmd.domicile_code,
        declared_monthly_income=cmd.declared_monthly_income,
        min_declared_income=deps.settings.min_declared_income,
    )


async def enrol_worker(
    cmd: EnrolWorker, principal: Principal, deps: Registration
) -> Enrolled | WaitingEntry:
    """Enrol one worker: a new person, a new enrolment of a known one, or — the same request
    again — the enrolment made before (``created`` False). An eligible worker the quota has no
    seat for goes on the programme's waiting list (the entry; the same request again keeps
    the first entry)."""
    principal.require_role(*WRITERS)
    programme, _ = await load_programme(deps, principal, cmd.programme_id, field="programme_id")
    principal.require_region(cmd.domicile_code)
    candidate = Candidate(0, _applicant(cmd, deps), cmd.cover_start, cmd.priority, cmd.requested_on)
    try:
        return await enrol_one(programme, candidate, principal, deps)
    except QuotaExhausted:
        # waiting_list builds on this module (enrol_many): imported when first needed.
        from bpu_registration.handlers.waiting_list import put_on_waiting_list

        [entry] = await put_on_waiting_list(programme, [candidate], principal, deps)
        return entry


async def enrol_one(
    programme: Programme, candidate: Candidate, principal: Principal, deps: Registration
) -> Enrolled:
    """One candidate, read-decide-write until the write lands (``ATTEMPTS`` at most)."""
    repo, applicant, now = deps.repository, candidate.applicant, deps.clock.now()
    for _attempt in range(ATTEMPTS):
        worker = await repo.worker_by_nik(applicant.identity.nik)
        fresh = worker is None
        if worker is None:
            worker = Worker.new(applicant, "", now)
        enrolment = worker.plan(
            programme,
            candidate.cover_start,
            now,
            applicant=applicant,
            waiting_list_entry=candidate.waiting_list_entry,
            request_id=candidate.request_id,
        )
        if worker.active_in(programme.programme_id) is enrolment:
            return Enrolled(worker, enrolment, created=False)
        if not await repo.take_seat(programme.programme_id):
            raise QuotaExhausted(programme)
        try:
            if fresh:
                serial = (await repo.reserve_card_serials(1))[0]
                worker = replace(worker, card_number=card_number(serial)).enrolled(enrolment)
                await repo.add_worker(
                    worker, [events.worker_registered(worker)], _history(worker, principal, now)
                )
            else:
                worker = await repo.save_worker(
                    worker.enrolled(enrolment, applicant),
                    [events.worker_registered(worker.enrolled(enrolment, applicant))],
                    _history(worker.enrolled(enrolment), principal, now),
                )
        except (NikTaken, Stale):
            await repo.give_back_seat(programme.programme_id)
            continue
        except BaseException:
            await repo.give_back_seat(programme.programme_id)
            raise
        return Enrolled(worker, worker.latest, created=True)
    raise Conflict("this NIK's record kept changing meanwhile; try again", field="nik")


def _history(worker: Worker, principal: Principal, at: datetime) -> str:
    """The history line of the worker's latest enrolment."""
    e = worker.latest
    return history_entry(
        at,
        principal.key_id,
        "enrolled",
        programme_id=e.programme_id,
        enrolment_id=e.enrolment_id,
        months=f"{e.first_month}–{e.last_month}",
        waiting_list_entry=e.waiting_list_entry,
        request_id=e.request_id,
    )


async def enrol_many(
    programme: Programme,
    candidates: Sequence[Candidate],
    principal: Principal,
    deps: Registration,
) -> list[Outcome]:
    """Enrol many candidates in ``programme`` with the checks of ``enrol_worker``, in a few
    round trips: one read of the NIKs known, one seat take, one card-serial reservation and
    one bulk insert of the new workers. Seats go in the waiting-list order (priority, date of
    request, ref); who finds none comes back as ``NoSeat``. A candidate whose NIK repeats an
    earlier one of the same call is rejected. A known worker (a new enrolment for them) and
    a NIK stored meanwhile by someone else go through ``enrol_one``. One outcome per
    candidate, in the order given."""
    repo, now = deps.repository, deps.clock.now()
    outcomes: dict[int, Outcome] = {}
    known = await repo.workers_by_nik([c.applicant.identity.nik for c in candidates])
    first_of: dict[str, int] = {}
    planned: list[tuple[Candidate, Worker, Enrolment]] = []
    for c in sorted(candidates, key=Candidate.order):
        nik = c.applicant.identity.nik
        if nik in first_of:
            outcomes[c.ref] = Rejected(c.ref, "nik", f"the same NIK as {first_of[nik]}")
            continue
        first_of[nik] = c.ref
        worker = known.get(nik) or Worker.new(c.applicant, "", now)
        try:
            enrolment = worker.plan(
                programme,
                c.cover_start,
                now,
                applicant=c.applicant,
                waiting_list_entry=c.waiting_list_entry,
                request_id=c.request_id,
            )
        except DomainError as refused:
            outcomes[c.ref] = Rejected(c.ref, refused.field, refused.detail)
            continue
        if worker.active_in(programme.programme_id) is enrolment:
            outcomes[c.ref] = Enrolled(worker, enrolment, created=False)
            continue
        planned.append((c, worker, enrolment))

    seats = await repo.take_seats(programme.programme_id, len(planned)) if planned else 0
    seated, unseated = planned[:seats], planned[seats:]
    for c, _, _ in unseated:
        outcomes[c.ref] = NoSeat(c)

    # A known worker's new enrolment goes through enrol_one, which takes its own seat.
    again = [c for c, _, _ in seated if c.applicant.identity.nik in known]
    new = [(c, w, e) for c, w, e in seated if c.applicant.identity.nik not in known]
    give_back = len(again)
    if new:
        serials = await repo.reserve_card_serials(len(new))
        made = [
            (c, replace(w, card_number=card_number(serial)).enrolled(e))
            for (c, w, e), serial in zip(new, serials, strict=True)
        ]
        stored = await repo.add_workers(
            (w, [events.worker_registered(w)], _history(w, principal, now)) for _, w in made
        )
        for c, w in made:
            if w.worker_id in stored:
                outcomes[c.ref] = Enrolled(w, w.latest, created=True)
            else:  # its NIK was stored meanwhile: decide again, one by one
                again.append(c)
                give_back += 1
    await repo.give_back_seats(programme.programme_id, give_back)
    for c in again:
        try:
            outcomes[c.ref] = await enrol_one(programme, c, principal, deps)
        except QuotaExhausted:
            outcomes[c.ref] = NoSeat(c)
        except DomainError as refused:
            outcomes[c.ref] = Rejected(c.ref, refused.field, refused.detail)
    return [outcomes[c.ref] for c in candidates]


# -- read --------------------------------------------------------------------------------------


async def get_worker(q: GetWorker, principal: Principal, deps: Registration) -> Worker:
    principal.require_role(*WRITERS)
    return await _visible_worker(deps, principal, q.worker_id)


async def find_worker(q: FindWorker, principal: Principal, deps: Registration) -> Worker:
    """By NIK or card number; a card number may be typed as printed (``1234 5678 901``). The
    answer for a NIK not found does not repeat it."""
    principal.require_role(*WRITERS)
    if q.nik:
        worker = await deps.repository.worker_by_nik(q.nik.strip())
        asked = mask_nik(q.nik.strip()) if len(q.nik.strip()) == 16 else "with that NIK"
    elif q.card_number:
        number = "".join(q.card_number.split()).replace("-", "")
        if not valid_card_number(number):
            raise InvalidInput(
                "card_number", "not a card number: 11 digits whose last is the check digit"
            )
        worker = await deps.repository.worker_by_card(number)
        asked = number
    else:
        raise InvalidInput("nik", "give a NIK or a card number")
    if worker is None or not principal.can_access(worker.village_code):
        raise NotFound("worker", asked)
    return worker


async def _visible_worker(deps: Registration, principal: Principal, worker_id: str) -> Worker:
    worker = await deps.repository.worker(worker_id)
    # Outside a sponsor's region is "not found": a key must not learn what lies elsewhere.
    if worker is None or not principal.can_access(worker.village_code):
        raise NotFound("worker", worker_id)
    return worker


# -- change, end, move -------------------------------------------------------------------------


async def change_worker(cmd: ChangeWorker, principal: Principal, deps: Registration) -> Worker:
    """New domicile, phone, occupation or declared income: one ``WorkerChanged``."""
    principal.require_role(*WRITERS)
    for _attempt in range(ATTEMPTS):
        worker = await _visible_worker(deps, principal, cmd.worker_id)
        given = cmd.changes.model_fields_set - {"effective_month"}
        fields = {name: getattr(cmd.changes, name) for name in given}
        paying = [
            found[0]
            for e in worker.enrolments
            if e.status is EnrolmentStatus.ACTIVE
            and (found := await deps.repository.programme(e.programme_id)) is not None
        ]
        changed_worker, changed = worker.change(paying, **fields)
        if not changed:
            return worker
        principal.require_region(changed_worker.village_code)
        month = cmd.changes.effective_month or Month.of(deps.clock.today())
        event = events.worker_changed(changed_worker, changed, month)
        line = history_entry(
            deps.clock.now(),
            principal.key_id,
            "changed",
            changed=changed,
            effective_month=str(month),
        )
        try:
            return await deps.repository.save_worker(changed_worker, [event], line)
        except Stale:
            continue
    raise Conflict(f"worker {cmd.worker_id} kept changing meanwhile; try again")


async def end_enrolment(cmd: EndEnrolment, principal: Principal, deps: Registration) -> Worker:
    """End an enrolment (death, moved away, programme ended, withdrawn): its seat frees up and
    the programme's waiting list moves."""
    principal.require_role(*WRITERS)
    for _attempt in range(ATTEMPTS):
        worker = await _visible_worker(deps, principal, cmd.worker_id)
        how = cmd.ending
        enrolment_id = how.enrolment_id or _active(worker).enrolment_id
        ended_worker, ended = worker.end(enrolment_id, how.reason, how.effective_on)
        line = history_entry(
            deps.clock.now(),
            principal.key_id,
            "ended",
            enrolment_id=ended.enrolment_id,
            programme_id=ended.programme_id,
            reason=how.reason.value,
            effective_on=how.effective_on.isoformat(),
            last_month=str(ended.last_month),
        )
        try:
            saved = await deps.repository.save_worker(
                ended_worker, [events.enrolment_ended(ended_worker, ended)], line
            )
        except Stale:
            continue
        await deps.repository.give_back_seat(ended.programme_id)
        await _fill_freed_seats(ended.programme_id, deps)
        return saved
    raise Conflict(f"worker {cmd.worker_id} kept changing meanwhile; try again")


async def move_worker(cmd: MoveWorker, principal: Principal, deps: Registration) -> Worker:
    """Move a worker to another programme from a month: the old enrolment ends the month
    before, the new one starts (``EnrolmentEnded`` and ``WorkerRegistered`` in one write)."""
    principal.require_role(*WRITERS)
    target, _ = await load_programme(deps, principal, cmd.move.programme_id, field="programme_id")
    for _attempt in range(ATTEMPTS):
        worker = await _visible_worker(deps, principal, cmd.worker_id)
        moved, ended, started = worker.move(target, cmd.move.from_month, deps.clock.now())
        if not await deps.repository.take_seat(target.programme_id):
            raise QuotaExhausted(target)
        line = history_entry(
            deps.clock.now(),
            principal.key_id,
            "moved",
            from_programme_id=ended.programme_id,
            to_programme_id=started.programme_id,
            from_month=str(cmd.move.from_month),
            enrolment_id=started.enrolment_id,
        )
        try:
            saved = await deps.repository.save_worker(
                moved,
                [events.enrolment_ended(moved, ended), events.worker_registered(moved, started)],
                line,
            )
        except Stale:
            await deps.repository.give_back_seat(target.programme_id)
            continue
        except BaseException:
            await deps.repository.give_back_seat(target.programme_id)
            raise
        await deps.repository.give_back_seat(ended.programme_id)
        await _fill_freed_seats(ended.programme_id, deps)
        return saved
    raise Conflict(f"worker {cmd.worker_id} kept changing meanwhile; try again")


async def _fill_freed_seats(programme_id: str, deps: Registration) -> None:
    """The next workers of the programme's waiting list take the seats freed."""
    # waiting_list builds on this module (enrol_many): imported when first needed.
    from bpu_registration.handlers.waiting_list import fill_after_change

    await fill_after_change(programme_id, deps)


def _active(worker: Worker) -> Enrolment:
    for e in reversed(worker.enrolments):
        if e.status is EnrolmentStatus.ACTIVE:
            return e
    raise NotFound("active enrolment of worker", worker.worker_id, field="enrolment_id")


# -- events ------------------------------------------------------------------------------------


async def end_enrolments_of_closed_programmes(
    closed: Sequence[ProgrammeClosed], deps: Registration
) -> None:
    """A closed programme's active enrolments end with its last month, each with its
    ``EnrolmentEnded``. Applying it again finds them ended and writes nothing."""
    for event in closed:
        p = event.payload
        async for chunk in deps.repository.each_in_programme(p.programme_id):
            for worker in chunk:
                await _end_with_programme(worker, p.programme_id, p.end_month, p.closed_on, deps)


async def _end_with_programme(
    worker: Worker, programme_id: str, last: Month, on: date, deps: Registration
) -> None:
    for _attempt in range(ATTEMPTS):
        active = worker.active_in(programme_id)
        if active is None:
            return
        ended_worker, ended = worker.end(active.enrolment_id, EndReason.PROGRAMME_ENDED, on, last)
        line = history_entry(
            deps.clock.now(),
            SYSTEM.key_id,
            "ended",
            enrolment_id=ended.enrolment_id,
            programme_id=programme_id,
            reason=EndReason.PROGRAMME_ENDED.value,
            last_month=str(ended.last_month),
        )
        try:
            await deps.repository.save_worker(
                ended_worker, [events.enrolment_ended(ended_worker, ended)], line
            )
            return
        except Stale:
            fresh = await deps.repository.worker(worker.worker_id)
            if fresh is None:
                return
            worker = fresh
