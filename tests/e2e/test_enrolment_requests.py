"""Enrolment by event on the real broker and store: a registry's requests produced to
``registration.enrolment-requested.v1`` under the test's prefix are answered once each by
request id (enrolled, already enrolled, waiting, rejected with its reasons), malformed messages
land in the dead-letter topic, a duplicate at another offset and a conflicting body change
nothing, and a service stopped between the enrolments and the answers answers ``enrolled``
after its restart without enrolling anyone twice."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.errors import AutoReconnect

from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_shared.deadletters import list_dead_letters
from bpu_shared.events import (
    EnrolmentAccepted,
    EnrolmentRejected,
    EnrolmentRequested,
    EnrolmentRequestedPayload,
    dlq_topic,
)
from bpu_shared.messaging.outbox import read_entry
from bpu_shared.settings import KafkaSettings
from tests.e2e.test_slice import wait_committed
from tests.harness import eventually, nik, settings_for, village_in

pytestmark = pytest.mark.e2e

KAUR = "17.04"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "enrolment_producer.py"


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"r{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def registration(infra, prefix) -> AsyncIterator[Running]:
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix)
    ) as svc:
        yield svc


async def kaur_programme(client: Any, quota: int) -> str:
    sponsor = await client.post(
        "/sponsors", json={"name": "Pemkab Kaur", "kind": "regency", "region_code": KAUR}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": "Pekerja Rentan Kaur 2026",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * quota,
            "quota": quota,
            "start_month": "2026-01",
            "end_month": "2026-12",
        },
    )
    assert programme.status_code == 201, programme.text
    return str(programme.json()["programme_id"])


def requested(request_id: str, programme_id: str, **fields: Any) -> EnrolmentRequested:
    values = {
        "request_id": request_id,
        "programme_id": programme_id,
        "name": "Siti Aminah",
        "occupation": "farmer",
        "domicile_code": village_in("17.04.01"),
        **fields,
    }
    if "nik" not in values:
        values["nik"] = nik()
    return EnrolmentRequested.create(
        EnrolmentRequestedPayload.model_validate(values), producer="dtsen-kaur"
    )


async def produce(infra: Any, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """``(key, value)`` records in this order (one partition per key)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_topic(infra: Any, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` now (read until a second passes with nothing new)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records: list[dict[str, Any]] = []
        quiet = 0
        while quiet < 2:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            got = [json.loads(r.value) for recs in batch.values() for r in recs]
            records += got
            quiet = 0 if got else quiet + 1
        return records
    finally:
        await consumer.stop()


async def answers_stored(registration: Running, count: int) -> None:
    """Until ``count`` requests are answered and the relay has published every answer."""
    coll = registration.repository.enrolment_requests

    async def probe() -> tuple[int, int]:
        answered = await coll.count_documents({})
        pending = await coll.count_documents({"outbox_pending": {"$gt": 0}})
        return answered, pending

    await eventually(probe, lambda v: v == (count, 0), timeout=60)


async def answers(infra: Any, prefix: str) -> list[dict[str, Any]]:
    accepted = await read_topic(infra, prefix + EnrolmentAccepted.TOPIC)
    rejected = await read_topic(infra, prefix + EnrolmentRejected.TOPIC)
    return accepted + rejected


def outcome(answer: dict[str, Any]) -> str:
    return str(answer["payload"].get("outcome", "rejected"))


async def test_a_registrys_burst_is_answered_once_per_request(infra, prefix, registration):
    client = registration.client
    # 171 seats: one for a worker enrolled through the API first, 170 for the requests.
    programme_id = await kaur_programme(client, quota=171)
    known_nik = nik()
    enrolled = await client.post(
        "/workers",
        json={
            "nik": known_nik,
            "name": "Budi Santoso",
            "occupation": "fisher",
            "domicile_code": village_in("17.04.02"),
            "programme_id": programme_id,
        },
    )
    assert enrolled.status_code == 201, enrolled.text

    valid = [requested(f"RQ-{i:03d}", programme_id) for i in range(180)]
    invalid = (
        [requested(f"RQ-nik-{i}", programme_id, nik="1704019999990001") for i in range(5)]
        + [
            requested(f"RQ-paser-{i}", programme_id, domicile_code=village_in("64.01.01"))
            for i in range(5)
        ]
        + [requested(f"RQ-nowhere-{i}", "PG-missing") for i in range(5)]
    )
    already = requested("RQ-known", programme_id, nik=known_nik)
    duplicate = valid[7]
    conflicting = requested(duplicate.payload.request_id, programme_id)  # another NIK
    republished = EnrolmentRequested.create(duplicate.payload, producer="dtsen-kaur")
    wrong_type = duplicate.model_copy(update={"event_type": "WorkerRegistered"}).to_wire()
    no_nik = json.loads(requested("RQ-no-nik", programme_id).to_wire())
    del no_nik["payload"]["nik"]

    def record(e: EnrolmentRequested) -> tuple[bytes, bytes]:
        return e.key.encode(), e.to_wire()

    records = [record(e) for e in [*valid, *invalid, already]]
    records += [
        record(duplicate),  # the very same record again, at another offset
        record(republished),  # the same request in a new envelope
        record(conflicting),
        (b"RQ-not-json", b"{not json"),
        (b"RQ-wrong-type", wrong_type),
        (b"RQ-no-nik", json.dumps(no_nik).encode()),
    ]
    topic = prefix + EnrolmentRequested.TOPIC
    started = time.monotonic()
    await produce(infra, topic, records)
    await answers_stored(registration, 180 + 15 + 1)
    seconds = time.monotonic() - started
    print(f"{len(records)} requests answered in {seconds:.2f}s")
    await wait_committed(infra, registration, topic)

    got = await answers(infra, prefix)
    per_id = Counter(a["payload"]["request_id"] for a in got)
    # One answer per request; the conflicting body under RQ-007 adds one rejection.
    assert len(per_id) == 196
    assert {rid: n for rid, n in per_id.items() if n != 1} == {"RQ-007": 2}
    by_id = {
        a["payload"]["request_id"]: a
        for a in got
        if not (a["payload"]["request_id"] == "RQ-007" and "reasons" in a["payload"])
    }
    outcomes = Counter(outcome(by_id[e.payload.request_id]) for e in valid)
    assert outcomes == {"enrolled": 170, "waiting": 10}
    assert outcome(by_id["RQ-known"]) == "already_enrolled"
    assert by_id["RQ-known"]["payload"]["worker_id"] == enrolled.json()["worker_id"]
    for e in invalid:
        answer = by_id[e.payload.request_id]
        [field] = [r["field"] for r in answer["payload"]["reasons"]]
        expected = {"RQ-nik": "nik", "RQ-paser": "domicile_code", "RQ-nowhere": "programme_id"}
        assert field == expected[e.payload.request_id.rsplit("-", 1)[0]]
        assert answer["causation_id"] == str(e.event_id)
    [conflict] = [
        a for a in got if a["payload"]["request_id"] == "RQ-007" and "reasons" in a["payload"]
    ]
    assert conflict["payload"]["reasons"][0]["field"] == "request_id"

    # The workers stored: the API's one and the 170 enrolled by request, each marked with it.
    repo = registration.repository
    assert await repo.workers.count_documents({}) == 171
    for e in valid:
        answer = by_id[e.payload.request_id]["payload"]
        if answer["outcome"] != "enrolled":
            assert answer["waiting_list_entry"].startswith("WL-")
            continue
        worker = await repo.worker(answer["worker_id"])
        assert worker.identity.nik == e.payload.nik
        assert worker.card_number == answer["card_number"]
        assert worker.latest.request_id == e.payload.request_id
    assert await repo.worker_by_nik(conflicting.payload.nik) is None  # not applied
    programme = await client.get(f"/programmes/{programme_id}")
    assert programme.json()["enrolled"] == 171

    # The malformed messages, and only they, are dead letters, each saying why.
    settings = KafkaSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers, kafka_topic_prefix=prefix
    )
    lines = [line async for line in list_dead_letters(settings, dlq_topic(topic), None)]
    assert lines[-1] == f"3 dead letters in {dlq_topic(topic)}"
    keys = {line.split("key=")[1].split()[0]: line for line in lines[:-1]}
    assert set(keys) == {"RQ-not-json", "RQ-wrong-type", "RQ-no-nik"}
    assert "invalid event" in keys["RQ-not-json"]
    assert "this topic carries EnrolmentRequested" in keys["RQ-wrong-type"]
    assert "payload.nik" in keys["RQ-no-nik"]


async def run_example(infra: Any, prefix: str, *args: str) -> tuple[int, list[str]]:
    """``examples/enrolment_producer.py`` as an integrator runs it, against this test's broker
    and topics; its exit code and output lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        *args,
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": prefix,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode().splitlines()


async def test_the_example_producer_sends_a_csv_and_prints_each_answer(
    infra, prefix, registration, tmp_path: Path
):
    programme_id = await kaur_programme(registration.client, quota=10)
    requests = tmp_path / "requests.csv"
    good, bad = nik(), "1704019999990001"
    village = village_in("17.04.03")
    requests.write_text(
        "request_id,nik,name,phone,occupation,domicile_code,declared_monthly_income\n"
        f"EX-1,{good},Siti Aminah,081234567890,farmer,{village},1500000\n"
        f"EX-2,{bad},Budi Santoso,,fisher,{village},\n",
        encoding="utf-8",
    )
    code, lines = await run_example(
        infra, prefix, "--csv", str(requests), "--programme", programme_id, "--timeout", "60"
    )
    assert code == 0, lines
    answered = {line.split()[0]: line for line in lines[1:]}
    assert answered["EX-1"].split()[1] == "enrolled"
    assert answered["EX-2"].startswith("EX-2  rejected  nik: not a valid NIK")
    worker = await registration.repository.worker_by_nik(good)
    assert worker is not None and f"card {worker.card_number}" in answered["EX-1"]
    assert worker.declared_monthly_income == 1_500_000

    # Sent again: nothing new is enrolled or answered; the earlier answers are found.
    code, lines = await run_example(
        infra, prefix, "--csv", str(requests), "--programme", programme_id, "--from-beginning"
    )
    assert code == 0, lines
    assert sorted(line.split()[:2] for line in lines[1:]) == [
        ["EX-1", "enrolled"],
        ["EX-2", "rejected"],
    ]
    programme = await registration.client.get(f"/programmes/{programme_id}")
    assert programme.json()["enrolled"] == 1


async def test_a_service_stopped_between_the_enrolments_and_the_answers_enrols_no_one_twice(
    infra,
):
    """The enrolments are written, the answers are not (the store goes away at that write,
    so nothing is committed and the batch keeps coming back), and the service is stopped.
    Restarted, it gets the same requests again and answers each ``enrolled``."""
    prefix = f"c{uuid.uuid4().hex[:8]}."
    settings = settings_for(RegistrationSettings, infra, prefix)
    count = 50
    async with running(build_registration, settings) as first:
        programme_id = await kaur_programme(first.client, quota=count)
        repo = first.repository

        async def store_gone(*args: Any, **kwargs: Any) -> set[str]:
            raise AutoReconnect("the store went away before the answers were written")

        repo.answer_requests = store_gone
        requests = [requested(f"RQ-{i:03d}", programme_id) for i in range(count)]
        topic = prefix + EnrolmentRequested.TOPIC
        await produce(infra, topic, [(e.key.encode(), e.to_wire()) for e in requests])
        await eventually(lambda: repo.workers.count_documents({}), lambda n: n == count, timeout=60)
        assert await repo.enrolment_requests.count_documents({}) == 0

    async with running(build_registration, settings) as second:
        await answers_stored(second, count)
        await wait_committed(infra, second, topic)
        repo = second.repository
        assert await repo.workers.count_documents({}) == count
        registered = 0
        async for doc in repo.workers.find({}):
            entries = [read_entry(e) for e in doc.get("outbox", []) + doc.get("outbox_sent", [])]
            registered += sum(e["event_type"] == "WorkerRegistered" for e in entries)
        assert registered == count
        got = await answers(infra, prefix)
        assert Counter(outcome(a) for a in got) == {"enrolled": count}  # not already_enrolled
        assert sorted(a["payload"]["request_id"] for a in got) == [
            e.payload.request_id for e in requests
        ]
        programme = await second.client.get(f"/programmes/{programme_id}")
        assert programme.json()["enrolled"] == count
