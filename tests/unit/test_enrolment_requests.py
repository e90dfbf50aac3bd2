"""Enrolment by event, with the fake repository and a fixed clock: a registry's request is
checked as ``POST /workers`` checks its body and answered once by request id — enrolled, already
enrolled, waiting, or rejected with every reason — whether it comes twice, twice in one batch,
under the same id with another body, or again after a crash between the enrolment and the
answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bpu_registration.app import RegistrationSettings
from bpu_registration.domain import Applicant, Programme, Sponsor
from bpu_registration.handlers import COMMAND_HANDLERS, EVENT_HANDLERS, EnrolWorker
from bpu_registration.handlers.requests import REGISTRY, body_of, fingerprint, person_of
from bpu_registration.store.requests import RequestAnswer
from bpu_shared.clock import FixedClock
from bpu_shared.errors import InvalidInput
from bpu_shared.events import (
    EnrolmentAccepted,
    EnrolmentRejected,
    EnrolmentRequested,
    EnrolmentRequestedPayload,
    Event,
    SponsorKind,
    WorkerRegistered,
    WorkerWaitlisted,
)
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from tests.unit.registration_fakes import FakeRegistrationRepository

KAUR_VILLAGE, PASER_VILLAGE = "17.04.01.2001", "64.01.01.2009"
#: 10 March 2026, 09:00 in Jakarta.
MARCH_10 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FakeRepository(FakeRegistrationRepository):
    """The fake registration store with the enrolment-request answers of ``RequestStore``: one
    answer per request id, each with its event in ``events``."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, RequestAnswer] = {}
        #: How many next answer writes die first (a crash after the enrolments).
        self.crash_before_answers = 0

    async def answered_requests(self, request_ids: Sequence[str]) -> dict[str, RequestAnswer]:
        return {i: self.answers[i] for i in request_ids if i in self.answers}

    async def enrolment_request(self, request_id: str) -> RequestAnswer | None:
        return self.answers.get(request_id)

    async def answer_requests(self, answers: Sequence[tuple[RequestAnswer, Event]]) -> set[str]:
        if self.crash_before_answers:
            self.crash_before_answers -= 1
            raise RuntimeError("killed between the enrolments and the answers")
        stored = set()
        for answer, event in answers:
            if answer.request_id not in self.answers:
                self.answers[answer.request_id] = answer
                self.events.append(event)
                stored.add(answer.request_id)
        return stored

    async def answer_conflict(self, request_id: str, fingerprint: str, event: Event) -> bool:
        first = self.answers[request_id]
        if fingerprint == first.fingerprint or fingerprint in first.conflicts:
            return False
        self.answers[request_id] = dataclasses.replace(
            first, conflicts=(*first.conflicts, fingerprint)
        )
        self.events.append(event)
        return True


@dataclasses.dataclass
class World:
    repository: FakeRepository
    bus: MessageBus[Any, Any]
    kaur: Sponsor
    programme: Programme

    async def apply(self, *requests: EnrolmentRequested) -> None:
        await self.bus.apply(list(requests))

    def events(self, kind: type) -> list[Any]:
        return [e for e in self.repository.events if isinstance(e, kind)]

    def answer(self, request_id: str) -> Any:
        """The one answer event of ``request_id``."""
        [answer] = [
            e
            for e in self.repository.events
            if isinstance(e, EnrolmentAccepted | EnrolmentRejected)
            and e.payload.request_id == request_id
        ]
        return answer

    async def open(self, **terms: Any) -> Programme:
        values: dict[str, Any] = {
            "name": "Pekerja Rentan Kaur 2026",
            "budget_year": 2026,
            "budget_rupiah": 1_437_408_000,
            "quota": 10,
            "start_month": Month(2026, 1),
            "end_month": Month(2026, 12),
            **terms,
        }
        programme = Programme.open(self.kaur, values)
        await self.repository.add_programme(programme, [])
        return programme


@pytest.fixture
async def world() -> World:
    repository = FakeRepository()
    kaur = Sponsor.register("Pemerintah Kabupaten Kaur", SponsorKind.REGENCY, "17.04")
    await repository.add_sponsor(kaur, [])
    bus = bootstrap(
        repository=repository,
        publisher=type("P", (), {"wake": lambda self: None})(),
        clock=FixedClock(MARCH_10),
        settings=RegistrationSettings(admin_api_key="an-admin-key-of-the-tests"),
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
    )
    w = World(repository, bus, kaur, None)  # type: ignore[arg-type]
    w.programme = await w.open()
    return w


def nik_of(serial: int) -> str:
    """A man born 17 August 1985 in Kinal (17.04.01), serial ``serial``."""
    return f"170401170885{serial:04d}"


