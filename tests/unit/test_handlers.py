"""The service layer with fakes, as cosmicpython tests it: each handler called through the bus
that ``bootstrap`` wires, with an in-memory repository and a fixed clock, no servers. Also the
unit of work's stamping, the effective-date lookup and ``Month``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from bpu_registration.app import RegistrationSettings
from bpu_registration.domain import AlreadyFunded, Programme, Sponsor, WaitingEntry, WaitingState
from bpu_registration.handlers import (
    COMMAND_HANDLERS as REGISTRATION_COMMANDS,
)
from bpu_registration.handlers import (
    EVENT_HANDLERS as REGISTRATION_EVENTS,
)
from bpu_registration.handlers import (
    EnrolWorker,
    GetSponsor,
    GetWorker,
    ListSponsors,
    OpenProgramme,
    RegisterSponsor,
)
from bpu_reporting.handlers import COMMAND_HANDLERS as REPORTING_COMMANDS
from bpu_reporting.handlers import EVENT_HANDLERS as REPORTING_EVENTS
from bpu_reporting.handlers import (
    CoverageReport,
    GetBenefits,
    GetContributions,
    GetCoverage,
    RegionTotals,
)
from bpu_shared.auth import (
    ADMIN,
    IssueApiKey,
    IssuedKey,
    ListApiKeys,
    Principal,
    RevokeApiKey,
    Role,
    hash_key,
)
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.effective import in_force
from bpu_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from bpu_shared.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    BenefitProgramme,
    ClaimApproved,
    ClaimApprovedPayload,
    ClaimFiled,
    ClaimFiledPayload,
    ClaimPaid,
    ClaimPaidPayload,
    ClaimRejected,
    ClaimRejectedPayload,
    CoverageLapsed,
    CoverageLapsedPayload,
    Event,
    ProgrammeOpened,
    RefusalReason,
    SponsorKind,
    SponsorRegistered,
    WorkerRegistered,
    WorkerRegisteredPayload,
    WorkerWaitlisted,
)
from bpu_shared.http import status_of
from bpu_shared.month import Month
from bpu_shared.regions import parent
from bpu_shared.service_layer.bus import MessageBus, bootstrap
from bpu_shared.service_layer.context import caused_by
from bpu_shared.service_layer.unit_of_work import stamp
from tests.reporting_events import claim_fields, invoiced, paid
from tests.unit.registration_fakes import FakeRegistrationRepository

JKK, JKM = BenefitProgramme.JKK, BenefitProgramme.JKM

#: A woman from Kinal (Kaur), born 1 July 1990; a man from Kinal, born 17 August 1985.
WOMAN_NIK = "1704014107900001"
MAN_NIK = "1704011708850123"
KAUR_VILLAGE = "17.04.01.2001"  # Gedung Wani, Kinal, Kabupaten Kaur
PASER_VILLAGE = "64.01.01.2009"  # Samurangau, Kabupaten Paser

OPERATOR = Principal("operator-key", Role.OPERATOR)
DASHBOARD = Principal("dashboard-key", Role.DASHBOARD)
KAUR_OFFICER = Principal("kaur-key", Role.SPONSOR, "17.04")
PASER_OFFICER = Principal("paser-key", Role.SPONSOR, "64.01")

#: 31 January 2026, 18:00 UTC: already 1 February, 01:00, in Jakarta.
LAST_EVENING_OF_JANUARY_UTC = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)


# -- fakes -------------------------------------------------------------------------------------


class FakePublisher:
    """The relay, told to look: counts the wake-ups."""

    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


class FakeApiKeys:
    """Every service's copy of the issued keys, in memory (hashes only, as the real one)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.events: list[Event] = []

    async def get(self, key_id: str) -> dict[str, Any] | None:
        return self.docs.get(key_id)

    async def all(self) -> list[dict[str, Any]]:
        return sorted(self.docs.values(), key=lambda d: d["issued_at"])

    async def add(self, event: ApiKeyIssued) -> None:
        p = event.payload
        if p.key_id in self.docs:
            raise DuplicateKeyError(f"duplicate key id {p.key_id}")
        self.docs[p.key_id] = p.model_dump(exclude={"key_id"}) | {"_id": p.key_id}
        self.events.append(event)

    async def revoke(self, event: ApiKeyRevoked) -> bool:
        p = event.payload
        doc = self.docs.get(p.key_id)
        if doc is None:
            return False
        doc["revoked_at"] = min(filter(None, [doc.get("revoked_at"), p.revoked_at]))
        self.events.append(event)
        return True

    async def record_issued(self, payloads: Sequence[Any]) -> None:
        for p in payloads:
            self.docs.setdefault(p.key_id, p.model_dump(exclude={"key_id"}) | {"_id": p.key_id})

    async def record_revoked(self, payloads: Sequence[Any]) -> None:
        for p in payloads:
            doc = self.docs.setdefault(p.key_id, {"_id": p.key_id})
            doc["revoked_at"] = min(filter(None, [doc.get("revoked_at"), p.revoked_at]))


def registration_bus(
    repository: FakeRegistrationRepository, at: datetime = LAST_EVENING_OF_JANUARY_UTC
) -> MessageBus[Any, Any]:
    return bootstrap(
        repository=repository,
        publisher=FakePublisher(),
        clock=FixedClock(at),
        settings=RegistrationSettings(
            admin_api_key="an-admin-key-of-the-tests", min_declared_income=1_000_000
        ),
        commands=REGISTRATION_COMMANDS,
        events=REGISTRATION_EVENTS,
    )


def programme_of(sponsor: Sponsor, **overrides: Any) -> Programme:
    """Kaur's 2026 programme (or ``overrides``), months as ``Month`` values."""
    terms: dict[str, Any] = {
        "name": "Pekerja Rentan Kaur 2026",
        "region_code": None,
        "budget_year": 2026,
        "budget_rupiah": 1_437_408_000,
        "quota": 7_130,
        "benefits": [JKK, JKM],
        "start_month": Month(2026, 1),
        "end_month": Month(2026, 12),
        "min_age": 15,
        "max_age": 64,
    }
    terms.update(overrides)
    return Programme.open(sponsor, terms)


