"""The monthly billing run through the running billing service on the real broker and store,
its roster built from registration's events produced to Kafka as registration publishes them:
Paser's 32,268 workers invoiced Rp542,102,400 a month (Rp1,626,307,200 for October–December),
a re-run creating nothing, a late enrolment on a supplementary invoice, the ContributionInvoiced
events on the topic; the roster delivered twice at other offsets and a run killed between its
writes, still one invoice per programme-month; the run on the 1st of the month; and the event
contract end to end through the real registration service."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bpu_billing.handlers.runs import MonthlyRun
from bpu_billing.store.invoices import INVOICE_LINES
from bpu_billing.store.roster import ENROLMENTS
from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_shared.clock import JAKARTA, FixedClock
from bpu_shared.events import (
    BenefitProgramme,
    ContributionInvoiced,
    FundingSource,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    WorkerRegistered,
    WorkerRegisteredPayload,
)
from bpu_shared.messaging.lease import Lease
from bpu_shared.service_layer.bus import Deps
from tests.e2e.billing_helpers import (
    MONTHLY,
    PASER_DISTRICTS,
    PASER_WORKERS,
    billing_fixtures,
    produce,
    published,
)
from tests.harness import eventually, nik, settings_for, village_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

T0 = datetime(2022, 9, 20, 2, tzinfo=UTC)


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


prefix, clock, billing = billing_fixtures(
    "r", billing_run_poll_seconds=0.2, consumer_max_records=1000
)


@pytest.fixture(scope="module")
async def registration(infra, prefix) -> AsyncIterator[Running]:
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix)
    ) as svc:
        yield svc


# -- registration's events, produced as registration publishes them ------------------------------


def opened(programme: str, start: str, end: str, budget: int, quota: int) -> ProgrammeOpened:
    return ProgrammeOpened.create(
        ProgrammeOpenedPayload(
            programme_id=programme,
            sponsor_id="SP-paser",
            name="Perlindungan Pekerja Rentan Paser",
            region_code="64.01",
            budget_year=int(start[:4]),
            budget_rupiah=budget,
            quota=quota,
            benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
            start_month=start,
            end_month=end,
            funding_source=FundingSource.APBD_REGENCY,
        ),
        producer="registration",
        occurred_at=T0,
    )


@functools.cache
def paser_villages() -> list[str]:
    return [village_in(d) for d in PASER_DISTRICTS]


def registered(
    programme: str, start: int, count: int, cover_start: str = "2022-10", tag: str = "WK"
) -> list[WorkerRegistered]:
    villages = paser_villages()
    events = []
    for i in range(start, start + count):
        village = villages[i % len(villages)]
        events.append(
            WorkerRegistered.create(
                WorkerRegisteredPayload(
                    worker_id=f"{tag}-{i:06d}",
                    sponsor_id="SP-paser",
                    programme_id=programme,
                    province_code="64",
                    regency_code="64.01",
                    district_code=village.rsplit(".", 1)[0],
                    village_code=village,
                    occupation="farmer",
                    gender="P" if i % 2 else "L",
                    declared_monthly_income=1_000_000,
                    benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
                    cover_start=cover_start,
                    cover_end="2022-12",
                    registered_at=T0,
                    enrolment_id=f"EN-{programme}-{i:06d}",
                ),
                producer="registration",
                occurred_at=T0 + timedelta(seconds=i),
            )
        )
    return events


async def on_roster(billing: Running, programme: str, count: int, timeout: float = 60) -> None:
    """Until billing's roster holds ``count`` enrolments of the programme: counted once a
    second (a count scans the collection, and would slow the consumer's inserts)."""
    coll = billing.repository.db[ENROLMENTS]
    started = time.monotonic()
    while (n := await coll.count_documents({"programme_id": programme})) != count:
        assert time.monotonic() - started < timeout, f"{n:,} of {count:,} after {timeout}s"
        await asyncio.sleep(1.0)
    print(
        f"{count:,} enrolments of {programme} on billing's roster after {time.monotonic() - started:.1f}s"
    )


async def programme_known(billing: Running, programme: str) -> None:
    async def doc() -> Any:
        return await billing.repository.programme_doc(programme)

    await eventually(doc, lambda d: d is not None, 30)


# -- runs and invoices through the API ------------------------------------------------------------


async def run(billing: Running, period: str, programme: str | None, expect: int = 202) -> dict:
    body: dict[str, Any] = {"period": period}
    if programme is not None:
        body["programme_id"] = programme
    response = await billing.client.post("/billing-runs", json=body)
    assert response.status_code == expect, response.text
    assert response.headers["location"] == f"/billing-runs/{response.json()['run_id']}"
    return await finished(billing, response.json()["run_id"])


async def finished(billing: Running, run_id: str, timeout: float = 60) -> dict:
    async def state() -> dict:
        response = await billing.client.get(f"/billing-runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    body, _ = await eventually(state, lambda r: r["state"] in ("done", "failed"), timeout)
    assert body["state"] == "done", body
    return body


async def invoices(billing: Running, **query: str) -> list[dict]:
    response = await billing.client.get("/invoices", params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def invoiced_events(infra, prefix: str, programme: str) -> dict[str, dict[str, Any]]:
    """The ContributionInvoiced payloads of the programme by invoice id (each exactly once)."""

    async def payloads() -> list[dict[str, Any]]:
        return [
            e["payload"]
            for e in await published(infra, prefix, ContributionInvoiced)
            if e["payload"]["programme_id"] == programme
        ]

    found, _ = await eventually(payloads, lambda p: len(p) > 0, 20)
    ids = [p["invoice_id"] for p in found]
    assert len(ids) == len(set(ids)), ids
    return {p["invoice_id"]: p for p in found}


# -- the tests ------------------------------------------------------------------------------------


async def test_paser_32268_workers_invoiced_each_month_once(billing, infra, prefix):
    programme = "PG-paser-2022"
    budget = 3 * PASER_WORKERS * MONTHLY
    await produce(infra, prefix, [opened(programme, "2022-10", "2022-12", budget, 40_000)])
    await programme_known(billing, programme)
    await produce(infra, prefix, registered(programme, 0, PASER_WORKERS))
    await on_roster(billing, programme, PASER_WORKERS)

    october = await run(billing, "2022-10", programme)
    assert (october["programmes_total"], october["programmes_done"]) == (1, 1)
    assert (october["invoices_issued"], october["lines_written"]) == (1, PASER_WORKERS)
    [invoice] = await invoices(billing, programme_id=programme, period="2022-10")
    assert invoice["invoice_id"] == f"INV-2022-10-{programme}-0"
    assert invoice["amount_rupiah"] == 542_102_400 == PASER_WORKERS * MONTHLY
    assert invoice["worker_count"] == PASER_WORKERS
    assert invoice["amount_by_benefit"] == {
        "JKK": PASER_WORKERS * 10_000,
        "JKM": PASER_WORKERS * 6_800,
    }
    assert sorted(invoice["by_district"]) == PASER_DISTRICTS
    assert sum(d["amount_rupiah"] for d in invoice["by_district"].values()) == 542_102_400
    assert sum(d["workers"] for d in invoice["by_district"].values()) == PASER_WORKERS
    assert invoice["due_date"] == "2022-10-17"  # the 15th is a Saturday
    assert (invoice["sequence"], invoice["supplementary"], invoice["over_budget"]) == (
        0,
        False,
        False,
    )
    assert (invoice["paid_rupiah"], invoice["paid_in_full"], invoice["lines_paid"]) == (0, False, 0)

    # The lines, a page at a time: worker ids in enrolment-id order, no personal data.
    page = (
        await billing.client.get(f"/invoices/{invoice['invoice_id']}/lines?offset=4998&limit=4")
    ).json()
    assert page["total"] == PASER_WORKERS
    assert [line["line"] for line in page["lines"]] == [4998, 4999, 5000, 5001]
    assert [line["worker_id"] for line in page["lines"]] == [
        f"WK-{i:06d}" for i in range(4998, 5002)
    ]
    assert set(page["lines"][0]) == {
        "line",
        "enrolment_id",
        "worker_id",
        "district_code",
        "village_code",
        "occupation",
        "income",
        "amounts",
        "amount",
    }

    for period in ("2022-11", "2022-12"):
        await run(billing, period, programme)
    issued = await invoices(billing, programme_id=programme)
    assert [i["period"] for i in issued] == ["2022-10", "2022-11", "2022-12"]
    assert sum(i["amount_rupiah"] for i in issued) == 1_626_307_200
    assert issued[-1]["invoiced_to_date_rupiah"] == 1_626_307_200 == budget
    assert not issued[-1]["over_budget"]
    assert await run(billing, "2023-01", programme) is not None  # outside the programme
    assert len(await invoices(billing, programme_id=programme)) == 3

    # Re-running a billed month creates nothing new.
    again = await run(billing, "2022-10", programme)
    assert (again["invoices_issued"], again["lines_written"]) == (0, 0)
    assert len(await invoices(billing, programme_id=programme, period="2022-10")) == 1

    # A late enrolment for October: one supplementary invoice of one line; again, nothing.
    await produce(infra, prefix, registered(programme, PASER_WORKERS, 1))
    await on_roster(billing, programme, PASER_WORKERS + 1)
    late = await run(billing, "2022-10", programme)
    assert (late["invoices_issued"], late["supplementary_issued"], late["lines_written"]) == (
        1,
        1,
        1,
    )
    base, supplementary = await invoices(billing, programme_id=programme, period="2022-10")
    assert base["invoice_id"] == invoice["invoice_id"]
    assert supplementary["invoice_id"] == f"INV-2022-10-{programme}-1"
    assert (supplementary["sequence"], supplementary["supplementary"]) == (1, True)
    assert (supplementary["worker_count"], supplementary["amount_rupiah"]) == (1, MONTHLY)
    assert supplementary["over_budget"]  # the budget bought exactly three months of 32,268
    lines = (await billing.client.get(f"/invoices/{supplementary['invoice_id']}/lines")).json()
    assert [line["worker_id"] for line in lines["lines"]] == [f"WK-{PASER_WORKERS:06d}"]
    assert (await run(billing, "2022-10", programme))["invoices_issued"] == 0
    listed = await billing.client.get("/billing-runs", params={"period": "2022-10"})
    runs = [r for r in listed.json() if r["programme_id"] == programme]
    assert [r["run_id"] for r in runs] == [f"BR-2022-10-{programme}-{n}" for n in (4, 3, 2, 1)]
    assert [r["invoices_issued"] for r in runs] == [0, 1, 0, 1]
    assert all(r["state"] == "done" and r["finished_at"] for r in runs)

    # What billing published: one ContributionInvoiced per invoice, as the invoices say.
    events = await invoiced_events(infra, prefix, programme)
    assert sorted(events) == sorted(
        i["invoice_id"] for i in await invoices(billing, programme_id=programme)
    )
    october_event = events[invoice["invoice_id"]]
    assert october_event["amount_rupiah"] == 542_102_400
    assert october_event["worker_count"] == PASER_WORKERS
    assert october_event["by_district"] == invoice["by_district"]
    assert october_event["amount_by_benefit"] == invoice["amount_by_benefit"]
    assert (october_event["due_date"], october_event["sequence"]) == ("2022-10-17", 0)
    assert october_event["funding_source"] == "apbd_regency"
    assert october_event["budget_rupiah"] == budget
    assert october_event["invoiced_to_date_rupiah"] == 542_102_400
    assert events[supplementary["invoice_id"]]["supplementary"] is True
    assert events[supplementary["invoice_id"]]["over_budget"] is True
    assert "worker_id" not in json.dumps(october_event)


async def test_roster_delivered_twice_and_a_run_killed_midway_bill_each_month_once(
    billing, infra, prefix
):
    """The roster's events published again at other offsets (a relay killed between publishing
    and marking), and the run's process killed after writing an invoice's blocks and before
    issuing it: the next holder of the lease finishes the run, one invoice per month."""
    programme = "PG-dup-2022"
    events = registered(programme, 0, 3_000, tag="WD")
    await produce(infra, prefix, [opened(programme, "2022-10", "2022-12", 10**12, 5_000)])
    await programme_known(billing, programme)
    await produce(infra, prefix, events[:2_000] + events[500:1_500] + events[2_000:] + events[:300])
    await on_roster(billing, programme, 3_000)

    runner = billing.repository.run_runner
    crashes: list[str] = []

    async def crash_once(point: str) -> None:
        if point == "blocks-written" and not crashes:
            crashes.append(point)
            raise Crash(point)

    runner.after_write = crash_once
    response = await billing.client.post(
        "/billing-runs", json={"period": "2022-11", "programme_id": programme}
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]

    async def killed() -> bool:
        return runner._task is not None and runner._task.done()

    await eventually(killed, bool, 30)
    assert crashes == ["blocks-written"]
    state = (await billing.client.get(f"/billing-runs/{run_id}")).json()
    assert state["state"] == "running"
    assert await invoices(billing, programme_id=programme) == []  # a draft is no invoice
    # The same run asked again while it is unfinished answers that run.
    same = await billing.client.post(
        "/billing-runs", json={"period": "2022-11", "programme_id": programme}
    )
    assert (same.status_code, same.json()["run_id"]) == (200, run_id)

    runner.start()  # the next holder of the lease
    done = await finished(billing, run_id)
    assert (done["invoices_issued"], done["lines_written"]) == (1, 3_000)
    await run(billing, "2022-11", programme)  # and once more: nothing
    [invoice] = await invoices(billing, programme_id=programme)
    assert (invoice["worker_count"], invoice["amount_rupiah"]) == (3_000, 3_000 * MONTHLY)
    blocks = await billing.repository.db[INVOICE_LINES].count_documents(
        {"invoice_id": invoice["invoice_id"]}
    )
    assert blocks == 1
    assert list(await invoiced_events(infra, prefix, programme)) == [invoice["invoice_id"]]


async def test_the_run_starts_by_itself_on_the_first_of_the_month(billing):
    repository = billing.repository
    runtime = billing.runtime

    def monthly_on(day: datetime) -> MonthlyRun:
        deps = Deps(repository, runtime.relay, FixedClock(day), runtime.settings)
        lease = Lease(runtime.db["leases"], f"monthly-{uuid.uuid4().hex[:6]}", "test", ttl=5)
        return MonthlyRun(deps, lease, interval=0.1)

    await monthly_on(datetime(2030, 2, 2, 9, tzinfo=JAKARTA)).run_pass()
    assert [r for r in await repository.billing_runs() if r["period"] == "2030-02"] == []

    first = monthly_on(datetime(2030, 2, 1, 0, 5, tzinfo=JAKARTA))
    await first.run_pass()
    await first.run_pass()  # a second look the same day starts nothing more
    runs = [r for r in await repository.billing_runs() if r["period"] == "2030-02"]
    assert [(r["programme_id"], r["created_by"]) for r in runs] == [(None, "billing")]
    done = await finished(billing, runs[0]["_id"])
    assert done["programmes_total"] == done["programmes_done"] >= 2
    assert done["invoices_issued"] == 0  # no programme covers February 2030
    await first.run_pass()  # finished: the month has its run, none more
    assert len([r for r in await repository.billing_runs() if r["period"] == "2030-02"]) == 1


async def test_workers_enrolled_through_registration_are_invoiced(billing, registration):
    """The event contract end to end: registration's own events build billing's roster."""
    client = registration.client
    sponsor = await client.post(
        "/sponsors", json={"name": "Pemkab Paser", "kind": "regency", "region_code": "64.01"}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": "Perlindungan Pekerja Rentan",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 10,
            "quota": 10,
            "start_month": "2026-01",
            "end_month": "2026-12",
        },
    )
    assert programme.status_code == 201, programme.text
    programme_id = programme.json()["programme_id"]
    workers = []
    for district in PASER_DISTRICTS[:3]:
        worker = await client.post(
            "/workers",
            json={
                "nik": nik(district.replace(".", "")),
                "name": "Siti Aminah",
                "occupation": "farmer",
                "domicile_code": village_in(district),
                "programme_id": programme_id,
            },
        )
        assert worker.status_code == 201, worker.text
        workers.append(worker.json())
    await programme_known(billing, programme_id)
    await on_roster(billing, programme_id, 3, timeout=30)
    enrolments = await billing.repository.enrolments_of_worker(workers[0]["worker_id"])
    [enrolment] = enrolments
    period = enrolment["first_month"]
    done = await run(billing, period, programme_id)
    assert (done["invoices_issued"], done["lines_written"]) == (1, 3)
    [invoice] = await invoices(billing, programme_id=programme_id)
    assert invoice["worker_count"] == 3
    assert sorted(invoice["by_district"]) == PASER_DISTRICTS[:3]
    lines = (await billing.client.get(f"/invoices/{invoice['invoice_id']}/lines")).json()["lines"]
    assert sorted(line["worker_id"] for line in lines) == sorted(w["worker_id"] for w in workers)
    assert invoice["amount_rupiah"] == sum(line["amount"] for line in lines)

    # A sponsor sees its own region's invoices only, and may not start runs.
    keys = {}
    for region in ("64.01", "17.04"):
        issued = await billing.client.post(
            "/admin/api-keys", json={"role": "sponsor", "region_scope": region, "label": region}
        )
        assert issued.status_code == 201, issued.text
        keys[region] = {"Authorization": f"Bearer {issued.json()['key']}"}
    path = f"/invoices/{invoice['invoice_id']}"
    assert (await billing.client.get(path, headers=keys["64.01"])).status_code == 200
    for other in (path, f"{path}/lines"):
        assert (await billing.client.get(other, headers=keys["17.04"])).status_code == 404
    listed = await billing.client.get(
        "/invoices", params={"programme_id": programme_id}, headers=keys["17.04"]
    )
    assert (listed.status_code, listed.json()) == (200, [])
    refused = await billing.client.post(
        "/billing-runs", json={"period": period}, headers=keys["64.01"]
    )
    assert refused.status_code == 403
