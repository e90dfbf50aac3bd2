"""Reporting's programmes projection and targets against the real store: programme events
delivered in order, out of order (a change before its opening, the closing first), twice at
other batch boundaries and again after a crash between two writes of a batch leave the same
documents; the queries monitoring makes (a province's programmes of a year, a sponsor's);
targets saved by an operator and seeded from a file, a restart's file never undoing an
operator's change."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bpu_reporting.handlers import EVENT_HANDLERS
from bpu_reporting.handlers.programmes import programme_writes
from bpu_reporting.store import ReportingRepository
from bpu_reporting.targets import make_target
from bpu_shared.clock import FixedClock
from bpu_shared.events import (
    Event,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
)
from bpu_shared.messaging.lease import Lease

T0 = datetime(2026, 1, 5, 2, tzinfo=UTC)
#: Kaur's 2026 programme: 7,130 workers for twelve months of JKK and JKM at Rp16,800.
KAUR_BUDGET = 7_130 * 16_800 * 12


def terms(programme_id: str, region: str, budget: int, **over: Any) -> dict[str, Any]:
    return {
        "programme_id": programme_id,
        "sponsor_id": f"SP-{region}",
        "name": f"Perlindungan Pekerja Rentan {region} 2026",
        "region_code": region,
        "budget_year": 2026,
        "budget_rupiah": budget,
        "quota": max(budget // (16_800 * 12), 1),
        "start_month": "2026-01",
        "end_month": "2026-12",
        **over,
    }


def opened(
    programme_id: str, region: str, budget: int, at: datetime = T0, **over: Any
) -> ProgrammeOpened:
    return ProgrammeOpened.create(
        ProgrammeOpenedPayload(**terms(programme_id, region, budget, **over)),
        producer="registration",
        occurred_at=at,
    )


def changed(
    programme_id: str, region: str, budget: int, at: datetime, **over: Any
) -> ProgrammeChanged:
    return ProgrammeChanged.create(
        ProgrammeChangedPayload(
            **terms(programme_id, region, budget, **over), changed=["budget_rupiah", "quota"]
        ),
        producer="registration",
        occurred_at=at,
    )


def closed(
    programme_id: str, region: str, budget: int, at: datetime, **over: Any
) -> ProgrammeClosed:
    return ProgrammeClosed.create(
        ProgrammeClosedPayload(
            **terms(programme_id, region, budget, status="closed", **over),
            closed_on=at.date(),
        ),
        producer="registration",
        occurred_at=at,
    )


def bengkulu_programmes() -> list[Event]:
    """Kaur opens its 2026 programme and raises its budget; Kepahiang opens one and closes it
    after June; Seluma's 2025 programme; the province's own programme."""
    return [
        opened("PG-KAUR-2026", "17.04", 1_000_000_000),
        changed("PG-KAUR-2026", "17.04", KAUR_BUDGET, T0 + timedelta(days=3)),
        opened("PG-KPH-2026", "17.08", 399_974_400, T0 + timedelta(hours=1)),
        closed(
            "PG-KPH-2026",
            "17.08",
            399_974_400,
            datetime(2026, 6, 20, 3, tzinfo=UTC),
            end_month="2026-06",
        ),
        opened("PG-SLM-2025", "17.05", 500_000_000, budget_year=2025),
        opened("PG-PROV-2026", "17", 2_000_000_000, T0 + timedelta(hours=2)),
        opened("PG-PASER-2026", "64.01", 6_505_228_800),  # another province
    ]


def repository_of(db: Any) -> ReportingRepository:
    runtime = SimpleNamespace(
        db=db, uow=None, api_keys=None, lease=lambda name: Lease(db["leases"], name, "a")
    )
    return ReportingRepository(runtime)  # type: ignore[arg-type]


async def deliver(repository: ReportingRepository, events: Sequence[Event], size: int) -> None:
    """What the consumers do: each topic's events in batches of ``size``, in the order
    given, through the service's own event handlers."""
    deps = SimpleNamespace(
        repository=repository, clock=FixedClock(datetime(2026, 7, 1, tzinfo=UTC))
    )
    by_type: dict[type, list[Event]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    for event_type, of_type in by_type.items():
        for start in range(0, len(of_type), size):
            for handler in EVENT_HANDLERS[event_type]:
                await handler(of_type[start : start + size], deps)


async def stored(db: Any) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc async for doc in db["programmes"].find({})}