@dataclass
class Registration:
    """A registration service with Kaur's and Paser's sponsors and 2026 programmes."""

    repository: FakeRegistrationRepository
    bus: MessageBus[Any, Any]
    kaur: Programme
    paser: Programme

    def enrol(self, programme: Programme, **overrides: Any) -> EnrolWorker:
        body: dict[str, Any] = {
            "nik": WOMAN_NIK,
            "name": "Siti Aminah",
            "occupation": "farmer",
            "domicile_code": KAUR_VILLAGE,
            "programme_id": programme.programme_id,
        }
        body.update(overrides)
        return EnrolWorker.model_validate(body)


@pytest.fixture
async def registration() -> Registration:
    repository = FakeRegistrationRepository(FakeApiKeys())
    kaur_sponsor = Sponsor.register("Pemerintah Kabupaten Kaur", SponsorKind.REGENCY, "17.04")
    paser_sponsor = Sponsor.register("Pemerintah Kabupaten Paser", SponsorKind.REGENCY, "64.01")
    kaur, paser = programme_of(kaur_sponsor), programme_of(paser_sponsor, name="Paser 2026")
    for sponsor in (kaur_sponsor, paser_sponsor):
        await repository.add_sponsor(sponsor, [])
    for programme in (kaur, paser):
        await repository.add_programme(programme, [])
    return Registration(repository, registration_bus(repository), kaur, paser)


# -- enrol_worker ------------------------------------------------------------------------------


async def test_enrol_raises_one_worker_registered_with_the_regions_and_the_clocks_time(
    registration: Registration,
) -> None:
    r = registration
    worker = (await r.bus.handle(r.enrol(r.kaur), OPERATOR)).worker

    assert r.repository.workers == {worker.worker_id: worker}
    assert len(r.repository.events) == 1
    event = r.repository.events[0]
    assert isinstance(event, WorkerRegistered)
    p = event.payload
    assert p.worker_id == worker.worker_id
    assert (p.programme_id, p.sponsor_id) == (r.kaur.programme_id, r.kaur.sponsor_id)
    assert (p.province_code, p.regency_code, p.district_code, p.village_code) == (
        "17",
        "17.04",
        "17.04.01",
        KAUR_VILLAGE,
    )
    assert p.registered_at == LAST_EVENING_OF_JANUARY_UTC == worker.registered_at
    assert p.registered_at.utcoffset() == timedelta(hours=7)  # told in Jakarta time
    assert (p.gender, p.occupation, p.benefits) == ("P", "farmer", [JKK, JKM])
    assert WOMAN_NIK not in event.model_dump_json()  # the NIK stays in registration
    assert r.repository.enrolled[r.kaur.programme_id] == 1


async def test_the_default_cover_start_is_this_month_in_jakarta(
    registration: Registration,
) -> None:
    # 31 January in UTC, but 1 February in Jakarta: cover starts in February, not January.
    r = registration
    assert r.bus.deps.clock.now().date() == date(2026, 2, 1)
    worker = (await r.bus.handle(r.enrol(r.kaur), OPERATOR)).worker
    assert worker.cover_start == Month(2026, 2)
    assert r.repository.events[0].payload.cover_start == Month(2026, 2)


async def test_an_hour_earlier_it_is_still_january_in_jakarta(
    registration: Registration,
) -> None:
    r = registration
    bus = registration_bus(r.repository, at=datetime(2026, 1, 31, 16, 59, tzinfo=UTC))
    worker = (await bus.handle(r.enrol(r.kaur), OPERATOR)).worker
    assert worker.cover_start == Month(2026, 1)


async def test_a_cover_start_asked_for_is_kept(registration: Registration) -> None:
    r = registration
    worker = (await r.bus.handle(r.enrol(r.kaur, cover_start="2026-07"), OPERATOR)).worker
    assert worker.cover_start == Month(2026, 7)


async def test_a_full_programme_puts_the_worker_on_its_waiting_list_and_enrols_no_one(
    registration: Registration,
) -> None:
    # QuotaExhausted is no longer an answer: the eligible worker waits (handlers/waiting_list).
    r = registration
    sponsor = r.repository.sponsors[r.kaur.sponsor_id]
    one_seat = programme_of(sponsor, name="Kaur, one seat", quota=1)
    await r.repository.add_programme(one_seat, [])
    first = (await r.bus.handle(r.enrol(one_seat), OPERATOR)).worker

    entry = await r.bus.handle(r.enrol(one_seat, nik=MAN_NIK, name="Budi"), OPERATOR)

    assert isinstance(entry, WaitingEntry)
    assert (entry.programme_id, entry.nik, entry.state) == (
        one_seat.programme_id,
        MAN_NIK,
        WaitingState.WAITING,
    )
    assert list(r.repository.workers) == [first.worker_id]
    assert [type(e) for e in r.repository.events] == [WorkerRegistered, WorkerWaitlisted]
    assert r.repository.enrolled[one_seat.programme_id] == 1


