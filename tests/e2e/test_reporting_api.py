"""The dashboard API through the real broker and store: Kaur's March (7,130 workers over its 15
districts invoiced and paid, Rp119,784,000), Kepahiang's months, the claims, 30 enrolments
in Kaur under two programmes of one sponsor (3 ended) and its waiting list (5 joined, 2 left)
produced to their topics; read back through GET /coverage, /contributions and /benefits per
region, month, range, programme, sponsor and occupation, as JSON and CSV, under ETags."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bpu_devstack.inprocess import Running, running
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.events import (
    BenefitProgramme,
    Event,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    WaitingListEntryPayload,
    WorkerWaitlisted,
)
from tests.e2e.reporting_helpers import projected
from tests.e2e.test_exactly_once import produce, topics_for
from tests.harness import eventually, settings_for
from tests.reporting_events import (
    KAUR_DISTRICTS,
    KAUR_MONTH,
    KAUR_PROGRAMME,
    KAUR_SECOND,
    all_events,
    worker_events,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def programme(programme_id: str, budget: int) -> Event:
    return ProgrammeOpened.create(
        ProgrammeOpenedPayload(
            programme_id=programme_id,
            sponsor_id="SP-17.04",
            name=f"Perlindungan Pekerja Rentan Kaur 2026 {programme_id}",
            region_code="17.04",
            budget_year=2026,
            budget_rupiah=budget,
            quota=max(budget // (16_800 * 12), 1),
            benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
            start_month="2026-01",
            end_month="2026-12",
        ),
        producer="registration",
        occurred_at=datetime(2026, 1, 5, 2, tzinfo=UTC),
    )


def events() -> list[Event]:
    return [
        programme(KAUR_PROGRAMME, 7_130 * 16_800 * 12),
        programme(KAUR_SECOND, 6 * 16_800 * 12),
        *all_events(),
        *worker_events(),
    ]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"a{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def reporting(infra, prefix) -> AsyncIterator[Running]:
    await topics_for(infra, prefix)
    settings = settings_for(ReportingSettings, infra, prefix, consumer_max_records=500)
    async with running(build_reporting, settings) as svc:
        yield svc


@pytest.fixture(scope="module")
async def delivered(infra, prefix, reporting) -> list[Event]:
    sent = events()
    await produce(infra, prefix, sent)
    await projected(infra, prefix, reporting, sent)
    # Kaur's target for 2026: 70% of a workforce of 11,100.
    operator = await reporting.client.post(
        "/admin/api-keys", json={"role": "operator", "label": "op"}
    )
    key = {"Authorization": f"Bearer {operator.json()['key']}"}
    target = await reporting.client.put(
        "/targets/17.04/2026",
        json={"workforce": 11_100, "target_percent": 70, "source": "test"},
        headers=key,
    )
    assert target.status_code in (200, 201), target.text
    return sent


async def get(reporting: Running, path: str, headers: dict[str, str] | None = None, **params: Any):
    response = await reporting.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_kaurs_march_covers_7130_over_its_15_districts_and_17_includes_them(
    reporting, delivered
):
    body = await get(reporting, "/coverage", region="17.04", period="2026-03")
    assert (body["region"], body["period"], body["month"]) == ("17.04", "2026-03", "2026-03")
    assert (body["covered"], body["enrolled"], body["in_arrears"]) == (7_130, 7_130, 0)
    assert body["registered"] == 10  # enrolments registered in March (Jakarta)
    assert body["waiting"] == 3  # 5 joined, 2 left
    assert body["breakdown_level"] == "district"
    rows = body["breakdown"]
    assert [r["region"] for r in rows] == KAUR_DISTRICTS
    assert sum(r["covered"] for r in rows) == 7_130
    assert [r["covered"] for r in rows[:6]] == [476] * 5 + [475]
    assert body["target"]["target_workers"] == 7_770
    assert body["target"]["covered"] == 7_130
    assert body["target"]["to_target"] == 640
    assert body["target"]["to_workforce"] == 11_100 - 7_130

    province = await get(reporting, "/coverage", region="17", period="2026-03")
    regencies = {r["region"]: r for r in province["breakdown"]}
    assert regencies["17.04"]["covered"] == 7_130
    assert regencies["17.04"]["target"]["target_workers"] == 7_770
    assert province["covered"] == 7_130 + 42  # and Kepahiang's
    assert province["covered"] == sum(r["covered"] for r in regencies.values())

    everything = await get(reporting, "/coverage", region="17.04")
    assert (everything["registered"], everything["enrolled"], everything["waiting"]) == (
        30,
        27,
        3,
    )
    assert everything["registered_workers"] == 30
    assert everything["as_of"] is not None


async def test_a_programme_a_sponsor_and_an_occupation_are_slices_of_the_whole(
    reporting, delivered
):
    second = await get(reporting, "/coverage", region="17.04", programme=KAUR_SECOND)
    assert (second["registered"], second["filters"]) == (6, {"programme": KAUR_SECOND})
    assert second["target"] is None  # a target is the whole region's
    first = await get(
        reporting, "/contributions", region="17.04", period="2026-03", programme=KAUR_PROGRAMME
    )
    assert first["paid"]["rupiah"] == KAUR_MONTH
    other = await get(
        reporting, "/contributions", region="17.04", period="2026-03", programme=KAUR_SECOND
    )
    assert other["paid"]["rupiah"] == 0
    sponsor = await get(reporting, "/coverage", region="17.04", sponsor="SP-17.04")
    assert sponsor["registered"] == 30  # both its programmes
    sponsor_money = await get(
        reporting, "/contributions", region="17", period="2026-03", sponsor="SP-17.04"
    )
    assert sponsor_money["invoiced"]["rupiah"] == KAUR_MONTH  # not Kepahiang's
    farmers = await get(reporting, "/coverage", region="17.04", occupation="farmer")
    assert (farmers["registered"], farmers["waiting"]) == (15, 3)
    assert {r["region"]: r["registered"] for r in farmers["breakdown"]}["17.04.02"] == 5

    for path in ("/contributions", "/benefits"):
        refused = await reporting.client.get(path, params={"occupation": "farmer"})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "occupation" in refused.text
    both = await reporting.client.get(
        "/coverage", params={"programme": KAUR_PROGRAMME, "occupation": "farmer"}
    )
    assert both.status_code == 422 and "occupation" in both.text


async def test_months_of_a_range_add_up_to_its_total(reporting, delivered):
    body = await get(
        reporting, "/contributions", region="17", by="month", **{"from": "2026-01", "to": "2026-04"}
    )
    assert (body["from"], body["to"], body["breakdown_level"]) == ("2026-01", "2026-04", "month")
    assert [r["month"] for r in body["breakdown"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    invoiced = [r["invoiced"]["rupiah"] for r in body["breakdown"]]
    assert invoiced == [0, 0, KAUR_MONTH + 42 * 16_800, 42 * 16_800]
    assert body["invoiced"]["rupiah"] == sum(invoiced)

    ranged = await get(
        reporting, "/contributions", region="17.04", **{"from": "2026-02", "to": "2026-04"}
    )
    assert ranged["paid"]["rupiah"] == KAUR_MONTH
    assert sum(r["paid"]["rupiah"] for r in ranged["breakdown"]) == KAUR_MONTH

    coverage = await get(
        reporting, "/coverage", region="17.04", by="month", **{"from": "2026-02", "to": "2026-04"}
    )
    rows = {r["month"]: r for r in coverage["breakdown"]}
    assert [rows[m]["registered"] for m in ("2026-02", "2026-03", "2026-04")] == [10, 10, 10]
    assert rows["2026-03"]["covered"] == 7_130
    # the waiting list: 5 joined in March, 2 left in April
    assert [rows[m]["waiting"] for m in ("2026-02", "2026-03", "2026-04")] == [0, 5, 3]
    assert coverage["registered"] == 30

    benefits = await get(
        reporting, "/benefits", region="17", by="month", **{"from": "2026-02", "to": "2026-03"}
    )
    assert [r["claims_filed"] for r in benefits["breakdown"]] == [3, 0]
    assert benefits["claims_filed"] == 3


async def test_csv_rows_add_up_to_the_total_row(reporting, delivered):
    response = await reporting.client.get(
        "/coverage", params={"region": "17.04", "period": "2026-03", "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    header = response.text.splitlines()[0]
    assert header.startswith(
        "region,name,registered,enrolled,covered,in_arrears,lapsed,waiting,target_region,"
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["region"] for r in rows] == [*KAUR_DISTRICTS, "TOTAL"]
    assert rows[0]["target_target_workers"] == ""  # no district target set
    total = rows.pop()
    assert int(total["covered"]) == sum(int(r["covered"]) for r in rows) == 7_130
    assert total["target_target_workers"] == "7770"

    money = await reporting.client.get(
        "/contributions",
        params={"region": "17", "period": "2026-03"},
        headers={"Accept": "text/csv"},
    )
    rows = list(csv.DictReader(io.StringIO(money.text)))
    total = rows.pop()
    assert total["region"] == "TOTAL"
    assert int(total["paid_rupiah"]) == sum(int(r["paid_rupiah"]) for r in rows)
    assert int(total["paid_rupiah"]) == KAUR_MONTH + 42 * 16_800

    by_month = await reporting.client.get(
        "/benefits",
        params={"region": "17", "by": "month", "from": "2026-02", "to": "2026-03", "format": "csv"},
    )
    rows = list(csv.DictReader(io.StringIO(by_month.text)))
    assert [r["month"] for r in rows] == ["2026-02", "2026-03", "TOTAL"]
    assert int(rows[-1]["benefits_paid_rupiah"]) == 43_500_000


async def test_an_unchanged_answer_is_304_and_a_new_event_changes_its_etag(
    infra, prefix, reporting, delivered
):
    params = {"region": "17.04"}
    first = await reporting.client.get("/coverage", params=params)
    etag = first.headers["etag"]
    again = await reporting.client.get("/coverage", params=params, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    as_csv = await reporting.client.get("/coverage", params={**params, "format": "csv"})
    assert as_csv.headers["etag"] != etag  # another representation, another tag

    joined = WorkerWaitlisted.create(
        WaitingListEntryPayload(
            entry_id="WL-late",
            programme_id=KAUR_PROGRAMME,
            sponsor_id="SP-17.04",
            province_code="17",
            regency_code="17.04",
            district_code="17.04.03",
            village_code=f"17.04.03.{2001:04d}",
            occupation="fisher",
            requested_on=datetime(2026, 4, 1, tzinfo=UTC).date(),
        ),
        producer="registration",
    )
    await produce(infra, prefix, [joined])
    await projected(infra, prefix, reporting, [joined])
    # The answer kept for the question (DASHBOARD_CACHE_SECONDS, 1 s, and one more while it is
    # built again) may still be sent for up to about two seconds after the event is counted.
    after, _ = await eventually(
        lambda: reporting.client.get("/coverage", params=params, headers={"If-None-Match": etag}),
        lambda r: r.status_code != 304,
        timeout=5,
    )
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert after.json()["waiting"] == 4


async def test_bad_questions_name_their_parameter_and_a_sponsor_keeps_to_its_own(
    reporting, delivered
):
    for params, field in (
        ({"from": "2020-01", "to": "2026-01"}, "to"),  # 73 months
        ({"from": "2026-05", "to": "2026-01"}, "from"),
        ({"from": "2026-01"}, "to"),
        ({"period": "2026-03", "from": "2026-01", "to": "2026-03"}, "period"),
        ({"by": "district"}, "by"),
        ({"period": "2026-13"}, "period"),
    ):
        response = await reporting.client.get("/coverage", params=params)
        assert response.status_code == 422, (params, response.text)
        assert field in response.text, (params, response.text)

    issued = await reporting.client.post(
        "/admin/api-keys", json={"role": "sponsor", "region_scope": "17.08", "label": "Kepahiang"}
    )
    kepahiang = {"Authorization": f"Bearer {issued.json()['key']}"}
    mine = await get(reporting, "/coverage", kepahiang, period="2026-03")
    assert (mine["region"], mine["covered"]) == ("17.08", 42)
    for params in ({"region": "17.04"}, {"sponsor": "SP-17.04"}):
        refused = await reporting.client.get("/coverage", params=params, headers=kepahiang)
        assert refused.status_code == 403, (params, refused.text)