async def in_order(
    mongo_client: Any, name: str, events: Sequence[Event]
) -> dict[str, dict[str, Any]]:
    """The documents one delivery of ``events``, in the order they happened, makes."""
    db = mongo_client[name]
    repository = repository_of(db)
    await repository.ensure_indexes()
    for event in sorted(events, key=lambda e: e.occurred_at):
        await deliver(repository, [event], size=1)
    try:
        return await stored(db)
    finally:
        await mongo_client.drop_database(name)


async def test_a_provinces_programmes_of_a_year_as_their_newest_events_left_them(mongo_db):
    repository = repository_of(mongo_db)
    await repository.ensure_indexes()
    await deliver(repository, bengkulu_programmes(), size=10)

    bengkulu = await repository.programmes(region_prefix="17", year=2026)
    assert [p["programme_id"] for p in bengkulu] == ["PG-KAUR-2026", "PG-KPH-2026", "PG-PROV-2026"]
    kaur, kepahiang, _ = bengkulu
    assert (kaur["budget_rupiah"], kaur["quota"], kaur["status"]) == (KAUR_BUDGET, 7_130, "open")
    assert kaur["region_code"] == "17.04"
    assert kaur["sponsor_id"] == "SP-17.04"
    assert kaur["start_month"] == "2026-01"
    assert kaur["funding_source"] == "apbd_regency"
    assert kaur["occurred_at"] == (T0 + timedelta(days=3)).isoformat(timespec="microseconds")
    assert (kepahiang["status"], kepahiang["end_month"]) == ("closed", "2026-06")
    assert "regions" not in kaur

    assert [p["programme_id"] for p in await repository.programmes(region_prefix="17.04")] == [
        "PG-KAUR-2026"
    ]
    assert [p["programme_id"] for p in await repository.programmes(region_prefix="17.05")] == [
        "PG-SLM-2025"
    ]
    assert await repository.programmes(region_prefix="17.05", year=2026) == []
    by_sponsor = await repository.programmes(sponsor_id="SP-17.08")
    assert [p["programme_id"] for p in by_sponsor] == ["PG-KPH-2026"]
    assert len(await repository.programmes()) == 5
    assert [p["programme_id"] for p in await repository.programmes(region_prefix="64")] == [
        "PG-PASER-2026"
    ]
    applied = await repository.last_applied()
    assert applied[ProgrammeChanged.TOPIC]["occurred_at"] == T0 + timedelta(days=3)


async def test_out_of_order_twice_at_other_boundaries_the_same_documents(mongo_db, mongo_client):
    """The change before its opening, the closing first, every event again in other
    batches and a third time shuffled: the documents one delivery in order makes."""
    events = bengkulu_programmes()
    expected = await in_order(mongo_client, mongo_db.name + "_ref", events)
    repository = repository_of(mongo_db)
    await repository.ensure_indexes()
    backwards = sorted(events, key=lambda e: e.occurred_at, reverse=True)
    await deliver(repository, backwards, size=1)
    assert await stored(mongo_db) == expected
    await deliver(repository, events, size=2)
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    await deliver(repository, shuffled + events[:3], size=3)
    assert await stored(mongo_db) == expected
    kaur = (await stored(mongo_db))["PG-KAUR-2026"]
    assert kaur["budget_rupiah"] == KAUR_BUDGET  # the change, though its opening came after