async def test_a_nik_already_funded_raises_already_funded_and_gives_the_seat_back(
    registration: Registration,
) -> None:
    r = registration
    sponsor = r.repository.sponsors[r.kaur.sponsor_id]
    second = programme_of(sponsor, name="Kaur, a second programme")
    await r.repository.add_programme(second, [])
    first = (await r.bus.handle(r.enrol(r.kaur), OPERATOR)).worker

    with pytest.raises(AlreadyFunded) as exc:
        await r.bus.handle(r.enrol(second), OPERATOR)

    assert isinstance(exc.value, Conflict)
    assert exc.value.field == "nik"
    assert f"programme {r.kaur.programme_id}" in exc.value.detail
    assert f"of sponsor {r.kaur.sponsor_id} for 2026-02–2026-12" in exc.value.detail
    assert "one programme pays for a worker in any month" in exc.value.detail
    assert exc.value.extra["overlap"] == {"from": "2026-02", "to": "2026-12"}
    assert status_of(exc.value) == 409
    assert r.repository.enrolled == {
        r.kaur.programme_id: 1,
        r.paser.programme_id: 0,
        second.programme_id: 0,  # the seat taken for the refused worker is given back
    }
    assert list(r.repository.workers) == [first.worker_id]
    assert len(r.repository.events) == 1


async def test_a_worker_the_domain_refuses_takes_no_seat(registration: Registration) -> None:
    r = registration
    with pytest.raises(InvalidInput) as exc:
        await r.bus.handle(r.enrol(r.kaur, nik="1704014107900000"), OPERATOR)
    assert exc.value.field == "nik"
    assert r.repository.enrolled[r.kaur.programme_id] == 0
    assert r.repository.workers == {}
    assert r.repository.events == []


async def test_a_sponsor_key_gets_not_found_for_a_programme_of_another_region(
    registration: Registration,
) -> None:
    r = registration
    with pytest.raises(NotFound) as foreign:
        await r.bus.handle(r.enrol(r.paser, domicile_code=PASER_VILLAGE), KAUR_OFFICER)
    with pytest.raises(NotFound) as missing:
        await r.bus.handle(r.enrol(r.paser, programme_id="PG-0000000000000000"), KAUR_OFFICER)

    # Paser's programme looks exactly like one that does not exist: nothing leaks.
    assert foreign.value.field == missing.value.field == "programme_id"
    assert foreign.value.detail == f"programme {r.paser.programme_id!r} does not exist"
    assert status_of(foreign.value) == status_of(missing.value) == 422
    assert r.repository.enrolled[r.paser.programme_id] == 0
    assert r.repository.events == []


async def test_a_sponsor_key_is_forbidden_a_domicile_outside_its_scope(
    registration: Registration,
) -> None:
    r = registration
    with pytest.raises(Forbidden) as exc:
        await r.bus.handle(r.enrol(r.kaur, domicile_code=PASER_VILLAGE), KAUR_OFFICER)
    assert exc.value.detail == f"a sponsor key scoped to 17.04 cannot act on {PASER_VILLAGE}"
    assert status_of(exc.value) == 403
    assert r.repository.enrolled[r.kaur.programme_id] == 0
    assert r.repository.events == []


async def test_a_sponsor_key_enrols_inside_its_scope(registration: Registration) -> None:
    r = registration
    worker = (await r.bus.handle(r.enrol(r.kaur), KAUR_OFFICER)).worker
    assert worker.village_code == KAUR_VILLAGE
    assert len(r.repository.events) == 1


async def test_a_dashboard_key_is_forbidden_from_enrolling(registration: Registration) -> None:
    r = registration
    with pytest.raises(Forbidden) as exc:
        await r.bus.handle(r.enrol(r.kaur), DASHBOARD)
    assert exc.value.detail == (
        "role 'dashboard' may not do this; allowed: admin, operator, sponsor"
    )
    assert r.repository.enrolled[r.kaur.programme_id] == 0
    assert r.repository.events == []


# -- sponsors, programmes, workers -------------------------------------------------------------


async def test_register_sponsor_raises_sponsor_registered(registration: Registration) -> None:
    r = registration
    sponsor = await r.bus.handle(
        RegisterSponsor(
            name="Pemerintah Kota Bengkulu", kind=SponsorKind.CITY, region_code="17.71"
        ),
        OPERATOR,
    )
    assert sponsor.region_name == "Kota Bengkulu, Bengkulu"
    assert r.repository.sponsors[sponsor.sponsor_id] == sponsor
    [event] = r.repository.events
    assert isinstance(event, SponsorRegistered)
    assert (event.payload.sponsor_id, event.payload.region_code) == (sponsor.sponsor_id, "17.71")


async def test_register_sponsor_refuses_a_sponsor_key(registration: Registration) -> None:
    r = registration
    before = dict(r.repository.sponsors)
    with pytest.raises(Forbidden) as exc:
        await r.bus.handle(
            RegisterSponsor(name="Pemerintah Kabupaten Kaur", kind="regency", region_code="17.04"),
            KAUR_OFFICER,
        )
    assert exc.value.detail == "role 'sponsor' may not do this; allowed: admin, operator"
    assert r.repository.sponsors == before
    assert r.repository.events == []


async def test_a_sponsor_key_lists_and_reads_only_its_own_sponsors(
    registration: Registration,
) -> None:
    r = registration
    listed = await r.bus.handle(ListSponsors(region=None, limit=50, skip=0), KAUR_OFFICER)
    assert [s.region_code for s in listed] == ["17.04"]
    everyone = await r.bus.handle(ListSponsors(region=None, limit=50, skip=0), OPERATOR)
    assert sorted(s.region_code for s in everyone) == ["17.04", "64.01"]
    with pytest.raises(Forbidden):
        await r.bus.handle(ListSponsors(region="64", limit=50, skip=0), KAUR_OFFICER)
    with pytest.raises(NotFound) as exc:
        await r.bus.handle(GetSponsor(r.paser.sponsor_id), KAUR_OFFICER)
    assert status_of(exc.value) == 404


async def test_open_programme_refuses_a_sponsor_of_another_region(
    registration: Registration,
) -> None:
    r = registration
    command = OpenProgramme(
        sponsor_id=r.paser.sponsor_id,
        name="Paser 2026, again",
        budget_year=2026,
        budget_rupiah=1_000_000_000,
        quota=100,
        start_month="2026-01",  # type: ignore[arg-type]
        end_month="2026-12",  # type: ignore[arg-type]
    )
    with pytest.raises(NotFound):
        await r.bus.handle(command, KAUR_OFFICER)
    unknown = command.model_copy(update={"sponsor_id": "SP-0000000000000000"})
    with pytest.raises(NotFound) as exc:
        await r.bus.handle(unknown, OPERATOR)
    assert exc.value.field == "sponsor_id"
    assert r.repository.events == []


