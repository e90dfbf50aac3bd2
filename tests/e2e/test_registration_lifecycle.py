"""Programmes over time and a worker's life cycle through registration's API, on the real
broker and store: each change publishes its event with no personal data; a closed programme's
enrolments end once even when its ``ProgrammeClosed`` is delivered again at another offset, and
a handler that dies between two workers' writes finishes the rest when applied again."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_registration.events import programme_closed
from bpu_registration.handlers import EVENT_HANDLERS
from bpu_registration.handlers.workers import end_enrolments_of_closed_programmes
from bpu_registration.store import RegistrationRepository
from bpu_shared.events import EnrolmentEnded, ProgrammeClosed, WorkerChanged, WorkerRegistered
from tests.e2e.test_slice import wait_committed
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


async def read_all(infra, topic: str) -> list[dict]:
    """Every record of ``topic`` now, as parsed JSON."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=1500, max_records=100_000)
        return [json.loads(r.value) for records in batches.values() for r in records]
    finally:
        await consumer.stop()


async def sponsor_and_programme(client, regency: str, **terms) -> tuple[str, dict]:
    sponsor = await client.post(
        "/sponsors", json={"name": f"Pemkab {regency}", "kind": "regency", "region_code": regency}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": "Pekerja Rentan 2026",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 50,
            "quota": 50,
            "start_month": "2026-01",
            "end_month": "2026-12",
            **terms,
        },
    )
    assert programme.status_code == 201, programme.text
    return sponsor.json()["sponsor_id"], programme.json()


async def enrol_some(client, programme: dict, district: str, count: int) -> list[dict]:
    workers = []
    for _ in range(count):
        response = await client.post(
            "/workers",
            json={
                "nik": nik(),
                "name": "Siti Aminah",
                "phone": "081234567890",
                "occupation": "fisher",
                "domicile_code": village_in(district),
                "programme_id": programme["programme_id"],
                "cover_start": "2026-02",
            },
        )
        assert response.status_code == 201, response.text
        workers.append(response.json())
    return workers


async def test_programme_changes_and_a_workers_life_cycle_publish_their_events(
    infra, prefix, registration
):
    client = registration.client
    _, programme = await sponsor_and_programme(client, "17.08", quota=3)
    pid = programme["programme_id"]
    assert (programme["funding_source"], programme["status"]) == ("apbd_regency", "open")

    raised = await client.patch(f"/programmes/{pid}", json={"quota": 5})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["quota"], raised.json()["seats_left"]) == (5, 5)
    frozen = await client.patch(f"/programmes/{pid}", json={"min_age": 18})
    assert frozen.status_code == 422, frozen.text  # the programme started in January
    assert frozen.json()["errors"][0]["field"] == "min_age"

    a, b = await enrol_some(client, programme, "17.08.01", 2)
    changed = await client.patch(
        f"/workers/{a['worker_id']}",
        json={"declared_monthly_income": 2_500_000, "phone": "0813-2222-3333"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+6281322223333"
    ended = await client.post(
        f"/workers/{b['worker_id']}/end", json={"reason": "death", "effective_on": "2026-04-09"}
    )
    assert ended.status_code == 200, ended.text
    [enrolment] = ended.json()["enrolments"]
    assert (enrolment["status"], enrolment["last_month"], enrolment["end_reason"]) == (
        "ended",
        "2026-04",
        "death",
    )
    after = await client.get(f"/programmes/{pid}")
    assert after.json()["enrolled"] == 1  # the seat came back

    changes = await eventually(
        lambda: read_all(infra, prefix + WorkerChanged.TOPIC), lambda rs: len(rs) >= 1
    )
    [change] = changes[0]
    assert change["payload"]["changed"] == ["phone", "declared_monthly_income"]
    assert "3222" not in json.dumps(change)  # the phone stays in registration
    ends, _ = await eventually(
        lambda: read_all(infra, prefix + EnrolmentEnded.TOPIC), lambda rs: len(rs) >= 1
    )
    assert ends[0]["payload"]["reason"] == "death"
    assert ends[0]["payload"]["cover_end"] == "2026-04"
    registered, _ = await eventually(
        lambda: read_all(infra, prefix + WorkerRegistered.TOPIC), lambda rs: len(rs) >= 2
    )
    assert {r["payload"]["cover_end"] for r in registered} == {"2026-12"}


async def test_a_closed_programmes_enrolments_end_once_when_its_event_comes_again(
    infra, prefix, registration
):
    client = registration.client
    _, programme = await sponsor_and_programme(client, "17.04")
    pid = programme["programme_id"]
    workers = await enrol_some(client, programme, "17.04.03", 6)

    closed = await client.post(f"/programmes/{pid}/close", json={"last_month": "2026-12"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    async def statuses() -> set[str]:
        found = set()
        for w in workers:
            found.add((await client.get(f"/workers/{w['worker_id']}")).json()["status"])
        return found

    await eventually(statuses, lambda s: s == {"ended"}, timeout=20)
    ends_topic = prefix + EnrolmentEnded.TOPIC
    await eventually(
        lambda: read_all(infra, ends_topic),
        lambda rs: sum(r["payload"]["programme_id"] == pid for r in rs) == 6,
    )

    # The same ProgrammeClosed again, at another offset (a relay that died before marking it).
    stored = await registration.repository.programmes.find_one({"_id": pid})
    [entry] = [
        json.loads(e)
        for e in stored["outbox_sent"]
        if json.loads(e)["event_type"] == "ProgrammeClosed"
    ]
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            prefix + ProgrammeClosed.TOPIC, entry["value"].encode(), key=entry["key"].encode()
        )
    finally:
        await producer.stop()
    await wait_committed(infra, registration, prefix + ProgrammeClosed.TOPIC)
    ends = await read_all(infra, ends_topic)
    assert sum(r["payload"]["programme_id"] == pid for r in ends) == 6
    for w in workers:
        history = (await registration.repository.worker_history(w["worker_id"])) or []
        assert [h["action"] for h in history] == ["enrolled", "ended"]


async def test_a_handler_killed_between_two_workers_finishes_the_rest_when_applied_again(
    infra, prefix, registration
):
    client = registration.client
    _, programme = await sponsor_and_programme(client, "17.01")
    workers = await enrol_some(client, programme, "17.01.01", 5)
    repository: RegistrationRepository = registration.repository
    bus = registration.app.state.bus
    found = await repository.programme(programme["programme_id"])
    assert found is not None
    closed = found[0].close(None, date(2026, 11, 23))
    event = programme_closed(closed, date(2026, 11, 23))

    saves = 0
    real_save = repository.save_worker

    async def dies_after_two(*args, **kwargs):
        nonlocal saves
        if saves == 2:
            raise RuntimeError("killed between two workers' writes")
        saves += 1
        return await real_save(*args, **kwargs)

    repository.save_worker = dies_after_two  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            await bus.apply([event])
    finally:
        del repository.save_worker
    assert end_enrolments_of_closed_programmes in EVENT_HANDLERS[ProgrammeClosed]
    await end_enrolments_of_closed_programmes([event], bus.deps)  # redelivered after the crash
    await end_enrolments_of_closed_programmes([event], bus.deps)  # and once more
    ended = 0
    for w in workers:
        doc = await repository.workers.find_one({"_id": w["worker_id"]})
        [enrolment] = doc["enrolments"]
        assert enrolment["status"] == "ended"
        entries = [json.loads(e) for e in doc["outbox"] + doc["outbox_sent"]]
        ended += sum(e["event_type"] == "EnrolmentEnded" for e in entries)
    assert ended == 5
