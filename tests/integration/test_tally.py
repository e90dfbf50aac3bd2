"""The exactly-once kit against the real store: facts stored once, tallies that count each
fact once whatever crashed between which two writes (facts recorded by consumers, which the
tally inserts itself, and facts stored waiting, which it claims), and transitions applied
once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bpu_reporting.domain import worker_contributions
from bpu_shared.messaging.exactly_once import (
    TALLY_FIELD,
    WAITING,
    Facts,
    LeaseLost,
    Tally,
    apply_once,
    inbox_of,
)
from bpu_shared.messaging.lease import Lease

VILLAGES = ["17.04.01.2001", "17.04.01.2002", "17.04.02.2001", "17.08.01.2001", "64.01.01.2001"]

#: The two ways facts reach a tally: recorded by a consumer (the tally inserts them), or
#: stored waiting (the tally claims them).
LANES = ["recorded", "waiting"]


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


def worker_facts(start: int, count: int) -> dict[str, dict[str, Any]]:
    return {
        f"WK-{i:06d}": {"village_code": VILLAGES[i % len(VILLAGES)]}
        for i in range(start, start + count)
    }


async def store(db, lane: str, facts: dict[str, dict[str, Any]], per_delivery: int = 30) -> None:
    """What consumers do: record the facts (in deliveries of ``per_delivery``), or store
    them waiting."""
    if lane == "waiting":
        await Facts(db["facts"]).insert_once(facts)
        return
    items = list(facts.items())
    for start in range(0, len(items), per_delivery):
        await Facts(db["facts"]).record(dict(items[start : start + per_delivery]))


def expected_counts(facts: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fact in facts.values():
        for counter_id, inc, _ in worker_contributions(fact):
            counts[counter_id] = counts.get(counter_id, 0) + inc["workers"]
    return counts


def tally_of(db, owner: str, *, ttl: float = 0.5, batch_size: int = 40) -> Tally:
    return Tally(
        name="coverage-workers",
        facts=db["facts"],
        counters=db["counters"],
        batches=db["batches"],
        contributions=worker_contributions,
        lease=Lease(db["leases"], "tally", owner, ttl=ttl),
        batch_size=batch_size,
    )


async def counts_in(db) -> dict[str, int]:
    return {doc["_id"]: doc["workers"] async for doc in db["counters"].find({})}


async def assert_all_counted_once(db, facts: dict[str, dict[str, Any]]) -> None:
    assert await counts_in(db) == expected_counts(facts)
    assert sorted([d["_id"] async for d in db["facts"].find({}, {"_id": 1})]) == sorted(facts)
    assert await db["facts"].count_documents({TALLY_FIELD: WAITING}) == 0
    assert await db["batches"].count_documents({}) == 0
    assert await inbox_of(db["facts"]).count_documents({}) == 0


async def test_a_fact_inserted_again_is_not_new(mongo_db):
    facts = Facts(mongo_db["facts"])
    assert await facts.insert_once(worker_facts(0, 10)) == 10
    assert await facts.insert_once(worker_facts(5, 10)) == 5  # 5..9 were there
    assert await mongo_db["facts"].count_documents({}) == 15


@pytest.mark.parametrize("lane", LANES)
async def test_every_fact_is_counted_once_in_every_region(mongo_db, lane):
    facts = worker_facts(0, 203)
    await store(mongo_db, lane, facts)
    tally = tally_of(mongo_db, "a")
    await tally.ensure_indexes()
    assert await tally.run_once() == 203
    assert await tally.run_once() == 0  # nothing is counted twice
    await assert_all_counted_once(mongo_db, facts)


@pytest.mark.parametrize("first_at", ["village", "district"])
async def test_a_reader_in_the_middle_of_a_batch_never_finds_parts_short_of_their_whole(
    mongo_db, first_at
):
    """A dashboard reads a region's counter, then its children's, while a batch is being
    counted: the tally writes parts before their whole (villages first, the country last), so
    the children it finds add up to at least the total it read, after every counter write —
    also when the batch's first fact starts a level higher (a district, as a claim does), so
    that a district comes first in one fact's contributions and second in the others'."""
    facts = worker_facts(0, 200)
    if first_at == "district":
        facts = {"WK-district": {"village_code": "17.04.01"}} | facts
    await store(mongo_db, "recorded", facts)
    tally = tally_of(mongo_db, "a", batch_size=len(facts))
    tally.counter_chunk = 1  # one write per counter: a reader between every two of them
    short: list[tuple[str, int, int]] = []
    reads = 0

    async def read(at: str) -> None:
        nonlocal reads
        if at != "counted":
            return
        reads += 1
        for doc in await mongo_db["counters"].find({"level": {"$lte": 2}}).to_list():
            # Down to regencies: their parts (districts) hold every fact; a district's
            # villages do not hold the facts counted at the district itself.
            children = await mongo_db["counters"].find({"parent": doc["_id"]}).to_list()
            parts = sum(child.get("workers", 0) for child in children)
            if children and parts < doc.get("workers", 0):
                short.append((doc["_id"], doc["workers"], parts))

    tally.after_write = read
    await tally.ensure_indexes()
    assert await tally.run_once() == len(facts)
    assert reads > 10 and short == []
    await assert_all_counted_once(mongo_db, facts)


async def test_facts_recorded_again_or_stored_waiting_meanwhile_count_once(mongo_db):
    """The same event delivered again (in one consumer batch, in another, after its fact was
    counted), and a fact stored waiting that is also recorded: each fact counts once, as its
    first record said."""
    facts = worker_facts(0, 100)
    await store(mongo_db, "recorded", facts)
    await store(mongo_db, "recorded", worker_facts(50, 60))  # 50..99 again, 100..109 new
    await Facts(mongo_db["facts"]).record({"WK-000003": {"village_code": "64.01.01.2001"}})
    await store(mongo_db, "waiting", worker_facts(110, 10))
    await store(mongo_db, "recorded", worker_facts(105, 10))  # 110..114 also waiting
    tally = tally_of(mongo_db, "a", batch_size=70)
    await tally.ensure_indexes()
    assert await tally.run_once() == 120
    await store(mongo_db, "recorded", worker_facts(0, 20))  # after they were counted
    assert await tally.run_once() == 0
    await assert_all_counted_once(mongo_db, worker_facts(0, 120))


#: Every write of a batch, in order (the writes only recorded facts have are marked).
WRITES = [
    ("number-drawn", 1),
    ("batch-recorded", 1),
    ("inserted", 1),  # recorded
    ("claimed", 1),
    ("created", 1),
    ("counted", 1),  # after the first counter write of the first batch
    ("counted", 3),  # between two counter writes of one batch
    ("inbox-emptied", 1),  # recorded
    ("batch-closed", 1),
    ("batch-closed", 2),  # a second batch, after a whole first one
]
RECORDED_ONLY = {"inserted", "inbox-emptied"}


@pytest.mark.parametrize(
    ("lane", "point", "nth"),
    [
        (lane, point, nth)
        for lane in LANES
        for point, nth in WRITES
        if lane == "recorded" or point not in RECORDED_ONLY
    ],
)
async def test_a_tally_killed_between_any_two_writes_counts_each_fact_once(
    mongo_db, lane, point, nth
):
    facts = worker_facts(0, 100)
    await store(mongo_db, lane, facts)
    first = tally_of(mongo_db, "first")
    first.counter_chunk = 2  # several counter writes per batch, to crash between them
    seen = 0

    async def crash(at: str) -> None:
        nonlocal seen
        if at == point:
            seen += 1
            if seen == nth:
                raise Crash(at)

    first.after_write = crash
    await first.ensure_indexes()
    with pytest.raises(Crash):
        await first.run_once()

    # More facts arrive, some of them again, and another process takes over once the dead
    # one's lease expires.
    more = worker_facts(100, 30)
    await store(mongo_db, lane, more)
    await store(mongo_db, "recorded", worker_facts(90, 20))
    second = tally_of(mongo_db, "second")
    assert await second.run_once() == 0  # the lease is still the dead process's
    await asyncio.sleep(0.6)
    await second.run_once()
    await second.run_once()
    await assert_all_counted_once(mongo_db, facts | more)


def pause_at(point: str) -> tuple[Callable[[str], Awaitable[None]], asyncio.Event, asyncio.Event]:
    """A fault that stops the process at ``point`` until ``go`` is set (``there`` tells that it
    got there): a process paused past its lease, which then goes on."""
    there, go = asyncio.Event(), asyncio.Event()

    async def pause(at: str) -> None:
        if at == point and not go.is_set():
            there.set()
            await go.wait()

    return pause, there, go


@pytest.mark.parametrize(
    ("lane", "point"),
    [
        (lane, point)
        for lane in LANES
        for point in ("number-drawn", "batch-recorded", "inserted", "claimed")
        if lane == "recorded" or point not in RECORDED_ONLY
    ],
)
async def test_a_process_paused_past_its_lease_counts_nothing_twice(mongo_db, lane, point):
    """Paused after drawing its batch number (before recording the batch), or later: another
    process counts meanwhile, and when the paused one goes on it counts nothing twice."""
    facts = worker_facts(0, 100)
    await store(mongo_db, lane, facts)
    paused = tally_of(mongo_db, "paused", ttl=0.3, batch_size=60)
    paused.after_write, there, go = pause_at(point)
    await paused.ensure_indexes()
    running = asyncio.create_task(paused.run_once())
    await asyncio.wait_for(there.wait(), 10)
    await asyncio.sleep(0.4)
    live = tally_of(mongo_db, "live", ttl=5, batch_size=60)
    await live.run_once()
    go.set()
    try:
        await running
    except LeaseLost:
        pass
    await live.run_once()
    await assert_all_counted_once(mongo_db, facts)


async def test_a_lease_has_one_holder_among_other_leases(mongo_db):
    """Leases of several jobs in one collection (a service's relay and its tallies), some given
    up: a process takes only the lease it asks for, and only when its holder let it expire."""
    leases = mongo_db["leases"]
    relay_a = Lease(leases, "outbox-relay", "a", ttl=30)
    claims_a = Lease(leases, "tally-coverage-claims", "a", ttl=30)
    assert await claims_a.acquire()
    await claims_a.release()  # given up: expired
    assert await relay_a.acquire()
    relay_b = Lease(leases, "outbox-relay", "b", ttl=30)
    assert not await relay_b.acquire()
    assert await relay_a.acquire()  # renewed
    assert await Lease(leases, "tally-coverage-claims", "b", ttl=0.2).acquire()
    assert {d["_id"]: d["owner"] async for d in leases.find({})} == {
        "outbox-relay": "a",
        "tally-coverage-claims": "b",
    }
    await asyncio.sleep(0.3)  # b's claims lease expires: a takes it back
    assert await claims_a.acquire()
    assert await relay_a.holder() == "a" and await claims_a.holder() == "a"


async def test_a_process_that_lost_the_lease_draws_no_batch(mongo_db):
    await Facts(mongo_db["facts"]).record(worker_facts(0, 5))
    old = tally_of(mongo_db, "old", ttl=0.3)
    assert await old.lease.acquire()
    await asyncio.sleep(0.4)
    new = tally_of(mongo_db, "new", ttl=5)
    assert await new.lease.acquire()  # the old holder's lease expired
    old.lease._valid_until = float("inf")  # a paused process that still believes it holds it
    with pytest.raises(LeaseLost):
        await old.run_once()
    assert await new.run_once() == 5
    assert (await counts_in(mongo_db))["ID"] == 5


async def test_a_fact_claimed_by_another_batch_meanwhile_is_counted_by_that_batch(mongo_db):
    """Between finding waiting facts and claiming them, another batch claims some (a process
    that lost its lease, late): each batch counts only the facts it claimed."""
    facts = worker_facts(0, 30)
    await store(mongo_db, "waiting", facts)
    tally = tally_of(mongo_db, "a", batch_size=100)
    await tally.ensure_indexes()
    claim = tally.facts.update_many

    async def claimed_by_another_first(query: Any, update: Any, **kwargs: Any) -> Any:
        tally.facts.update_many = claim  # type: ignore[method-assign]
        await claim({"_id": {"$in": ["WK-000001", "WK-000002"]}}, {"$set": {TALLY_FIELD: 999}})
        return await claim(query, update, **kwargs)

    tally.facts.update_many = claimed_by_another_first  # type: ignore[method-assign]
    assert await tally.run_once() == 28
    counted = {k: v for k, v in facts.items() if k not in ("WK-000001", "WK-000002")}
    assert await counts_in(mongo_db) == expected_counts(counted)


@pytest.mark.parametrize("lane", LANES)
async def test_two_tallies_racing_count_each_fact_once(mongo_db, lane):
    facts = worker_facts(0, 400)
    tallies = [tally_of(mongo_db, f"p{i}", ttl=0.3, batch_size=25) for i in range(3)]
    await tallies[0].ensure_indexes()

    async def keep_counting(tally: Tally) -> None:
        for _ in range(40):
            try:
                await tally.run_once()
            except LeaseLost:
                pass
            await asyncio.sleep(0.01)

    async def arrive() -> None:
        for start in range(0, 400, 50):
            await store(mongo_db, lane, worker_facts(start, 50), per_delivery=20)
            await asyncio.sleep(0.02)

    await asyncio.gather(arrive(), *(keep_counting(t) for t in tallies))
    await tallies[0].run_once()
    assert await counts_in(mongo_db) == expected_counts(facts)


async def test_a_transition_is_applied_once_per_event_and_only_from_its_state(mongo_db):
    invoices = mongo_db["invoices"]
    await invoices.insert_one({"_id": "INV-1", "state": "issued", "paid_rupiah": 0})
    pay = {"$set": {"state": "paid"}, "$inc": {"paid_rupiah": 119_784_000}}
    after = await apply_once(invoices, "INV-1", "ev-1", pay, expect={"state": "issued"})
    assert after is not None and after["state"] == "paid"
    # The same payment event again, at another offset or after a crash: nothing changes.
    assert await apply_once(invoices, "INV-1", "ev-1", pay, expect={"state": "issued"}) is None
    # Another event expecting a state the invoice has left: refused too.
    assert await apply_once(invoices, "INV-1", "ev-2", pay, expect={"state": "issued"}) is None
    doc = await invoices.find_one({"_id": "INV-1"})
    assert doc["paid_rupiah"] == 119_784_000
    assert doc["applied_events"] == ["ev-1"]
