"""Monitoring across Bengkulu's regencies through the running stack: reporting as its own
process (with a ``TARGETS_FILE`` loaded at start), registration's programme events for Kaur,
Kepahiang and the province, 30 of Kaur's enrolments and 5 waiting-list entries (2 left)
published to the broker, Bengkulu's sample targets loaded with
``bpu-admin targets load`` through the API, billing's and claims' events of Kaur's paid March;
then GET /monitoring for province 17 as JSON, CSV and the print page, and what a sponsor key
of Kaur reads of it."""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bpu_reporting.handlers.monitoring import COLUMNS
from bpu_shared import admin
from bpu_shared.events import Event
from tests.e2e.procs import ServiceProcess
from tests.e2e.test_exactly_once import produce, topics_for
from tests.harness import eventually
from tests.integration.test_reporting_programmes import (
    KAUR_BUDGET,
    T0,
    changed,
    opened,
)
from tests.reporting_events import KAUR_MONTH, MONTHLY, all_events, worker_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy/targets/bengkulu-2026.csv"
KEPAHIANG_BUDGET = 1_984 * MONTHLY * 12


def programme_events() -> list[Event]:
    """Kaur opens its 2026 programme, then raises its budget to a year of its 7,130 workers;
    Kepahiang opens one for 1,984 workers; the province one of its own."""
    from datetime import timedelta

    return [
        changed("PG-17.04", "17.04", KAUR_BUDGET, T0 + timedelta(days=3)),  # before its opening
        opened("PG-17.04", "17.04", 1_000_000_000),
        opened("PG-17.08", "17.08", KEPAHIANG_BUDGET),
        opened("PG-17", "17", 2_000_000_000),
    ]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"m{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
