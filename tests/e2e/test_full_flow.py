"""The whole flow through the four running services, on the real broker and store, each step
through the services' HTTP APIs and every fact between them carried by the services' own events
(nothing produced by hand):

1. an operator registers Kabupaten Kaur (17.04), its JKK + JKM programme for last year
   (APBD regency) and three workers; registration publishes them;
2. billing learns programme and workers from those events, invoices December (and June) at
   3 × Rp16,800, and the operator pays December's invoice;
3. claims learns the enrolments, the invoices and the paid cover (CoverPaid) from billing's and
   registration's events; a JKM death in December is filed and assessed by one officer, refused
   to that officer's approval (four eyes), approved by a second and paid with a bank reference;
4. reporting shows Rp42,000,000 of benefits under JKM for Kaur and for Bengkulu (17); a death in
   June, invoiced and never paid, is rejected with R02 (unpaid past the arrears window).

The months are last year's, named explicitly everywhere (cover start, billing periods, incident
dates), so the flow does not depend on the day it runs: a month of last year is always past its
arrears window, and a December death is past the first three months of membership. The API keys
are issued once, on registration; the other services learn them from ``ApiKeyIssued``."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import bson
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bpu_billing.app import BillingSettings
from bpu_billing.app import build_app as build_billing
from bpu_claims.app import ClaimsSettings
from bpu_claims.app import build_app as build_claims
from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_reporting.store import PAID_CLAIMS, TALLY_BATCHES
from bpu_shared.clock import SystemClock
from bpu_shared.events import ClaimPaid
from bpu_shared.messaging.broker import true_end_offsets
from bpu_shared.messaging.exactly_once import inbox_of
from tests.e2e.test_slice import wait_committed
from tests.harness import eventually, nik, settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

KAUR = "17.04"
KINAL_VILLAGE = "17.04.01.2001"
WORKERS = 3
MONTHLY = 16_800  # JKK Rp10,000 (1% of the Rp1,000,000 bracket base) + JKM Rp6,800
#: Last year, in Asia/Jakarta: its months are past, whatever day the suite runs.
YEAR = SystemClock().today().year - 1
DECEMBER, JUNE = f"{YEAR}-12", f"{YEAR}-06"


@dataclass
class Stack:
    registration: Running
    billing: Running
    claims: Running
    reporting: Running
    infra: Any
    started_in: float


@dataclass
class Flow:
    """What the operator made, and the headers of the keys registration issued."""

    keys: dict[str, dict[str, str]]
    sponsor_id: str
    programme_id: str
    workers: list[str]
    #: What registration alone may keep of each worker: NIK, name and phone, as sent.
    personal: list[dict[str, str]]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"ff{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def stack(infra, prefix) -> AsyncIterator[Stack]:
    started = time.monotonic()
    async with (
        running(build_registration, settings_for(RegistrationSettings, infra, prefix)) as reg,
        running(
            build_billing,
            settings_for(
                BillingSettings,
                infra,
                prefix,
                billing_run_poll_seconds=0.2,
                billing_monthly_days=0,  # no run of its own on the 1st: the test asks for them
            ),
        ) as billing,
        running(build_claims, settings_for(ClaimsSettings, infra, prefix)) as claims,
        running(build_reporting, settings_for(ReportingSettings, infra, prefix)) as reporting,
    ):
        elapsed = time.monotonic() - started
        print(f"four services started in {elapsed:.1f}s")
        yield Stack(reg, billing, claims, reporting, infra, elapsed)


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
async def flow(stack: Stack) -> Flow:
    """Step 1: keys issued on registration and known everywhere; the sponsor, its programme and
    its workers, through registration's API."""
    admin = stack.registration.client
    keys = {}
    for name, body in {
        "officer_a": {"role": "operator", "label": "officer A"},
        "officer_b": {"role": "operator", "label": "officer B"},
        "dashboard": {"role": "dashboard", "label": "dashboard"},
    }.items():
        issued = await ok(await admin.post("/admin/api-keys", json=body), 201)
        keys[name] = {"Authorization": f"Bearer {issued['key']}"}

    # Every service learns the keys from ApiKeyIssued.
    async def known_everywhere() -> list[int]:
        return [
            (await stack.billing.client.get("/invoices", headers=keys["officer_a"])).status_code,
            (await stack.billing.client.get("/invoices", headers=keys["officer_b"])).status_code,
            (await stack.claims.client.get("/claims", headers=keys["officer_a"])).status_code,
            (await stack.claims.client.get("/claims", headers=keys["officer_b"])).status_code,
            (await stack.reporting.client.get("/coverage", headers=keys["dashboard"])).status_code,
        ]

    _, seconds = await eventually(known_everywhere, lambda codes: set(codes) == {200}, 30)
    print(f"keys known to billing, claims and reporting after {seconds:.1f}s")

    operator = keys["officer_a"]
    reg = stack.registration.client
    sponsor = await ok(
        await reg.post(
            "/sponsors",
            json={"name": "Pemerintah Kabupaten Kaur", "kind": "regency", "region_code": KAUR},
            headers=operator,
        ),
        201,
    )
    programme = await ok(
        await reg.post(
            "/programmes",
            json={
                "sponsor_id": sponsor["sponsor_id"],
                "name": f"Pekerja Rentan Kaur {YEAR}",
                "budget_year": YEAR,
                "budget_rupiah": 12 * 100 * MONTHLY,
                "quota": 100,
                "benefits": ["JKK", "JKM"],
                "start_month": f"{YEAR}-01",
                "end_month": DECEMBER,
                "funding_source": "apbd_regency",
            },
            headers=operator,
        ),
        201,
    )
    workers, personal = [], []
    for i, name in enumerate(("Siti Aminah", "Rahmawati", "Nurhayati")):
        person = {"nik": nik(), "name": name, "phone": f"+6281277001{i:03d}"}
        personal.append(person)
        worker = await ok(
            await reg.post(
                "/workers",
                json={
                    **person,
                    "occupation": "farmer",
                    "domicile_code": KINAL_VILLAGE,
                    "programme_id": programme["programme_id"],
                    "cover_start": f"{YEAR}-01",
                },
                headers=operator,
            ),
            201,
        )
        assert worker["cover_start"] == f"{YEAR}-01"
        workers.append(worker["worker_id"])
    return Flow(keys, sponsor["sponsor_id"], programme["programme_id"], workers, personal)


