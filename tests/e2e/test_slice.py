"""The first slice end to end: registration enrols a worker, reporting counts it, through the
real broker and store; and the failures the messaging kit must survive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.events import WorkerRegistered, dlq_topic
from bpu_shared.messaging.broker import true_end_offsets
from bpu_shared.messaging.outbox import read_entry
from tests.harness import eventually, nik, settings_for, village_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def registration(infra, prefix) -> AsyncIterator[Running]:
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix)
    ) as svc:
        yield svc


@pytest.fixture(scope="module")
async def reporting(infra, prefix) -> AsyncIterator[Running]:
    async with running(build_reporting, settings_for(ReportingSettings, infra, prefix)) as svc:
        yield svc


async def enrol(registration: Running, regency: str, village: str, count: int = 1) -> list[dict]:
    """A regency sponsor, a programme, and ``count`` workers living in ``village``."""
    client = registration.client
    sponsor = await client.post(
        "/sponsors", json={"name": f"Pemkab {regency}", "kind": "regency", "region_code": regency}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": "Perlindungan Pekerja Rentan",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 100,
            "quota": 100,
            "start_month": "2026-01",
            "end_month": "2026-12",
        },
    )
    assert programme.status_code == 201, programme.text
    workers = []
    for _ in range(count):
        worker = await client.post(
            "/workers",
            json={
                "nik": nik(),
                "name": "Siti Aminah",
                "occupation": "farmer",
                "domicile_code": village,
                "programme_id": programme.json()["programme_id"],
            },
        )
        assert worker.status_code == 201, worker.text
        workers.append(worker.json())
    return workers


async def coverage(reporting: Running, region: str) -> dict:
    response = await reporting.client.get("/coverage", params={"region": region})
    assert response.status_code == 200, response.text
    return response.json()


async def test_worker_registered_in_kaur_is_counted_with_its_district(registration, reporting):
    [worker] = await enrol(registration, "17.04", "17.04.01.2001")
    assert worker["nik_masked"].startswith("1704") and "*" in worker["nik_masked"]

    body, seconds = await eventually(
        lambda: coverage(reporting, "17.04"), lambda b: b["registered_workers"] == 1, timeout=5
    )
    print(f"counted after {seconds:.2f}s")
    districts = {row["region"]: row for row in body["breakdown"]}
    assert body["breakdown_level"] == "district"
    assert len(districts) == 15  # Kaur's 15 districts, the empty ones at zero
    kinal = districts["17.04.01"]
    assert (kinal["name"], kinal["registered_workers"], kinal["registered"]) == ("Kinal", 1, 1)
    assert (kinal["enrolled"], kinal["claims_paid"], kinal["benefits_paid_rupiah"]) == (1, 0, 0)
    province = await coverage(reporting, "17")
    assert province["registered_workers"] == 1
    assert {r["region"]: r["registered_workers"] for r in province["breakdown"]}["17.04"] == 1


async def test_invalid_input_names_the_field(registration):
    client = registration.client
    [worker] = await enrol(registration, "17.08", village_in("17.08.01"))
    programme_id = worker["programme_id"]
    base = {
        "nik": nik(),
        "name": "Budi",
        "occupation": "fisher",
        "domicile_code": village_in("17.08.01"),
        "programme_id": programme_id,
    }
    cases = {
        "nik": {**base, "nik": "1708010000000000"},
        "domicile_code": {**base, "domicile_code": "17.08.01.9999"},
        "occupation": {**base, "occupation": "astronaut"},
        "programme_id": {**base, "programme_id": "PG-missing"},
    }
    for field, body in cases.items():
        response = await client.post("/workers", json=body)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], response.text

    missing = {k: v for k, v in base.items() if k != "nik"}
    response = await client.post("/workers", json=missing)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "nik"


async def programme_of(registration: Running, sponsor_id: str, year: int, **terms) -> dict:
    response = await registration.client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor_id,
            "name": f"Pekerja Rentan {year}",
            "budget_year": year,
            "budget_rupiah": 16_800 * 12 * 100,
            "quota": 100,
            "start_month": f"{year}-01",
            "end_month": f"{year}-12",
            **terms,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_one_payer_per_worker_month(registration):
    """The same enrolment again is the one made (200); another programme for overlapping
    months is refused naming it; one for other months is a second enrolment of the same
    worker."""
    client = registration.client
    [first] = await enrol(registration, "62.05", village_in("62.05.01"))
    province = await client.post(
        "/sponsors", json={"name": "Pemprov Kalteng", "kind": "province", "region_code": "62"}
    )
    assert province.status_code == 201, province.text
    province_id = province.json()["sponsor_id"]
    body = {
        "nik": (n := nik()),
        "name": "Rahmat",
        "occupation": "motorcycle_taxi_rider",
        "domicile_code": village_in("62.05.01"),
        "programme_id": first["programme_id"],
        "cover_start": "2026-03",
    }
    made = await client.post("/workers", json=body)
    assert made.status_code == 201, made.text
    again = await client.post("/workers", json={**body, "name": "Rahmat 2"})
    assert again.status_code == 200, again.text
    assert again.json()["worker_id"] == made.json()["worker_id"]
    assert again.json()["enrolments"] == made.json()["enrolments"]

    overlapping = await programme_of(registration, province_id, 2026, start_month="2026-07")
    refused = await client.post(
        "/workers",
        json={**body, "programme_id": overlapping["programme_id"], "cover_start": "2026-07"},
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["errors"][0]["field"] == "nik"
    assert problem["programme_id"] == first["programme_id"]
    assert problem["sponsor_id"] == first["sponsor_id"]
    assert problem["overlap"] == {"from": "2026-07", "to": "2026-12"}
    assert n not in refused.text  # the NIK is not echoed back

    next_year = await programme_of(registration, province_id, 2027)
    taken_over = await client.post(
        "/workers", json={**body, "programme_id": next_year["programme_id"], "cover_start": None}
    )
    assert taken_over.status_code == 201, taken_over.text
    worker = taken_over.json()
    assert worker["worker_id"] == made.json()["worker_id"]
    assert [
        (e["programme_id"], e["first_month"], e["last_month"]) for e in worker["enrolments"]
    ] == [
        (first["programme_id"], "2026-03", "2026-12"),
        (next_year["programme_id"], "2027-01", "2027-12"),
    ]


async def test_keys_roles_and_their_propagation(registration, reporting):
    anonymous = await registration.client.post("/sponsors", json={}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong = await reporting.client.get("/coverage", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await reporting.client.get("/health", headers={"Authorization": ""})).status_code == 200

    issued = await registration.client.post(
        "/admin/api-keys", json={"role": "dashboard", "label": "Dinas Kominfo dashboard"}
    )
    assert issued.status_code == 201, issued.text
    dashboard = {"Authorization": f"Bearer {issued.json()['key']}"}

    cannot_post = await registration.client.post(
        "/sponsors",
        json={"name": "Pemkab Kaur", "kind": "regency", "region_code": "17.04"},
        headers=dashboard,
    )
    assert cannot_post.status_code == 403

    # The key was issued on registration; reporting learns it from the ApiKeyIssued event.
    _, seconds = await eventually(
        lambda: reporting.client.get("/coverage", params={"region": "17"}, headers=dashboard),
        lambda r: r.status_code == 200,
        timeout=10,
    )
    print(f"key known to reporting after {seconds:.2f}s")

    sponsor_key = await registration.client.post(
        "/admin/api-keys",
        json={"role": "sponsor", "region_scope": "17.04", "label": "Kaur officer"},
    )
    scoped = {"Authorization": f"Bearer {sponsor_key.json()['key']}"}
    outside = await registration.client.post(
        "/sponsors",
        json={"name": "Pemkab Paser", "kind": "regency", "region_code": "64.01"},
        headers=scoped,
    )
    assert outside.status_code == 403  # sponsors are registered by the office, not by sponsors
    await eventually(
        lambda: reporting.client.get("/coverage", params={"region": "17.04"}, headers=scoped),
        lambda r: r.status_code == 200,
        timeout=10,
    )
    other = await reporting.client.get("/coverage", params={"region": "64.01"}, headers=scoped)
    assert other.status_code == 403
    own = await reporting.client.get("/coverage", headers=scoped)
    assert own.status_code == 200 and own.json()["region"] == "17.04"
    listed = await registration.client.get("/sponsors", params={"region": "64"}, headers=scoped)
    assert listed.status_code == 403
    kaur = {"name": "Pemkab Kaur", "kind": "regency", "region_code": "17.04"}
    assert (await registration.client.post("/sponsors", json=kaur)).status_code == 201
    mine = await registration.client.get("/sponsors", headers=scoped)
    assert mine.status_code == 200
    assert {s["region_code"] for s in mine.json()} == {"17.04"}

    revoked = await registration.client.delete(f"/admin/api-keys/{issued.json()['key_id']}")
    assert revoked.status_code == 204
    await eventually(
        lambda: reporting.client.get("/coverage", headers=dashboard),
        lambda r: r.status_code == 401,
        timeout=10,
    )


async def test_same_event_delivered_twice_counts_once(infra, prefix, registration, reporting):
    [worker] = await enrol(registration, "64.01", village_in("64.01.01"))
    await eventually(lambda: coverage(reporting, "64.01"), lambda b: b["registered_workers"] == 1)
    stored = await registration.repository.workers.find_one({"_id": worker["worker_id"]})
    [entry] = [read_entry(e) for e in stored["outbox_sent"]]

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                prefix + entry["topic"], entry["value"].encode(), key=entry["key"].encode()
            )
        # A new worker after the duplicates, on any partition: once it is counted, and the
        # group has committed past the duplicates, they have been consumed.
        await enrol(registration, "64.01", village_in("64.01.02"))
    finally:
        await producer.stop()
    await eventually(lambda: coverage(reporting, "64.01"), lambda b: b["registered_workers"] == 2)
    await wait_committed(infra, reporting, prefix + WorkerRegistered.TOPIC)
    assert (await coverage(reporting, "64.01"))["registered_workers"] == 2


async def wait_committed(infra, service: Running, topic: str) -> None:
    """Until the service's group has committed every record of ``topic``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        group_id=service.runtime.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await true_end_offsets(consumer, partitions)

        async def behind() -> int:
            lag = 0
            for tp in partitions:
                committed = await consumer.committed(tp) or 0
                lag += max(ends[tp] - committed, 0)
            return lag

        await eventually(behind, lambda lag: lag == 0, timeout=15)
    finally:
        await consumer.stop()


