"""Cover, budget and statements through the running billing service: Paser's 32,268 workers
invoiced October–December 2022 (Rp542,102,400 a month); October and November paid, December
not → October and November covered, December in arrears; three more months unpaid → the
programme's cover lapses, with one CoverageLapsed event. The programme's budget, and the
sponsor's statement as CSV and as printable HTML."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bpu_billing.handlers.cover import LapseCheck, check_lapses
from bpu_billing.store.invoices import invoice_id
from bpu_devstack.inprocess import Running
from bpu_shared.events import CoverageLapsed, CoverPaid
from bpu_shared.month import Month
from tests.e2e.billing_helpers import (
    PASER_WORKERS,
    WOKEN_BY_THE_TEST,
    all_published,
    billing_fixtures,
    pay,
    programme,
    published,
    set_today,
)
from tests.harness import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PASER_MONTH = 542_102_400


prefix, clock, billing = billing_fixtures("c", **WOKEN_BY_THE_TEST)


async def run_month(billing: Running, programme_id: str, period: str) -> dict[str, Any]:
    """Bill ``period`` with the billing run (POST /billing-runs), and its issued invoice."""
    started = await billing.client.post(
        "/billing-runs", json={"period": period, "programme_id": programme_id}
    )
    assert started.status_code in (200, 202), started.text

    async def state() -> str:
        return str((await billing.client.get(started.headers["location"])).json()["state"])

    await eventually(state, lambda s: s in ("done", "failed"), timeout=60)
    assert await state() == "done"
    found = await billing.repository.invoice_for_payment(
        invoice_id(Month.parse(period), programme_id, 0)
    )
    assert found is not None
    return found


async def cover(billing: Running, worker: str, on: str) -> dict[str, Any]:
    answer = await billing.client.get(f"/coverage/{worker}", params={"on": on})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_paser_paid_october_and_november_december_in_arrears_then_lapsed(
    billing, infra, prefix, clock
):
    prog, enrolled = await programme(billing, PASER_WORKERS, start="2022-10", end="2023-12")
    invoices = {}
    for period in ("2022-10", "2022-11", "2022-12"):
        set_today(clock, f"{period}-01")
        invoices[period] = await run_month(billing, prog["_id"], period)
        assert invoices[period]["amount_rupiah"] == PASER_MONTH
        assert invoices[period]["worker_count"] == PASER_WORKERS
    assert sum(i["amount_rupiah"] for i in invoices.values()) == 1_626_307_200

    set_today(clock, "2022-12-20")
    for period in ("2022-10", "2022-11"):
        paid = await pay(
            billing,
            invoice_id=invoices[period]["_id"],
            amount_rupiah=PASER_MONTH,
            paid_at=f"{period}-14T10:00:00+08:00",
        )
        assert paid["credited_rupiah"] == 0

    first, last = enrolled[0]["worker_id"], enrolled[-1]["worker_id"]
    for worker in (first, last):
        for day in ("2022-10-20", "2022-11-05"):
            answer = await cover(billing, worker, day)
            assert answer["status"] == "paid" and answer["covered"], answer
    december = await cover(billing, last, "2022-12-10")
    assert december["status"] == "arrears" and not december["covered"]
    assert december["invoice_id"] == invoices["2022-12"]["_id"]
    assert december["payable_until"] == "2023-03-15"
    assert "unpaid" in december["reason"]
    assert (await cover(billing, first, "2024-01-10"))["status"] == "not_enrolled"
    assert (await cover(billing, "WK-nobody", "2022-12-10"))["status"] == "not_enrolled"
    assert (await cover(billing, first, "2023-01-10"))["status"] == "not_invoiced"

    # A sponsor sees its own region only; it may not record payments.
    keys = {}
    for region in ("64.01", "17.04"):
        issued = await billing.client.post(
            "/admin/api-keys", json={"role": "sponsor", "region_scope": region, "label": region}
        )
        keys[region] = {"Authorization": f"Bearer {issued.json()['key']}"}
    own = await billing.client.get(
        f"/coverage/{last}", params={"on": "2022-12-10"}, headers=keys["64.01"]
    )
    assert own.status_code == 200 and own.json()["status"] == "arrears"
    other = await billing.client.get(
        f"/coverage/{last}", params={"on": "2022-12-10"}, headers=keys["17.04"]
    )
    assert other.status_code == 404
    for path in (f"/programmes/{prog['_id']}/budget", f"/statements/{prog['sponsor_id']}/2022-12"):
        assert (await billing.client.get(path, headers=keys["17.04"])).status_code == 404
    refused = await billing.client.post(
        "/payments",
        headers=keys["64.01"],
        json={
            "invoice_id": invoices["2022-12"]["_id"],
            "amount_rupiah": 1,
            "paid_at": "2022-12-20T10:00:00+08:00",
            "reference": "SPONSOR-1",
        },
    )
    assert refused.status_code == 403

    # The budget: a year of 32,268 workers; three months invoiced, two paid.
    budget = (await billing.client.get(f"/programmes/{prog['_id']}/budget")).json()
    assert budget["budget_rupiah"] == 12 * PASER_MONTH
    assert budget["invoiced_rupiah"] == 3 * PASER_MONTH
    assert budget["paid_rupiah"] == 2 * PASER_MONTH
    assert budget["remaining_rupiah"] == 9 * PASER_MONTH
    assert budget["enrolled_workers"] == PASER_WORKERS
    assert budget["monthly_cost_rupiah"] == PASER_MONTH
    assert budget["months_remaining"] == 9 and not budget["over_budget"]

    # The statement of December: every line as CSV, and the printable summary.
    sponsor = prog["sponsor_id"]
    got = await billing.client.get(f"/statements/{sponsor}/2022-12.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == PASER_WORKERS
    assert sum(int(r["amount_rupiah"]) for r in rows) == PASER_MONTH
    assert {r["jkk_rupiah"] for r in rows} == {"10000"} and {r["jkm_rupiah"] for r in rows} == {
        "6800"
    }
    page = await billing.client.get(f"/statements/{sponsor}/2022-12")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Rp542.102.400" in page.text
    assert "Lima ratus empat puluh dua juta seratus dua ribu empat ratus rupiah" in page.text
    assert "Kecamatan" in page.text and "Jatuh tempo: <b>15 Desember 2022</b>" in page.text
    assert "Perlindungan Pekerja Rentan Paser" in page.text
    october = await billing.client.get(f"/statements/{sponsor}/2022-10")
    assert "Nol rupiah" in october.text or "nol rupiah" in october.text.lower()
    missing = await billing.client.get(f"/statements/{sponsor}/2021-01")
    assert missing.status_code == 404

    # Three more months go unpaid: January, February, March 2023.
    for period in ("2023-01", "2023-02", "2023-03"):
        set_today(clock, f"{period}-01")
        invoices[period] = await run_month(billing, prog["_id"], period)
    [check] = [j for j in billing.runtime.background if isinstance(j, LapseCheck)]
    set_today(clock, "2023-03-15")  # March falls due today: December is still payable
    check.wake()
    await all_published(billing)
    assert (await cover(billing, last, "2022-12-10"))["status"] == "arrears"

    set_today(clock, "2023-03-16")
    check.wake()

    async def lapsed() -> list[dict[str, Any]]:
        return [
            e["payload"]
            for e in await published(infra, prefix, CoverageLapsed)
            if e["payload"]["programme_id"] == prog["_id"]
        ]

    [event], _ = await eventually(lapsed, lambda found: len(found) == 1, timeout=20)
    assert event["lapsed_from"] == "2022-12"
    assert event["unpaid_periods"] == ["2022-12", "2023-01", "2023-02", "2023-03"]
    assert event["worker_count"] == PASER_WORKERS
    answer = await cover(billing, last, "2022-12-10")
    assert answer["status"] == "lapsed" and answer["programme_lapsed_from"] == "2022-12"
    assert (await cover(billing, last, "2022-11-10"))["status"] == "paid"

    # Checked again (the daily pass; the check itself, as after a run or a payment): still one.
    check.wake()
    assert await check_lapses(billing.app.state.bus.deps) == []
    await all_published(billing)
    assert len(await lapsed()) == 1

    # Each worker of the paid months was announced covered once.
    for period in ("2022-10", "2022-11"):
        workers = [
            w
            for e in await published(infra, prefix, CoverPaid)
            if e["payload"]["invoice_id"] == invoices[period]["_id"]
            for w in e["payload"]["worker_ids"]
        ]
        assert len(workers) == PASER_WORKERS == len(set(workers))
