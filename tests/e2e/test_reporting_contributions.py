"""Reporting through the real broker and store: started after a reporting process was killed
in the middle of 400 invoices (redelivered in other batches, counted once); billing's and
claims' events produced to their topics as those services publish them (a Kaur month of
7,130 workers over its 15 districts invoiced for Rp119,784,000 and paid in two payments;
Kepahiang invoiced, paid, invoiced again and lapsed; claims filed, approved, rejected and
paid), read back through GET /contributions and GET /benefits per region and month, then
published again at other offsets: nothing changes. A sponsor key reads its own region
only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bpu_devstack.inprocess import Running, running
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_shared.events import ContributionInvoiced, Event
from bpu_shared.month import Month
from tests.e2e.procs import ServiceProcess
from tests.e2e.reporting_helpers import projected
from tests.e2e.test_exactly_once import committed_records, produce, topics_for
from tests.harness import eventually, settings_for
from tests.reporting_events import (
    KAUR_DISTRICTS,
    KAUR_MONTH,
    MONTHLY,
    all_events,
    counters_in,
    expected_counters,
    invoiced,
    nonzero,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"r{uuid.uuid4().hex[:8]}."


def many_invoices(count: int) -> list[Event]:
    """``count`` invoices of Paser's programmes, one to three districts each, over six
    months."""
    return [
        invoiced(
            f"INV-PASER-{i:04d}",
            "64.01",
            Month(2026, 1 + i % 6),
            {PASER_DISTRICTS[(i + k) % 6]: 1 + (i + k) % 4 for k in range(1 + i % 3)},
        )
        for i in range(count)
    ]


PASER_DISTRICTS = [f"64.01.{d:02d}" for d in range(1, 7)]
PASER_INVOICES = many_invoices(400)


@pytest.fixture(scope="module")
async def reporting(infra, prefix, tmp_path_factory) -> AsyncIterator[Running]:
    """The module's reporting service, started the hard way: 400 of Paser's invoices produced,
    a reporting process consuming them seven at a time killed (SIGKILL) in the middle of the
    stream, and this one started in its place with batches of 500, so the uncommitted
    invoices come again with other boundaries (and the tally the process may have left
    half-way is finished)."""
    topic = prefix + ContributionInvoiced.TOPIC
    await topics_for(infra, prefix)
    await produce(infra, prefix, PASER_INVOICES)
    replica = ServiceProcess(
        infra, prefix, "reporting", tmp_path_factory.mktemp("killed"), consumer_max_records=7
    )
    try:
        replica.wait_ready()
        async with replica.client() as client:

            async def recorded() -> float:
                text = (await client.get("/metrics")).text
                return sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("bpu_events_consumed_total{")
                    and f'topic="{ContributionInvoiced.TOPIC}"' in line
                )

            await eventually(recorded, lambda n: n >= 30, timeout=60)
        replica.kill()
    finally:
        replica.stop()
    committed = await committed_records(infra, prefix + "reporting", topic)
    assert 0 < committed < 400, "the kill must land mid-stream"
    settings = settings_for(ReportingSettings, infra, prefix, consumer_max_records=500)
    async with running(build_reporting, settings) as svc:
        yield svc


@pytest.fixture(scope="module")
async def delivered(infra, prefix, reporting) -> list[Event]:
    """Every event produced once and projected."""
    events = all_events()
    await produce(infra, prefix, events)
    await projected(infra, prefix, reporting, events)
    return events


async def get(reporting: Running, path: str, headers: dict[str, str] | None = None, **params: Any):
    response = await reporting.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_kaurs_month_invoiced_and_paid_reads_the_same_in_17_04_its_districts_and_17(
    reporting, delivered
):
    body = await get(reporting, "/contributions", region="17.04", period="2026-03")
    assert (body["region"], body["level"], body["period"]) == ("17.04", "regency", "2026-03")
    assert body["invoiced"] == {"rupiah": KAUR_MONTH, "formatted": "Rp119.784.000"}
    assert body["paid"] == body["invoiced"]
    assert body["payments_applied"] == body["invoiced"]
    assert body["outstanding"] == {"rupiah": 0, "formatted": "Rp0"}
    assert (body["worker_months_invoiced"], body["workers_covered"], body["invoices"]) == (
        7_130,
        7_130,
        1,
    )
    assert body["breakdown_level"] == "district"
    rows = body["breakdown"]
    assert [row["region"] for row in rows] == KAUR_DISTRICTS
    assert rows[0]["name"] == "Kinal"
    assert sum(row["invoiced"]["rupiah"] for row in rows) == KAUR_MONTH
    assert sum(row["paid"]["rupiah"] for row in rows) == KAUR_MONTH
    assert sum(row["workers_covered"] for row in rows) == 7_130

    province = await get(reporting, "/contributions", region="17", period="2026-03")
    regencies = {row["region"]: row for row in province["breakdown"]}
    assert len(regencies) == 10
    assert regencies["17.04"]["invoiced"] == body["invoiced"]
    assert regencies["17.08"]["paid"]["rupiah"] == 42 * MONTHLY
    assert province["invoiced"]["rupiah"] == KAUR_MONTH + 42 * MONTHLY
    assert province["invoiced"]["rupiah"] == sum(
        r["invoiced"]["rupiah"] for r in regencies.values()
    )

    april = await get(reporting, "/contributions", region="17", period="2026-04")
    assert april["outstanding"]["rupiah"] == 42 * MONTHLY
    assert (april["programmes_lapsed"], april["workers_lapsed"]) == (1, 42)
    all_time = await get(reporting, "/contributions", region="17")
    assert all_time["period"] is None
    assert all_time["invoiced"]["rupiah"] == KAUR_MONTH + 2 * 42 * MONTHLY


async def test_benefits_per_programme_and_kind_in_the_month_each_step_was_taken(
    reporting, delivered
):
    march = await get(reporting, "/benefits", region="17", period="2026-03")
    assert (march["claims_approved"], march["claims_rejected"], march["claims_paid"]) == (1, 1, 1)
    assert march["benefits_paid"] == {"rupiah": 43_500_000, "formatted": "Rp43.500.000"}
    assert march["by_programme"]["JKM"]["benefits_paid"]["rupiah"] == 43_500_000
    assert march["by_kind"]["lump_sum"]["rupiah"] == 20_000_000
    assert march["by_kind"]["scholarship"]["rupiah"] == 1_500_000
    assert march["by_kind"]["medical"]["rupiah"] == 0
    rows = {row["region"]: row for row in march["breakdown"]}
    assert rows["17.08"]["claims_rejected"] == 1
    feb = await get(reporting, "/benefits", region="17", period="2026-02")
    assert feb["claims_filed"] == 3
    assert (
        feb["by_programme"]["JKK"]["claims_filed"],
        feb["by_programme"]["JKM"]["claims_filed"],
    ) == (2, 1)
    everything = await get(reporting, "/benefits")
    assert (everything["level"], everything["claims_paid"]) == ("country", 2)
    assert everything["benefits_paid"]["rupiah"] == 47_000_000

    # GET /coverage answers as before, with the claims paid in all.
    coverage = await get(reporting, "/coverage", region="17.04")
    assert (coverage["registered_workers"], coverage["claims_paid"]) == (0, 2)
    assert coverage["benefits_paid_by_programme"] == {"JKK": 3_500_000, "JKM": 43_500_000}


def without_time(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "as_of"}


async def test_every_event_published_again_at_other_offsets_changes_nothing(
    infra, prefix, reporting, delivered
):
    reads = [
        ("/contributions", {"region": "17.04", "period": "2026-03"}),
        ("/contributions", {"region": "17"}),
        ("/contributions", {"region": "17", "period": "2026-04"}),
        ("/benefits", {"region": "17", "period": "2026-03"}),
        ("/benefits", {}),
    ]
    before = [without_time(await get(reporting, path, **params)) for path, params in reads]
    # What a relay killed between publishing and marking does: the same events again, later
    # in their partitions, in another order.
    await produce(infra, prefix, list(reversed(delivered)) + delivered[:5])
    await projected(infra, prefix, reporting, delivered)
    after = [without_time(await get(reporting, path, **params)) for path, params in reads]
    assert after == before
    assert before[0]["invoiced"]["rupiah"] == KAUR_MONTH


async def test_a_sponsor_key_reads_its_own_region_and_a_bad_period_names_the_field(
    reporting, delivered
):
    issued = await reporting.client.post(
        "/admin/api-keys", json={"role": "sponsor", "region_scope": "17.04", "label": "Kaur"}
    )
    assert issued.status_code == 201, issued.text
    kaur = {"Authorization": f"Bearer {issued.json()['key']}"}
    mine = await get(reporting, "/contributions", kaur, period="2026-03")
    assert (mine["region"], mine["invoiced"]["rupiah"]) == ("17.04", KAUR_MONTH)
    district = await get(reporting, "/benefits", kaur, region="17.04.01", period="2026-03")
    assert district["claims_approved"] == 1
    for path in ("/contributions", "/benefits"):
        other = await reporting.client.get(path, params={"region": "17.08"}, headers=kaur)
        assert other.status_code == 403, other.text
    bad = await reporting.client.get("/contributions", params={"region": "17", "period": "2026-13"})
    assert bad.status_code == 422
    assert "period" in bad.text


async def test_a_consumer_killed_mid_stream_and_redelivered_in_other_batches_counted_once(
    infra, prefix, reporting, delivered
):
    """Paser's invoices, half consumed by the process killed when the module started, then
    again by this one in other batches: every counter is what one delivery of each invoice
    makes it."""
    await projected(infra, prefix, reporting, PASER_INVOICES)
    db = reporting.runtime.db
    every = PASER_INVOICES + delivered
    assert nonzero(await counters_in(db)) == nonzero(expected_counters(every))
    assert await db["invoiced_contributions"].count_documents({}) == 400 + 3  # and Kaur's
    march = await get(reporting, "/contributions", region="64.01", period="2026-03")
    assert march["invoices"] == 67  # invoices 2, 8, … 398
    assert march["invoiced"]["rupiah"] == sum(
        d.amount_rupiah
        for e in PASER_INVOICES
        if e.payload.period == Month(2026, 3)  # type: ignore[attr-defined]
        for d in e.payload.by_district.values()  # type: ignore[attr-defined]
    )