async def bill(stack: Stack, flow: Flow, period: str) -> dict[str, Any]:
    """A billing run of the programme for ``period`` to its end; the invoice it issued."""
    client, operator = stack.billing.client, flow.keys["officer_a"]
    started = await ok(
        await client.post(
            "/billing-runs",
            json={"period": period, "programme_id": flow.programme_id},
            headers=operator,
        ),
        202,
    )

    async def run() -> dict[str, Any]:
        return dict(
            await ok(await client.get(f"/billing-runs/{started['run_id']}", headers=operator))
        )

    done, _ = await eventually(run, lambda r: r["state"] in ("done", "failed"), 30)
    assert done["state"] == "done", done
    assert (done["invoices_issued"], done["lines_written"]) == (1, WORKERS)
    [invoice] = await ok(
        await client.get(
            "/invoices",
            params={"programme_id": flow.programme_id, "period": period},
            headers=operator,
        )
    )
    return dict(invoice)


@pytest.fixture(scope="module")
async def billed(stack: Stack, flow: Flow) -> dict[str, dict[str, Any]]:
    """Step 2: billing's roster filled from registration's events (each worker enrolled in the
    month, as billing's cover answer says), June and December invoiced, December paid."""
    client, operator = stack.billing.client, flow.keys["officer_a"]

    async def roster() -> list[str]:
        return [
            (
                await ok(
                    await client.get(
                        f"/coverage/{w}", params={"on": f"{DECEMBER}-01"}, headers=operator
                    )
                )
            )["status"]
            for w in flow.workers
        ]

    statuses, seconds = await eventually(roster, lambda s: "not_enrolled" not in s, 30)
    print(f"billing's roster holds the {WORKERS} workers after {seconds:.1f}s: {statuses}")

    june = await bill(stack, flow, JUNE)
    december = await bill(stack, flow, DECEMBER)
    payment = await ok(
        await client.post(
            "/payments",
            json={
                "invoice_id": december["invoice_id"],
                "amount_rupiah": december["amount_rupiah"],
                "paid_at": f"{YEAR + 1}-01-10T10:00:00+07:00",
                "reference": f"BPD-BENGKULU-{uuid.uuid4().hex[:10]}",
            },
            headers=operator,
        ),
        201,
    )
    return {"june": june, "december": december, "payment": payment}


async def test_billing_invoices_registrations_workers_and_records_the_payment(stack, flow, billed):
    december, june, payment = billed["december"], billed["june"], billed["payment"]
    for invoice, period in ((june, JUNE), (december, DECEMBER)):
        assert invoice["period"] == period and invoice["sponsor_id"] == flow.sponsor_id
        assert invoice["worker_count"] == WORKERS
        assert invoice["amount_rupiah"] == WORKERS * MONTHLY == 50_400
        assert invoice["amount_by_benefit"] == {"JKK": WORKERS * 10_000, "JKM": WORKERS * 6_800}
    assert payment["state"] == "applied"
    assert payment["applications"] == [
        {"invoice_id": december["invoice_id"], "amount_rupiah": 50_400}
    ]
    client, operator = stack.billing.client, flow.keys["officer_a"]
    paid = await ok(await client.get(f"/invoices/{december['invoice_id']}", headers=operator))
    assert (paid["paid_rupiah"], paid["paid_in_full"], paid["lines_paid"]) == (50_400, True, 3)
    cover = await ok(
        await client.get(
            f"/coverage/{flow.workers[0]}", params={"on": f"{DECEMBER}-03"}, headers=operator
        )
    )
    assert (cover["status"], cover["covered"]) == ("paid", True)
    unpaid = await ok(
        await client.get(
            f"/coverage/{flow.workers[1]}", params={"on": f"{JUNE}-10"}, headers=operator
        )
    )
    assert unpaid["covered"] is False and unpaid["invoice_id"] == june["invoice_id"]


