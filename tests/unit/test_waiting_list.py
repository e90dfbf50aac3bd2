"""The waiting list with the fake repository and a fixed clock: the order rule (a property over
any entries), putting on the list idempotently, filling exactly the free seats in order,
skipping entries the enrolment now refuses, filling after an end, a move and a raised quota, a
fill that crashed between its two writes, withdrawal, a closed programme, and the reads."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpu_registration.app import RegistrationSettings
from bpu_registration.domain import (
    NO_PRIORITY,
    Applicant,
    Programme,
    Sponsor,
    WaitingEntry,
    WaitingState,
    cover_from,
    order_key,
)
from bpu_registration.events import programme_closed
from bpu_registration.handlers import (
    COMMAND_HANDLERS,
    EVENT_HANDLERS,
    ChangeProgramme,
    EndEnrolment,
    Ending,
    EnrolWorker,
    GetWaitingEntry,
    GetWaitingList,
    GetWaitingListSummary,
    Move,
    MoveWorker,
    ProgrammeChanges,
    WithdrawFromWaitingList,
)
from bpu_registration.handlers.waiting_list import (
    WaitingListFiller,
    fill_from_waiting_list,
    put_on_waiting_list,
)
from bpu_registration.handlers.workers import Candidate, Enrolled
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from bpu_shared.events import (
    EndReason,
    SponsorKind,
    WaitingListLeft,
    WaitingListReason,
    WorkerRegistered,
    WorkerWaitlisted,
)
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from tests.unit.registration_fakes import FakeRegistrationRepository

OPERATOR = Principal("operator-key", Role.OPERATOR)
KAUR_OFFICER = Principal("kaur-key", Role.SPONSOR, "17.04")
PASER_OFFICER = Principal("paser-key", Role.SPONSOR, "64.01")
KINAL = "17.04.01.2001"  # a village of Kinal (17.04.01), Kabupaten Kaur
TANJUNG_KEMUNING = "17.04.02.2002"  # a village of Tanjung Kemuning (17.04.02)

#: 10 March 2026, 09:00 in Jakarta.
MARCH_10 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def nik(serial: int, born: date = date(1990, 7, 1)) -> str:
    """A woman's NIK issued in Kinal, a new person per serial."""
    return f"170401{born.day + 40:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


@dataclasses.dataclass
class World:
    repository: FakeRegistrationRepository
    bus: MessageBus[Any, Any]
    kaur: Sponsor
    province: Sponsor

    async def programme(self, sponsor: Sponsor | None = None, **terms: Any) -> Programme:
        values: dict[str, Any] = {
            "name": "Pekerja Rentan Kaur 2026",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 3,
            "quota": 3,
            "start_month": Month(2026, 1),
            "end_month": Month(2026, 12),
        }
        values.update(terms)
        programme = Programme.open(sponsor or self.kaur, values)
        await self.repository.add_programme(programme, [])
        return programme

    async def enrol(self, programme: Programme, serial: int, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "nik": nik(serial),
            "name": f"Pekerja {serial}",
            "occupation": "farmer",
            "domicile_code": KINAL,
            "programme_id": programme.programme_id,
        }
        values.update(overrides)
        return await self.bus.handle(EnrolWorker.model_validate(values), OPERATOR)

    def events(self, kind: type) -> list[Any]:
        return [e for e in self.repository.events if isinstance(e, kind)]

    def at(self, moment: datetime) -> None:
        self.bus.deps.clock = FixedClock(moment)

    def seats_taken(self, programme: Programme) -> int:
        return self.repository.enrolled[programme.programme_id]

    def enrolments_in(self, programme: Programme) -> list[str]:
        """Who the programme pays for: one NIK per enrolment (a NIK twice would be a bug)."""
        return sorted(
            w.identity.nik
            for w in self.repository.workers.values()
            for e in w.enrolments
            if e.programme_id == programme.programme_id
        )