async def test_a_batch_cut_by_a_crash_between_two_writes_then_delivered_again(
    mongo_db, mongo_client
):
    """A process killed after writing the first two programmes of a batch of five: the batch
    was not committed, so it comes again whole (with later events in between): the same
    documents as one delivery."""
    events = bengkulu_programmes()
    expected = await in_order(mongo_client, mongo_db.name + "_ref", events)
    repository = repository_of(mongo_db)
    await repository.ensure_indexes()
    opened_ones = [e for e in events if isinstance(e, ProgrammeOpened)]
    writes = programme_writes(opened_ones)  # type: ignore[arg-type]
    assert await repository.apply_programmes(writes[:2]) == 2  # then the crash
    later = [e for e in events if not isinstance(e, ProgrammeOpened)]
    await deliver(repository, later, size=5)
    await deliver(repository, opened_ones, size=5)
    assert await repository.apply_programmes(writes) == 0  # nothing newer than what is stored
    assert await stored(mongo_db) == expected


async def test_a_change_within_the_second_of_its_opening_wins_in_either_order(mongo_db):
    """Opened and changed 300 ms apart (an operator's quick correction): delivered in order,
    backwards and again, the change is what stays."""
    repository = repository_of(mongo_db)
    at = datetime(2026, 1, 5, 2, 0, 1, 100_000, tzinfo=UTC)
    first = opened("PG-KAUR-2026", "17.04", 1_000_000_000, at)
    then = changed("PG-KAUR-2026", "17.04", KAUR_BUDGET, at + timedelta(milliseconds=300))
    await deliver(repository, [first], size=1)
    await deliver(repository, [then], size=1)
    assert (await stored(mongo_db))["PG-KAUR-2026"]["budget_rupiah"] == KAUR_BUDGET
    await mongo_db["programmes"].drop()
    await deliver(repository, [then], size=1)
    await deliver(repository, [first, then, first], size=1)
    assert (await stored(mongo_db))["PG-KAUR-2026"]["budget_rupiah"] == KAUR_BUDGET


# -- targets --------------------------------------------------------------------------------


def target(region: str, workers: int, by: str, percent: float | None = None) -> dict[str, Any]:
    return make_target(
        region,
        2026,
        workforce=None,
        target_percent=percent,
        target_workers=workers,
        source="test",
        set_by=by,
        set_at=datetime(2026, 1, 2, tzinfo=UTC),
    ).doc()


async def test_targets_saved_read_by_codes_and_a_file_seeded_again_keeps_an_operators(mongo_db):
    repository = repository_of(mongo_db)
    await repository.ensure_indexes()
    file = [target("17", 80_418, "file:b.csv", 70.0), target("17.04", 7_130, "file:b.csv")]
    assert await repository.seed_targets(file) == 2
    found = await repository.targets(["17", "17.04", "17.08"], 2026)
    assert sorted(found) == ["17", "17.04"]
    assert (found["17"]["workforce"], found["17"]["target_workers"]) == (114_883, 80_418)
    assert await repository.targets(["17"], 2025) == {}

    # An operator changes Kaur's; the next start seeds the file again: Kaur's stays theirs,
    # the province's is the file's again.
    assert await repository.save_targets([target("17.04", 8_000, "key-op")]) == 1
    assert await repository.save_targets([target("17.08", 1_984, "key-op")]) == 1  # a new one
    assert (await repository.targets(["17.08"], 2026))["17.08"]["target_workers"] == 1_984
    assert await repository.seed_targets(file) == 1
    found = await repository.targets(["17", "17.04"], 2026)
    assert (found["17.04"]["target_workers"], found["17.04"]["set_by"]) == (8_000, "key-op")
    assert found["17"]["set_by"] == "file:b.csv"
    assert [(t["region"], t["year"]) for t in await repository.targets_within("17", None)] == [
        ("17", 2026),
        ("17.04", 2026),
        ("17.08", 2026),
    ]
    assert [t["region"] for t in await repository.targets_within("17.04", 2026)] == ["17.04"]
    assert await repository.targets_within("64", None) == []
    assert date.fromisoformat(found["17"]["set_at"][:10]) == date(2026, 1, 2)
