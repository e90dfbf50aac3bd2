"""Claims' workflow handlers with an in-memory repository and a fixed clock: filing, assessment
(eligible → assessed with its lines; refused → rejected with numbered reasons), four-eyes
approval, payment by bank reference (idempotent; ClaimPaid with the amount per kind), facts
changed after approval, scholarship instalments, sponsor scope, and the cover view's month
status."""

from __future__ import annotations

import copy
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_claims.domain import JkkFacts, MonthStatus
from bpu_claims.handlers.claims import (
    ApproveClaim,
    AssessClaim,
    ChangeFacts,
    ClaimChild,
    FileClaim,
    GetClaim,
    Heir,
    ListClaims,
    PayClaim,
    approve_claim,
    assess_claim,
    change_facts,
    claim_id_for,
    file_claim,
    get_claim,
    history_of,
    list_claims,
    pay_claim,
    payment_id,
)
from bpu_claims.handlers.cover import benefits_in_force, month_status
from bpu_claims.handlers.documents import AttachDocument, DocumentKind, attach_document
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from bpu_shared.events import (
    BenefitProgramme,
    ClaimApproved,
    ClaimAssessed,
    ClaimFiled,
    ClaimPaid,
    ClaimRejected,
    Event,
)
from bpu_shared.month import Month
from bpu_shared.regions import within
from bpu_shared.service_layer.bus import Deps

FILER = Principal("filer-key", Role.OPERATOR)
ASSESSOR = Principal("assessor-key", Role.OPERATOR)
APPROVER = Principal("approver-key", Role.OPERATOR)
KAUR = Principal("kaur-key", Role.SPONSOR, "17.04")
PASER = Principal("paser-key", Role.SPONSOR, "64.01")
DASHBOARD = Principal("dash-key", Role.DASHBOARD)

HEIRS = [Heir("Siti Aminah", "spouse", "BRI 0123-01-000123-50-1")]
REGIONS = {
    "province_code": "17",
    "regency_code": "17.04",
    "district_code": "17.04.01",
    "village_code": "17.04.01.2001",
}


