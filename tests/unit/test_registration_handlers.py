"""Registration's handlers for programmes over time and a worker's life cycle, with the fake
repository and a fixed clock: changes and closing, one payer per worker-month, the bulk
enrolment core, ends, moves and changes, and the closed-programme handler applied twice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bpu_registration.app import RegistrationSettings
from bpu_registration.domain import (
    AlreadyFunded,
    Applicant,
    Programme,
    ProgrammeClosedError,
    Sponsor,
    valid_card_number,
)
from bpu_registration.events import programme_closed
from bpu_registration.handlers import (
    COMMAND_HANDLERS,
    EVENT_HANDLERS,
    ChangeProgramme,
    ChangeWorker,
    CloseProgramme,
    Closing,
    EndEnrolment,
    Ending,
    EnrolWorker,
    FindWorker,
    Move,
    MoveWorker,
    ProgrammeChanges,
    WorkerChanges,
)
from bpu_registration.handlers.workers import Candidate, Enrolled, NoSeat, Rejected, enrol_many
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.errors import Conflict, InvalidInput, NotFound
from bpu_shared.events import (
    EndReason,
    EnrolmentEnded,
    ProgrammeChanged,
    ProgrammeClosed,
    SponsorKind,
    WorkerChanged,
    WorkerRegistered,
)
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from tests.unit.registration_fakes import FakeRegistrationRepository

OPERATOR = Principal("operator-key", Role.OPERATOR)
KAUR_OFFICER = Principal("kaur-key", Role.SPONSOR, "17.04")
WOMAN_NIK, MAN_NIK = "1704014107900001", "1704011708850123"
KAUR_VILLAGE, KAUR_VILLAGE_2 = "17.04.01.2001", "17.04.02.2002"

#: 10 March 2026, 09:00 in Jakarta.
MARCH_10 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def kaur_programme(sponsor: Sponsor, year: int = 2026, **terms: Any) -> Programme:
    values: dict[str, Any] = {
        "name": f"Pekerja Rentan Kaur {year}",
        "budget_year": year,
        "budget_rupiah": 1_437_408_000,
        "quota": 10,
        "start_month": Month(year, 1),
        "end_month": Month(year, 12),
    }
    values.update(terms)
    return Programme.open(sponsor, values)


@dataclasses.dataclass
class World:
    repository: FakeRegistrationRepository
    bus: MessageBus[Any, Any]
    kaur: Sponsor
    province: Sponsor
    y2026: Programme

    async def add(self, programme: Programme) -> Programme:
        await self.repository.add_programme(programme, [])
        return programme

    def body(self, programme: Programme, **overrides: Any) -> EnrolWorker:
        values: dict[str, Any] = {
            "nik": WOMAN_NIK,
            "name": "Siti Aminah",
            "phone": "081234567890",
            "occupation": "farmer",
            "domicile_code": KAUR_VILLAGE,
            "programme_id": programme.programme_id,
            "cover_start": "2026-03",
        }
        values.update(overrides)
        return EnrolWorker.model_validate(values)

    def events(self, kind: type) -> list[Any]:
        return [e for e in self.repository.events if isinstance(e, kind)]


@pytest.fixture
async def world() -> World:
    repository = FakeRegistrationRepository()
    kaur = Sponsor.register("Pemerintah Kabupaten Kaur", SponsorKind.REGENCY, "17.04")
    province = Sponsor.register("Pemerintah Provinsi Bengkulu", SponsorKind.PROVINCE, "17")
    for sponsor in (kaur, province):
        await repository.add_sponsor(sponsor, [])
    bus = bootstrap(
        repository=repository,
        publisher=type("P", (), {"wake": lambda self: None})(),
        clock=FixedClock(MARCH_10),
        settings=RegistrationSettings(admin_api_key="an-admin-key-of-the-tests"),
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
    )
    y2026 = kaur_programme(kaur)
    await repository.add_programme(y2026, [])
    return World(repository, bus, kaur, province, y2026)


def applicant(nik: str, village: str = KAUR_VILLAGE) -> Applicant:
    return Applicant.check(
        nik=nik,
        name="Pekerja",
        phone=None,
        occupation="fisher",
        village_code=village,
        declared_monthly_income=1_000_000,
        min_declared_income=1_000_000,
    )


def nik_of(serial: int) -> str:
    return f"17040117088{serial:05d}"[:12] + f"{serial:04d}"


# -- one payer, idempotent repeats, cards --------------------------------------------------------


async def test_the_same_enrolment_again_answers_the_one_made_and_writes_nothing(
    world: World,
) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    again = await world.bus.handle(world.body(world.y2026, name="Siti A."), OPERATOR)
    assert (made.created, again.created) == (True, False)
    assert again.worker.worker_id == made.worker.worker_id
    assert again.enrolment == made.enrolment
    assert len(world.events(WorkerRegistered)) == 1
    assert world.repository.enrolled[world.y2026.programme_id] == 1
    assert valid_card_number(made.worker.card_number)


async def test_a_province_paying_the_same_months_is_refused_and_keeps_no_seat(
    world: World,
) -> None:
    await world.bus.handle(world.body(world.y2026), OPERATOR)
    province = await world.add(kaur_programme(world.province, name="Pemprov 2026"))
    with pytest.raises(AlreadyFunded) as exc:
        await world.bus.handle(world.body(province, cover_start="2026-06"), OPERATOR)
    assert exc.value.extra["overlap"] == {"from": "2026-06", "to": "2026-12"}
    assert exc.value.extra["programme_id"] == world.y2026.programme_id
    assert world.repository.enrolled[province.programme_id] == 0


async def test_next_years_programme_takes_the_same_worker_over(world: World) -> None:
    first = await world.bus.handle(world.body(world.y2026), OPERATOR)
    y2027 = await world.add(kaur_programme(world.kaur, 2027))
    second = await world.bus.handle(world.body(y2027, cover_start="2027-01"), OPERATOR)
    assert second.created and second.worker.worker_id == first.worker.worker_id
    assert second.worker.card_number == first.worker.card_number  # one card per person
    assert [e.payload.enrolment_id for e in world.events(WorkerRegistered)] == [
        first.enrolment.enrolment_id,
        second.enrolment.enrolment_id,
    ]
    assert world.events(WorkerRegistered)[1].payload.cover_end == Month(2027, 12)


async def test_a_stale_write_is_decided_again(world: World) -> None:
    first = await world.bus.handle(world.body(world.y2026), OPERATOR)
    y2027 = await world.add(kaur_programme(world.kaur, 2027))
    world.repository.stale_once.add(first.worker.worker_id)
    second = await world.bus.handle(world.body(y2027, cover_start="2027-01"), OPERATOR)
    assert second.created
    assert world.repository.enrolled[y2027.programme_id] == 1  # the missed write's seat back
    assert len(world.events(WorkerRegistered)) == 2


async def test_lookup_by_nik_and_card(world: World) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    by_nik = await world.bus.handle(FindWorker(nik=WOMAN_NIK), OPERATOR)
    by_card = await world.bus.handle(FindWorker(card_number=made.worker.card_number), OPERATOR)
    assert by_nik.worker_id == by_card.worker_id == made.worker.worker_id
    printed = f"{made.worker.card_number[:4]} {made.worker.card_number[4:8]} {made.worker.card_number[8:]}"
    assert (await world.bus.handle(FindWorker(card_number=printed), OPERATOR)) == by_card
    with pytest.raises(NotFound) as missing:
        await world.bus.handle(FindWorker(nik=MAN_NIK), OPERATOR)
    assert MAN_NIK not in str(missing.value)
    assert "1704********0123" in str(missing.value)
    mistyped = made.worker.card_number[:-1] + str((int(made.worker.card_number[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as bad:
        await world.bus.handle(FindWorker(card_number=mistyped), OPERATOR)
    assert bad.value.field == "card_number"


# -- the bulk core -------------------------------------------------------------------------------


async def test_enrol_many_seats_in_waiting_list_order_and_reports_every_row(
    world: World,
) -> None:
    small = await world.add(kaur_programme(world.kaur, quota=2, name="Kaur, two seats"))
    candidates = [
        Candidate(2, applicant(nik_of(1)), priority=None, requested_on=date(2026, 1, 5)),
        Candidate(3, applicant(nik_of(2)), priority=2),
        Candidate(4, applicant(nik_of(3)), priority=1, requested_on=date(2026, 2, 1)),
        Candidate(5, applicant(nik_of(3))),  # the same NIK again
        Candidate(6, applicant(nik_of(4), village="64.01.01.2009")),  # outside Kaur
        Candidate(7, applicant(nik_of(5)), priority=1, requested_on=date(2026, 1, 1)),
    ]
    outcomes = await enrol_many(small, candidates, OPERATOR, world.bus.deps)
    kinds = {c.ref: type(o).__name__ for c, o in zip(candidates, outcomes, strict=True)}
    assert kinds == {
        2: "NoSeat",
        3: "NoSeat",
        4: "Enrolled",
        5: "Rejected",
        6: "Rejected",
        7: "Enrolled",
    }
    rejected = {o.ref: (o.field, o.reason) for o in outcomes if isinstance(o, Rejected)}
    assert rejected[5] == ("nik", "the same NIK as 4")
    assert rejected[6][0] == "domicile_code"
    assert world.repository.enrolled[small.programme_id] == 2
    cards = {o.worker.card_number for o in outcomes if isinstance(o, Enrolled)}
    assert len(cards) == 2 and all(valid_card_number(c) for c in cards)
    assert {type(o) for o in outcomes} == {Enrolled, NoSeat, Rejected}


async def test_enrol_many_twice_enrols_no_one_twice(world: World) -> None:
    candidates = [Candidate(i, applicant(nik_of(i))) for i in range(1, 6)]
    first = await enrol_many(world.y2026, candidates, OPERATOR, world.bus.deps)
    second = await enrol_many(world.y2026, candidates, OPERATOR, world.bus.deps)
    assert all(isinstance(o, Enrolled) and o.created for o in first)
    assert all(isinstance(o, Enrolled) and not o.created for o in second)
    assert len(world.events(WorkerRegistered)) == 5
    assert world.repository.enrolled[world.y2026.programme_id] == 5


async def test_enrol_many_enrols_a_known_worker_for_other_months(world: World) -> None:
    await world.bus.handle(world.body(world.y2026, nik=nik_of(1)), OPERATOR)
    y2027 = await world.add(kaur_programme(world.kaur, 2027))
    [outcome] = await enrol_many(
        y2027, [Candidate(1, applicant(nik_of(1)), Month(2027, 1))], OPERATOR, world.bus.deps
    )
    assert isinstance(outcome, Enrolled) and outcome.created
    assert len(outcome.worker.enrolments) == 2
    assert world.repository.enrolled[y2027.programme_id] == 1


# -- programmes over time ------------------------------------------------------------------------


async def test_raising_the_quota_after_the_start_publishes_programme_changed(
    world: World,
) -> None:
    programme, _ = await world.bus.handle(
        ChangeProgramme(world.y2026.programme_id, ProgrammeChanges(quota=20)), KAUR_OFFICER
    )
    assert programme.quota == 20
    [event] = world.events(ProgrammeChanged)
    assert (event.payload.changed, event.payload.quota) == (["quota"], 20)
    with pytest.raises(InvalidInput) as exc:
        await world.bus.handle(
            ChangeProgramme(world.y2026.programme_id, ProgrammeChanges(max_age=60)), OPERATOR
        )
    assert exc.value.field == "max_age"


async def test_an_unchanged_value_publishes_nothing(world: World) -> None:
    await world.bus.handle(
        ChangeProgramme(world.y2026.programme_id, ProgrammeChanges(quota=10)), OPERATOR
    )
    assert world.events(ProgrammeChanged) == []


async def test_closing_ends_the_enrolments_once_even_when_the_event_comes_twice(
    world: World,
) -> None:
    for i in range(1, 4):
        await world.bus.handle(world.body(world.y2026, nik=nik_of(i)), OPERATOR)
    closed, _ = await world.bus.handle(
        CloseProgramme(world.y2026.programme_id, Closing(last_month=Month(2026, 6))), OPERATOR
    )
    [event] = world.events(ProgrammeClosed)
    assert event.payload.end_month == Month(2026, 6)

    await world.bus.apply([event])
    await world.bus.apply([event, programme_closed(closed, date(2026, 3, 10))])  # a copy
    ended = world.events(EnrolmentEnded)
    assert len(ended) == 3
    assert {(e.payload.cover_end, e.payload.reason) for e in ended} == {
        (Month(2026, 6), EndReason.PROGRAMME_ENDED)
    }
    with pytest.raises(ProgrammeClosedError):
        await world.bus.handle(world.body(world.y2026, nik=nik_of(9)), OPERATOR)
    history = world.repository.history[ended[0].payload.worker_id]
    assert [h["action"] for h in history] == ["enrolled", "ended"]
    assert history[-1]["by"] == "registration"


async def test_closing_a_programme_of_another_region_is_not_found(world: World) -> None:
    paser = Sponsor.register("Pemkab Paser", SponsorKind.REGENCY, "64.01")
    await world.repository.add_sponsor(paser, [])
    elsewhere = await world.add(kaur_programme(paser, name="Paser 2026"))
    with pytest.raises(NotFound):
        await world.bus.handle(CloseProgramme(elsewhere.programme_id, Closing()), KAUR_OFFICER)


# -- a worker's life cycle -----------------------------------------------------------------------


async def test_ending_an_enrolment_frees_its_seat_and_says_why(world: World) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    worker = await world.bus.handle(
        EndEnrolment(
            made.worker.worker_id, Ending(reason=EndReason.DEATH, effective_on=date(2026, 5, 2))
        ),
        KAUR_OFFICER,
    )
    assert worker.status.value == "ended"
    [event] = world.events(EnrolmentEnded)
    assert (event.payload.cover_end, event.payload.reason) == (Month(2026, 5), EndReason.DEATH)
    assert WOMAN_NIK not in event.model_dump_json()
    assert world.repository.enrolled[world.y2026.programme_id] == 0
    assert world.repository.history[worker.worker_id][-1]["by"] == "kaur-key"
    with pytest.raises(Conflict):
        await world.bus.handle(
            EndEnrolment(
                worker.worker_id,
                Ending(
                    enrolment_id=made.enrolment.enrolment_id,
                    reason=EndReason.DEATH,
                    effective_on=date(2026, 5, 2),
                ),
            ),
            OPERATOR,
        )


async def test_moving_to_the_province_programme_ends_one_and_starts_the_other(
    world: World,
) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    province = await world.add(kaur_programme(world.province, name="Pemprov 2026"))
    moved = await world.bus.handle(
        MoveWorker(
            made.worker.worker_id,
            Move(programme_id=province.programme_id, from_month=Month(2026, 7)),
        ),
        OPERATOR,
    )
    assert [(e.programme_id, str(e.last_month)) for e in moved.enrolments] == [
        (world.y2026.programme_id, "2026-06"),
        (province.programme_id, "2026-12"),
    ]
    assert [type(e).__name__ for e in world.repository.events[-2:]] == [
        "EnrolmentEnded",
        "WorkerRegistered",
    ]
    assert world.repository.enrolled == {
        world.y2026.programme_id: 0,
        province.programme_id: 1,
    }


async def test_a_change_publishes_worker_changed_without_the_phone(world: World) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    changed = await world.bus.handle(
        ChangeWorker(
            made.worker.worker_id,
            WorkerChanges(
                domicile_code=KAUR_VILLAGE_2,
                phone="0813 1111 2222",
                declared_monthly_income=2_000_000,
            ),
        ),
        KAUR_OFFICER,
    )
    assert (changed.district_code, changed.phone) == ("17.04.02", "+6281311112222")
    [event] = world.events(WorkerChanged)
    p = event.payload
    assert p.changed == ["domicile_code", "phone", "declared_monthly_income"]
    assert (p.district_code, p.declared_monthly_income) == ("17.04.02", 2_000_000)
    assert p.effective_month == Month(2026, 3)
    assert "1311112222" not in event.model_dump_json()


async def test_a_sponsor_cannot_move_a_worker_out_of_its_region(world: World) -> None:
    made = await world.bus.handle(world.body(world.y2026), OPERATOR)
    with pytest.raises(InvalidInput) as exc:
        await world.bus.handle(
            ChangeWorker(made.worker.worker_id, WorkerChanges(domicile_code="64.01.01.2009")),
            KAUR_OFFICER,
        )
    assert exc.value.field == "domicile_code"
    assert world.events(WorkerChanged) == []