async def test_malformed_events_go_to_the_dead_letter_topic_and_the_next_is_applied(
    infra, prefix, registration, reporting
):
    topic = prefix + WorkerRegistered.TOPIC
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, b"{not json", key=b"bad-1", headers=[("origin", b"test")]
        )
        await producer.send_and_wait(topic, b'{"event_type": "WorkerRegistered"}', key=b"bad-2")
    finally:
        await producer.stop()
    await enrol(registration, "64.02", village_in("64.02.01"))
    await eventually(lambda: coverage(reporting, "64.02"), lambda b: b["registered_workers"] == 1)

    dlq = AIOKafkaConsumer(
        dlq_topic(topic),
        bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await dlq.start()
    try:
        records = []

        async def fetch() -> int:
            batch = await dlq.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
            return len(records)

        await eventually(fetch, lambda n: n >= 2, timeout=10)
    finally:
        await dlq.stop()
    by_key = {r.key: dict(r.headers) for r in records}
    assert set(by_key) == {b"bad-1", b"bad-2"}
    assert by_key[b"bad-1"]["origin"] == b"test"  # original headers kept
    assert by_key[b"bad-1"]["x-dlq-original-topic"] == topic.encode()
    assert b"invalid event" in by_key[b"bad-2"]["x-dlq-error"]
    assert b"payload" in by_key[b"bad-2"]["x-dlq-error"]  # names the missing field
    assert by_key[b"bad-2"]["x-dlq-consumer-group"] == reporting.runtime.group_id.encode()


async def test_health_ready_and_metrics(registration, reporting):
    for svc in (registration, reporting):
        assert (await svc.client.get("/health", headers={"Authorization": ""})).json()[
            "status"
        ] == "ok"
        ready = await svc.client.get("/ready", headers={"Authorization": ""})
        assert ready.status_code == 200
        assert ready.json() | {"store": "ok", "broker": "ok"} == ready.json()
    await enrol(registration, "17.01", village_in("17.01.01"))
    await eventually(lambda: coverage(reporting, "17.01"), lambda b: b["registered_workers"] == 1)
    text = (await reporting.client.get("/metrics")).text
    group = reporting.runtime.group_id
    consumed = f'bpu_events_consumed_total{{group="{group}",topic="{WorkerRegistered.TOPIC}"}}'
    assert consumed in text
    assert f'bpu_consumer_lag{{group="{group}",topic="{WorkerRegistered.TOPIC}"}}' in text
    published = (await registration.client.get("/metrics")).text
    assert f'bpu_events_published_total{{topic="{WorkerRegistered.TOPIC}"}}' in published
