"""The exactly-once kit against the real store: facts inserted once, tallies that count each
fact once whatever crashed between which two writes, and transitions applied once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bpu_reporting.domain import worker_contributions
from bpu_shared.messaging.exactly_once import (
    COUNTED,
    TALLY_FIELD,
    Facts,
    LeaseLost,
    Tally,
    apply_once,
)
from bpu_shared.messaging.lease import Lease

VILLAGES = ["17.04.01.2001", "17.04.01.2002", "17.04.02.2001", "17.08.01.2001", "64.01.01.2001"]


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


def worker_facts(start: int, count: int) -> dict[str, dict[str, Any]]:
    return {
        f"WK-{i:06d}": {"village_code": VILLAGES[i % len(VILLAGES)]}
        for i in range(start, start + count)
    }


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


async def test_a_fact_inserted_again_is_not_new(mongo_db):
    facts = Facts(mongo_db["facts"])
    assert await facts.insert_once(worker_facts(0, 10)) == 10
    assert await facts.insert_once(worker_facts(5, 10)) == 5  # 5..9 were there
    assert await mongo_db["facts"].count_documents({}) == 15


async def test_every_fact_is_counted_once_in_every_region(mongo_db):
    facts = worker_facts(0, 203)
    await Facts(mongo_db["facts"]).insert_once(facts)
    tally = tally_of(mongo_db, "a")
    await tally.ensure_indexes()
    assert await tally.run_once() == 203
    assert await tally.run_once() == 0  # nothing is counted twice
    assert await counts_in(mongo_db) == expected_counts(facts)
    assert await mongo_db["facts"].count_documents({TALLY_FIELD: COUNTED}) == 203
    assert await mongo_db["batches"].count_documents({}) == 0


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("batch-recorded", 1),
        ("claimed", 1),
        ("counted", 1),  # after the first counter chunk of the first batch
        ("counted", 3),  # between two chunks of one batch's counters
        ("marked", 1),
        ("batch-closed", 1),
        ("batch-closed", 2),  # a second batch, after a whole first one
    ],
)
async def test_a_tally_killed_between_any_two_writes_counts_each_fact_once(mongo_db, point, nth):
    facts = worker_facts(0, 100)
    await Facts(mongo_db["facts"]).insert_once(facts)
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

    # More facts arrive, and another process takes over once the dead one's lease expires.
    more = worker_facts(100, 30)
    await Facts(mongo_db["facts"]).insert_once(more)
    second = tally_of(mongo_db, "second")
    assert await second.run_once() == 0  # the lease is still the dead process's
    await asyncio.sleep(0.6)
    await second.run_once()
    await second.run_once()
    assert await counts_in(mongo_db) == expected_counts(facts | more)
    assert await mongo_db["facts"].count_documents({TALLY_FIELD: COUNTED}) == 130
    assert await mongo_db["batches"].count_documents({}) == 0


async def test_a_process_that_lost_the_lease_draws_no_batch(mongo_db):
    await Facts(mongo_db["facts"]).insert_once(worker_facts(0, 5))
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


async def test_two_tallies_racing_count_each_fact_once(mongo_db):
    facts = worker_facts(0, 400)
    await Facts(mongo_db["facts"]).insert_once(facts)
    tallies = [tally_of(mongo_db, f"p{i}", ttl=0.3, batch_size=25) for i in range(3)]
    await tallies[0].ensure_indexes()

    async def keep_counting(tally: Tally) -> None:
        for _ in range(40):
            try:
                await tally.run_once()
            except LeaseLost:
                pass
            await asyncio.sleep(0.01)

    await asyncio.gather(*(keep_counting(t) for t in tallies))
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