def request(request_id: str, programme: Programme | str, serial: int = 1, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "request_id": request_id,
        "programme_id": programme if isinstance(programme, str) else programme.programme_id,
        "nik": nik_of(serial),
        "name": "Budi Santoso",
        "phone": "081234567890",
        "occupation": "fisher",
        "domicile_code": KAUR_VILLAGE,
        "cover_start": "2026-03",
        **fields,
    }
    return EnrolmentRequested.create(
        EnrolmentRequestedPayload.model_validate(values), producer="dtsen-kaur"
    )


def reasons(answer: EnrolmentRejected) -> dict[str | None, str]:
    return {r.field: r.reason for r in answer.payload.reasons}


# -- the rules ---------------------------------------------------------------------------------


@given(
    name=st.text(min_size=1, max_size=40).filter(str.strip),
    other=st.text(min_size=1, max_size=40).filter(str.strip),
    producer=st.text(min_size=1, max_size=20),
)
def test_a_body_is_known_by_its_fields_not_by_its_envelope(
    name: str, other: str, producer: str
) -> None:
    first = request("RQ-1", "PG-1", name=name)
    again = EnrolmentRequested.create(first.payload, producer=producer)  # published again
    assert again.event_id != first.event_id
    assert fingerprint(again) == fingerprint(first)
    assert (fingerprint(request("RQ-1", "PG-1", name=other)) == fingerprint(first)) == (
        other == name
    )


def test_a_body_is_read_as_post_workers_reads_it_and_every_bad_field_is_named() -> None:
    body, problems = body_of(
        request(
            "RQ-1",
            "PG-1",
            occupation="astronaut",
            domicile_code="17.04.01.20",
            declared_monthly_income=20_000_000_000,
        )
    )
    assert body is None
    assert [p.field for p in problems] == [
        "occupation",
        "domicile_code",
        "declared_monthly_income",
    ]
    body, problems = body_of(request("RQ-2", "PG-1", name="  Siti   "))
    assert problems == [] and isinstance(body, EnrolWorker) and body.name == "Siti"


GOOD = {
    "nik": "1704011708850001",
    "name": "Budi Santoso",
    "phone": "081234567890",
    "occupation": "fisher",
    "village_code": KAUR_VILLAGE,
    "declared_monthly_income": 1_500_000,
}
BAD = {
    "nik": "1704019999990001",  # no such birth date
    "name": "   ",
    "phone": "12345",
    "occupation": "astronaut",
    "village_code": "17.04.01.9999",
    "declared_monthly_income": 999_999,
}
#: ``Applicant.check``'s order, by the field its errors name.
ORDER = ["nik", "name", "occupation", "domicile_code", "declared_monthly_income", "phone"]


@given(st.sets(st.sampled_from(sorted(BAD))))
def test_every_refused_field_of_the_person_is_named_in_the_checks_order(bad: set[str]) -> None:
    values = {k: BAD[k] if k in bad else v for k, v in GOOD.items()}
    applicant, problems = person_of(values, set(), min_declared_income=1_000_000)
    named = {"village_code": "domicile_code"}
    assert [p.field for p in problems] == [f for f in ORDER if f in {named.get(b, b) for b in bad}]
    if bad:
        assert applicant is None
        # Each reason is the one Applicant.check gives when that field alone is wrong.
        for problem in problems:
            arg = {v: k for k, v in named.items()}.get(problem.field or "", problem.field)
            with pytest.raises(InvalidInput) as alone:
                Applicant.check(**{**GOOD, str(arg): BAD[str(arg)]}, min_declared_income=1_000_000)
            assert (alone.value.field, alone.value.detail) == (problem.field, problem.reason)
    else:
        assert applicant == Applicant.check(**GOOD, min_declared_income=1_000_000)


def test_a_field_the_body_refused_is_not_named_again() -> None:
    values = {**GOOD, "occupation": "astronaut", "phone": "12345"}
    applicant, problems = person_of(values, {"occupation"}, min_declared_income=1_000_000)
    assert applicant is None and [p.field for p in problems] == ["phone"]


@pytest.mark.parametrize(
    "wire",
    [
        b"{not json",
        b'{"event_type": "EnrolmentRequested"}',
        # a valid payload under another event's name is not a request
        request("RQ-1", "PG-1").model_copy(update={"event_type": "WorkerRegistered"}).to_wire(),
        request("RQ-1", "PG-1").to_wire().replace(b'"nik":"1704011708850001",', b""),
    ],
)
def test_a_malformed_message_is_not_a_request(wire: bytes) -> None:
    """What the consumer sends to the dead-letter topic instead of answering."""
    with pytest.raises(ValidationError):
        EnrolmentRequested.from_wire(wire)