def new_world() -> World:
    repository = FakeRegistrationRepository()
    kaur = Sponsor.register("Pemerintah Kabupaten Kaur", SponsorKind.REGENCY, "17.04")
    province = Sponsor.register("Pemerintah Provinsi Bengkulu", SponsorKind.PROVINCE, "17")
    repository.sponsors.update({kaur.sponsor_id: kaur, province.sponsor_id: province})
    bus = bootstrap(
        repository=repository,
        publisher=type("P", (), {"wake": lambda self: None})(),
        clock=FixedClock(MARCH_10),
        settings=RegistrationSettings(admin_api_key="an-admin-key-of-the-tests"),
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
    )
    return World(repository, bus, kaur, province)


@pytest.fixture
def world() -> World:
    return new_world()


def candidate(serial: int, ref: int | None = None, **fields: Any) -> Candidate:
    applicant = Applicant.check(
        nik=nik(serial),
        name=f"Pekerja {serial}",
        phone=None,
        occupation="fisher",
        village_code=fields.pop("village", KINAL),
        declared_monthly_income=1_000_000,
        min_declared_income=1_000_000,
    )
    return Candidate(serial if ref is None else ref, applicant, **fields)


# -- the order ---------------------------------------------------------------------------------

priorities = st.one_of(st.none(), st.integers(1, 10**18))
days = st.dates(date(2000, 1, 1), date(2099, 12, 31))


@given(st.lists(st.tuples(priorities, days), max_size=40))
def test_any_entries_come_out_in_the_documented_order(rows: list[tuple[int | None, date]]) -> None:
    """Sorting by the stored key is sorting by the rule: priority (none last), then the date
    of request, then arrival."""
    entries = [(p, d, seq) for seq, (p, d) in enumerate(rows, start=1)]
    by_key = sorted(entries, key=lambda e: order_key(*e))
    by_rule = sorted(entries, key=lambda e: (e[0] is None, e[0] or 0, e[1], e[2]))
    assert by_key == by_rule


def test_no_priority_stands_after_the_highest_priority_number() -> None:
    last_with_priority = order_key(10**18, date(2000, 1, 1), 1)
    assert order_key(None, date(2000, 1, 1), 1) > last_with_priority
    assert NO_PRIORITY > 10**18