async def cover_known_to_claims(stack: Stack, flow: Flow) -> None:
    """Claims has learnt, from billing's events, that December is paid for every worker and
    that June was invoiced (its due date)."""
    repo = stack.claims.repository

    async def known() -> tuple[list[list[tuple[str, str]]], list[str]]:
        paid = [sorted(await repo.months_paid(w)) for w in flow.workers]
        due = sorted(((await repo.cover_programme(flow.programme_id)) or {}).get("due", {}))
        return paid, due

    (paid, due), seconds = await eventually(
        known,
        lambda k: all(k[0]) and JUNE in k[1] and DECEMBER in k[1],
        30,
    )
    assert paid == [[(flow.programme_id, DECEMBER)]] * WORKERS
    assert due == [JUNE, DECEMBER]
    print(f"claims knows December paid (CoverPaid) after {seconds:.1f}s")


def jkm_death(worker: str, day: str) -> dict[str, Any]:
    return {
        "worker_id": worker,
        "benefit": "JKM",
        "incident_date": day,
        "date_of_death": day,
        "heirs": [
            {"name": "Ahmad Fauzi", "relation": "spouse", "bank_account": "BRI 0123-01-000777-50-1"}
        ],
    }


async def test_a_jkm_death_in_a_paid_month_is_paid_and_reported_under_jkm(stack, flow, billed):
    await cover_known_to_claims(stack, flow)
    client = stack.claims.client
    officer_a, officer_b = flow.keys["officer_a"], flow.keys["officer_b"]

    claim = await ok(
        await client.post(
            "/claims", json=jkm_death(flow.workers[0], f"{DECEMBER}-03"), headers=officer_a
        ),
        201,
    )
    cid = claim["claim_id"]
    assert (claim["state"], claim["regency_code"]) == ("filed", KAUR)
    assessed = await ok(await client.post(f"/claims/{cid}/assessment", headers=officer_a))
    assert assessed["state"] == "assessed", assessed
    assert assessed["assessment"]["amount_rupiah"] == 42_000_000

    same_officer = await client.post(f"/claims/{cid}/approval", headers=officer_a)
    assert same_officer.status_code == 403, same_officer.text
    assert "four-eyes" in same_officer.json()["detail"]
    approved = await ok(await client.post(f"/claims/{cid}/approval", headers=officer_b))
    assert approved["state"] == "approved"
    assert approved["approved_by"] != claim["filed_by"]

    paid = await ok(
        await client.post(
            f"/claims/{cid}/payments",
            json={"reference": f"BRI/TRF/{YEAR + 1}/0042"},
            headers=officer_b,
        ),
        201,
    )
    assert paid["claim"]["state"] == "paid"

    # ClaimPaid reaches reporting: Kaur and Bengkulu show the JKM death benefit.
    dashboard = flow.keys["dashboard"]

    async def region(code: str) -> dict[str, Any]:
        return dict(
            await ok(
                await stack.reporting.client.get(
                    "/coverage", params={"region": code}, headers=dashboard
                )
            )
        )

    # The tally lets facts that stream in gather for up to its settle time (10 s) before
    # counting them, so the workers may be counted a few seconds after the claim.
    kaur, seconds = await eventually(
        lambda: region(KAUR),
        lambda r: r["benefits_paid_rupiah"] > 0 and r["registered_workers"] >= WORKERS,
        30,
    )
    print(f"reporting counts the paid claim and the workers {seconds:.1f}s after the payment")
    assert kaur["benefits_paid_by_programme"] == {"JKK": 0, "JKM": 42_000_000}
    assert kaur["claims_paid_by_programme"] == {"JKK": 0, "JKM": 1}
    assert (kaur["claims_paid"], kaur["benefits_paid_rupiah"]) == (1, 42_000_000)
    assert kaur["registered_workers"] == WORKERS
    kinal = {row["region"]: row for row in kaur["breakdown"]}["17.04.01"]
    assert (kinal["claims_paid"], kinal["benefits_paid_rupiah"]) == (1, 42_000_000)

    bengkulu = await region("17")
    assert bengkulu["benefits_paid_by_programme"] == {"JKK": 0, "JKM": 42_000_000}
    assert bengkulu["benefits_paid_rupiah"] == 42_000_000
    row = {r["region"]: r for r in bengkulu["breakdown"]}[KAUR]
    assert (row["registered_workers"], row["benefits_paid_rupiah"]) == (WORKERS, 42_000_000)

    # ClaimPaid published again at new offsets (claims' relay crashed between publishing and
    # marking): once reporting has consumed and counted it, still one claim of Rp42,000,000.
    topic = stack.reporting.runtime.settings.kafka_topic_prefix + ClaimPaid.TOPIC
    assert await publish_again(stack.infra, topic) == 1
    await wait_committed(stack.infra, stack.reporting, topic)
    await claims_tally_idle(stack)
    again = await region(KAUR)
    assert again["benefits_paid_by_programme"] == {"JKK": 0, "JKM": 42_000_000}
    assert (again["claims_paid"], again["claims_paid_by_programme"]["JKM"]) == (1, 1)