async def stack(infra, prefix, tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    """Reporting as a process with a targets file for Kepahiang loaded at start; the events
    published; Bengkulu's sample targets loaded through bpu-admin with an operator key."""
    tmp = tmp_path_factory.mktemp("monitoring")
    at_start = tmp / "kepahiang.csv"
    at_start.write_text("region,year,target_workers,source\n17.08,2026,1984,test file\n")
    await topics_for(infra, prefix)
    service = ServiceProcess(infra, prefix, "reporting", tmp, targets_file=at_start)
    try:
        service.wait_ready()
        async with service.client() as client:
            issued = await client.post("/admin/api-keys", json={"role": "operator", "label": "op"})
            assert issued.status_code == 201, issued.text
            operator = issued.json()["key"]
            await produce(infra, prefix, programme_events() + all_events() + worker_events())
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = await admin.run(
                    ["targets", "load", str(SAMPLE), "--url", service.url, "--api-key", operator]
                )

            async def both_views() -> list[dict[str, dict[str, Any]]]:
                """The month's rows and the year's, by region, and the totals under "17"."""
                views = []
                for period in ("2026-03", None):
                    params = {"province": "17", "year": 2026, "period": period}
                    answer = await client.get(
                        "/monitoring", params={k: v for k, v in params.items() if v}
                    )
                    body = answer.json() if answer.status_code == 200 else {}
                    views.append(
                        {
                            r["region"]: r
                            for r in [*body.get("rows", []), body.get("totals", {})]
                            if r
                        }
                    )
                return views

            def counted(views: list[dict[str, dict[str, Any]]]) -> bool:
                """Every event counted (each tally runs on its own): the figures they make."""
                march, year = views
                kaur, kepahiang = march.get("17.04", {}), march.get("17.08", {})
                return (
                    kaur.get("contributions_invoiced_rupiah") == KAUR_MONTH
                    and kaur.get("contributions_paid_rupiah") == KAUR_MONTH
                    and kaur.get("budget_rupiah") == KAUR_BUDGET
                    and kaur.get("benefits_paid_rupiah") == 43_500_000
                    and kaur.get("waiting") == 3
                    and kepahiang.get("contributions_invoiced_rupiah") == 42 * MONTHLY
                    and kepahiang.get("contributions_paid_rupiah") == 42 * MONTHLY
                    and march.get("17", {}).get("budget_rupiah")
                    == KAUR_BUDGET + KEPAHIANG_BUDGET + 2_000_000_000
                    and year.get("17.04", {}).get("covered") == 27
                    and year.get("17.08", {}).get("contributions_invoiced_rupiah")
                    == 2 * 42 * MONTHLY
                )

            await eventually(both_views, counted, timeout=60)
            yield {"client": client, "url": service.url, "cli": (code, out.getvalue())}
    finally:
        service.stop()


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer


async def test_the_sample_targets_load_through_the_api_beside_the_file_read_at_start(stack):
    code, printed = stack["cli"]
    assert code == 0, printed
    assert "17 2026: 80,418 workers (70% of 114,883)" in printed
    assert "17.04 2026: 7,130 workers" in printed
    assert printed.strip().endswith("bengkulu-2026.csv: 2 targets saved, 0 rows refused")
    found = (await get(stack["client"], "/targets", region="17", year=2026)).json()
    assert [(t["region"], t["target_workers"], t["set_by"]) for t in found] == [
        ("17", 80_418, found[0]["set_by"]),
        ("17.04", 7_130, found[0]["set_by"]),
        ("17.08", 1_984, "file:kepahiang.csv"),
    ]
    assert found[0]["set_by"] != "file:kepahiang.csv"
    assert "DOMAIN.md" in found[0]["source"]


async def test_kaurs_row_budgeted_covered_against_its_target_and_paid(stack):
    body = (
        await get(stack["client"], "/monitoring", province="17", year=2026, period="2026-03")
    ).json()
    assert (body["province"], body["province_name"], body["period"]) == (
        "17",
        "Bengkulu",
        "2026-03",
    )
    rows = {r["region"]: r for r in body["rows"]}
    assert len(rows) == 10
    kaur = rows["17.04"]
    assert (kaur["name"], kaur["budgeted"], kaur["budget_rupiah"], kaur["programmes"]) == (
        "Kabupaten Kaur",
        True,
        KAUR_BUDGET,
        1,
    )
    assert (kaur["covered"], kaur["target_workers"], kaur["covered_pct_of_target"]) == (
        7_130,
        7_130,
        100.0,
    )
    assert kaur["to_target"] == 0
    assert kaur["target_sentence"] == "Kaur has reached its target of 7,130"
    assert kaur["waiting"] == 3  # five asked for a seat in March, two left in April
    assert (kaur["contributions_invoiced_rupiah"], kaur["contributions_paid_rupiah"]) == (
        KAUR_MONTH,
        KAUR_MONTH,
    )
    kepahiang = rows["17.08"]
    assert (kepahiang["covered"], kepahiang["target_workers"], kepahiang["to_target"]) == (
        42,
        1_984,
        1_942,
    )
    assert rows["17.05"]["budgeted"] is False
    totals = body["totals"]
    assert (totals["covered"], totals["target_workers"], totals["to_target"]) == (
        7_172,
        80_418,
        80_418 - 7_172,
    )
    assert totals["contributions_paid_rupiah"] == KAUR_MONTH + 42 * MONTHLY
    assert totals["target_sentence"].startswith("73,246 more and Bengkulu reaches its target")
    assert body["programme_names"]["17.04"] == ["Perlindungan Pekerja Rentan 17.04 2026"]

    year = (await get(stack["client"], "/monitoring", province="17", year=2026)).json()
    year_rows = {r["region"]: r for r in year["rows"]}
    assert year_rows["17.08"]["contributions_invoiced_rupiah"] == 2 * 42 * MONTHLY  # Mar, Apr
    assert year_rows["17.04"]["covered"] == 27  # enrolled now: 30 registered, 3 ended
    assert year["totals"]["waiting"] == 3


async def test_the_csv_rows_are_the_json_rows_and_the_print_page_holds_the_figures(stack):
    client = stack["client"]
    params = {"province": "17", "year": 2026, "period": "2026-03"}
    body = (await get(client, "/monitoring", **params)).json()
    answer = await get(client, "/monitoring", format="csv", **params)
    assert answer.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(lines[0]) == COLUMNS

    def as_csv(row: dict[str, Any]) -> dict[str, str]:
        def cell(v: Any) -> str:
            return "" if v is None else ("true" if v is True else "false" if v is False else str(v))

        return {c: cell(row[c]) for c in COLUMNS}

    assert lines == [as_csv(r) for r in [*body["rows"], body["totals"]]]

    # A dashboard polling with the ETags it was given: nothing changed, nothing sent.
    for fmt in ("json", "csv"):
        first = await get(client, "/monitoring", format=fmt, **params)
        again = await client.get(
            "/monitoring",
            params={"format": fmt, **params},
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert (again.status_code, again.content) == (304, b"")
    assert body["as_of"] is not None

    page = await get(client, "/monitoring/print", **params)
    assert page.headers["content-type"].startswith("text/html")
    for text in (
        "Provinsi <b>Bengkulu</b>",
        "Periode <b>Maret 2026</b>",
        "Kabupaten Kaur",
        "Rp119.784.000",
        "Rp1.437.408.000",
        "7.130",
        "100,0%",
        "Jumlah Bengkulu",
        "80.418",
        "Kepahiang: kurang 1.942 peserta lagi untuk mencapai target 1.984",
    ):
        assert text in page.text, text


async def test_a_sponsor_key_of_kaur_reads_its_own_row(stack):
    client = stack["client"]
    issued = await client.post(
        "/admin/api-keys", json={"role": "sponsor", "region_scope": "17.04", "label": "Kaur"}
    )
    assert issued.status_code == 201, issued.text
    kaur = {"Authorization": f"Bearer {issued.json()['key']}"}
    mine = await client.get("/monitoring", params={"year": 2026, "period": "2026-03"}, headers=kaur)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert [r["region"] for r in body["rows"]] == ["17.04"]
    assert body["totals"]["contributions_paid_rupiah"] == KAUR_MONTH
    assert body["totals"]["budget_rupiah"] == KAUR_BUDGET
    other = await client.get("/monitoring", params={"province": "64", "year": 2026}, headers=kaur)
    assert other.status_code == 403, other.text
    refused = await client.put("/targets/17.04/2026", json={"target_workers": 9_000}, headers=kaur)
    assert refused.status_code == 403
    bad = await client.get("/monitoring", params={"province": "17.04", "year": 2026})
    assert bad.status_code == 422 and "province" in bad.text


async def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = await admin.run(list(argv))
    return code, out.getvalue(), err.getvalue()


async def test_targets_load_names_each_refused_row_and_saves_the_others(stack, tmp_path):
    client = stack["client"]
    issued = await client.post("/admin/api-keys", json={"role": "operator", "label": "op2"})
    key = issued.json()["key"]
    file = tmp_path / "seluma.csv"
    file.write_text(
        "region,year,workforce,target_percent,target_workers,source\n"
        "17.05,2027,3000,70,,Seluma\n"
        "17.99,2027,,,10,no such regency\n"
        "17.06,2027,1000,,2000,more than its workforce\n"
    )
    code, printed, _ = await run_cli(
        "targets", "load", str(file), "--url", stack["url"], "--api-key", key
    )
    assert code == 1
    assert printed.splitlines() == [
        "  17.05 2027: 2,100 workers (70% of 3,000)",
        "  row 3: region: region code '17.99' is not in the Kemendagri region list",
        "  row 4: target_workers: 2,000 is more than the workforce of 1,000",
        "seluma.csv: 1 targets saved, 2 rows refused",
    ]
    saved = (await get(client, "/targets", year="2027")).json()
    assert [(t["region"], t["target_workers"]) for t in saved] == [("17.05", 2_100)]

    code, _, said = await run_cli(
        "targets", "load", str(file), "--url", stack["url"], "--api-key", "bpu_x_y"
    )
    assert code == 1 and "reporting refused it (401)" in said
    dashboard = await client.post("/admin/api-keys", json={"role": "dashboard", "label": "d"})
    code, _, said = await run_cli(
        "targets", "load", str(file), "--url", stack["url"], "--api-key", dashboard.json()["key"]
    )
    assert code == 1 and "reporting refused it (403)" in said
    code, _, said = await run_cli("targets", "load", str(tmp_path / "none.csv"), "--api-key", key)
    assert code == 1 and "cannot read" in said