@pytest.mark.parametrize("priority", [0, -1, 10**18 + 1])
def test_a_priority_outside_the_range_names_the_field(priority: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        order_key(priority, date(2026, 3, 1), 1)
    assert exc.value.field == "priority"


@given(
    st.one_of(st.none(), st.builds(Month, st.integers(2020, 2030), st.integers(1, 12))),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
)
def test_a_seat_is_never_back_dated(wish: Month | None, today: date) -> None:
    start = cover_from(wish, today)
    if wish is None:
        assert start is None  # the enrolment's own default: this month or the programme's first
    else:
        assert start is not None and start >= Month.of(today) and start >= wish
        assert start in (wish, Month.of(today))


# -- put on the list ---------------------------------------------------------------------------


async def test_a_full_programme_answers_the_waiting_entry_and_the_same_request_keeps_it(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2, priority=5, requested_on="2026-02-20")
    assert isinstance(entry, WaitingEntry)
    assert (entry.priority, entry.requested_on, entry.added_by) == (
        5,
        date(2026, 2, 20),
        "operator-key",
    )

    world.at(MARCH_10 + timedelta(days=30))
    again = await world.enrol(p, 2, priority=1, requested_on="2026-04-01", name="Nama Lain")
    assert again == entry  # first entry, its date and its place kept
    [event] = world.events(WorkerWaitlisted)
    assert event.payload.entry_id == entry.entry_id
    assert (event.payload.district_code, event.payload.requested_on) == (
        "17.04.01",
        date(2026, 2, 20),
    )
    assert nik(2) not in event.model_dump_json()
    assert len(world.repository.workers) == 1
    assert world.seats_taken(p) == 1


async def test_the_date_of_request_defaults_to_the_clocks_today_in_jakarta(world: World) -> None:
    p = await world.programme(quota=1)
    [entry] = await put_on_waiting_list(p, [candidate(7)], OPERATOR, world.bus.deps)
    assert entry.requested_on == date(2026, 3, 10)


async def test_putting_the_same_people_on_the_list_twice_keeps_one_entry_each(world: World) -> None:
    p = await world.programme(quota=1)
    batch = [candidate(1), candidate(2), candidate(1, ref=99)]  # the same NIK twice
    first = await put_on_waiting_list(p, batch, OPERATOR, world.bus.deps)
    assert first[0] == first[2] and first[0] != first[1]
    second = await put_on_waiting_list(p, batch[:2], OPERATOR, world.bus.deps)
    assert second == first[:2]
    assert len(world.events(WorkerWaitlisted)) == 2
    assert len(world.repository.waiting) == 2


async def test_someone_who_left_the_list_may_wait_again_with_a_new_entry(world: World) -> None:
    p = await world.programme(quota=1)
    [entry] = await put_on_waiting_list(p, [candidate(1)], OPERATOR, world.bus.deps)
    await world.bus.handle(WithdrawFromWaitingList(entry.entry_id), OPERATOR)
    [again] = await put_on_waiting_list(p, [candidate(1)], OPERATOR, world.bus.deps)
    assert again.entry_id != entry.entry_id and again.state is WaitingState.WAITING


# -- fill --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(quota=st.integers(1, 6), enrolled=st.integers(0, 6), waiting=st.integers(0, 8))
def test_a_fill_enrols_exactly_as_many_as_seats_are_free_and_workers_wait(
    quota: int, enrolled: int, waiting: int
) -> None:
    enrolled = min(enrolled, quota)

    async def scenario() -> None:
        w = new_world()
        p = await w.programme(quota=quota)
        for serial in range(1, enrolled + 1):
            await w.enrol(p, serial)
        line = [candidate(100 + i) for i in range(waiting)]
        await put_on_waiting_list(p, line, OPERATOR, w.bus.deps)

        filled = await fill_from_waiting_list(p.programme_id, w.bus.deps)

        expected = min(quota - enrolled, waiting)
        assert len(filled.enrolled) == expected
        assert w.seats_taken(p) == enrolled + expected
        assert len(w.events(WaitingListLeft)) == expected
        assert len(await w.repository.next_waiting(p.programme_id, 100)) == waiting - expected
        again = await fill_from_waiting_list(p.programme_id, w.bus.deps)
        assert again.enrolled == [] and w.seats_taken(p) == enrolled + expected

    asyncio.run(scenario())


async def test_a_bounded_fill_moves_at_most_its_limit_and_the_next_fill_goes_on(
    world: World,
) -> None:
    p = await world.programme(quota=5)
    await put_on_waiting_list(p, [candidate(i) for i in range(1, 6)], OPERATOR, world.bus.deps)
    first = await fill_from_waiting_list(p.programme_id, world.bus.deps, limit=2)
    assert len(first.enrolled) == 2 and world.seats_taken(p) == 2
    rest = await fill_from_waiting_list(p.programme_id, world.bus.deps)
    assert len(rest.enrolled) == 3 and world.seats_taken(p) == 5


async def test_seats_go_in_order_and_each_enrolment_carries_its_entry(world: World) -> None:
    p = await world.programme(quota=2)
    for serial in (1, 2):
        await world.enrol(p, serial)
    late = await world.enrol(p, 3, requested_on="2026-03-05")
    no_priority = await world.enrol(p, 4, requested_on="2026-01-01")
    early = await world.enrol(p, 5, requested_on="2026-02-01")
    first = await world.enrol(p, 6, requested_on="2026-03-09", priority=1)

    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=5)), KAUR_OFFICER)

    registered = world.events(WorkerRegistered)[2:]
    assert [e.payload.waiting_list_entry for e in registered] == [
        first.entry_id,
        no_priority.entry_id,
        early.entry_id,
    ]
    left = world.events(WaitingListLeft)
    assert [(e.payload.entry_id, e.payload.reason) for e in left] == [
        (first.entry_id, WaitingListReason.ENROLLED),
        (no_priority.entry_id, WaitingListReason.ENROLLED),
        (early.entry_id, WaitingListReason.ENROLLED),
    ]
    assert [e.payload.worker_id for e in left] == [e.payload.worker_id for e in registered]
    assert (await world.repository.waiting_entry(late.entry_id)).state is WaitingState.WAITING
    worker = world.repository.workers[registered[0].payload.worker_id]
    assert world.repository.history[worker.worker_id][-1]["by"] == "registration"
    assert world.repository.history[worker.worker_id][-1]["waiting_list_entry"] == first.entry_id


