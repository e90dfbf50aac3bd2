"""Claims' workflow against the real store: each step one write with its event in the claim's
outbox; two officers approving at once → one approval, one 409; a payment's reference sent twice
at once → one ClaimPaid; the history and the list filters read back from the store."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_claims.handlers.claims import (
    ApproveClaim,
    AssessClaim,
    FileClaim,
    Heir,
    PayClaim,
    approve_claim,
    assess_claim,
    file_claim,
    history_of,
    pay_claim,
)
from bpu_claims.store import ClaimsRepository
from bpu_claims.store.claims import CLAIMS, REFERENCES
from bpu_claims.store.cover import MonthInvoiced, MonthsPaid
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.errors import Conflict
from bpu_shared.events import BenefitProgramme
from bpu_shared.messaging.outbox import read_entry
from bpu_shared.service_layer.bus import Deps
from bpu_shared.service_layer.unit_of_work import UnitOfWork

FILER = Principal("filer", Role.OPERATOR)
SECOND = Principal("second", Role.OPERATOR)
THIRD = Principal("third", Role.OPERATOR)


@pytest.fixture
async def deps(mongo_db) -> Deps[ClaimsRepository, Any]:
    uow = UnitOfWork(mongo_db, ClaimsRepository.OUTBOX_COLLECTIONS)
    repo = ClaimsRepository(SimpleNamespace(db=mongo_db, uow=uow, api_keys=None))  # type: ignore[arg-type]
    await repo.ensure_indexes()
    await repo.add_enrolments(
        [
            {
                "_id": "EN-1",
                "worker_id": "WK-1",
                "programme_id": "PG-1",
                "first_month": "2024-01",
                "last_month": None,
                "benefits": ["JKK", "JKM"],
                "income": 1_000_000,
                "province_code": "17",
                "regency_code": "17.04",
                "district_code": "17.04.01",
                "village_code": "17.04.01.2001",
                "as_of": "2024-01-01",
                "ended_as_of": "0001",
                "registered": True,
            }
        ]
    )
    await repo.add_months_invoiced([MonthInvoiced("PG-1", "2024-12", "2024-12-16")])
    await repo.add_months_paid([MonthsPaid("PG-1", "2024-12", "IN-1", ["WK-1"])])
    clock = FixedClock(datetime(2024, 12, 20, 10, tzinfo=JAKARTA))
    return Deps(
        repo, uow.publisher, clock, SimpleNamespace(arrears_window_months=3, benefits_file=None)
    )


def jkm_death(worker: str = "WK-1", day: int = 3, request_id: str | None = None) -> FileClaim:
    return FileClaim(
        worker,
        BenefitProgramme.JKM,
        datetime(2024, 12, day).date(),
        date_of_death=datetime(2024, 12, day).date(),
        heirs=[Heir("Siti Aminah", "spouse", "BRI 0123-01-000123-50-1")],
        request_id=request_id,
    )


async def assessed_claim(deps: Any) -> str:
    claim = await file_claim(
        jkm_death(),
        FILER,
        deps,
    )
    await assess_claim(AssessClaim(claim.claim["_id"]), FILER, deps)
    return str(claim.claim["_id"])


async def outbox(mongo_db, claim_id: str) -> list[dict[str, Any]]:
    doc = await mongo_db[CLAIMS].find_one({"_id": claim_id})
    return [{**read_entry(e), **json.loads(read_entry(e)["value"])} for e in doc.get("outbox", [])]


async def test_two_officers_approving_at_once_make_one_approval(deps, mongo_db):
    cid = await assessed_claim(deps)
    results = await asyncio.gather(
        approve_claim(ApproveClaim(cid), SECOND, deps),
        approve_claim(ApproveClaim(cid), THIRD, deps),
        return_exceptions=True,
    )
    approved = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(approved) == 1 and len(refused) == 1, results
    types = [e["event_type"] for e in await outbox(mongo_db, cid)]
    assert types == ["ClaimFiled", "ClaimAssessed", "ClaimApproved"]


async def test_one_reference_sent_twice_at_once_is_one_payment(deps, mongo_db):
    cid = await assessed_claim(deps)
    await approve_claim(ApproveClaim(cid), SECOND, deps)
    results = await asyncio.gather(
        pay_claim(PayClaim(cid, "BRI/TRF/1"), SECOND, deps),
        pay_claim(PayClaim(cid, "BRI/TRF/1"), SECOND, deps),
        return_exceptions=True,
    )
    # The loser either finds the payment recorded (200) or the claim changed under it (409, a
    # retry then finds it); never a second payment.
    assert sum(1 for r in results if not isinstance(r, Exception) and r.created) == 1
    again = await pay_claim(PayClaim(cid, "BRI/TRF/1"), SECOND, deps)
    assert not again.created
    events = await outbox(mongo_db, cid)
    paid = [e for e in events if e["event_type"] == "ClaimPaid"]
    assert len(paid) == 1 and paid[0]["payload"]["amount_rupiah"] == 42_000_000
    doc = await deps.repository.claim(cid)
    assert doc["paid_rupiah"] == 42_000_000 and doc["state"] == "paid"
    assert [s["step"] for s in history_of(doc)] == ["filed", "assessed", "approved", "paid"]
    assert all("Siti" not in str(e) for e in events)


async def test_find_claims_by_state_benefit_region_and_period(deps):
    cid = await assessed_claim(deps)
    repo = deps.repository
    found, total = await repo.find_claims(
        state="assessed", benefit="JKM", region="17.04", month_from="2024-12", month_to="2024-12"
    )
    assert [c["_id"] for c in found] == [cid] and total == 1
    assert "heirs" not in found[0] and "outbox" not in found[0]
    for other in (
        {"state": "paid"},
        {"benefit": "JKK"},
        {"region": "17.05"},
        {"month_from": "2025-01"},
        {"month_to": "2024-11"},
    ):
        assert (await repo.find_claims(**other))[1] == 0, other


async def test_one_request_id_filed_twice_at_once_is_one_claim(deps, mongo_db):
    """Two retries of one filing race: the claim id derives from the key and request_id, the
    store's unique _id lets one insert through, and the other answers the claim it filed."""
    results = await asyncio.gather(
        *(file_claim(jkm_death(request_id="kaur-77"), FILER, deps) for _ in range(4))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.claim["_id"] for r in results}) == 1
    cid = results[0].claim["_id"]
    assert await mongo_db[CLAIMS].count_documents({"request.id": "kaur-77"}) == 1
    assert [e["event_type"] for e in await outbox(mongo_db, cid)] == ["ClaimFiled"]
    with pytest.raises(Conflict) as other:
        await file_claim(jkm_death(day=4, request_id="kaur-77"), FILER, deps)
    assert other.value.field == "request_id"


async def test_one_reference_for_two_claims_at_once_pays_one(deps, mongo_db):
    """Two claims paid at once with the same bank reference: the reference document's unique
    _id lets one through; the other is refused naming reference and stays approved."""
    one, two = await assessed_claim(deps), await assessed_claim(deps)
    for cid in (one, two):
        await approve_claim(ApproveClaim(cid), SECOND, deps)
    results = await asyncio.gather(
        pay_claim(PayClaim(one, "BNI/TRF/5"), SECOND, deps),
        pay_claim(PayClaim(two, "BNI/TRF/5"), SECOND, deps),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(done) == 1 and len(refused) == 1, results
    assert refused[0].field == "reference"
    winner = done[0].claim["_id"]
    loser = two if winner == one else one
    assert (await deps.repository.claim(loser))["state"] == "approved"
    assert await mongo_db[REFERENCES].count_documents({}) == 1
    paid = [
        e
        for cid in (one, two)
        for e in await outbox(mongo_db, cid)
        if e["event_type"] == "ClaimPaid"
    ]
    assert len(paid) == 1
    again = await pay_claim(PayClaim(winner, "BNI/TRF/5"), SECOND, deps)
    assert not again.created