# -- the handler -------------------------------------------------------------------------------


async def test_a_valid_request_is_enrolled_and_answered_with_the_worker_and_card(
    world: World,
) -> None:
    asked = request("RQ-1", world.programme)
    await world.apply(asked)
    answer = world.answer("RQ-1")
    assert isinstance(answer, EnrolmentAccepted)
    p = answer.payload
    assert p.outcome == "enrolled" and p.programme_id == world.programme.programme_id
    [worker] = world.repository.workers.values()
    assert (p.worker_id, p.card_number) == (worker.worker_id, worker.card_number)
    assert (p.enrolment_id, p.cover_start, p.cover_end) == (
        worker.latest.enrolment_id,
        Month(2026, 3),
        Month(2026, 12),
    )
    assert worker.latest.request_id == "RQ-1"
    assert [h["request_id"] for h in world.repository.history[worker.worker_id]] == ["RQ-1"]
    assert world.repository.history[worker.worker_id][0]["by"] == REGISTRY.key_id
    assert len(world.events(WorkerRegistered)) == 1
    assert answer.causation_id == str(asked.event_id)  # the answer names its request
    assert answer.correlation_id == "RQ-1"  # none given: the request id


async def test_a_request_that_breaks_rules_is_rejected_with_every_reason(world: World) -> None:
    await world.apply(
        request(
            "RQ-everything",
            "PG-missing",
            nik="1704019999990001",
            phone="12345",
            occupation="astronaut",
            declared_monthly_income=500_000,
        ),
        request("RQ-bad-body", world.programme, occupation="astronaut", domicile_code="17-04"),
        request("RQ-bad-nik", "PG-missing", nik="1704019999990001"),
        request("RQ-elsewhere", world.programme, domicile_code=PASER_VILLAGE),
        request("RQ-young", world.programme, nik="1704014107150002"),  # born 2015
        request("RQ-poor", world.programme, declared_monthly_income=900_000),
    )
    assert list(reasons(world.answer("RQ-everything"))) == [
        "occupation",  # the body, as POST /workers' 422 names it
        "programme_id",
        "nik",  # then the person's fields, in Applicant.check's order
        "declared_monthly_income",
        "phone",
    ]
    assert list(reasons(world.answer("RQ-bad-body"))) == [
        "occupation",
        "domicile_code",
    ]
    bad_nik = reasons(world.answer("RQ-bad-nik"))
    assert list(bad_nik) == ["programme_id", "nik"]
    assert bad_nik["programme_id"] == "programme 'PG-missing' does not exist"
    assert bad_nik["nik"].startswith("not a valid NIK")
    assert (
        "outside the programme's region 17.04"
        in reasons(world.answer("RQ-elsewhere"))["domicile_code"]
    )
    assert "the programme takes ages 15–64" in reasons(world.answer("RQ-young"))["nik"]
    assert "Rp1.000.000" in reasons(world.answer("RQ-poor"))["declared_monthly_income"]
    assert world.repository.workers == {}
    assert world.repository.enrolled[world.programme.programme_id] == 0
    assert world.repository.answers["RQ-young"].outcome == "rejected"


async def test_one_payer_is_kept_for_requests_as_for_the_api(world: World) -> None:
    province = Sponsor.register("Pemerintah Provinsi Bengkulu", SponsorKind.PROVINCE, "17")
    await world.repository.add_sponsor(province, [])
    bengkulu = Programme.open(
        province,
        {
            "name": "Bengkulu 2026",
            "budget_year": 2026,
            "budget_rupiah": 1_000_000_000,
            "quota": 10,
            "start_month": Month(2026, 1),
            "end_month": Month(2026, 12),
        },
    )
    await world.repository.add_programme(bengkulu, [])
    await world.apply(request("RQ-kaur", world.programme), request("RQ-province", bengkulu))
    assert world.answer("RQ-kaur").payload.outcome == "enrolled"
    assert "already funded by programme" in reasons(world.answer("RQ-province"))["nik"]


async def test_a_full_programme_puts_the_request_on_its_waiting_list(world: World) -> None:
    small = await world.open(quota=1)
    await world.apply(
        request("RQ-1", small, serial=1),
        request("RQ-2", small, serial=2, priority=5),
        request("RQ-3", small, serial=3, priority=1),
    )
    # Seats go in the waiting-list order: priority first.
    assert world.answer("RQ-3").payload.outcome == "enrolled"
    for rid in ("RQ-1", "RQ-2"):
        waiting = world.answer(rid).payload
        assert waiting.outcome == "waiting" and waiting.worker_id is None
        assert world.repository.waiting[waiting.waiting_list_entry].nik == nik_of(int(rid[-1]))
    assert len(world.events(WorkerWaitlisted)) == 2

    # The same requests again change nothing; a crash after the waiting-list write and
    # before the answer finds the entry that request made.
    world.repository.crash_before_answers = 1
    with pytest.raises(RuntimeError):
        await world.apply(request("RQ-4", small, serial=4))
    await world.apply(request("RQ-4", small, serial=4), request("RQ-1", small, serial=1))
    assert world.answer("RQ-4").payload.outcome == "waiting"
    assert len(world.events(WorkerWaitlisted)) == 3