async def test_a_raised_quota_answers_the_programme_with_its_seats_filled(world: World) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    await world.enrol(p, 2)
    changed, enrolled = await world.bus.handle(
        ChangeProgramme(p.programme_id, ProgrammeChanges(quota=3)), OPERATOR
    )
    assert (changed.quota, enrolled) == (3, 2)


async def test_an_entry_the_enrolment_now_refuses_leaves_as_refused_and_the_next_one_gets_the_seat(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    funded_elsewhere = await world.enrol(p, 2, priority=1)
    next_in_line = await world.enrol(p, 3, priority=2)
    province = await world.programme(world.province, name="Provinsi Bengkulu 2026", quota=10)
    await world.enrol(province, 2)  # the province pays for worker 2 meanwhile

    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)

    refused = await world.repository.waiting_entry(funded_elsewhere.entry_id)
    assert refused.state is WaitingState.REFUSED
    assert refused.detail.startswith("nik: this NIK is already funded by programme")
    enrolled = await world.repository.waiting_entry(next_in_line.entry_id)
    assert enrolled.state is WaitingState.ENROLLED
    assert world.enrolments_in(p) == sorted([nik(1), nik(3)])
    assert world.seats_taken(p) == 2
    [left_refused, left_enrolled] = world.events(WaitingListLeft)
    assert left_refused.payload.reason is WaitingListReason.REFUSED
    assert left_refused.payload.detail == refused.detail
    assert left_enrolled.payload.worker_id == enrolled.worker_id


async def test_a_worker_too_old_by_the_time_a_seat_frees_is_refused(world: World) -> None:
    p = await world.programme(quota=1, max_age=64)
    await world.enrol(p, 1)
    # Born 15 March 1961: 64 in March 2026, 65 from April.
    entry = await world.enrol(p, 2, nik=nik(2, born=date(1961, 3, 15)))
    assert isinstance(entry, WaitingEntry)

    world.at(datetime(2026, 4, 2, 2, 0, tzinfo=UTC))
    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)

    refused = await world.repository.waiting_entry(entry.entry_id)
    assert refused.state is WaitingState.REFUSED
    assert refused.detail == "nik: the worker is 65 on 2026-04-01; the programme takes ages 15–64"
    assert world.seats_taken(p) == 1


async def test_the_cover_wished_for_starts_this_month_once_that_month_has_passed(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2, cover_start="2026-04")
    world.at(datetime(2026, 6, 20, 2, 0, tzinfo=UTC))
    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)
    [_, registered] = world.events(WorkerRegistered)
    assert registered.payload.waiting_list_entry == entry.entry_id
    assert registered.payload.cover_start == Month(2026, 6)