async def test_open_programme_raises_programme_opened(registration: Registration) -> None:
    r = registration
    command = OpenProgramme(
        sponsor_id=r.kaur.sponsor_id,
        name="Pekerja Rentan Kinal 2026",
        region_code="17.04.01",
        budget_year=2026,
        budget_rupiah=1_437_408_000,
        quota=7_130,
        start_month="2026-01",  # type: ignore[arg-type]
        end_month="2026-12",  # type: ignore[arg-type]
    )
    programme, enrolled = await r.bus.handle(command, KAUR_OFFICER)
    assert enrolled == 0
    assert (programme.region_code, programme.sponsor_id) == ("17.04.01", r.kaur.sponsor_id)
    assert (programme.start_month, programme.end_month) == (Month(2026, 1), Month(2026, 12))
    [event] = r.repository.events
    assert isinstance(event, ProgrammeOpened)
    assert event.payload.programme_id == programme.programme_id
    assert (event.payload.start_month, event.payload.end_month) == (
        Month(2026, 1),
        Month(2026, 12),
    )


async def test_get_worker_of_an_unknown_id_is_not_found(registration: Registration) -> None:
    r = registration
    with pytest.raises(NotFound) as exc:
        await r.bus.handle(GetWorker("WK-0000000000000000"), OPERATOR)
    assert exc.value.detail == "worker 'WK-0000000000000000' does not exist"
    assert status_of(exc.value) == 404


async def test_a_worker_outside_a_sponsor_keys_region_is_not_found(
    registration: Registration,
) -> None:
    r = registration
    worker = (await r.bus.handle(r.enrol(r.kaur), OPERATOR)).worker
    assert await r.bus.handle(GetWorker(worker.worker_id), KAUR_OFFICER) == worker
    with pytest.raises(NotFound) as exc:
        await r.bus.handle(GetWorker(worker.worker_id), PASER_OFFICER)
    assert exc.value.detail == f"worker {worker.worker_id!r} does not exist"


# -- the bus -----------------------------------------------------------------------------------


async def test_bootstrap_connects_the_publisher_to_the_repositorys_unit_of_work() -> None:
    repository = SimpleNamespace(uow=SimpleNamespace(publisher=None))
    publisher = FakePublisher()
    bus = bootstrap(
        repository=repository,
        publisher=publisher,
        clock=FixedClock(LAST_EVENING_OF_JANUARY_UTC),
        settings=None,
        commands={},
        events={},
    )
    assert repository.uow.publisher is publisher
    assert bus.deps.publisher is publisher


async def test_a_command_without_a_handler_is_a_lookup_error(registration: Registration) -> None:
    with pytest.raises(LookupError, match="no handler for GetCoverage"):
        await registration.bus.handle(GetCoverage(region=None), OPERATOR)


# -- reporting ---------------------------------------------------------------------------------