class FakeClaimsRepository:
    """What the claims handlers call, in memory, with the store's version guard."""

    def __init__(self) -> None:
        self.claims: dict[str, dict[str, Any]] = {}
        self.events: list[Event] = []
        self.enrolments: list[dict[str, Any]] = []
        self.programmes: dict[str, dict[str, Any]] = {}
        self.changes: list[dict[str, Any]] = []
        self.paid: set[tuple[str, str, str]] = set()
        self.documents: list[tuple[str, bytes, dict[str, Any]]] = []
        self.references: dict[str, dict[str, Any]] = {}

    # -- cover ---------------------------------------------------------------------------------
    async def cover_enrolments(self, worker_id: str) -> list[dict[str, Any]]:
        return sorted(
            (e for e in self.enrolments if e["worker_id"] == worker_id),
            key=lambda e: e["first_month"],
        )

    async def cover_programme(self, programme_id: str) -> dict[str, Any] | None:
        return self.programmes.get(programme_id)

    async def cover_changes(self, worker_id: str) -> list[dict[str, Any]]:
        return [c for c in self.changes if c["worker_id"] == worker_id]

    async def months_paid(self, worker_id: str) -> list[tuple[str, str]]:
        return sorted((p, m) for w, p, m in self.paid if w == worker_id)

    # -- claims --------------------------------------------------------------------------------
    async def add_claim(self, doc: dict[str, Any], events: list[Event]) -> bool:
        if doc["_id"] in self.claims:
            return False
        self.claims[doc["_id"]] = copy.deepcopy(doc)
        self.events += events
        return True

    async def reserve_reference(
        self, payment_id: str, reference: str, claim_id: str, instalment: int | None
    ) -> dict[str, Any]:
        return self.references.setdefault(
            payment_id,
            {
                "_id": payment_id,
                "reference": reference,
                "claim_id": claim_id,
                "instalment": instalment,
            },
        )

    async def change_claim(
        self,
        claim_id: str,
        version: int,
        changes: dict[str, Any],
        events: list[Event],
        *,
        history: dict[str, Any],
        also: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        doc = self.claims.get(claim_id)
        if doc is None or doc["version"] != version:
            return None
        for key, value in changes.items():
            target = doc
            *path, last = key.split(".")
            for part in path:
                target = target.setdefault(part, {})
            target[last] = copy.deepcopy(value)
        for field, amount in (also or {}).get("$inc", {}).items():
            doc[field] = doc.get(field, 0) + amount
        doc["version"] = version + 1
        doc["history"][f"v{version + 1:03d}"] = dict(history)
        self.events += events
        return copy.deepcopy(doc)

    async def claim(self, claim_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.claims.get(claim_id))

    async def find_claims(self, **where: Any) -> tuple[list[dict[str, Any]], int]:
        found = [
            d
            for d in self.claims.values()
            if (not where.get("state") or d["state"] == where["state"])
            and (not where.get("benefit") or d["benefit"] == where["benefit"])
            and (not where.get("region") or within(d["district_code"], where["region"]))
        ]
        return found, len(found)

    async def add_document(self, filename: str, data: bytes, metadata: dict[str, Any]) -> str:
        self.documents.append((filename, data, metadata))
        return str(len(self.documents))

    async def documents_of(self, claim_id: str) -> list[dict[str, Any]]:
        return [
            {"document_id": str(i + 1), "filename": f, "length": len(d), **m}
            for i, (f, d, m) in enumerate(self.documents)
            if m["claim_id"] == claim_id
        ]


def enrol(
    repo: FakeClaimsRepository,
    worker: str = "WK-1",
    first: str = "2024-01",
    programme: str = "PG-1",
    income: int = 1_000_000,
    benefits: tuple[str, ...] = ("JKK", "JKM"),
) -> None:
    repo.enrolments.append(
        {
            "_id": f"{worker}|{programme}|{first}",
            "worker_id": worker,
            "programme_id": programme,
            "first_month": first,
            "last_month": None,
            "benefits": list(benefits),
            "income": income,
            **REGIONS,
        }
    )
    repo.programmes.setdefault(programme, {"_id": programme, "benefits": list(benefits), "due": {}})


def invoice(repo: FakeClaimsRepository, month: str, programme: str = "PG-1") -> None:
    repo.programmes[programme]["due"][month] = f"{month}-15"


def pay(repo: FakeClaimsRepository, month: str, worker: str = "WK-1", programme: str = "PG-1"):
    invoice(repo, month, programme)
    repo.paid.add((worker, programme, month))


async def filed(cmd: FileClaim, who: Principal, deps: Any) -> dict[str, Any]:
    """The claim a filing made (a new one: the tests below file each once)."""
    done = await file_claim(cmd, who, deps)
    assert done.created
    return done.claim


@pytest.fixture
def repo() -> FakeClaimsRepository:
    return FakeClaimsRepository()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2024, 12, 20, 10, tzinfo=JAKARTA))


@pytest.fixture
def deps(repo, clock) -> Deps[Any, Any]:
    settings = SimpleNamespace(arrears_window_months=3, benefits_file=None)
    return Deps(repo, SimpleNamespace(wake=lambda: None), clock, settings)


def jkm(worker: str = "WK-1", day: date = date(2024, 12, 3), **kw: Any) -> FileClaim:
    return FileClaim(
        worker_id=worker,
        benefit=BenefitProgramme.JKM,
        incident_date=day,
        date_of_death=day,
        heirs=HEIRS,
        **kw,
    )


def kinds(repo: FakeClaimsRepository) -> list[str]:
    return [type(e).__name__ for e in repo.events]


async def test_a_jkm_death_filed_assessed_approved_and_paid(repo, deps) -> None:
    enrol(repo)
    for month in ("2024-10", "2024-11", "2024-12"):
        pay(repo, month)
    claim = await filed(jkm(), FILER, deps)
    assert claim["state"] == "filed" and claim["district_code"] == "17.04.01"
    assessed = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert assessed["state"] == "assessed"
    assert assessed["assessment"]["amount_rupiah"] == 42_000_000
    assert assessed["assessment"]["amount_by_kind"] == {
        "lump_sum": 20_000_000,
        "periodic": 12_000_000,
        "funeral": 10_000_000,
    }
    approved = await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    assert approved["state"] == "approved" and approved["approved_by"] == "approver-key"
    paid = await pay_claim(PayClaim(claim["_id"], "BRI-TRF-0001"), APPROVER, deps)
    assert paid.created and paid.claim["state"] == "paid"
    assert paid.claim["paid_rupiah"] == 42_000_000
    assert kinds(repo) == ["ClaimFiled", "ClaimAssessed", "ClaimApproved", "ClaimPaid"]
    event = repo.events[-1]
    assert isinstance(event, ClaimPaid)
    assert event.payload.amount_rupiah == 42_000_000 and event.payload.kind == "death"
    assert event.payload.regency_code == "17.04"
    assert event.payload.payment_id == payment_id("BRI-TRF-0001")
    assert [s["step"] for s in history_of(paid.claim)] == ["filed", "assessed", "approved", "paid"]
    assert [s["by"] for s in history_of(paid.claim)] == [
        "filer-key",
        "assessor-key",
        "approver-key",
        "approver-key",
    ]
    # Heirs are personal data: in the claim, never in an event.
    for e in repo.events:
        wire = e.to_wire().decode()
        assert "Siti" not in wire and "0123-01" not in wire