async def test_an_ended_enrolment_seats_the_next_waiting_worker(world: World) -> None:
    p = await world.programme(quota=1)
    made: Enrolled = await world.enrol(p, 1)
    entry = await world.enrol(p, 2)

    await world.bus.handle(
        EndEnrolment(
            made.worker.worker_id, Ending(reason=EndReason.DEATH, effective_on=date(2026, 3, 12))
        ),
        KAUR_OFFICER,
    )

    assert (await world.repository.waiting_entry(entry.entry_id)).state is WaitingState.ENROLLED
    assert world.seats_taken(p) == 1
    assert [e.payload.waiting_list_entry for e in world.events(WorkerRegistered)] == [
        None,
        entry.entry_id,
    ]


async def test_a_worker_moved_to_another_programme_frees_a_seat_for_the_line(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    province = await world.programme(world.province, name="Provinsi Bengkulu 2026", quota=10)
    made: Enrolled = await world.enrol(p, 1, cover_start="2026-03")
    entry = await world.enrol(p, 2)
    await world.bus.handle(
        MoveWorker(
            made.worker.worker_id, Move(programme_id=province.programme_id, from_month="2026-05")
        ),
        OPERATOR,
    )
    assert (await world.repository.waiting_entry(entry.entry_id)).state is WaitingState.ENROLLED
    assert world.seats_taken(p) == 1 and world.seats_taken(province) == 1


# -- exactly once ------------------------------------------------------------------------------


class CrashBeforeTheEntryMoves(Exception):
    """Stands for the process dying between the worker's write and the entry's."""


def crash_before_entries_move(repo: FakeRegistrationRepository) -> Any:
    """Make every entry transition die until the returned function is called."""
    leave = repo.leave_waiting

    async def crash(entry: WaitingEntry, events: Any) -> bool:
        raise CrashBeforeTheEntryMoves

    repo.leave_waiting = crash  # type: ignore[method-assign]

    def restore() -> None:
        repo.leave_waiting = leave  # type: ignore[method-assign]

    return restore


async def test_a_fill_that_died_after_enrolling_closes_the_entry_next_time_and_enrols_no_one_twice(
    world: World,
) -> None:
    p = await world.programme(quota=3)
    await world.enrol(p, 1)
    # Two seats free and one worker waiting (written while the seats freed up).
    [entry] = await put_on_waiting_list(p, [candidate(2)], OPERATOR, world.bus.deps)
    restore = crash_before_entries_move(world.repository)
    with pytest.raises(CrashBeforeTheEntryMoves):
        await fill_from_waiting_list(p.programme_id, world.bus.deps)
    restore()
    repo = world.repository
    assert (await repo.waiting_entry(entry.entry_id)).state is WaitingState.WAITING
    assert world.enrolments_in(p) == sorted([nik(1), nik(2)])
    assert world.seats_taken(p) == 2

    for _ in range(2):  # the next fill, and one more
        await fill_from_waiting_list(p.programme_id, world.bus.deps)

    closed = await repo.waiting_entry(entry.entry_id)
    assert closed.state is WaitingState.ENROLLED
    assert closed.worker_id == (await repo.worker_by_nik(nik(2))).worker_id
    assert world.enrolments_in(p) == sorted([nik(1), nik(2)])
    assert world.seats_taken(p) == 2  # the next fill took no seat for it
    assert len(world.events(WorkerRegistered)) == 2
    assert [e.payload.entry_id for e in world.events(WaitingListLeft)] == [entry.entry_id]


async def test_with_no_seat_left_after_the_crash_the_background_pass_closes_the_entry(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2)
    restore = crash_before_entries_move(world.repository)
    # The quota rises; its fill dies after enrolling worker 2. The change itself stands: a
    # failed fill does not fail the request that freed the seats.
    changed, _ = await world.bus.handle(
        ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR
    )
    restore()
    assert changed.quota == 2
    assert (await world.repository.waiting_entry(entry.entry_id)).state is WaitingState.WAITING
    assert world.seats_taken(p) == 2

    await fill_from_waiting_list(p.programme_id, world.bus.deps)  # no seat: nothing to do
    assert (await world.repository.waiting_entry(entry.entry_id)).state is WaitingState.WAITING
    await WaitingListFiller(world.bus.deps, HeldLease(), interval=60).run_pass()  # type: ignore[arg-type]

    assert (await world.repository.waiting_entry(entry.entry_id)).state is WaitingState.ENROLLED
    assert world.enrolments_in(p) == sorted([nik(1), nik(2)])
    assert world.seats_taken(p) == 2
    assert len(world.events(WaitingListLeft)) == 1


async def test_an_entry_whose_enrolment_was_made_and_ended_before_the_entry_moved_is_not_enrolled_again(
    world: World,
) -> None:
    p = await world.programme(quota=1, start_month=Month(2026, 3))
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2)
    restore = crash_before_entries_move(world.repository)
    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)
    repo = world.repository
    worker = await repo.worker_by_nik(nik(2))
    # Before any fill runs again, the enrolment made for the entry ends (in March) ...
    await world.bus.handle(
        EndEnrolment(
            worker.worker_id,
            Ending(reason=EndReason.WITHDRAWN, effective_on=date(2026, 3, 11)),
        ),
        OPERATOR,
    )
    restore()
    assert (await repo.waiting_entry(entry.entry_id)).state is WaitingState.WAITING
    # ... and months later a seat is free: the entry closes as enrolled, no second enrolment.
    world.at(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    await fill_from_waiting_list(p.programme_id, world.bus.deps)
    closed = await repo.waiting_entry(entry.entry_id)
    assert (closed.state, closed.worker_id) == (WaitingState.ENROLLED, worker.worker_id)
    assert len(repo.workers[worker.worker_id].enrolments) == 1


# -- leave the list ----------------------------------------------------------------------------


async def test_withdrawing_an_entry_publishes_waiting_list_left_once(world: World) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2)
    withdrawn = await world.bus.handle(WithdrawFromWaitingList(entry.entry_id), KAUR_OFFICER)
    again = await world.bus.handle(WithdrawFromWaitingList(entry.entry_id), KAUR_OFFICER)
    assert withdrawn == again
    assert (withdrawn.state, withdrawn.left_by) == (WaitingState.WITHDRAWN, "kaur-key")
    [left] = world.events(WaitingListLeft)
    assert left.payload.reason is WaitingListReason.WITHDRAWN
    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)
    assert world.seats_taken(p) == 1  # a withdrawn entry takes no seat


