"""The rate table and planning through the running billing service (real broker and store):
``GET /rates``, ``/rates/in-force`` and ``/planning/*``, with a dashboard key, and problem
details naming the query field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bpu_billing.app import BillingSettings
from bpu_billing.app import build_app as build_billing
from bpu_devstack.inprocess import Running, running
from tests.harness import eventually, settings_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def billing(infra: Any) -> AsyncIterator[Running]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    async with running(build_billing, settings_for(BillingSettings, infra, prefix)) as svc:
        yield svc


@pytest.fixture(scope="module")
async def dashboard(billing: Running) -> dict[str, str]:
    """A dashboard key, usable once billing has recorded it (from its own event)."""
    issued = await billing.client.post(
        "/admin/api-keys", json={"role": "dashboard", "label": "province dashboard"}
    )
    assert issued.status_code == 201, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['key']}"}

    async def status() -> int:
        return (await billing.client.get("/rates", headers=headers)).status_code

    await eventually(status, lambda code: code == 200)
    return headers


async def test_every_row_of_the_table_is_listed(
    billing: Running, dashboard: dict[str, str]
) -> None:
    answer = await billing.client.get("/rates", headers=dashboard)
    assert answer.status_code == 200, answer.text
    rows = {row["id"]: row for row in answer.json()}
    assert rows["JKM-2019"]["figures"] == {"amount": 6_800}
    assert rows["JKK-BANDS-2019"]["figures"]["bands"][0] == {"income_from": 0, "base": 1_000_000}
    transport = rows["PP50-2025-TRANSPORT"]
    assert (transport["effective_from"], transport["effective_to"]) == ("2026-01-01", "2027-03-31")
    assert "PP 50/2025" in transport["source"]
    not_a_key = {"Authorization": "Bearer bpu_0000000000000000_not-a-key"}
    assert (await billing.client.get("/rates", headers=not_a_key)).status_code == 401


async def test_what_is_in_force_on_a_day(billing: Running, dashboard: dict[str, str]) -> None:
    answer = await billing.client.get("/rates/in-force?on=2026-05-02", headers=dashboard)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["monthly_jkk_jkm"], body["monthly_with_jht"]) == (16_800, 36_800)
    assert body["monthly_at_lowest_income"] == {"JKK": 10_000, "JKM": 6_800, "JHT": 20_000}
    assert {d["id"] for d in body["discounts"]} == {
        "PP50-2025-TRANSPORT",
        "PP50-2025-OTHER-SECTORS",
    }
    assert body["arrears"]["figures"]["arrears_months"] == 3
    too_early = await billing.client.get("/rates/in-force?on=2010-01-01", headers=dashboard)
    assert too_early.status_code == 422
    assert too_early.json()["errors"][0]["field"] == "on"


async def test_planning_both_ways(billing: Running, dashboard: dict[str, str]) -> None:
    budget = await billing.client.get(
        "/planning/budget?workforce=114883&percent=70&months=12"
        "&funding_source=apbd_province&start=2026-01&benefits=jkk,jkm",
        headers=dashboard,
    )
    assert budget.status_code == 200, budget.text
    body = budget.json()
    assert body["workers"] == 80_418
    assert body["budget"] == {
        "rupiah": 16_212_268_800,
        "text": "Rp16.212.268.800",
        "words": "Enam belas miliar dua ratus dua belas juta dua ratus enam puluh delapan ribu "
        "delapan ratus rupiah",
    }
    workers = await billing.client.get(
        "/planning/workers?budget=399974400&months=12&start=2025-01", headers=dashboard
    )
    assert workers.json()["workers"] == 1_984
    months = await billing.client.get(
        "/planning/months?budget=1626307200&workers=32268&start=2022-10", headers=dashboard
    )
    assert (months.json()["months"], months.json()["leftover"]["rupiah"]) == (3, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/planning/budget?months=12", "workers"),
        ("/planning/budget?workers=10&start=0000-01", "start"),
        ("/planning/months?budget=1000000", "workers"),
        ("/planning/budget?workers=10&months=12&benefits=jkk,pension", "benefits"),
        ("/planning/budget?workers=10&months=12&start=2010-01", "start"),
        ("/planning/budget?workers=10&months=0", "months"),
        ("/planning/workers?budget=-1&months=12", "budget"),
    ],
)
async def test_planning_errors_name_the_query_field(
    billing: Running, dashboard: dict[str, str], query: str, field: str
) -> None:
    answer = await billing.client.get(query, headers=dashboard)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == f"query.{field}"