async def test_the_same_request_twice_enrols_once_and_answers_once(world: World) -> None:
    first = request("RQ-1", world.programme)
    published_again = EnrolmentRequested.create(first.payload, producer="dtsen-kaur")
    await world.apply(first, first, published_again)  # twice in one batch
    await world.apply(first)  # redelivered
    await world.apply(published_again)  # at another offset
    assert len(world.repository.workers) == 1
    assert len(world.events(WorkerRegistered)) == 1
    assert world.answer("RQ-1").payload.outcome == "enrolled"
    assert world.repository.enrolled[world.programme.programme_id] == 1


async def test_the_same_request_id_with_another_body_is_rejected_once_and_not_applied(
    world: World,
) -> None:
    await world.apply(request("RQ-1", world.programme, serial=1))
    other = request("RQ-1", world.programme, serial=2)
    await world.apply(other)
    await world.apply(other)  # the conflict again: no second answer
    await world.apply(request("RQ-1", world.programme, serial=1))  # the first body again
    answers = [
        e for e in world.repository.events if isinstance(e, EnrolmentAccepted | EnrolmentRejected)
    ]
    assert [type(a).__name__ for a in answers] == ["EnrolmentAccepted", "EnrolmentRejected"]
    conflict = reasons(answers[1])["request_id"]
    assert "answered already (enrolled) for a different body" in conflict
    assert [w.identity.nik for w in world.repository.workers.values()] == [nik_of(1)]
    assert world.repository.answers["RQ-1"].outcome == "enrolled"  # the first answer stands


async def test_another_body_in_the_same_batch_is_rejected_after_the_first_is_answered(
    world: World,
) -> None:
    await world.apply(
        request("RQ-1", world.programme, serial=1), request("RQ-1", world.programme, serial=2)
    )
    assert [w.identity.nik for w in world.repository.workers.values()] == [nik_of(1)]
    rejected = world.events(EnrolmentRejected)
    assert len(rejected) == 1 and "request_id" in reasons(rejected[0])


async def test_a_crash_between_the_enrolment_and_the_answer_still_answers_enrolled(
    world: World,
) -> None:
    world.repository.crash_before_answers = 1
    with pytest.raises(RuntimeError):
        await world.apply(request("RQ-1", world.programme), request("RQ-2", world.programme, 2))
    assert len(world.repository.workers) == 2 and world.repository.answers == {}

    await world.apply(request("RQ-1", world.programme), request("RQ-2", world.programme, 2))
    for rid in ("RQ-1", "RQ-2"):
        assert world.answer(rid).payload.outcome == "enrolled"  # not already_enrolled
    assert len(world.events(WorkerRegistered)) == 2
    assert world.repository.enrolled[world.programme.programme_id] == 2


async def test_a_worker_enrolled_before_is_answered_already_enrolled(world: World) -> None:
    enrolled = await world.bus.handle(
        EnrolWorker.model_validate(
            {
                "nik": nik_of(1),
                "name": "Budi Santoso",
                "occupation": "fisher",
                "domicile_code": KAUR_VILLAGE,
                "programme_id": world.programme.programme_id,
                "cover_start": "2026-03",
            }
        ),
        REGISTRY,
    )
    # Another request for the same NIK in the same batch: the second sees the first's.
    await world.apply(request("RQ-1", world.programme), request("RQ-2", world.programme))
    for rid in ("RQ-1", "RQ-2"):
        answer = world.answer(rid).payload
        assert answer.outcome == "already_enrolled"
        assert answer.worker_id == enrolled.worker.worker_id
        assert answer.enrolment_id == enrolled.enrolment.enrolment_id
    assert len(world.events(WorkerRegistered)) == 1


async def test_two_requests_for_one_new_nik_in_one_batch_enrol_it_once(world: World) -> None:
    await world.apply(request("RQ-1", world.programme), request("RQ-2", world.programme))
    assert world.answer("RQ-1").payload.outcome == "enrolled"
    assert world.answer("RQ-2").payload.outcome == "already_enrolled"
    assert len(world.repository.workers) == 1