async def test_an_entry_enrolled_already_cannot_be_withdrawn(world: World) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2)
    await world.bus.handle(ChangeProgramme(p.programme_id, ProgrammeChanges(quota=2)), OPERATOR)
    with pytest.raises(Conflict) as exc:
        await world.bus.handle(WithdrawFromWaitingList(entry.entry_id), OPERATOR)
    assert exc.value.field == "entry_id"
    assert "(enrolled)" in exc.value.detail


async def test_another_regions_sponsor_finds_no_entry(world: World) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entry = await world.enrol(p, 2)
    for query in (WithdrawFromWaitingList(entry.entry_id), GetWaitingEntry(entry.entry_id)):
        with pytest.raises(NotFound):
            await world.bus.handle(query, PASER_OFFICER)
    with pytest.raises(NotFound):
        await world.bus.handle(GetWaitingList(p.programme_id), PASER_OFFICER)
    with pytest.raises(NotFound):
        await world.bus.handle(GetWaitingListSummary(p.programme_id), PASER_OFFICER)


async def test_a_closed_programme_closes_its_line_once_even_when_the_event_comes_twice(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    entries = [await world.enrol(p, serial) for serial in (2, 3)]
    closed = p.close(None, date(2026, 3, 10))
    event = programme_closed(closed, date(2026, 3, 10))
    await world.repository.save_programme(closed, 0, p.quota, [])
    for _ in range(2):  # the same event delivered twice
        await world.bus.apply([event])

    for e in entries:
        left = await world.repository.waiting_entry(e.entry_id)
        assert left.state is WaitingState.PROGRAMME_CLOSED
    assert [e.payload.reason for e in world.events(WaitingListLeft)] == [
        WaitingListReason.PROGRAMME_CLOSED
    ] * 2


# -- read --------------------------------------------------------------------------------------


async def test_the_line_reads_in_order_with_places_in_the_whole_line_and_pages_on(
    world: World,
) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    villages = [KINAL, TANJUNG_KEMUNING, KINAL, TANJUNG_KEMUNING, KINAL]
    entries = [
        await world.enrol(p, 10 + i, domicile_code=v, requested_on=f"2026-02-{10 + i:02d}")
        for i, v in enumerate(villages)
    ]

    first = await world.bus.handle(GetWaitingList(p.programme_id, limit=2), KAUR_OFFICER)
    assert [(pl.entry.entry_id, pl.position) for pl in first.places] == [
        (entries[0].entry_id, 1),
        (entries[1].entry_id, 2),
    ]
    rest = await world.bus.handle(
        GetWaitingList(p.programme_id, limit=10, after=first.next_after), KAUR_OFFICER
    )
    assert [pl.position for pl in rest.places] == [3, 4, 5] and rest.next_after is None

    kinal = await world.bus.handle(
        GetWaitingList(p.programme_id, district="17.04.01"), KAUR_OFFICER
    )
    assert [(pl.entry.entry_id, pl.position) for pl in kinal.places] == [
        (entries[0].entry_id, 1),
        (entries[2].entry_id, 3),
        (entries[4].entry_id, 5),
    ]
    place = await world.bus.handle(GetWaitingEntry(entries[3].entry_id), KAUR_OFFICER)
    assert place.position == 4

    with pytest.raises(InvalidInput) as exc:
        await world.bus.handle(GetWaitingList(p.programme_id, district="17.04"), OPERATOR)
    assert exc.value.field == "district"
    with pytest.raises(Forbidden):
        await world.bus.handle(GetWaitingList(p.programme_id, district="64.01.01"), KAUR_OFFICER)


async def test_the_summary_counts_per_district_with_names_and_zeros(world: World) -> None:
    p = await world.programme(quota=1)
    await world.enrol(p, 1)
    for serial, village in ((2, KINAL), (3, KINAL), (4, TANJUNG_KEMUNING)):
        await world.enrol(p, serial, domicile_code=village)

    summary = await world.bus.handle(GetWaitingListSummary(p.programme_id), KAUR_OFFICER)

    assert summary.total == 3
    assert len(summary.districts) == 15  # Kaur's 15 districts
    by_code = {d.district_code: d for d in summary.districts}
    assert (by_code["17.04.01"].name, by_code["17.04.01"].waiting) == ("Kinal", 2)
    assert (by_code["17.04.02"].name, by_code["17.04.02"].waiting) == ("Tanjung Kemuning", 1)
    assert sum(d.waiting for d in summary.districts) == summary.total


# -- the background pass -----------------------------------------------------------------------


class HeldLease:
    held = True

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


async def test_the_background_pass_fills_every_programme_with_a_free_seat(world: World) -> None:
    a, b = await world.programme(quota=1), await world.programme(quota=1, name="Kaur B")
    for p in (a, b):
        await world.enrol(p, 1 if p is a else 2)
    waiting = [await world.enrol(a, 3), await world.enrol(b, 4)]
    # Seats freed without a fill (a request that died after giving its seat back).
    for p in (a, b):
        await world.repository.give_back_seat(p.programme_id)

    filler = WaitingListFiller(world.bus.deps, HeldLease(), interval=60)  # type: ignore[arg-type]
    await filler.run_pass()

    for e in waiting:
        assert (await world.repository.waiting_entry(e.entry_id)).state is WaitingState.ENROLLED
    assert await world.repository.programmes_with_waiting() == []