class FakeReportingRepository:
    """Reporting's repository in memory: canned counters per region, and the facts recorded."""

    def __init__(self, counters: dict[str, dict[str, int]] | None = None) -> None:
        self.counters = counters or {}
        self.asked: list[str] = []
        self.workers: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.facts: dict[str, dict[str, dict[str, Any]]] = {}
        self.api_keys = FakeApiKeys()
        self.applied: dict[str, dict[str, Any]] = {}

    async def add_covered_workers(self, facts: dict[str, dict[str, Any]]) -> int:
        new = {k: v for k, v in facts.items() if k not in self.workers}
        self.workers.update(new)
        return len(new)

    async def add_paid_claims(self, facts: dict[str, dict[str, Any]]) -> int:
        new = {k: v for k, v in facts.items() if k not in self.claims}
        self.claims.update(new)
        return len(new)

    async def add_claim_steps(self, facts: dict[str, dict[str, Any]]) -> int:
        return _keep_new(self.facts.setdefault("claim_steps", {}), facts)

    async def add_invoices(self, facts: dict[str, dict[str, Any]]) -> int:
        return _keep_new(self.facts.setdefault("invoices", {}), facts)

    async def add_payments(self, facts: dict[str, dict[str, Any]]) -> int:
        return _keep_new(self.facts.setdefault("payments", {}), facts)

    async def add_lapses(self, facts: dict[str, dict[str, Any]]) -> int:
        return _keep_new(self.facts.setdefault("lapses", {}), facts)

    async def figures(
        self, code: str, period: str | None = None, slice: tuple[str, str] | None = None
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        suffix = f"|{slice[0]}={slice[1]}" if slice else ""
        self.asked.append((f"{code}|{period}" if period else code) + suffix)
        key = (lambda c: f"{c}|{period}{suffix}") if period else (lambda c: f"{c}{suffix}")
        own = self.counters.get(key(code), {})
        children = {
            c.split("|")[0]: figures
            for c, figures in self.counters.items()
            if parent(c.split("|")[0]) == code and c == key(c.split("|")[0]) and c.split("|")[0]
        }
        return own, children

    async def last_applied(self) -> dict[str, dict[str, Any]]:
        """The newest event applied: the one of ``applied`` (none when unset)."""
        return self.applied

    async def targets(self, codes: list[str], year: int) -> dict[str, dict[str, Any]]:
        return {}

    async def programmes(self, **query: Any) -> list[dict[str, Any]]:
        return []


def _keep_new(kept: dict[str, dict[str, Any]], facts: dict[str, dict[str, Any]]) -> int:
    new = {k: v for k, v in facts.items() if k not in kept}
    kept.update(new)
    return len(new)


#: What a paid JKM death adds, in all and under JKM.
_ONE_JKM_DEATH = {
    "claims_paid": 1,
    "benefits_paid_rupiah": 42_000_000,
    "claims_paid_jkk": 0,
    "benefits_paid_jkk_rupiah": 0,
    "claims_paid_jkm": 1,
    "benefits_paid_jkm_rupiah": 42_000_000,
}
KAUR_COUNTERS = {
    "17": {"workers": 9, **_ONE_JKM_DEATH},
    "17.04": {"workers": 9, **_ONE_JKM_DEATH},
    "17.04.01": {"workers": 7, **_ONE_JKM_DEATH},
    "17.04.15": {"workers": 2, "claims_paid": 0, "benefits_paid_rupiah": 0},
}


def reporting_bus(repository: FakeReportingRepository) -> MessageBus[Any, Any]:
    return bootstrap(
        repository=repository,
        publisher=FakePublisher(),
        clock=FixedClock(LAST_EVENING_OF_JANUARY_UTC),
        settings=SimpleNamespace(service_name="reporting"),
        commands=REPORTING_COMMANDS,
        events=REPORTING_EVENTS,
    )


async def test_coverage_lists_every_child_region_zeros_included() -> None:
    repository = FakeReportingRepository(KAUR_COUNTERS)
    repository.applied = {
        "registration.worker-registered.v1": {"event_id": "e1", "occurred_at": T_APPLIED}
    }
    report = await reporting_bus(repository).handle(GetCoverage(region="17.04"), DASHBOARD)

    assert isinstance(report, CoverageReport)
    assert repository.asked == ["17.04", "17.04|2026-02"]  # all time, and this month (Jakarta)
    assert (report.view.code, report.view.name, report.level) == (
        "17.04",
        "Kabupaten Kaur, Bengkulu",
        "regency",
    )
    assert report.view.breakdown_level == "district"
    assert (report.registered_workers, report.claims_paid, report.benefits_paid_rupiah) == (
        9,
        1,
        42_000_000,
    )
    assert report.claims_paid_by_programme == {"JKK": 0, "JKM": 1}
    assert report.benefits_paid_by_programme == {"JKK": 0, "JKM": 42_000_000}
    assert [row.code for row in report.breakdown] == [f"17.04.{n:02d}" for n in range(1, 16)]
    rows = {row.code: row for row in report.breakdown}
    assert (rows["17.04.01"].name, rows["17.04.01"].registered_workers) == ("Kinal", 7)
    assert (rows["17.04.01"].claims_paid, rows["17.04.01"].benefits_paid_rupiah) == (
        1,
        42_000_000,
    )
    assert (rows["17.04.15"].name, rows["17.04.15"].registered_workers) == ("Padang Guci Hulu", 2)
    quiet = [row for code, row in rows.items() if code not in ("17.04.01", "17.04.15")]
    assert len(quiet) == 13
    assert all(
        (row.registered_workers, row.claims_paid, row.benefits_paid_rupiah) == (0, 0, 0)
        for row in quiet
    )
    assert report.as_of == T_APPLIED  # the newest event applied, not the clock
    assert (report.registered, report.enrolled, report.waiting) == (9, 9, 0)


async def test_a_region_nobody_counted_yet_is_all_zeros() -> None:
    report = await reporting_bus(FakeReportingRepository()).handle(
        GetCoverage(region="17"), OPERATOR
    )
    assert report.registered_workers == 0
    assert report.benefits_paid_by_programme == {"JKK": 0, "JKM": 0}
    assert len(report.breakdown) == 10
    assert {row.registered_workers for row in report.breakdown} == {0}


async def test_a_sponsors_coverage_defaults_to_its_scope() -> None:
    repository = FakeReportingRepository(KAUR_COUNTERS)
    report = await reporting_bus(repository).handle(GetCoverage(region=None), KAUR_OFFICER)
    assert repository.asked == ["17.04", "17.04|2026-02"]
    assert report.view.code == "17.04"
    assert report.registered_workers == 9


async def test_a_sponsor_may_not_read_another_regions_coverage() -> None:
    repository = FakeReportingRepository(KAUR_COUNTERS)
    with pytest.raises(Forbidden):
        await reporting_bus(repository).handle(GetCoverage(region="64"), KAUR_OFFICER)
    assert repository.asked == []


async def test_the_whole_country_breaks_down_into_every_province() -> None:
    repository = FakeReportingRepository(KAUR_COUNTERS)
    report = await reporting_bus(repository).handle(GetCoverage(region=None), DASHBOARD)
    assert repository.asked == ["", "|2026-02"]
    assert (report.view.name, report.level, len(report.breakdown)) == ("Indonesia", "country", 38)
    assert {row.code: row.registered_workers for row in report.breakdown}["17"] == 9


async def test_a_village_has_no_breakdown() -> None:
    report = await reporting_bus(FakeReportingRepository()).handle(
        GetCoverage(region=KAUR_VILLAGE), DASHBOARD
    )
    assert (report.level, report.breakdown) == ("village", [])


async def test_an_unknown_region_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as exc:
        await reporting_bus(FakeReportingRepository()).handle(
            GetCoverage(region="17.99"), DASHBOARD
        )
    assert exc.value.field == "region"


def worker_registered(worker_id: str = "WK-0123456789abcdef") -> WorkerRegistered:
    return WorkerRegistered.create(
        WorkerRegisteredPayload(
            worker_id=worker_id,
            sponsor_id="SP-0123456789abcdef",
            programme_id="PG-0123456789abcdef",
            province_code="17",
            regency_code="17.04",
            district_code="17.04.01",
            village_code=KAUR_VILLAGE,
            occupation="farmer",
            gender="P",
            declared_monthly_income=1_000_000,
            benefits=[JKK, JKM],
            cover_start=Month(2026, 2),
            registered_at=LAST_EVENING_OF_JANUARY_UTC,
        ),
        producer="registration",
    )


async def test_workers_registered_become_one_fact_each_without_personal_data() -> None:
    repository = FakeReportingRepository()
    bus = reporting_bus(repository)
    event = worker_registered()
    await bus.apply([event, event])  # the same event twice in one batch
    await bus.apply([event])  # and once more, redelivered

    assert list(repository.workers) == ["WK-0123456789abcdef"]
    fact = repository.workers["WK-0123456789abcdef"]
    assert fact["village_code"] == KAUR_VILLAGE
    assert fact["cover_start"] == "2026-02"
    assert fact["event_id"] == str(event.event_id)
    assert not {"gender", "declared_monthly_income", "nik", "name"} & set(fact)


async def test_each_claim_step_is_one_fact_dated_in_jakarta_and_again_is_none() -> None:
    repository = FakeReportingRepository()
    bus = reporting_bus(repository)
    filed = ClaimFiled.create(
        ClaimFiledPayload(
            **claim_fields(), filed_by="k1", filed_at=LAST_EVENING_OF_JANUARY_UTC, heirs=2
        ),
        producer="claims",
    )
    approved = ClaimApproved.create(
        ClaimApprovedPayload(
            **claim_fields(version=3),
            approved_by="k2",
            approved_at=datetime(2026, 2, 10, 3, 0, tzinfo=UTC),
            amount_rupiah=9_000_000,
            amount_by_kind={"medical": 9_000_000},
        ),
        producer="claims",
    )
    rejected = ClaimRejected.create(
        ClaimRejectedPayload(
            **claim_fields("CL-2"),
            rejected_by="k2",
            rejected_at=datetime(2026, 1, 5, tzinfo=UTC),
            reasons=[RefusalReason(code="R02", text="no cover")],
        ),
        producer="claims",
    )
    await bus.apply([filed, approved, rejected])
    await bus.apply([rejected, filed])  # redelivered
    await bus.apply([approved])  # published again
    steps = repository.facts["claim_steps"]
    assert sorted(steps) == ["CL-1|approved", "CL-1|filed", "CL-2|rejected"]
    assert steps["CL-1|filed"]["month"] == "2026-02"  # 1 February, 01:00 in Jakarta
    assert steps["CL-1|approved"]["amount_rupiah"] == 9_000_000
    assert (steps["CL-2|rejected"]["month"], steps["CL-2|rejected"]["benefit"]) == (
        "2026-01",
        "JKK",
    )
    assert not {"worker_id", "heirs", "filed_by"} & set(steps["CL-1|filed"])


async def test_invoices_payments_and_lapses_are_one_fact_each_and_again_none() -> None:
    repository = FakeReportingRepository()
    bus = reporting_bus(repository)
    march = Month(2026, 3)
    invoice = invoiced("INV-1", "17.04", march, {"17.04.01": 2, "17.04.02": 1})
    first = paid("PAY-1", "INV-1", "17.04", march, 20_000, {"17.04.01": 1})
    second = paid("PAY-2", "INV-1", "17.04", march, 30_400, {"17.04.01": 1, "17.04.02": 1})
    lapsed = CoverageLapsed.create(
        CoverageLapsedPayload(
            programme_id="PG-1",
            sponsor_id="SP-1",
            region_code="17.04",
            lapsed_from=Month(2026, 4),
            unpaid_periods=[Month(2026, 4), Month(2026, 5), Month(2026, 6), Month(2026, 7)],
            worker_count=3,
        ),
        producer="billing",
    )
    await bus.apply([invoice])
    await bus.apply([first, second])
    await bus.apply([lapsed])
    await bus.apply([invoice])  # redelivered
    await bus.apply([second, first])  # published again, in another order
    await bus.apply([lapsed])

    assert list(repository.facts["invoices"]) == ["INV-1"]
    assert repository.facts["invoices"]["INV-1"]["by_district"] == [
        {"district": "17.04.01", "workers": 2, "amount_rupiah": 33_600},
        {"district": "17.04.02", "workers": 1, "amount_rupiah": 16_800},
    ]
    assert repository.facts["invoices"]["INV-1"]["period"] == "2026-03"
    assert sorted(repository.facts["payments"]) == ["PAY-1|INV-1", "PAY-2|INV-1"]
    assert repository.facts["payments"]["PAY-2|INV-1"]["amount_rupiah"] == 30_400
    assert list(repository.facts["lapses"]) == ["PG-1|2026-04"]
    assert repository.facts["lapses"]["PG-1|2026-04"]["worker_count"] == 3


#: When the newest event applied happened.
T_APPLIED = datetime(2026, 1, 30, 3, 0, tzinfo=UTC)

#: Kaur's counters for March 2026: the regency, two of its districts, and all time.
KAUR_MARCH = {
    "17.04|2026-03": {"contributions_invoiced_rupiah": 50_400, "contributions_paid_rupiah": 16_800},
    "17.04.01|2026-03": {
        "contributions_invoiced_rupiah": 33_600,
        "contributions_paid_rupiah": 16_800,
    },
    "17.04.02|2026-03": {"contributions_invoiced_rupiah": 16_800},
    "17.04": {"contributions_invoiced_rupiah": 99_999},
    "17.04.01": {"contributions_invoiced_rupiah": 88_888},
}


async def test_contributions_for_a_month_read_the_regions_month_and_its_childrens() -> None:
    repository = FakeReportingRepository(KAUR_MARCH)
    report = await reporting_bus(repository).handle(
        GetContributions(region="17.04", period=Month(2026, 3)), DASHBOARD
    )
    assert isinstance(report, RegionTotals)
    assert repository.asked == ["17.04|2026-03"]
    assert (report.level, report.period) == ("regency", Month(2026, 3))
    assert report.totals["contributions_invoiced_rupiah"] == 50_400
    assert report.totals["contributions_paid_rupiah"] == 16_800
    assert report.totals["workers_lapsed"] == 0
    rows = {code: totals for code, _, totals in report.breakdown}
    assert len(rows) == 15
    assert rows["17.04.01"]["contributions_invoiced_rupiah"] == 33_600
    assert rows["17.04.02"]["contributions_paid_rupiah"] == 0
    assert rows["17.04.15"]["contributions_invoiced_rupiah"] == 0

    all_time = await reporting_bus(repository).handle(GetContributions(region="17.04"), DASHBOARD)
    assert all_time.totals["contributions_invoiced_rupiah"] == 99_999
    assert {c: t["contributions_invoiced_rupiah"] for c, _, t in all_time.breakdown}[
        "17.04.01"
    ] == 88_888


async def test_contributions_and_benefits_keep_a_sponsor_to_its_region() -> None:
    repository = FakeReportingRepository(KAUR_MARCH)
    bus = reporting_bus(repository)
    mine = await bus.handle(GetContributions(region=None, period=Month(2026, 3)), KAUR_OFFICER)
    assert mine.view.code == "17.04"
    for query in (GetContributions(region="64"), GetBenefits(region="17")):
        with pytest.raises(Forbidden):
            await bus.handle(query, KAUR_OFFICER)
    assert repository.asked == ["17.04|2026-03"]


async def test_benefits_answer_every_programme_and_kind_zeros_included() -> None:
    counters = {
        "17": {"claims_paid": 1, "benefits_paid_rupiah": 42_000_000, "claims_filed_jkm": 2},
        "17.04": {"claims_paid": 1, "benefits_paid_kind_lump_sum_rupiah": 20_000_000},
    }
    report = await reporting_bus(FakeReportingRepository(counters)).handle(
        GetBenefits(region="17"), DASHBOARD
    )
    assert report.totals["benefits_paid_rupiah"] == 42_000_000
    assert report.totals["claims_filed_jkm"] == 2
    assert report.totals["benefits_paid_kind_scholarship_rupiah"] == 0
    rows = {code: totals for code, _, totals in report.breakdown}
    assert len(rows) == 10
    assert rows["17.04"]["benefits_paid_kind_lump_sum_rupiah"] == 20_000_000


# -- the API-key handlers ----------------------------------------------------------------------


async def test_only_an_admin_issues_keys(registration: Registration) -> None:
    r = registration
    command = IssueApiKey(role=Role.DASHBOARD, label="Bappeda dashboard")
    for principal in (OPERATOR, KAUR_OFFICER, DASHBOARD):
        with pytest.raises(Forbidden):
            await r.bus.handle(command, principal)
    assert r.repository.api_keys.docs == {}

    issued = await r.bus.handle(command, ADMIN)
    assert isinstance(issued, IssuedKey)
    assert issued.key.startswith(f"bpu_{issued.key_id}_")
    doc = r.repository.api_keys.docs[issued.key_id]
    assert doc["key_hash"] == hash_key(issued.key)
    assert issued.key not in doc.values()  # only the hash is kept
    [event] = r.repository.api_keys.events
    assert isinstance(event, ApiKeyIssued)
    assert event.payload.issued_at == LAST_EVENING_OF_JANUARY_UTC
    assert event.producer == "registration"


async def test_revoking_an_unknown_key_is_not_found(registration: Registration) -> None:
    r = registration
    with pytest.raises(NotFound) as exc:
        await r.bus.handle(RevokeApiKey("0123456789abcdef"), ADMIN)
    assert exc.value.detail == "API key '0123456789abcdef' does not exist"
    assert status_of(exc.value) == 404
    assert r.repository.api_keys.events == []


async def test_revoke_and_list_keys(registration: Registration) -> None:
    r = registration
    issued = await r.bus.handle(IssueApiKey(role=Role.OPERATOR, label="BPJS Kaur"), ADMIN)
    with pytest.raises(Forbidden):
        await r.bus.handle(RevokeApiKey(issued.key_id), OPERATOR)
    await r.bus.handle(RevokeApiKey(issued.key_id), ADMIN)
    [info] = await r.bus.handle(ListApiKeys(), ADMIN)
    assert (info.key_id, info.role, info.label) == (issued.key_id, Role.OPERATOR, "BPJS Kaur")
    assert info.revoked_at == LAST_EVENING_OF_JANUARY_UTC
    with pytest.raises(Forbidden):
        await r.bus.handle(ListApiKeys(), DASHBOARD)


# -- the unit of work's stamp ------------------------------------------------------------------


def test_stamp_gives_events_the_correlation_and_causation_of_the_work_in_hand() -> None:
    mine = worker_registered("WK-1").model_copy(update={"correlation_id": "set-by-the-handler"})
    plain = worker_registered("WK-2")
    with caused_by("request-1", "command-7"):
        stamped_mine, stamped_plain = stamp([mine, plain])

    assert (stamped_plain.correlation_id, stamped_plain.causation_id) == (
        "request-1",
        "command-7",
    )
    # An id the handler set itself is kept; the other is filled in.
    assert (stamped_mine.correlation_id, stamped_mine.causation_id) == (
        "set-by-the-handler",
        "command-7",
    )
    # The events are copies, the payload untouched; the originals are unchanged.
    assert stamped_plain.event_id == plain.event_id
    assert stamped_plain.payload == plain.payload
    assert plain.correlation_id is None


def test_stamp_keeps_a_causation_id_the_handler_set() -> None:
    event = worker_registered().model_copy(update={"causation_id": "event-41"})
    with caused_by("request-1", "command-7"):
        [stamped] = stamp([event])
    assert (stamped.correlation_id, stamped.causation_id) == ("request-1", "event-41")


def test_outside_any_work_stamp_leaves_the_ids_empty() -> None:
    with caused_by("request-1", "command-7"):
        pass
    [stamped] = stamp([worker_registered()])
    assert (stamped.correlation_id, stamped.causation_id) == (None, None)


# -- in_force ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    effective_from: date
    rupiah: int


JKM_RATES = (Rate(date(2015, 7, 1), 6_800), Rate(date(2026, 1, 1), 7_500))


@pytest.mark.parametrize(
    ("day", "rupiah"),
    [
        (date(2015, 7, 1), 6_800),  # the day it takes effect
        (date(2025, 12, 31), 6_800),  # the day before the next row
        (date(2026, 1, 1), 7_500),
        (date(2030, 6, 15), 7_500),
    ],
)
def test_in_force_is_the_latest_row_not_after_the_day(day: date, rupiah: int) -> None:
    assert in_force(JKM_RATES, day).rupiah == rupiah
    assert in_force(reversed(JKM_RATES), day).rupiah == rupiah  # whatever the table's order


def test_nothing_in_force_before_the_first_row_names_the_table() -> None:
    with pytest.raises(LookupError, match="no JKM rate is in force on 2015-06-30"):
        in_force(JKM_RATES, date(2015, 6, 30), "JKM rate")
    with pytest.raises(LookupError, match="no table is in force on 2026-01-01"):
        in_force([], date(2026, 1, 1))
    # A domain error naming the input that gave the day: the API answers 422 on that field.
    with pytest.raises(InvalidInput) as exc:
        in_force(JKM_RATES, date(2015, 6, 30), "JKM rate", field="on")
    assert exc.value.field == "on"


# -- Month -------------------------------------------------------------------------------------


def test_month_parses_orders_and_prints() -> None:
    february = Month.parse("2026-02")
    assert february == Month(2026, 2)
    assert str(february) == "2026-02"
    assert Month(2025, 12) < Month(2026, 1) < february <= Month(2026, 2)
    assert sorted([Month(2026, 10), Month(2026, 2), Month(2025, 12)]) == [
        Month(2025, 12),
        Month(2026, 2),
        Month(2026, 10),
    ]
    assert Month.of(date(2026, 2, 28)) == february
    assert february.first_day() == date(2026, 2, 1)
    assert len({Month(2026, 2), february}) == 1  # frozen, hashable


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (Month(2026, 1), 0, Month(2026, 1)),
        (Month(2026, 1), 11, Month(2026, 12)),
        (Month(2026, 12), 1, Month(2027, 1)),
        (Month(2026, 1), -1, Month(2025, 12)),
        (Month(2026, 3), 25, Month(2028, 4)),
        (Month(2026, 3), -27, Month(2023, 12)),
    ],
)
def test_month_plus(start: Month, months: int, expected: Month) -> None:
    assert start.plus(months) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", ""])
