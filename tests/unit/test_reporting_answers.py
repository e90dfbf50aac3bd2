"""Reporting keeps an answer for a second per question and asker: the same question from the
same kind of key is built once a second, whoever asks it how often."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from bpu_reporting.api.common import AnswerCache, answer
from bpu_shared.auth import Principal, Role


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Body(BaseModel):
    region: str
    by: str = "region"
    built: int
    breakdown: list[dict[str, Any]] = []


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting")


def app_with(seconds: float, clock: Clock) -> tuple[FastAPI, list[Principal]]:
    """A route answering through ``answer`` as reporting's routes do, counting its builds; the
    asker is whoever ``askers[0]`` is."""
    app = FastAPI()
    app.state.answers = AnswerCache(seconds, now=clock)
    built = [0]
    askers = [Principal("k1", Role.DASHBOARD)]

    @app.get("/coverage")
    async def coverage(request: Request, region: str = "") -> Response:
        async def build() -> BaseModel:
            built[0] += 1
            return Body(region=region, built=built[0])

        return await answer(request, askers[0], build, "json", figures=[], name="coverage")

    return app, askers


async def get(client: httpx.AsyncClient, **params: str) -> int:
    """Which build answered."""
    return int((await client.get("/coverage", params=params)).json()["built"])


async def test_the_same_question_is_built_once_while_kept_then_again() -> None:
    clock = Clock()
    client = client_of(app_with(1.0, clock)[0])
    assert [await get(client, region="17.04") for _ in range(5)] == [1] * 5
    assert await get(client, region="17") == 2  # another question
    tag = (await client.get("/coverage", params={"region": "17.04"})).headers["etag"]
    unchanged = await client.get(
        "/coverage", params={"region": "17.04"}, headers={"If-None-Match": tag}
    )
    assert unchanged.status_code == 304
    clock.t += 1.01  # stale: sent once more while the new answer is built beside
    assert await get(client, region="17.04") == 1
    await asyncio.sleep(0)
    again = await client.get("/coverage", params={"region": "17.04"})
    assert again.json()["built"] == 3 and again.headers["etag"] != tag
    clock.t += 2.01  # stale for longer than a second more: the asker waits for a new build
    assert await get(client, region="17.04") == 4


async def test_another_role_or_scope_is_another_answer() -> None:
    clock = Clock()
    app, askers = app_with(1.0, clock)
    client = client_of(app)
    assert await get(client) == 1
    askers[0] = Principal("k2", Role.DASHBOARD)  # another key, same role and scope: same answer
    assert await get(client) == 1
    askers[0] = Principal("k3", Role.SPONSOR, "17.04")
    assert await get(client) == 2
    askers[0] = Principal("k4", Role.SPONSOR, "17.05")
    assert await get(client) == 3


async def test_zero_seconds_keeps_nothing() -> None:
    client = client_of(app_with(0.0, Clock())[0])
    assert [await get(client) for _ in range(3)] == [1, 2, 3]


async def test_fifty_asking_at_once_wait_for_one_build() -> None:
    cache = AnswerCache(1.0, now=Clock())
    started = asyncio.Event()
    release = asyncio.Event()
    builds = 0

    async def build() -> BaseModel:
        nonlocal builds
        builds += 1
        started.set()
        await release.wait()
        return Body(region="17.04", built=builds)

    waiting = [asyncio.create_task(cache.fetch(("q",), build)) for _ in range(50)]
    await started.wait()
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert builds == 1 and {a.body["built"] for a in answers} == {1}


async def test_a_build_that_fails_fails_its_waiters_and_is_not_kept() -> None:
    clock = Clock()
    cache = AnswerCache(1.0, now=clock)

    async def refused() -> BaseModel:
        raise PermissionError("region 64 is outside the key's scope")

    results = await asyncio.gather(
        *(cache.fetch(("q",), refused) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, PermissionError) for r in results)
    assert cache.get(("q",)) is None

    # A stale answer is sent while its rebuild fails (the store is away), then no longer.
    async def kaur() -> BaseModel:
        return Body(region="17.04", built=1)

    await cache.fetch(("q",), kaur)
    clock.t += 1.5
    assert (await cache.fetch(("q",), refused)).body["built"] == 1
    await asyncio.sleep(0)
    clock.t += 1.0
    try:
        await cache.fetch(("q",), refused)
        raise AssertionError("a stale answer older than twice its time was sent")
    except PermissionError:
        pass
