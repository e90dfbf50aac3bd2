"""Claims through the running claims and reporting services on the real broker and store.

Registration's and billing's events are produced to Kafka as those services publish them (each
twice, at other offsets): a worker enrolled in Kaur, the month invoiced, the CoverPaid for it.
A JKM death in that month is filed with its heirs and a death certificate (GridFS), assessed by
one officer, refused to the same officer's approval (four eyes), approved by a second, paid:
ClaimPaid of Rp42,000,000 is on the topic once, and reporting's benefit totals for the regency
show it. The same claim for a month invoiced but unpaid past the arrears window is rejected
with R02. Filing again with the same request_id answers the claim filed (200), with another
body 409; the first claim's bank reference cannot pay another claim (409). A dashboard key
cannot file; a sponsor key sees its own region's claims only."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bpu_claims.app import ClaimsSettings
from bpu_claims.app import build_app as build_claims
from bpu_devstack.inprocess import Running, running
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.events import (
    BenefitProgramme,
    ClaimPaid,
    ClaimRejected,
    ContributionInvoiced,
    ContributionInvoicedPayload,
    CoverPaid,
    CoverPaidPayload,
    Event,
    WorkerRegistered,
    WorkerRegisteredPayload,
)
from tests.e2e.billing_helpers import produce, published
from tests.harness import eventually, settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PROGRAMME = "PG-kaur-2024"
KAUR = {"province_code": "17", "regency_code": "17.04", "district_code": "17.04.01"}


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"cl{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock(datetime(2024, 12, 20, 9, tzinfo=JAKARTA))


@pytest.fixture(scope="module")
async def services(infra, prefix, clock) -> AsyncIterator[tuple[Running, Running]]:
    claims_settings = settings_for(ClaimsSettings, infra, prefix)
    reporting_settings = settings_for(ReportingSettings, infra, prefix)
    async with (
        running(functools.partial(build_claims, clock=clock), claims_settings) as claims,
        running(build_reporting, reporting_settings) as reporting,
    ):
        yield claims, reporting


@pytest.fixture(scope="module")
async def keys(services) -> dict[str, dict[str, str]]:
    claims, _ = services
    found = {}
    for name, body in {
        "officer_a": {"role": "operator", "label": "officer A"},
        "officer_b": {"role": "operator", "label": "officer B"},
        "dashboard": {"role": "dashboard", "label": "dashboard"},
        "kaur": {"role": "sponsor", "region_scope": "17.04", "label": "Kaur"},
        "paser": {"role": "sponsor", "region_scope": "64.01", "label": "Paser"},
    }.items():
        issued = await claims.client.post("/admin/api-keys", json=body)
        assert issued.status_code == 201, issued.text
        found[name] = {"Authorization": f"Bearer {issued.json()['key']}"}
    return found


def enrolled(worker: str, village: str = "17.04.01.2001") -> WorkerRegistered:
    return WorkerRegistered.create(
        WorkerRegisteredPayload(
            worker_id=worker,
            **KAUR,
            village_code=village,
            occupation="fisher",
            gender="L",
            declared_monthly_income=1_000_000,
            sponsor_id="SP-kaur",
            programme_id=PROGRAMME,
            benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
            cover_start="2024-01",
            registered_at=datetime(2023, 12, 20, tzinfo=UTC),
            enrolment_id=f"EN-{worker}",
        ),
        producer="registration",
    )


def invoiced(month: str, due: str, workers: int) -> ContributionInvoiced:
    return ContributionInvoiced.create(
        ContributionInvoicedPayload(
            invoice_id=f"INV-{PROGRAMME}-{month}",
            sponsor_id="SP-kaur",
            programme_id=PROGRAMME,
            region_code="17.04",
            period=month,
            worker_count=workers,
            amount_by_benefit={BenefitProgramme.JKK: 10_000 * workers},
            amount_rupiah=16_800 * workers,
            due_date=date.fromisoformat(due),
        ),
        producer="billing",
    )


def cover_paid(month: str, workers: list[str]) -> CoverPaid:
    return CoverPaid.create(
        CoverPaidPayload(
            invoice_id=f"INV-{PROGRAMME}-{month}",
            programme_id=PROGRAMME,
            sponsor_id="SP-kaur",
            period=month,
            worker_ids=workers,
        ),
        producer="billing",
    )


def heirs() -> list[dict[str, str]]:
    return [
        {"name": "Siti Aminah", "relation": "spouse", "bank_account": "BRI 0123-01-000123-50-1"}
    ]


def jkm_claim(worker: str, day: str) -> dict[str, Any]:
    return {
        "worker_id": worker,
        "benefit": "JKM",
        "incident_date": day,
        "date_of_death": day,
        "heirs": heirs(),
    }


@pytest.fixture(scope="module")
async def cover(services, infra, prefix) -> dict[str, str]:
    """Two Kaur fishers enrolled from January; June and December invoiced; December paid for
    both, June for nobody. Every event published twice, the second time after the others (a
    relay that crashed between publishing and marking)."""
    claims, _ = services
    paid, unpaid = f"WK-{uuid.uuid4().hex[:6]}", f"WK-{uuid.uuid4().hex[:6]}"
    events: list[Event] = [
        enrolled(paid),
        enrolled(unpaid),
        invoiced("2024-06", "2024-06-17", 2),
        invoiced("2024-12", "2024-12-16", 2),
        cover_paid("2024-12", [paid, unpaid]),
    ]
    await produce(infra, prefix, events)
    await produce(infra, prefix, events)

    async def known() -> bool:
        repo = claims.repository
        return len(await repo.months_paid(unpaid)) == 1 and bool(
            ((await repo.cover_programme(PROGRAMME)) or {}).get("due", {}).get("2024-06")
        )

    await eventually(known, bool, timeout=30)
    return {"paid": paid, "unpaid": unpaid}


async def test_a_jkm_death_filed_assessed_approved_by_a_second_officer_and_paid(
    services, keys, cover, infra, prefix
):
    claims, reporting = services
    client = claims.client
    body = {**jkm_claim(cover["paid"], "2024-12-03"), "request_id": "kaur-2024-12-0001"}
    filed = await client.post("/claims", json=body, headers=keys["kaur"])
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    cid = claim["claim_id"]
    assert claim["state"] == "filed" and claim["regency_code"] == "17.04"
    assert filed.headers["location"] == f"/claims/{cid}"
    # The client retries (the answer was lost): the same claim, 200; never a second one.
    retried = await client.post("/claims", json=body, headers=keys["kaur"])
    assert retried.status_code == 200, retried.text
    assert retried.json()["claim_id"] == cid and retried.headers["location"] == f"/claims/{cid}"
    other = await client.post(
        "/claims", json={**body, "incident_date": "2024-12-02"}, headers=keys["kaur"]
    )
    assert other.status_code == 409, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["errors"][0]["field"] == "request_id"

    pdf = b"%PDF-1.4 akta kematian " + bytes(range(256)) * 2000
    attached = await client.post(
        f"/claims/{cid}/documents",
        files={"file": ("akta-kematian.pdf", pdf, "application/pdf")},
        data={"kind": "death_certificate"},
        headers=keys["kaur"],
    )
    assert attached.status_code == 201, attached.text
    document = attached.json()
    assert document["length"] == len(pdf) and document["kind"] == "death_certificate"
    assert document["uploaded_at"].endswith("+07:00")
    listed = (await client.get(f"/claims/{cid}/documents", headers=keys["officer_a"])).json()
    assert [d["document_id"] for d in listed] == [document["document_id"]]
    read = await client.get(attached.headers["location"], headers=keys["officer_a"])
    assert read.status_code == 200 and read.content == pdf
    assert read.headers["content-type"] == "application/pdf"

    assessed = await client.post(f"/claims/{cid}/assessment", headers=keys["officer_a"])
    assert assessed.status_code == 200, assessed.text
    assert assessed.json()["state"] == "assessed"
    assert assessed.json()["assessment"]["amount_rupiah"] == 42_000_000

    same = await client.post(f"/claims/{cid}/approval", headers=keys["officer_a"])
    assert same.status_code == 403, same.text
    assert same.headers["content-type"].startswith("application/problem+json")
    assert "four-eyes" in same.json()["detail"]

    approved = await client.post(f"/claims/{cid}/approval", headers=keys["officer_b"])
    assert approved.status_code == 200 and approved.json()["approved_by"] != claim["filed_by"]

    paid = await client.post(
        f"/claims/{cid}/payments",
        json={"reference": "BRI/TRF/2024/12/0042"},
        headers=keys["officer_b"],
    )
    assert paid.status_code == 201, paid.text
    again = await client.post(
        f"/claims/{cid}/payments",
        json={"reference": "BRI/TRF/2024/12/0042"},
        headers=keys["officer_b"],
    )
    assert again.status_code == 200 and again.json()["payment"] == paid.json()["payment"]
    assert paid.json()["claim"]["state"] == "paid"

    history = (await client.get(f"/claims/{cid}/history", headers=keys["officer_a"])).json()
    assert [(s["step"], s["state"]) for s in history] == [
        ("filed", "filed"),
        ("assessed", "assessed"),
        ("approved", "approved"),
        ("paid", "paid"),
    ]
    assert history[0]["by"] != history[1]["by"] != history[2]["by"]

    async def paid_events() -> list[dict[str, Any]]:
        return [
            e for e in await published(infra, prefix, ClaimPaid) if e["payload"]["claim_id"] == cid
        ]

    events, _ = await eventually(paid_events, lambda found: len(found) >= 1)
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload["amount_rupiah"] == 42_000_000 and payload["benefit"] == "JKM"
    assert payload["amount_by_kind"] == {
        "lump_sum": 20_000_000,
        "periodic": 12_000_000,
        "funeral": 10_000_000,
    }
    assert "Siti" not in str(events) and "0123-01" not in str(events)

    async def regency() -> dict[str, Any]:
        return dict((await reporting.client.get("/coverage", params={"region": "17.04"})).json())

    totals, _ = await eventually(regency, lambda r: r["benefits_paid_rupiah"] >= 42_000_000)
    assert totals["benefits_paid_rupiah"] == 42_000_000 and totals["claims_paid"] == 1


async def test_a_bank_reference_pays_one_claim_only(services, keys, cover):
    """The first test's transfer reference, given again for another worker's approved claim:
    409 naming reference, and that claim stays approved and unpaid."""
    claims, _ = services
    client = claims.client
    filed = await client.post(
        "/claims", json=jkm_claim(cover["unpaid"], "2024-12-10"), headers=keys["officer_a"]
    )
    assert filed.status_code == 201, filed.text
    cid = filed.json()["claim_id"]
    assessed = await client.post(f"/claims/{cid}/assessment", headers=keys["officer_a"])
    assert assessed.json()["state"] == "assessed", assessed.text
    approved = await client.post(f"/claims/{cid}/approval", headers=keys["officer_b"])
    assert approved.json()["state"] == "approved", approved.text
    taken = await client.post(
        f"/claims/{cid}/payments",
        json={"reference": "BRI/TRF/2024/12/0042"},
        headers=keys["officer_b"],
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["errors"][0]["field"] == "reference"
    after = (await client.get(f"/claims/{cid}", headers=keys["officer_a"])).json()
    assert after["state"] == "approved" and after["payments"] == [] and after["paid_rupiah"] == 0


async def test_a_month_unpaid_past_the_window_is_rejected_with_r02(
    services, keys, cover, infra, prefix
):
    claims, _ = services
    filed = await claims.client.post(
        "/claims", json=jkm_claim(cover["unpaid"], "2024-06-10"), headers=keys["officer_a"]
    )
    assert filed.status_code == 201, filed.text
    cid = filed.json()["claim_id"]
    rejected = await claims.client.post(f"/claims/{cid}/assessment", headers=keys["officer_b"])
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "rejected"
    reasons = rejected.json()["assessment"]["reasons"]
    assert [r["code"] for r in reasons] == ["R02"]
    assert "arrears window" in reasons[0]["text"]

    async def rejections() -> list[dict[str, Any]]:
        return [
            e
            for e in await published(infra, prefix, ClaimRejected)
            if e["payload"]["claim_id"] == cid
        ]

    events, _ = await eventually(rejections, bool)
    assert [r["code"] for r in events[0]["payload"]["reasons"]] == ["R02"]
    refused = await claims.client.post(f"/claims/{cid}/approval", headers=keys["officer_a"])
    assert refused.status_code == 409


async def test_who_may_file_and_see(services, keys, cover):
    claims, _ = services
    client = claims.client
    dashboard = await client.post(
        "/claims", json=jkm_claim(cover["paid"], "2024-12-05"), headers=keys["dashboard"]
    )
    assert dashboard.status_code == 403, dashboard.text
    elsewhere = await client.post(
        "/claims", json=jkm_claim(cover["paid"], "2024-12-05"), headers=keys["paser"]
    )
    assert elsewhere.status_code == 422 and "worker_id" in elsewhere.text
    mine = await client.get("/claims", params={"benefit": "JKM"}, headers=keys["kaur"])
    assert mine.status_code == 200 and mine.json()["total"] >= 1
    assert {c["regency_code"] for c in mine.json()["claims"]} == {"17.04"}
    assert (await client.get("/claims", headers=keys["paser"])).json()["total"] == 0
    other = await client.get("/claims", params={"region": "17"}, headers=keys["paser"])
    assert other.status_code == 403
    paid = await client.get(
        "/claims",
        params={
            "state": "paid",
            "region": "17.04.01",
            "period_from": "2024-12",
            "period_to": "2024-12",
        },
        headers=keys["officer_a"],
    )
    assert [c["worker_id"] for c in paid.json()["claims"]] == [cover["paid"]]
    some = paid.json()["claims"][0]["claim_id"]
    assert (await client.get(f"/claims/{some}", headers=keys["paser"])).status_code == 404
    assert (await client.get(f"/claims/{some}", headers=keys["kaur"])).json()["heirs"] == heirs()
    # Heirs, bank accounts and children are for the office and the sponsor, not a dashboard
    for path in ("/claims", f"/claims/{some}", f"/claims/{some}/documents"):
        assert (await client.get(path, headers=keys["dashboard"])).status_code == 403, path