def test_month_parse_refuses_what_is_not_a_month(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)


def test_month_refuses_a_thirteenth_month() -> None:
    with pytest.raises(ValueError, match="is not a month"):
        Month(2026, 13)


def test_a_month_travels_as_yyyy_mm_in_an_event_and_comes_back_a_month() -> None:
    event = worker_registered()
    wire = event.to_wire()
    assert b'"cover_start":"2026-02"' in wire
    back = WorkerRegistered.from_wire(wire)
    assert back.payload.cover_start == Month(2026, 2)
    assert isinstance(back.payload.cover_start, Month)
    assert back == event
    schema = WorkerRegisteredPayload.model_json_schema()["properties"]["cover_start"]
    assert schema["type"] == "string"


def test_a_bad_month_in_an_event_or_a_command_names_the_field() -> None:
    data = worker_registered().model_dump(mode="json")
    data["payload"]["cover_start"] = "2026-13"
    with pytest.raises(ValidationError) as in_event:
        WorkerRegistered.from_wire(data)
    [error] = in_event.value.errors()
    assert error["loc"] == ("payload", "cover_start")
    assert "'2026-13' is not a month: write YYYY-MM" in error["msg"]

    with pytest.raises(ValidationError) as in_command:
        EnrolWorker.model_validate(
            {
                "nik": WOMAN_NIK,
                "name": "Siti Aminah",
                "occupation": "farmer",
                "domicile_code": KAUR_VILLAGE,
                "programme_id": "PG-0123456789abcdef",
                "cover_start": "Feb 2026",
            }
        )
    [error] = in_command.value.errors()
    assert error["loc"] == ("cover_start",)
    assert "YYYY-MM" in error["msg"]