async def publish_again(infra, topic: str) -> int:
    """Every record of ``topic`` produced once more, as it was (key, value, headers), at new
    offsets: as a relay that crashed between publishing and marking does. How many."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await consumer.start()
    await producer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = {tp: end for tp, end in (await true_end_offsets(consumer, partitions)).items()}
        wanted = {tp for tp, end in ends.items() if end > 0}
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, 0)
        records = []
        while wanted:
            for tp, batch in (await consumer.getmany(timeout_ms=500)).items():
                records += [r for r in batch if r.offset < ends[tp]]
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    wanted.discard(tp)
        for r in records:
            await producer.send(topic, r.value, key=r.key, headers=list(r.headers))
        await producer.flush()
        return len(records)
    finally:
        await producer.stop()
        await consumer.stop()


async def claims_tally_idle(stack: Stack) -> None:
    """Until reporting has counted every paid claim it recorded (its inbox empty, no batch
    open)."""
    db = stack.reporting.repository.counters.database

    async def left() -> int:
        waiting = await inbox_of(db[PAID_CLAIMS]).count_documents({})
        return waiting + await db[TALLY_BATCHES].count_documents({"tally": "coverage-claims"})

    await eventually(left, lambda n: n == 0, 30)


async def test_a_death_in_a_month_unpaid_past_the_window_is_rejected_with_r02(stack, flow, billed):
    await cover_known_to_claims(stack, flow)
    client = stack.claims.client
    claim = await ok(
        await client.post(
            "/claims", json=jkm_death(flow.workers[1], f"{JUNE}-10"), headers=flow.keys["officer_a"]
        ),
        201,
    )
    rejected = await ok(
        await client.post(f"/claims/{claim['claim_id']}/assessment", headers=flow.keys["officer_b"])
    )
    assert rejected["state"] == "rejected", rejected
    reasons = rejected["assessment"]["reasons"]
    assert [r["code"] for r in reasons] == ["R02"], reasons
    assert "arrears window" in reasons[0]["text"]
    refused = await client.post(
        f"/claims/{claim['claim_id']}/approval", headers=flow.keys["officer_a"]
    )
    assert refused.status_code == 409, refused.text


async def test_no_nik_name_or_phone_is_anywhere_in_reportings_database(stack, flow, billed):
    """Run last in this module, after claims were filed, paid and rejected: every document of
    every collection of reporting's database, as the store holds it
    (BSON, so blobs such as the inbox's are searched too), holds none of the workers' NIKs,
    names or phone numbers, nor the heir's name or bank account the claim named; the same
    search finds them in registration's and claims' databases, so it can find them."""
    heir = jkm_death(flow.workers[0], f"{DECEMBER}-03")["heirs"][0]
    needles = {
        value.encode()
        for person in flow.personal
        for value in (person["nik"], person["name"], person["phone"], person["phone"][3:])
    } | {heir["name"].encode(), heir["bank_account"].encode()}

    async def found_in(db: Any) -> tuple[int, set[bytes]]:
        documents, hits = 0, set()
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                documents += 1
                raw = bson.encode(doc)
                hits |= {n for n in needles if n in raw}
        return documents, hits

    documents, hits = await found_in(stack.reporting.runtime.db)
    assert documents > 0
    assert hits == set(), f"personal data in reporting's database: {sorted(hits)}"
    _, in_registration = await found_in(stack.registration.runtime.db)
    assert {p["nik"].encode() for p in flow.personal} <= in_registration
    _, in_claims = await found_in(stack.claims.runtime.db)
    assert heir["name"].encode() in in_claims
    print(f"searched {documents} documents of reporting's database: no personal data")