async def test_the_same_reference_twice_is_one_payment(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    claim = await filed(jkm(), FILER, deps)
    await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    first = await pay_claim(PayClaim(claim["_id"], "REF-1"), APPROVER, deps)
    again = await pay_claim(PayClaim(claim["_id"], "REF-1"), APPROVER, deps)
    assert first.created and not again.created and again.payment == first.payment
    assert kinds(repo).count("ClaimPaid") == 1
    with pytest.raises(Conflict) as other:
        await pay_claim(PayClaim(claim["_id"], "REF-2"), APPROVER, deps)
    assert other.value.field == "state"


async def test_four_eyes_the_filer_or_assessor_cannot_approve(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    claim = await filed(jkm(), FILER, deps)
    await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    for officer in (FILER, ASSESSOR):
        with pytest.raises(Forbidden) as refused:
            await approve_claim(ApproveClaim(claim["_id"]), officer, deps)
        assert "four-eyes" in refused.value.detail
    # One officer who assessed cannot approve, even having also filed.
    own = await filed(jkm(), ASSESSOR, deps)
    await assess_claim(AssessClaim(own["_id"]), ASSESSOR, deps)
    with pytest.raises(Forbidden, match="filed and assessed"):
        await approve_claim(ApproveClaim(own["_id"]), ASSESSOR, deps)
    assert kinds(repo).count("ClaimApproved") == 0


async def test_a_month_unpaid_past_the_window_is_rejected_with_r02(repo, deps, clock) -> None:
    enrol(repo, first="2024-01")
    invoice(repo, "2024-06")  # invoiced, never paid; due 2024-06-15, payable to 2024-09-15
    claim = await filed(jkm(day=date(2024, 6, 10)), FILER, deps)
    rejected = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert rejected["state"] == "rejected"
    codes = [r["code"] for r in rejected["assessment"]["reasons"]]
    assert codes == ["R02"]
    event = repo.events[-1]
    assert isinstance(event, ClaimRejected)
    assert [r.code for r in event.payload.reasons] == ["R02"]
    with pytest.raises(Conflict):
        await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)


async def test_a_month_in_arrears_is_refused_until_paid_then_assessed_again(repo, deps) -> None:
    enrol(repo)
    invoice(repo, "2024-12")  # due 2024-12-16; today 2024-12-20: in arrears
    claim = await filed(jkm(), FILER, deps)
    first = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert first["state"] == "rejected"
    assert [r["code"] for r in first["assessment"]["reasons"]] == ["R09"]
    repo.paid.add(("WK-1", "PG-1", "2024-12"))  # the CoverPaid came
    again = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert again["state"] == "assessed" and again["assessment"]["amount_rupiah"] == 42_000_000


async def test_not_enrolled_on_the_incident_date_is_r01(repo, deps) -> None:
    enrol(repo, first="2024-11")
    claim = await filed(jkm(day=date(2024, 10, 20)), FILER, deps)
    rejected = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert [r["code"] for r in rejected["assessment"]["reasons"]] == ["R01"]


async def test_a_lapsed_programme_refuses_with_r03(repo, deps) -> None:
    enrol(repo)
    invoice(repo, "2024-08")
    repo.programmes["PG-1"]["lapsed"] = {"2024-07": True}
    claim = await filed(jkm(day=date(2024, 8, 5)), FILER, deps)
    rejected = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert [r["code"] for r in rejected["assessment"]["reasons"]] == ["R03"]


async def test_a_jkk_accident_at_the_income_declared_then(repo, deps) -> None:
    enrol(repo, income=1_000_000)
    repo.changes.append(
        {"worker_id": "WK-1", "effective_month": "2024-11", "as_of": "x", "income": 2_000_000}
        | REGIONS
    )
    pay(repo, "2024-12")
    claim = await filed(
        FileClaim(
            worker_id="WK-1",
            benefit=BenefitProgramme.JKK,
            incident_date=date(2024, 12, 2),
            jkk=JkkFacts(
                place="at_work",
                medical_billed=7_500_000,
                transport_mode="sea",
                transport_cost=3_000_000,
                days_unable=45,
            ),
        ),
        FILER,
        deps,
    )
    assessed = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    by_kind = assessed["assessment"]["amount_by_kind"]
    assert by_kind == {
        "medical": 7_500_000,
        "transport": 2_000_000,  # sea: at most Rp2m
        "temporary_inability": 3_000_000,  # 45 days at Rp2m a month
    }
    assert assessed["assessment"]["declared_income"] == 2_000_000


async def test_an_approved_claim_is_assessed_again_when_its_facts_change(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    claim = await filed(
        FileClaim(
            worker_id="WK-1",
            benefit=BenefitProgramme.JKK,
            incident_date=date(2024, 12, 2),
            jkk=JkkFacts(place="commuting", medical_billed=1_000_000),
        ),
        FILER,
        deps,
    )
    await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    changed = await change_facts(
        ChangeFacts(claim["_id"], jkk=JkkFacts(place="commuting", medical_billed=4_000_000)),
        FILER,
        deps,
    )
    assert changed["state"] == "filed"
    with pytest.raises(Conflict):  # approved facts no longer stand: assess first
        await pay_claim(PayClaim(claim["_id"], "REF-9"), APPROVER, deps)
    again = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    assert again["assessment"]["amount_rupiah"] == 4_000_000
    await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    paid = await pay_claim(PayClaim(claim["_id"], "REF-9"), APPROVER, deps)
    assert paid.payment["amount_rupiah"] == 4_000_000
    steps = [s["step"] for s in history_of(paid.claim)]
    assert steps == [
        "filed",
        "assessed",
        "approved",
        "facts_changed",
        "assessed",
        "approved",
        "paid",
    ]
    assert kinds(repo).count("ClaimAssessed") == 2


async def test_a_stale_version_is_a_conflict(repo, deps) -> None:
    enrol(repo)
    claim = await filed(jkm(), FILER, deps)
    with pytest.raises(Conflict) as stale:
        await change_facts(ChangeFacts(claim["_id"], version=7, heirs=HEIRS), FILER, deps)
    assert stale.value.field == "version"


async def test_scholarship_instalments_are_paid_one_by_one(repo, deps, clock) -> None:
    enrol(repo, first="2019-01")
    for year in range(2019, 2025):
        for m in range(1, 13):
            repo.paid.add(("WK-1", "PG-1", f"{year}-{m:02d}"))
    claim = await filed(jkm(children=[ClaimChild(date(2012, 5, 1), "junior_high")]), FILER, deps)
    assessed = await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    schedule = assessed["assessment"]["instalments"]
    assert schedule and all(i["amount"] > 0 for i in schedule)
    await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    with pytest.raises(Conflict):  # the benefits come first
        await pay_claim(PayClaim(claim["_id"], "SCH-1", instalment=1), APPROVER, deps)
    await pay_claim(PayClaim(claim["_id"], "MAIN"), APPROVER, deps)
    first = schedule[0]
    clock.at = datetime.fromisoformat(first["due_on"]).replace(hour=9, tzinfo=JAKARTA)
    paid = await pay_claim(PayClaim(claim["_id"], "SCH-1", instalment=1), APPROVER, deps)
    assert paid.payment["amount_rupiah"] == first["amount"]
    event = repo.events[-1]
    assert isinstance(event, ClaimPaid)
    assert event.payload.kind == "scholarship" and event.payload.instalment == 1
    assert event.payload.amount_by_kind == {"scholarship": first["amount"]}
    with pytest.raises(Conflict):
        await pay_claim(PayClaim(claim["_id"], "SCH-1b", instalment=1), APPROVER, deps)
    if len(schedule) > 1 and schedule[1]["due_on"] > first["due_on"]:
        with pytest.raises(Conflict, match="falls due"):
            await pay_claim(PayClaim(claim["_id"], "SCH-2", instalment=2), APPROVER, deps)
    assert kinds(repo).count("ClaimPaid") == 2


async def test_who_may_do_what(repo, deps) -> None:
    enrol(repo)
    with pytest.raises(Forbidden):
        await file_claim(jkm(), DASHBOARD, deps)
    with pytest.raises(NotFound) as elsewhere:  # a sponsor must not learn of other regions
        await file_claim(jkm(), PASER, deps)
    assert elsewhere.value.field == "worker_id"
    claim = await filed(jkm(), KAUR, deps)
    with pytest.raises(Forbidden):  # sponsors file; officers decide
        await assess_claim(AssessClaim(claim["_id"]), KAUR, deps)
    with pytest.raises(NotFound):
        await get_claim(GetClaim(claim["_id"]), PASER, deps)
    with pytest.raises(Forbidden):
        await list_claims(ListClaims(region="64"), KAUR, deps)
    page = await list_claims(ListClaims(), KAUR, deps)
    assert [c["_id"] for c in page.claims] == [claim["_id"]]


async def test_what_a_claim_must_say(repo, deps) -> None:
    enrol(repo)
    with pytest.raises(InvalidInput) as no_death:
        await file_claim(
            FileClaim("WK-1", BenefitProgramme.JKM, date(2024, 12, 3), heirs=HEIRS), FILER, deps
        )
    assert no_death.value.field == "date_of_death"
    with pytest.raises(InvalidInput) as no_heirs:
        await file_claim(
            FileClaim(
                "WK-1", BenefitProgramme.JKM, date(2024, 12, 3), date_of_death=date(2024, 12, 3)
            ),
            FILER,
            deps,
        )
    assert no_heirs.value.field == "heirs"
    with pytest.raises(InvalidInput) as no_facts:
        await file_claim(FileClaim("WK-1", BenefitProgramme.JKK, date(2024, 12, 3)), FILER, deps)
    assert no_facts.value.field == "jkk"
    with pytest.raises(NotFound):
        await file_claim(jkm(worker="WK-nobody"), FILER, deps)


async def test_documents_are_checked_for_type_and_size(repo, deps) -> None:
    enrol(repo)
    claim = await filed(jkm(), FILER, deps)
    doc = await attach_document(
        AttachDocument(
            claim["_id"], DocumentKind.DEATH_CERTIFICATE, "akta.pdf", "application/pdf", b"%PDF-1.4"
        ),
        FILER,
        deps,
    )
    assert doc["kind"] == "death_certificate" and doc["uploaded_by"] == "filer-key"
    with pytest.raises(InvalidInput) as wrong:
        await attach_document(
            AttachDocument(
                claim["_id"], DocumentKind.OTHER, "x.exe", "application/x-msdownload", b"MZ"
            ),
            FILER,
            deps,
        )
    assert wrong.value.field == "file"
    with pytest.raises(Forbidden):
        await attach_document(
            AttachDocument(claim["_id"], DocumentKind.OTHER, "a.pdf", "application/pdf", b"x"),
            DASHBOARD,
            deps,
        )


@pytest.mark.parametrize(
    ("paid", "invoiced", "lapsed", "today", "expected"),
    [
        (True, True, {}, date(2030, 1, 1), MonthStatus.PAID),
        (False, False, {}, date(2024, 12, 1), MonthStatus.NOT_INVOICED),
        # Payable until September's due date: the 15th is a Sunday, so Monday the 16th.
        (False, True, {}, date(2024, 9, 16), MonthStatus.ARREARS),
        (False, True, {}, date(2024, 9, 17), MonthStatus.UNPAID_PAST_WINDOW),
        (False, True, {"2024-05": True}, date(2024, 6, 20), MonthStatus.LAPSED),
        (False, True, {"2024-07": True}, date(2024, 6, 20), MonthStatus.ARREARS),
    ],
)
def test_month_status(paid, invoiced, lapsed, today, expected) -> None:
    programme = {"due": {"2024-06": "2024-06-15"} if invoiced else {}, "lapsed": lapsed}
    assert month_status(programme, Month(2024, 6), paid, today, 3) is expected


def test_the_window_ends_on_the_due_date_billing_invoiced() -> None:
    """A holiday moved September's due date to the 18th: billing's invoice says so."""
    programme = {"due": {"2024-06": "2024-06-17", "2024-09": "2024-09-18"}}
    assert (
        month_status(programme, Month(2024, 6), False, date(2024, 9, 18), 3) is MonthStatus.ARREARS
    )
    assert month_status(programme, Month(2024, 6), False, date(2024, 9, 19), 3) is (
        MonthStatus.UNPAID_PAST_WINDOW
    )


# -- filing with an idempotency key -----------------------------------------------------------


async def test_filing_again_with_the_same_request_id_answers_the_claim_filed(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    first = await file_claim(jkm(request_id="kaur-0042"), KAUR, deps)
    again = await file_claim(jkm(request_id="kaur-0042"), KAUR, deps)
    assert first.created and not again.created
    assert again.claim["_id"] == first.claim["_id"] and len(repo.claims) == 1
    assert kinds(repo) == ["ClaimFiled"]
    # The claim id is derived from the filer's key and its request_id, so a retry finds it.
    assert first.claim["_id"] == claim_id_for(KAUR, "kaur-0042")


async def test_the_same_request_id_with_another_body_is_a_conflict(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    await file_claim(jkm(request_id="r-1"), FILER, deps)
    with pytest.raises(Conflict) as other:
        await file_claim(jkm(day=date(2024, 12, 4), request_id="r-1"), FILER, deps)
    assert other.value.field == "request_id"
    assert len(repo.claims) == 1 and kinds(repo) == ["ClaimFiled"]
    with pytest.raises(InvalidInput) as empty:
        await file_claim(jkm(request_id="  "), FILER, deps)
    assert empty.value.field == "request_id"


async def test_a_request_id_belongs_to_the_key_that_filed_it(repo, deps) -> None:
    enrol(repo)
    pay(repo, "2024-12")
    mine = await file_claim(jkm(request_id="r-1"), FILER, deps)
    theirs = await file_claim(jkm(request_id="r-1"), ASSESSOR, deps)
    assert theirs.created and theirs.claim["_id"] != mine.claim["_id"]
    # Without a key, every filing is a new claim (as before).
    plain = [await file_claim(jkm(), FILER, deps) for _ in range(2)]
    assert all(p.created for p in plain) and plain[0].claim["_id"] != plain[1].claim["_id"]
    assert len(repo.claims) == 4


async def test_two_retries_at_once_one_claim(repo, deps) -> None:
    """The retry read before the first write landed: the store refuses its insert (same id)
    and it answers the claim the first one filed."""
    enrol(repo)
    pay(repo, "2024-12")
    read = repo.claim

    async def not_yet(claim_id: str) -> dict[str, Any] | None:
        repo.claim = read  # type: ignore[method-assign]
        return None

    first = await file_claim(jkm(request_id="r-9"), FILER, deps)
    repo.claim = not_yet  # type: ignore[method-assign]
    late = await file_claim(jkm(request_id="r-9"), FILER, deps)
    assert not late.created and late.claim["_id"] == first.claim["_id"]
    repo.claim = not_yet  # type: ignore[method-assign]
    with pytest.raises(Conflict) as other:
        await file_claim(jkm(day=date(2024, 12, 1), request_id="r-9"), FILER, deps)
    assert other.value.field == "request_id" and kinds(repo) == ["ClaimFiled"]


# -- one bank reference, one claim --------------------------------------------------------------


async def approved(deps: Any, worker: str) -> str:
    claim = await filed(jkm(worker=worker), FILER, deps)
    await assess_claim(AssessClaim(claim["_id"]), ASSESSOR, deps)
    await approve_claim(ApproveClaim(claim["_id"]), APPROVER, deps)
    return str(claim["_id"])


async def test_a_bank_reference_pays_one_claim_only(repo, deps) -> None:
    for worker in ("WK-1", "WK-2"):
        enrol(repo, worker=worker)
        pay(repo, "2024-12", worker=worker)
    one, two = await approved(deps, "WK-1"), await approved(deps, "WK-2")
    first = await pay_claim(PayClaim(one, "BRI/TRF/7"), APPROVER, deps)
    assert first.created
    with pytest.raises(Conflict) as taken:
        await pay_claim(PayClaim(two, "BRI/TRF/7"), APPROVER, deps)
    assert taken.value.field == "reference" and one in str(taken.value)
    assert repo.claims[two]["state"] == "approved" and repo.claims[two]["paid_rupiah"] == 0
    assert kinds(repo).count("ClaimPaid") == 1
    # The same reference for the same claim stays one payment; another reference pays two.
    again = await pay_claim(PayClaim(one, "BRI/TRF/7"), APPROVER, deps)
    assert not again.created and again.payment == first.payment
    assert (await pay_claim(PayClaim(two, "BRI/TRF/8"), APPROVER, deps)).created
    assert kinds(repo).count("ClaimPaid") == 2


async def test_a_reference_reserved_before_a_crash_is_paid_by_the_retry(repo, deps) -> None:
    """The reference was reserved for the claim, then the process died before the claim's
    payment was written: the retry with the same reference records it, once."""
    enrol(repo)
    pay(repo, "2024-12")
    cid = await approved(deps, "WK-1")
    await repo.reserve_reference(payment_id("BRI/TRF/9"), "BRI/TRF/9", cid, None)
    done = await pay_claim(PayClaim(cid, "BRI/TRF/9"), APPROVER, deps)
    assert done.created and repo.claims[cid]["paid_rupiah"] == 42_000_000
    assert kinds(repo).count("ClaimPaid") == 1


# -- the programme's benefits in force in the incident month ------------------------------------


def history(*entries: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {
        f"t{i}": {"as_of": at, "month": at[:7], "benefits": benefits}
        for i, (at, benefits) in enumerate(entries)
    }


def test_benefits_in_force_in_a_month() -> None:
    programme = {
        "benefits": ["JKK", "JKM", "JHT"],  # the latest
        "benefits_at": history(
            ("2024-01-02T01:00:00.000000+00:00", ["JKK", "JHT"]),
            ("2024-11-05T01:00:00.000000+00:00", ["JKK", "JKM", "JHT"]),
        ),
    }
    assert benefits_in_force(programme, Month(2023, 12)) == ["JKK", "JHT"]  # as opened
    assert benefits_in_force(programme, Month(2024, 10)) == ["JKK", "JHT"]
    assert benefits_in_force(programme, Month(2024, 11)) == ["JKK", "JKM", "JHT"]
    assert benefits_in_force({"benefits": ["JKK", "JKM"]}, Month(2024, 1)) == ["JKK", "JKM"]
    assert benefits_in_force({}, Month(2024, 1)) is None


async def test_eligibility_reads_the_benefits_in_force_in_the_incident_month(repo, deps) -> None:
    """JKM was added to the programme in November: a death in October is refused R05 though
    the programme pays JKM today, and one in December is paid."""
    enrol(repo, benefits=("JKK", "JHT"))
    repo.programmes["PG-1"]["benefits"] = ["JKK", "JKM", "JHT"]
    repo.programmes["PG-1"]["benefits_at"] = history(
        ("2023-12-20T01:00:00.000000+00:00", ["JKK", "JHT"]),
        ("2024-11-05T01:00:00.000000+00:00", ["JKK", "JKM", "JHT"]),
    )
    for month in ("2024-10", "2024-12"):
        pay(repo, month)
    october = await filed(jkm(day=date(2024, 10, 7)), FILER, deps)
    refused = await assess_claim(AssessClaim(october["_id"]), ASSESSOR, deps)
    assert [r["code"] for r in refused["assessment"]["reasons"]] == ["R05"]
    december = await filed(jkm(), FILER, deps)
    paid = await assess_claim(AssessClaim(december["_id"]), ASSESSOR, deps)
    assert paid["state"] == "assessed" and paid["assessment"]["amount_rupiah"] == 42_000_000


def test_a_window_ending_in_a_month_not_invoiced_yet_skips_public_holidays() -> None:
    """May 2026 unpaid, August not invoiced yet: its due date is Tuesday the 18th (the 15th a
    Saturday, the 17th Independence Day), as billing will invoice it."""
    programme = {"due": {"2026-05": "2026-05-18"}}
    may = Month(2026, 5)
    assert month_status(programme, may, False, date(2026, 8, 18), 3) is MonthStatus.ARREARS
    assert month_status(programme, may, False, date(2026, 8, 19), 3) is (
        MonthStatus.UNPAID_PAST_WINDOW
    )


def test_claim_events_are_the_documented_ones() -> None:
    assert ClaimFiled.TOPIC == "claims.claim-filed.v1"
    assert ClaimAssessed.TOPIC == "claims.claim-assessed.v1"
    assert ClaimApproved.TOPIC == "claims.claim-approved.v1"
    assert ClaimRejected.TOPIC == "claims.claim-rejected.v1"