def test_the_clock_is_in_jakarta() -> None:
    clock = FixedClock(LAST_EVENING_OF_JANUARY_UTC)
    assert clock.now().tzinfo is JAKARTA
    assert clock.today() == date(2026, 2, 1)
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 31, 18, 0))


async def test_each_payment_of_a_claim_is_its_own_fact_and_a_payment_again_is_none() -> None:
    """A JKK death paid, then its first scholarship instalment: two facts of one claim, keyed
    by payment; the same payments delivered again add none."""
    repository = FakeReportingRepository()
    bus = reporting_bus(repository)

    def claim_paid(payment_id: str | None, amount: int, instalment: int | None) -> ClaimPaid:
        return ClaimPaid.create(
            ClaimPaidPayload(
                claim_id="CL-1",
                worker_id="WK-1",
                programme_id="PG-1",
                benefit=BenefitProgramme.JKK,
                kind="death",
                province_code="17",
                regency_code="17.04",
                district_code="17.04.01",
                amount_rupiah=amount,
                paid_at=LAST_EVENING_OF_JANUARY_UTC,
                payment_id=payment_id,
                instalment=instalment,
            ),
            producer="claims",
        )

    events = [claim_paid("CP-1", 70_000_000, None), claim_paid("CP-2", 3_000_000, 1)]
    await bus.apply(events)
    await bus.apply([*events, claim_paid(None, 42_000_000, None)])
    assert sorted(repository.claims) == [
        "CL-1",
        "CP-1",
        "CP-2",
    ]  # an event without an id: the claim's
    assert repository.claims["CP-2"]["instalment"] == 1
