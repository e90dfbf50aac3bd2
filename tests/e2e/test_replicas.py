"""Two replicas each of registration and reporting, as separate processes on one database and
one consumer group per service: workers enrolled through both registration replicas, one
replica of each killed with SIGKILL midway (the relay's lease holder among them), and the
dashboard ends with the exact count."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests.e2e.procs import ServiceProcess
from tests.harness import eventually, nik, village_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DISTRICTS = [f"17.04.{d:02d}" for d in range(1, 6)]


async def enrol_many(client: httpx.AsyncClient, programme_id: str, count: int) -> int:
    enrolled = 0
    for i in range(count):
        response = await client.post(
            "/workers",
            json={
                "nik": nik(district="170401"),
                "name": "Siti Aminah",
                "occupation": "farmer",
                "domicile_code": village_in(DISTRICTS[i % len(DISTRICTS)]),
                "programme_id": programme_id,
            },
        )
        assert response.status_code == 201, response.text
        enrolled += 1
    return enrolled


async def test_replicas_killed_midway_end_with_the_exact_count(infra, tmp_path: Path):
    prefix = f"p{uuid.uuid4().hex[:8]}."
    registration = [ServiceProcess(infra, prefix, "registration", tmp_path) for _ in range(2)]
    reporting = [ServiceProcess(infra, prefix, "reporting", tmp_path) for _ in range(2)]
    everyone = registration + reporting
    try:
        for replica in everyone:
            replica.wait_ready(90)
        async with registration[0].client() as reg_a, registration[1].client() as reg_b:
            sponsor = (
                await reg_a.post(
                    "/sponsors",
                    json={
                        "name": "Pemerintah Kabupaten Kaur",
                        "kind": "regency",
                        "region_code": "17.04",
                    },
                )
            ).json()
            programme = (
                await reg_b.post(  # the other replica sees the sponsor: one database
                    "/programmes",
                    json={
                        "sponsor_id": sponsor["sponsor_id"],
                        "name": "Pekerja Rentan Kaur 2026",
                        "budget_year": 2026,
                        "budget_rupiah": 1_437_408_000,
                        "quota": 7130,
                        "start_month": "2026-01",
                        "end_month": "2026-12",
                    },
                )
            ).json()
            first = await asyncio.gather(
                enrol_many(reg_a, programme["programme_id"], 40),
                enrol_many(reg_b, programme["programme_id"], 40),
            )

            # Kill the registration replica holding the relay's lease, and one reporting replica.
            with MongoClient(infra.mongodb_url) as client:
                leases = client[f"{prefix}registration".replace(".", "_")]["leases"]
                holder = leases.find_one({"_id": "outbox-relay"})["owner"]
            victim = next(r for r in registration if f":{r.proc.pid}:" in holder)
            survivor = registration[1] if victim is registration[0] else registration[0]
            victim.kill()
            reporting[0].kill()

            async with survivor.client() as reg:
                second = await enrol_many(reg, programme["programme_id"], 40)
            total = sum(first) + second

        async with reporting[1].client() as rep:

            async def kaur() -> int:
                body = (await rep.get("/coverage", params={"region": "17.04"})).json()
                return int(body["registered_workers"])

            _, seconds = await eventually(kaur, lambda n: n == total, timeout=90)
            print(f"{total} workers counted {seconds:.1f}s after the last enrolment")
            await asyncio.sleep(2)
            assert await kaur() == total
            districts = (await rep.get("/coverage", params={"region": "17.04"})).json()["breakdown"]
            assert sum(row["registered_workers"] for row in districts) == total
    finally:
        for replica in everyone:
            replica.stop()
