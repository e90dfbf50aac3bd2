"""The waiting list against the real broker and store: a full programme's workers wait (202) in
the published order; a sponsor reads its line and its length per district; an ended enrolment
and a raised quota seat the next workers by themselves, each with its WorkerRegistered (read
from the topic and counted by reporting); fills racing each other, run twice, or cut between
the worker's write and the entry's enrol no one twice; a closed programme closes its line."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_registration.handlers.base import SYSTEM
from bpu_registration.handlers.waiting_list import candidate_of, fill_from_waiting_list
from bpu_registration.handlers.workers import Enrolled, enrol_many
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.clock import SystemClock
from bpu_shared.events import Event, WaitingListLeft, WorkerRegistered, WorkerWaitlisted
from tests.e2e.test_slice import coverage
from tests.harness import eventually, nik, settings_for, village_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

KINAL, TANJUNG_KEMUNING = "17.04.01", "17.04.02"  # two of Kaur's 15 districts
YEAR = SystemClock().today().year


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"w{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def registration(infra, prefix) -> AsyncIterator[Running]:
    settings = settings_for(RegistrationSettings, infra, prefix, waiting_list_fill_seconds=0.5)
    async with running(build_registration, settings) as svc:
        yield svc


@pytest.fixture(scope="module")
async def reporting(infra, prefix) -> AsyncIterator[Running]:
    async with running(build_reporting, settings_for(ReportingSettings, infra, prefix)) as svc:
        yield svc


class TopicReader:
    """Every event of one topic from its first offset, read without a consumer group."""

    def __init__(self, infra: Any, prefix: str, event_type: type[Event]) -> None:
        self.topic = prefix + event_type.TOPIC
        self.event_type = event_type
        self.consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers)
        self.events: list[Any] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        await self.consumer.topics()
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        self.consumer.assign([TopicPartition(self.topic, p) for p in partitions])
        await self.consumer.seek_to_beginning()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def read(self) -> list[Any]:
        batches = await self.consumer.getmany(timeout_ms=200)
        for records in batches.values():
            self.events += [self.event_type.from_wire(r.value) for r in records]
        return self.events


async def new_programme(registration: Running, quota: int) -> dict:
    client = registration.client
    sponsor = await client.post(
        "/sponsors", json={"name": "Pemkab Kaur", "kind": "regency", "region_code": "17.04"}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": f"Pekerja Rentan Kaur {YEAR}",
            "budget_year": YEAR,
            "budget_rupiah": 16_800 * 12 * quota,
            "quota": quota,
            "start_month": f"{YEAR}-01",
            "end_month": f"{YEAR}-12",
        },
    )
    assert programme.status_code == 201, programme.text
    return programme.json()


def body(programme: dict, district: str = KINAL, **fields: Any) -> dict:
    return {
        "nik": nik(),
        "name": "Siti Aminah",
        "occupation": "farmer",
        "domicile_code": village_in(district),
        "programme_id": programme["programme_id"],
        **fields,
    }


async def post_worker(registration: Running, worker: dict, expected: int) -> dict:
    response = await registration.client.post("/workers", json=worker)
    assert response.status_code == expected, response.text
    return response.json()


async def sponsor_headers(registration: Running, region: str) -> dict[str, str]:
    issued = await registration.client.post(
        "/admin/api-keys", json={"role": "sponsor", "region_scope": region, "label": region}
    )
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['key']}"}


async def entry(registration: Running, entry_id: str) -> dict:
    response = await registration.client.get(f"/waiting-list/{entry_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_full_programme_waits_in_order_and_freed_seats_fill_by_themselves(
    infra, prefix, registration, reporting
):
    programme = await new_programme(registration, quota=3)
    pid = programme["programme_id"]
    for _ in range(3):
        await post_worker(registration, body(programme), 201)
    later = body(programme, TANJUNG_KEMUNING, requested_on=f"{YEAR}-02-01")
    first = body(programme, KINAL, priority=1)
    waiting_later = await post_worker(registration, later, 202)
    waiting_first = await post_worker(registration, first, 202)
    assert waiting_first["state"] == "waiting" and waiting_first["priority"] == 1
    assert waiting_first["nik"] == first["nik"]  # the admin key sees the whole NIK
    again = await post_worker(registration, {**later, "priority": 1}, 202)
    assert again["entry_id"] == waiting_later["entry_id"] and again["priority"] is None

    # The sponsor's view: in order, places in the whole line, NIKs masked.
    kaur = await sponsor_headers(registration, "17.04")
    line = await registration.client.get(f"/programmes/{pid}/waiting-list", headers=kaur)
    assert line.status_code == 200, line.text
    assert [(e["entry_id"], e["position"]) for e in line.json()["entries"]] == [
        (waiting_first["entry_id"], 1),
        (waiting_later["entry_id"], 2),
    ]
    assert line.json()["entries"][0]["nik"] == first["nik"][:4] + "********" + first["nik"][-4:]
    district = await registration.client.get(
        f"/programmes/{pid}/waiting-list", params={"district": TANJUNG_KEMUNING}, headers=kaur
    )
    assert [(e["entry_id"], e["position"]) for e in district.json()["entries"]] == [
        (waiting_later["entry_id"], 2)
    ]
    summary = await registration.client.get(f"/programmes/{pid}/waiting-list/summary", headers=kaur)
    assert summary.status_code == 200, summary.text
    assert summary.json()["total"] == 2
    counts = {d["district_code"]: (d["name"], d["waiting"]) for d in summary.json()["districts"]}
    assert len(counts) == 15
    assert counts[KINAL] == ("Kinal", 1) and counts[TANJUNG_KEMUNING] == ("Tanjung Kemuning", 1)
    paser = await sponsor_headers(registration, "64.01")
    outside = await registration.client.get(f"/programmes/{pid}/waiting-list", headers=paser)
    assert outside.status_code == 404
    await eventually(lambda: coverage(reporting, "17.04"), lambda b: b["registered_workers"] == 3)

    # A seat frees up: the first in line is enrolled by itself, with its WorkerRegistered.
    [some_worker] = await registration.repository.workers_in_programme(pid, None, 1)
    ended = await registration.client.post(
        f"/workers/{some_worker.worker_id}/end",
        json={"reason": "death", "effective_on": f"{YEAR}-11-02"},
    )
    assert ended.status_code == 200, ended.text
    seated = await entry(registration, waiting_first["entry_id"])
    assert seated["state"] == "enrolled" and seated["position"] is None
    worker = await registration.client.get(f"/workers/{seated['worker_id']}")
    assert worker.json()["enrolments"][-1]["waiting_list_entry"] == waiting_first["entry_id"]
    assert (await entry(registration, waiting_later["entry_id"]))["position"] == 1

    # The quota is raised: the next one.
    raised = await registration.client.patch(f"/programmes/{pid}", json={"quota": 4})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["enrolled"], raised.json()["seats_left"]) == (4, 0)
    assert (await entry(registration, waiting_later["entry_id"]))["state"] == "enrolled"

    await eventually(lambda: coverage(reporting, "17.04"), lambda b: b["registered_workers"] == 5)
    entries = {waiting_first["entry_id"], waiting_later["entry_id"]}
    async with TopicReader(infra, prefix, WorkerRegistered) as registered:
        events, _ = await eventually(
            registered.read,
            lambda evs: entries <= {e.payload.waiting_list_entry for e in evs},
        )
    from_line = [e for e in events if e.payload.waiting_list_entry in entries]
    assert len(from_line) == 2
    async with TopicReader(infra, prefix, WaitingListLeft) as left:
        events, _ = await eventually(
            left.read, lambda evs: entries <= {e.payload.entry_id for e in evs}
        )
    assert sorted(e.payload.reason.value for e in events if e.payload.entry_id in entries) == [
        "enrolled",
        "enrolled",
    ]
    async with TopicReader(infra, prefix, WorkerWaitlisted) as waitlisted:
        events, _ = await eventually(
            waitlisted.read, lambda evs: entries <= {e.payload.entry_id for e in evs}
        )
    assert len([e for e in events if e.payload.entry_id in entries]) == 2  # asked again: once


async def line_of(registration: Running, pid: str) -> list[dict]:
    response = await registration.client.get(f"/programmes/{pid}/waiting-list")
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


async def test_fills_racing_and_repeated_enrol_each_entry_once_and_never_overshoot(registration):
    programme = await new_programme(registration, quota=2)
    pid = programme["programme_id"]
    for _ in range(2):
        await post_worker(registration, body(programme), 201)
    waiting = [await post_worker(registration, body(programme), 202) for _ in range(6)]
    repo, deps = registration.repository, registration.app.state.bus.deps
    # Three seats appear with no fill of their own (a quota raised by a request that died
    # before it filled them): four fills and the background pass race for them.
    await repo.programmes.update_one({"_id": pid}, {"$inc": {"quota": 3, "seats_left": 3}})
    await asyncio.gather(*(fill_from_waiting_list(pid, deps) for _ in range(4)))
    await fill_from_waiting_list(pid, deps)  # and once more afterwards

    states = [(await entry(registration, w["entry_id"]))["state"] for w in waiting]
    assert states == ["enrolled"] * 3 + ["waiting"] * 3  # the first three in line
    read = await registration.client.get(f"/programmes/{pid}")
    assert (read.json()["enrolled"], read.json()["seats_left"]) == (5, 0)
    made = await repo.workers_in_programme(pid)
    assert len(made) == 5
    from_line = [e.waiting_list_entry for w in made for e in w.enrolments if e.waiting_list_entry]
    assert sorted(from_line) == sorted(w["entry_id"] for w in waiting[:3])
    assert [e["position"] for e in await line_of(registration, pid)] == [1, 2, 3]


async def test_a_fill_cut_between_the_workers_write_and_the_entrys_enrols_no_one_twice(
    registration,
):
    programme = await new_programme(registration, quota=1)
    pid = programme["programme_id"]
    await post_worker(registration, body(programme), 201)
    waiting = await post_worker(registration, body(programme), 202)
    repo, deps = registration.repository, registration.app.state.bus.deps
    # The first half of a fill: a seat appears and the entry's worker is written ...
    await repo.programmes.update_one({"_id": pid}, {"$inc": {"quota": 1, "seats_left": 1}})
    found = await repo.programme(pid)
    stored = await repo.waiting_entry(waiting["entry_id"])
    [outcome] = await enrol_many(
        found[0], [candidate_of(stored, 0, deps.clock.today())], SYSTEM, deps
    )
    assert isinstance(outcome, Enrolled) and outcome.created
    # ... and the process dies before the entry moves on. Then a seat frees up elsewhere in
    # the line's programme, and fills run again, twice.
    assert (await entry(registration, waiting["entry_id"]))["state"] == "waiting"
    await repo.programmes.update_one({"_id": pid}, {"$inc": {"quota": 1, "seats_left": 1}})
    for _ in range(2):
        await fill_from_waiting_list(pid, deps)

    closed = await entry(registration, waiting["entry_id"])
    assert (closed["state"], closed["worker_id"]) == ("enrolled", outcome.worker.worker_id)
    worker = await registration.client.get(f"/workers/{outcome.worker.worker_id}")
    assert len(worker.json()["enrolments"]) == 1
    read = await registration.client.get(f"/programmes/{pid}")
    assert (read.json()["enrolled"], read.json()["seats_left"]) == (2, 1)


async def test_the_background_pass_closes_an_entry_its_fill_left_when_no_seat_is_free(
    registration,
):
    programme = await new_programme(registration, quota=1)
    pid = programme["programme_id"]
    await post_worker(registration, body(programme), 201)
    waiting = await post_worker(registration, body(programme), 202)
    repo, deps = registration.repository, registration.app.state.bus.deps
    await repo.programmes.update_one({"_id": pid}, {"$inc": {"quota": 1, "seats_left": 1}})
    found = await repo.programme(pid)
    stored = await repo.waiting_entry(waiting["entry_id"])
    await enrol_many(found[0], [candidate_of(stored, 0, deps.clock.today())], SYSTEM, deps)
    # Cut there; no seat is left. The background pass (every 0.5 s here) closes the entry.
    _, seconds = await eventually(
        lambda: entry(registration, waiting["entry_id"]), lambda e: e["state"] == "enrolled"
    )
    print(f"closed by the background pass after {seconds:.2f}s")
    read = await registration.client.get(f"/programmes/{pid}")
    assert (read.json()["enrolled"], read.json()["seats_left"]) == (2, 0)


async def test_withdrawal_and_a_closed_programme_empty_the_line(registration):
    programme = await new_programme(registration, quota=1)
    pid = programme["programme_id"]
    await post_worker(registration, body(programme), 201)
    withdrawn, closing = [await post_worker(registration, body(programme), 202) for _ in range(2)]

    out = await registration.client.post(f"/waiting-list/{withdrawn['entry_id']}/withdraw")
    assert out.status_code == 200, out.text
    assert out.json()["state"] == "withdrawn"
    again = await registration.client.post(f"/waiting-list/{withdrawn['entry_id']}/withdraw")
    assert again.status_code == 200 and again.json() == out.json()

    closed = await registration.client.post(f"/programmes/{pid}/close", json={})
    assert closed.status_code == 200, closed.text
    # Registration consumes its own ProgrammeClosed: the line closes.
    done, seconds = await eventually(
        lambda: entry(registration, closing["entry_id"]),
        lambda e: e["state"] == "programme_closed",
    )
    print(f"line closed {seconds:.2f}s after the programme")
    assert done["detail"] == "the programme was closed"
    late = await registration.client.post(f"/waiting-list/{closing['entry_id']}/withdraw")
    assert late.status_code == 409
    assert late.json()["errors"][0]["field"] == "entry_id"
    assert await line_of(registration, pid) == []
