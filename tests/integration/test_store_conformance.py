"""Store conformance suite: every MongoDB behaviour the project's code relies on.

Each test asserts what MongoDB does, against whatever store the fixtures give: the embedded
NX-27017 by default, real MongoDB with ``TEST_BACKEND=containers``. A behaviour NX-27017 0.8.1
gets wrong is pinned by a test marked ``xfail`` on the embedded backend only, with
``strict=True``: if the embedded server is fixed (or fails differently) the test turns red, and
the defect list in ARCHITECTURE.md must be updated.

The ``raises`` of each defect names how NX-27017 deviates today: ``AssertionError`` (a wrong
answer), ``OperationFailure`` (the server refuses the query), or ``pytest.fail.Exception`` (the
server accepts what MongoDB rejects, so ``pytest.raises`` fails).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest
from bson import Binary, Decimal128
from pymongo import DESCENDING, InsertOne, MongoClient, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

BACKEND = os.environ.get("TEST_BACKEND", "embedded")


def _store_is_nx_27017() -> bool:
    """Whether the store under test is the embedded one: always for the embedded backend; for
    external URLs, asked of the server (NX-27017 reports no version in serverInfo)."""
    if BACKEND == "embedded":
        return True
    if BACKEND == "external":
        with MongoClient(os.environ["MONGODB_URL"], serverSelectionTimeoutMS=5000) as client:
            return "version" not in client.server_info()
    return False


EMBEDDED = _store_is_nx_27017()

#: NX-27017 accepts what MongoDB rejects: ``pytest.raises`` then fails with this exception.
DID_NOT_RAISE = pytest.fail.Exception


def nx_defect(
    reason: str, raises: Any = AssertionError, strict: bool = True
) -> pytest.MarkDecorator:
    """A known NX-27017 0.8.1 defect: expected to fail on the embedded store only, strictly
    unless the defect depends on the server's state."""
    return pytest.mark.xfail(
        condition=EMBEDDED, reason=f"NX-27017 0.8.1: {reason}", strict=strict, raises=raises
    )


async def ids(coll: AsyncCollection, query: dict[str, Any]) -> list[Any]:
    """The sorted ``_id`` of the documents matching ``query``."""
    return sorted([doc["_id"] async for doc in coll.find(query, {"_id": 1})])


async def agg(coll: AsyncCollection, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await coll.aggregate(pipeline)
    return await cursor.to_list()


def event(n: int) -> dict[str, Any]:
    """A pending outbox event, shaped like the project's outbox entries."""
    return {
        "event_id": f"e{n}",
        "topic": "t.v1",
        "key": "k",
        "value": f'{{"event_id": "e{n}", "amount": 16800}}',
        "payload": {"n": n, "ok": True},
        "created_at": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
    }


def mark_sent(n: int, keep: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """The relay's filter and update that mark outbox event ``e<n>`` sent (kept in outbox_sent)."""
    eid = f"e{n}"
    return {"outbox.event_id": eid}, {
        "$pull": {"outbox": {"event_id": eid}},
        "$push": {"outbox_sent": {"$each": [event(n)], "$slice": -keep}},
        "$inc": {"outbox_pending": -1},
    }


# --- unique indexes -------------------------------------------------------------------------


async def test_unique_index_rejects_duplicate(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.workers
    await coll.create_index("nik", unique=True)
    await coll.insert_one({"_id": 1, "nik": "1704010101900001"})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": 2, "nik": "1704010101900001"})
    await coll.insert_one({"_id": 3, "nik": "1704010101900002"})
    assert await ids(coll, {}) == [1, 3]


async def test_duplicate_id_raises(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": "a", "v": 1})
    with pytest.raises(DuplicateKeyError):
        await mongo_db.c.insert_one({"_id": "a", "v": 2})
    assert await mongo_db.c.find_one({"_id": "a"}) == {"_id": "a", "v": 1}


async def test_compound_unique_index(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.invoices
    await coll.create_index([("programme_id", 1), ("period", 1)], unique=True)
    await coll.insert_many(
        [
            {"_id": 1, "programme_id": "p1", "period": "2025-01"},
            {"_id": 2, "programme_id": "p1", "period": "2025-02"},
            {"_id": 3, "programme_id": "p2", "period": "2025-01"},
        ]
    )
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": 4, "programme_id": "p1", "period": "2025-01"})
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"_id": 2}, {"$set": {"period": "2025-01"}})
    assert await coll.find_one({"_id": 2}) == {"_id": 2, "programme_id": "p1", "period": "2025-02"}


async def test_insert_many_unordered_keeps_valid_and_reports_failed_indexes(
    mongo_db: AsyncDatabase,
) -> None:
    coll = mongo_db.c
    await coll.create_index([("a", 1), ("b", 1)], unique=True)
    docs = [
        {"_id": 0, "a": 1, "b": 1},
        {"_id": 1, "a": 1, "b": 2},
        {"_id": 2, "a": 1, "b": 1},  # duplicate of 0
        {"_id": 3, "a": 2, "b": 1},
        {"_id": 4, "a": 1, "b": 2},  # duplicate of 1
        {"_id": 5, "a": 3, "b": 3},
    ]
    with pytest.raises(BulkWriteError) as caught:
        await coll.insert_many(docs, ordered=False)
    details = caught.value.details
    assert [e["index"] for e in details["writeErrors"]] == [2, 4]
    assert {e["code"] for e in details["writeErrors"]} == {11000}
    assert details["nInserted"] == 4
    assert await ids(coll, {}) == [0, 1, 3, 5]


async def test_insert_many_ordered_stops_at_first_error(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.create_index("k", unique=True)
    with pytest.raises(BulkWriteError) as caught:
        await coll.insert_many([{"_id": 1, "k": 1}, {"_id": 2, "k": 1}, {"_id": 3, "k": 3}])
    details = caught.value.details
    assert [e["index"] for e in details["writeErrors"]] == [1]
    assert details["nInserted"] == 1
    assert await ids(coll, {}) == [1]


async def test_unique_index_on_existing_duplicates_is_refused(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"k": 1}, {"k": 1}])
    with pytest.raises(OperationFailure):
        await mongo_db.c.create_index("k", unique=True)


async def test_partial_and_sparse_unique_indexes_allow_many_missing(
    mongo_db: AsyncDatabase,
) -> None:
    await mongo_db.p.create_index(
        "k", unique=True, partialFilterExpression={"k": {"$exists": True}}
    )
    await mongo_db.s.create_index("k", unique=True, sparse=True)
    for coll in (mongo_db.p, mongo_db.s):
        await coll.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3, "k": "x"}])
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"_id": 4, "k": "x"})
        assert await coll.count_documents({}) == 3


@nx_defect("a plain unique index lets many documents lack the field", raises=DID_NOT_RAISE)
async def test_unique_index_treats_missing_field_as_null(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.create_index("k", unique=True)
    await mongo_db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        await mongo_db.c.insert_one({"_id": 2})


async def test_ttl_index_is_recorded_and_droppable(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.create_index("sent_at", expireAfterSeconds=3600)
    info = await mongo_db.c.index_information()
    ttl = [spec for spec in info.values() if spec["key"] == [("sent_at", 1)]]
    assert len(ttl) == 1
    assert ttl[0]["expireAfterSeconds"] == 3600
    name = next(n for n, spec in info.items() if spec["key"] == [("sent_at", 1)])
    await mongo_db.c.drop_index(name)
    assert list(await mongo_db.c.index_information()) == ["_id_"]


@nx_defect(
    "index_information() names indexes idx_<coll>_<fields>, not the name create_index returned",
    raises=KeyError,
)
async def test_index_information_uses_created_names(mongo_db: AsyncDatabase) -> None:
    name = await mongo_db.c.create_index([("a", 1), ("b", 1)], unique=True)
    assert name == "a_1_b_1"
    info = await mongo_db.c.index_information()
    assert info[name]["unique"] is True


# --- upserts --------------------------------------------------------------------------------


async def test_upsert_with_set_on_insert_second_changes_nothing(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    first = await coll.update_one(
        {"_id": "w1"}, {"$setOnInsert": {"name": "Ani", "n": 1}}, upsert=True
    )
    assert first.upserted_id == "w1"
    assert first.matched_count == 0
    second = await coll.update_one(
        {"_id": "w1"}, {"$setOnInsert": {"name": "Budi", "n": 2}}, upsert=True
    )
    assert second.upserted_id is None
    assert second.matched_count == 1
    assert second.modified_count == 0
    assert await coll.find_one({"_id": "w1"}) == {"_id": "w1", "name": "Ani", "n": 1}


async def test_upsert_copies_equality_fields_of_the_filter(mongo_db: AsyncDatabase) -> None:
    result = await mongo_db.c.update_one(
        {"_id": 20, "kind": "k", "n": {"$gt": 1}}, {"$set": {"z": 1}}, upsert=True
    )
    assert result.upserted_id == 20
    assert await mongo_db.c.find_one({"_id": 20}) == {"_id": 20, "kind": "k", "z": 1}


async def test_upsert_without_id_generates_one(mongo_db: AsyncDatabase) -> None:
    result = await mongo_db.c.update_one({"key": "abc"}, {"$set": {"z": 1}}, upsert=True)
    doc = await mongo_db.c.find_one({"key": "abc"})
    assert doc is not None
    assert doc["_id"] == result.upserted_id
    assert {k: v for k, v in doc.items() if k != "_id"} == {"key": "abc", "z": 1}


async def test_bulk_write_upserts_report_counts(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": "x", "n": 0})
    result = await coll.bulk_write(
        [
            UpdateOne({"_id": "x"}, {"$inc": {"n": 1}}, upsert=True),
            UpdateOne({"_id": "y"}, {"$inc": {"n": 1}}, upsert=True),
            UpdateOne({"_id": "z"}, {"$setOnInsert": {"n": 5}}, upsert=True),
        ]
    )
    assert result.matched_count == 1
    assert result.modified_count == 1
    assert result.upserted_count == 2
    assert result.upserted_ids == {1: "y", 2: "z"}
    again = await coll.bulk_write(
        [UpdateOne({"_id": "z"}, {"$setOnInsert": {"n": 7}}, upsert=True)]
    )
    assert (again.matched_count, again.modified_count, again.upserted_count) == (1, 0, 0)
    assert [d async for d in coll.find().sort("_id")] == [
        {"_id": "x", "n": 1},
        {"_id": "y", "n": 1},
        {"_id": "z", "n": 5},
    ]


async def test_find_one_and_update_upsert_returns_after(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    update = {"$inc": {"seq": 1}, "$set": {"kind": "counter"}}
    after = ReturnDocument.AFTER
    doc = await coll.find_one_and_update({"_id": 11}, update, upsert=True, return_document=after)
    assert doc == {"_id": 11, "seq": 1, "kind": "counter"}
    doc = await coll.find_one_and_update({"_id": 11}, update, upsert=True, return_document=after)
    assert doc == {"_id": 11, "seq": 2, "kind": "counter"}
    assert await coll.find_one({"_id": 11}) == doc


@nx_defect("find_one_and_update(upsert=True) ignores $setOnInsert when it inserts")
async def test_find_one_and_update_upsert_applies_set_on_insert(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    update = {"$inc": {"seq": 1}, "$setOnInsert": {"kind": "counter"}}
    after = ReturnDocument.AFTER
    doc = await coll.find_one_and_update({"_id": 11}, update, upsert=True, return_document=after)
    assert doc == {"_id": 11, "seq": 1, "kind": "counter"}
    assert await coll.find_one({"_id": 11}) == doc


async def test_find_one_and_update_returns_before_by_default(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 9, "n": 1})
    assert await coll.find_one_and_update({"_id": 9}, {"$inc": {"n": 1}}) == {"_id": 9, "n": 1}
    assert await coll.find_one({"_id": 9}) == {"_id": 9, "n": 2}
    assert await coll.find_one_and_update({"_id": 12}, {"$inc": {"n": 1}}, upsert=True) is None
    assert await coll.find_one({"_id": 12}) == {"_id": 12, "n": 1}
    assert await coll.find_one_and_update({"_id": "none"}, {"$inc": {"n": 1}}) is None


async def test_find_one_and_delete(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"_id": 1, "q": "a"}, {"_id": 2, "q": "a"}])
    doc = await mongo_db.c.find_one_and_delete({"q": "a"}, sort=[("_id", DESCENDING)])
    assert doc == {"_id": 2, "q": "a"}
    assert await ids(mongo_db.c, {}) == [1]


async def test_replace_one_existing(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 4, "a": 1, "b": 2})
    result = await mongo_db.c.replace_one({"_id": 4}, {"only": 1})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await mongo_db.c.find_one({"_id": 4}) == {"_id": 4, "only": 1}


@nx_defect("replace_one(upsert=True) ignores the filter's _id and inserts an ObjectId")
async def test_replace_one_upsert_keeps_filter_id(mongo_db: AsyncDatabase) -> None:
    result = await mongo_db.c.replace_one({"_id": 13}, {"only": 13}, upsert=True)
    assert result.upserted_id == 13
    assert await mongo_db.c.find_one({"_id": 13}) == {"_id": 13, "only": 13}


@nx_defect("find_one_and_replace turns an integer _id into a string")
async def test_find_one_and_replace_keeps_id_type(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 12, "x": 1})
    doc = await mongo_db.c.find_one_and_replace(
        {"_id": 12}, {"y": 1}, return_document=ReturnDocument.AFTER
    )
    assert doc == {"_id": 12, "y": 1}
    assert await mongo_db.c.find_one({"_id": 12}) == {"_id": 12, "y": 1}


# --- update operators -----------------------------------------------------------------------


async def test_set_inc_unset_rename(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "n": 1, "old": "v", "gone": 1})
    result = await coll.update_one(
        {"_id": 1},
        {
            "$set": {"status": "active", "off.p0": 5, "a.b.c": 1},
            "$inc": {"n": 2, "totals.paid": 1000},
            "$unset": {"gone": ""},
            "$rename": {"old": "new"},
        },
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await coll.find_one({"_id": 1}) == {
        "_id": 1,
        "n": 3,
        "new": "v",
        "status": "active",
        "off": {"p0": 5},
        "a": {"b": {"c": 1}},
        "totals": {"paid": 1000},
    }


async def test_inc_large_integers(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "rupiah": 2**40})
    await mongo_db.c.update_one({"_id": 1}, {"$inc": {"rupiah": 2**40}})
    assert await mongo_db.c.find_one({"_id": 1}) == {"_id": 1, "rupiah": 2**41}


async def test_inc_on_non_numeric_is_rejected(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "g": "x"})
    with pytest.raises(WriteError):
        await mongo_db.c.update_one({"_id": 1}, {"$inc": {"g": 1}})
    assert await mongo_db.c.find_one({"_id": 1}) == {"_id": 1, "g": "x"}


async def test_set_on_insert_only_applies_on_insert(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    update = {"$setOnInsert": {"created": 1}, "$set": {"seen": "yes"}, "$inc": {"hits": 1}}
    await coll.update_one({"_id": 1}, update, upsert=True)
    await coll.update_one({"_id": 1}, {**update, "$setOnInsert": {"created": 2}}, upsert=True)
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "created": 1, "seen": "yes", "hits": 2}


async def test_add_to_set_scalars_and_each(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "tags": ["a"]})
    await coll.update_one({"_id": 1}, {"$addToSet": {"tags": "b"}})
    again = await coll.update_one({"_id": 1}, {"$addToSet": {"tags": "b"}})
    assert again.modified_count == 0
    await coll.update_one({"_id": 1}, {"$addToSet": {"tags": {"$each": ["a", "c", "c"]}}})
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "tags": ["a", "b", "c"]}
    await coll.update_one({"_id": 2}, {"$addToSet": {"tags": "x"}}, upsert=True)
    assert await coll.find_one({"_id": 2}) == {"_id": 2, "tags": ["x"]}


@nx_defect("$addToSet on a missing field of an existing document creates nothing")
async def test_add_to_set_creates_missing_array(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1})
    result = await mongo_db.c.update_one({"_id": 1}, {"$addToSet": {"tags": "x"}})
    assert result.modified_count == 1
    assert await mongo_db.c.find_one({"_id": 1}) == {"_id": 1, "tags": ["x"]}


async def test_add_to_set_subdocument(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "applied": [{"event_id": "e0"}]})
    first = await coll.update_one({"_id": 1}, {"$addToSet": {"applied": {"event_id": "e1"}}})
    second = await coll.update_one({"_id": 1}, {"$addToSet": {"applied": {"event_id": "e1"}}})
    assert (first.modified_count, second.modified_count) == (1, 0)
    assert await coll.find_one({"_id": 1}) == {
        "_id": 1,
        "applied": [{"event_id": "e0"}, {"event_id": "e1"}],
    }


async def test_max_and_min_on_numbers_and_strings(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "hi": 5, "lo": 5, "period": "2025-02"})
    await coll.update_one({"_id": 1}, {"$max": {"hi": 3, "period": "2025-01"}, "$min": {"lo": 7}})
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "hi": 5, "lo": 5, "period": "2025-02"}
    await coll.update_one(
        {"_id": 1}, {"$max": {"hi": 9, "period": "2025-03", "new": 1}, "$min": {"lo": 2}}
    )
    assert await coll.find_one({"_id": 1}) == {
        "_id": 1,
        "hi": 9,
        "lo": 2,
        "period": "2025-03",
        "new": 1,
    }


@nx_defect("$max on a date never updates; $min stores a string instead of a date")
async def test_max_and_min_on_dates(mongo_db: AsyncDatabase) -> None:
    t0 = datetime(2025, 1, 2, tzinfo=UTC)
    await mongo_db.c.insert_one({"_id": 1, "last": t0, "first": t0})
    await mongo_db.c.update_one(
        {"_id": 1},
        {"$max": {"last": t0 + timedelta(days=9)}, "$min": {"first": t0 - timedelta(days=9)}},
    )
    assert await mongo_db.c.find_one({"_id": 1}) == {
        "_id": 1,
        "last": t0 + timedelta(days=9),
        "first": t0 - timedelta(days=9),
    }


async def test_push_each_negative_slice_keeps_newest(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "recent": []})
    await coll.update_one({"_id": 1}, {"$push": {"recent": {"$each": [1, 2, 3], "$slice": -2}}})
    assert (await coll.find_one({"_id": 1}))["recent"] == [2, 3]
    await coll.update_one({"_id": 1}, {"$push": {"recent": {"$each": [4], "$slice": -2}}})
    assert (await coll.find_one({"_id": 1}))["recent"] == [3, 4]
    await coll.update_one({"_id": 1}, {"$push": {"fresh": {"$each": ["a", "b"], "$slice": -5}}})
    await coll.update_one({"_id": 1}, {"$push": {"fresh": {"$each": ["z"], "$position": 0}}})
    assert (await coll.find_one({"_id": 1}))["fresh"] == ["z", "a", "b"]


@nx_defect(
    "$push of a subdocument (plain, $each, $slice, on an existing, empty or missing array) "
    "stores every subdocument of the array as a JSON string"
)
async def test_push_subdocument_reads_back_as_subdocument(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "outbox": [event(1)]})
    await coll.update_one({"_id": 1}, {"$push": {"outbox": event(2)}})
    await coll.update_one(
        {"_id": 1}, {"$push": {"log": {"$each": [{"k": 1}, {"k": 2}], "$slice": -1}}}
    )
    assert await coll.find_one({"_id": 1}) == {
        "_id": 1,
        "outbox": [event(1), event(2)],
        "log": [{"k": 2}],
    }


async def test_push_subdocument_on_upsert_insert(mongo_db: AsyncDatabase) -> None:
    """The insert path of an ``update_one`` upsert stores a pushed subdocument correctly."""
    await mongo_db.c.update_one(
        {"_id": 1}, {"$push": {"outbox": event(1)}, "$inc": {"outbox_pending": 1}}, upsert=True
    )
    assert await mongo_db.c.find_one({"_id": 1}) == {
        "_id": 1,
        "outbox": [event(1)],
        "outbox_pending": 1,
    }


@nx_defect("$push with $sort does not sort (and subdocuments become JSON strings)")
async def test_push_each_sort(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "a": [5]})
    await mongo_db.c.update_one(
        {"_id": 1}, {"$push": {"a": {"$each": [3, 9, 1], "$sort": -1, "$slice": 3}}}
    )
    assert (await mongo_db.c.find_one({"_id": 1}))["a"] == [9, 5, 3]


async def test_pull_by_element_fields(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "outbox": [event(1), event(2), event(3), event(4)]})
    result = await coll.update_one({"_id": 1}, {"$pull": {"outbox": {"event_id": "e2"}}})
    assert result.modified_count == 1
    assert (await coll.find_one({"_id": 1}))["outbox"] == [event(1), event(3), event(4)]
    await coll.update_one({"_id": 1}, {"$pull": {"outbox": {"event_id": {"$in": ["e1", "e4"]}}}})
    assert (await coll.find_one({"_id": 1}))["outbox"] == [event(3)]
    await coll.update_one({"_id": 1}, {"$pull": {"outbox": {"payload.n": {"$gte": 3}}}})
    assert (await coll.find_one({"_id": 1}))["outbox"] == []


async def test_pull_scalars_pull_all_and_pop(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "a": [1, 2, 3, 2, 4], "b": ["x", "y", "z"]})
    await coll.update_one({"_id": 1}, {"$pull": {"a": 2}, "$pullAll": {"b": ["x", "z"]}})
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "a": [1, 3, 4], "b": ["y"]}
    await coll.update_one({"_id": 1}, {"$pop": {"a": 1}})
    await coll.update_one({"_id": 1}, {"$pull": {"a": {"$gte": 3}}})
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "a": [1], "b": ["y"]}


async def test_pull_push_inc_in_one_update(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "pending": [event(1), event(2)], "done": [], "count": 2})
    result = await coll.update_one(
        {"_id": 1},
        {
            "$pull": {"pending": {"event_id": "e1"}},
            "$push": {"done": {"$each": [{"event_id": "e1"}], "$slice": -10}},
            "$inc": {"count": -1},
        },
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await coll.find_one({"_id": 1}) == {
        "_id": 1,
        "pending": [event(2)],
        "done": [{"event_id": "e1"}],
        "count": 1,
    }


async def test_mul_and_current_date(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "n": 3})
    before = datetime.now(UTC) - timedelta(seconds=5)
    await mongo_db.c.update_one({"_id": 1}, {"$mul": {"n": 2}, "$currentDate": {"ts": True}})
    doc = await mongo_db.c.find_one({"_id": 1})
    assert doc["n"] == 6
    assert isinstance(doc["ts"], datetime)
    assert before <= doc["ts"] <= datetime.now(UTC) + timedelta(seconds=5)


async def test_positional_operator_updates_matched_element(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_one({"_id": 1, "items": [{"k": "a", "v": 1}, {"k": "b", "v": 5}]})
    result = await coll.update_one({"_id": 1, "items.k": "b"}, {"$set": {"items.$.v": 99}})
    assert result.modified_count == 1
    assert (await coll.find_one({"_id": 1}))["items"] == [{"k": "a", "v": 1}, {"k": "b", "v": 99}]


@nx_defect("the all-positional $[] is not understood: it sets a field literally named items.$[].v")
async def test_all_positional_operator(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "items": [{"v": 1}, {"v": 2}]})
    await mongo_db.c.update_one({"_id": 1}, {"$inc": {"items.$[].v": 10}})
    assert await mongo_db.c.find_one({"_id": 1}) == {"_id": 1, "items": [{"v": 11}, {"v": 12}]}


@nx_defect("array_filters are ignored: the update matches but modifies nothing")
async def test_array_filters(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]})
    result = await mongo_db.c.update_one(
        {"_id": 1}, {"$set": {"items.$[e].v": 0}}, array_filters=[{"e.k": "a"}]
    )
    assert result.modified_count == 1
    assert (await mongo_db.c.find_one({"_id": 1}))["items"] == [
        {"k": "a", "v": 0},
        {"k": "b", "v": 2},
    ]


@nx_defect("$set of _id is accepted and changes the document's _id", raises=DID_NOT_RAISE)
async def test_id_is_immutable(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 9, "n": 1})
    with pytest.raises(WriteError):
        await mongo_db.c.update_one({"_id": 9}, {"$set": {"_id": 5}})
    assert await ids(mongo_db.c, {}) == [9]


@nx_defect("$set and $inc of the same path in one update are accepted", raises=DID_NOT_RAISE)
async def test_conflicting_update_operators_are_rejected(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "a": 0})
    with pytest.raises(WriteError):
        await mongo_db.c.update_one({"_id": 1}, {"$set": {"a": 1}, "$inc": {"a": 1}})


async def test_update_many_and_delete_many(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_many([{"_id": i, "g": "y" if i % 2 else "x"} for i in range(6)])
    result = await coll.update_many({"g": "y"}, {"$set": {"flag": True}})
    assert (result.matched_count, result.modified_count) == (3, 3)
    assert await ids(coll, {"flag": True}) == [1, 3, 5]
    deleted = await coll.delete_many({"g": "x"})
    assert deleted.deleted_count == 3
    assert await ids(coll, {}) == [1, 3, 5]
    assert (await coll.delete_one({"_id": 3})).deleted_count == 1
    assert (await coll.delete_one({"_id": 3})).deleted_count == 0


@nx_defect("Decimal128 values cannot be stored (not JSON serializable)", raises=WriteError)
async def test_decimal128_round_trips(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "rate": Decimal128("0.0024")})
    assert await mongo_db.c.find_one({"_id": 1}) == {"_id": 1, "rate": Decimal128("0.0024")}


# --- queries --------------------------------------------------------------------------------


@pytest.fixture
async def arrays(mongo_db: AsyncDatabase) -> AsyncCollection:
    coll = mongo_db.arrays
    await coll.insert_many(
        [
            {"_id": 1, "arr": ["a", "b"], "nums": [1, 9], "items": [{"k": "a", "v": 1}]},
            {"_id": 2, "arr": [], "nums": [2, 3], "items": [{"k": "a", "v": 7}]},
            {"_id": 3, "arr": ["b"], "nums": [], "items": [{"k": "b", "v": 9}, {"k": "c", "v": 2}]},
        ]
    )
    return coll


async def test_in_and_nin_on_array_fields(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr": "a"}) == [1]
    assert await ids(arrays, {"arr": {"$in": ["a", "z"]}}) == [1]
    assert await ids(arrays, {"arr": {"$in": ["b"]}}) == [1, 3]
    assert await ids(arrays, {"arr": {"$nin": ["a"]}}) == [2, 3]
    assert await ids(arrays, {"arr": {"$nin": ["a", "b"]}}) == [2]
    assert await ids(arrays, {"_id": {"$in": [1, 3, 7]}}) == [1, 3]


async def test_all_size_and_elem_match(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr": {"$all": ["a", "b"]}}) == [1]
    assert await ids(arrays, {"arr": {"$size": 0}}) == [2]
    assert await ids(arrays, {"arr": {"$size": 1}}) == [3]
    assert await ids(arrays, {"items": {"$elemMatch": {"k": "a", "v": {"$gt": 3}}}}) == [2]
    assert await ids(arrays, {"items": {"$elemMatch": {"v": {"$gt": 8}}}}) == [3]


async def test_equality_on_array_element_field(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"items.k": "a"}) == [1, 2]
    assert await ids(arrays, {"items.k": "c"}) == [3]
    assert await ids(arrays, {"items.v": 9}) == [3]
    # different elements may satisfy the two conditions, as on MongoDB
    assert await ids(arrays, {"items.k": "b", "items.v": 2}) == [3]


@nx_defect("$ne on an array matches even when the array contains the value")
async def test_ne_on_array_field(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr": {"$ne": "a"}}) == [2, 3]


@nx_defect("{'arr': {'$ne': []}} also matches documents whose array is empty")
async def test_ne_empty_array(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr": {"$ne": []}}) == [1, 3]


@nx_defect("equality with an empty array fails: 'type list is not supported'", OperationFailure)
async def test_equality_with_empty_array(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr": []}) == [2]


@nx_defect("array-index paths such as outbox.0 match nothing")
async def test_array_index_path_exists(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr.0": {"$exists": True}}) == [1, 3]


@nx_defect("equality on an array-index path fails: 'malformed JSON'", raises=OperationFailure)
async def test_array_index_path_equality(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"arr.1": "b"}) == [1]


@nx_defect("$gt/$lt on an array of numbers compare the whole array, not its elements")
async def test_range_on_array_of_numbers(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"nums": {"$gt": 5}}) == [1]
    assert await ids(arrays, {"nums": {"$lt": 2}}) == [1]


@nx_defect("$gt on a field of array elements ({'items.v': {'$gt': 5}}) matches nothing")
async def test_range_on_array_element_field(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"items.v": {"$gt": 5}}) == [2, 3]


@nx_defect("$in on a field of array elements ({'items.v': {'$in': [...]}}) matches nothing")
async def test_in_on_array_element_field(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"items.v": {"$in": [9, 100]}}) == [3]


@nx_defect("$nin/$ne on a field of array elements match every document")
async def test_nin_on_array_element_field(arrays: AsyncCollection) -> None:
    assert await ids(arrays, {"items.k": {"$nin": ["a"]}}) == [3]
    assert await ids(arrays, {"items.k": {"$ne": "a"}}) == [3]


@nx_defect("$not is not implemented", raises=OperationFailure)
async def test_not_operator(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"_id": i, "n": i} for i in range(1, 5)])
    assert await ids(mongo_db.c, {"n": {"$not": {"$gt": 2}}}) == [1, 2]


@nx_defect(
    "equality with a whole subdocument fails: 'not a valid query operation'", OperationFailure
)
async def test_equality_with_subdocument(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"_id": 1, "s": {"x": 1, "y": 2}}, {"_id": 2, "s": {"x": 1}}])
    assert await ids(mongo_db.c, {"s": {"x": 1, "y": 2}}) == [1]


@nx_defect(
    "in an update's filter, $or beside other conditions is joined to them without brackets: "
    "{_id: k, $or: [a, b]} runs as (_id = k AND a) OR b, and updates other documents "
    "(find answers right)"
)
async def test_or_beside_other_conditions_in_an_update(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.leases
    await coll.insert_many(
        [
            {"_id": "relay", "owner": "a", "expires": 100},
            {"_id": "tally", "owner": "a", "expires": 0},
        ]
    )
    query = {"_id": "relay", "$or": [{"owner": "b"}, {"expires": {"$lt": 50}}]}
    assert await ids(coll, query) == []
    assert await coll.find_one_and_update(query, {"$set": {"owner": "b"}}) is None
    assert {d["_id"]: d["owner"] async for d in coll.find({})} == {"relay": "a", "tally": "a"}


async def test_regex_prefix(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.regions
    codes = ["17.04", "17.04.01", "17.04.02.2001", "17.05.01", "1704.01", "11.17.04", "17x04"]
    await coll.insert_many([{"_id": i, "code": c} for i, c in enumerate(codes)])
    assert await ids(coll, {"code": {"$regex": "^17\\.04"}}) == [0, 1, 2]
    assert await ids(coll, {"code": {"$regex": "^17\\.04\\."}}) == [1, 2]
    assert await ids(coll, {"code": {"$regex": "^17\\.0[45]$|^17\\.05\\.01$"}}) == [0, 3]


async def test_comparison_exists_and_logical_operators(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_many(
        [
            {"_id": 1, "n": 0},
            {"_id": 2, "n": 3, "off": {}},
            {"_id": 3, "n": 7, "off": {"p0": None}},
            {"_id": 4, "n": 10, "off": {"p0": 4}},
        ]
    )
    assert await ids(coll, {"n": {"$gt": 0}}) == [2, 3, 4]
    assert await ids(coll, {"n": {"$gte": 3, "$lt": 10}}) == [2, 3]
    assert await ids(coll, {"n": {"$lte": 0}}) == [1]
    assert await ids(coll, {"off": {"$exists": True}}) == [2, 3, 4]
    assert await ids(coll, {"off": {"$exists": False}}) == [1]
    assert await ids(coll, {"off.p0": {"$exists": True}, "n": {"$ne": 7}}) == [4]
    assert await ids(coll, {"off.p0": {"$exists": False}, "n": {"$ne": 7}}) == [1, 2]
    assert await ids(coll, {"off.p0": None}) == [1, 2, 3]
    assert await ids(coll, {"off.p0": {"$lt": 5}}) == [4]
    assert await ids(coll, {"$or": [{"n": 0}, {"off.p0": 4}]}) == [1, 4]
    assert await ids(coll, {"$and": [{"n": {"$gt": 0}}, {"n": {"$lt": 10}}]}) == [2, 3]
    assert await ids(coll, {"$nor": [{"n": 0}, {"n": 10}]}) == [2, 3]
    assert await ids(coll, {"n": {"$ne": 3}}) == [1, 3, 4]


@nx_defect("$exists treats a field holding null as missing")
async def test_exists_on_null_field(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"_id": 1, "v": None, "o": {"p": None}}, {"_id": 2}])
    assert await ids(mongo_db.c, {"v": {"$exists": True}}) == [1]
    assert await ids(mongo_db.c, {"o.p": {"$exists": True}}) == [1]
    assert await ids(mongo_db.c, {"o.p": {"$exists": False}}) == [2]


async def test_dates_compare_and_sort(mongo_db: AsyncDatabase) -> None:
    t0 = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    coll = mongo_db.c
    await coll.insert_many(
        [
            {"_id": 1, "t": t0},
            {"_id": 2, "t": t0 + timedelta(days=1)},
            {"_id": 3, "t": t0 - timedelta(days=400)},
        ]
    )
    assert await coll.find_one({"_id": 1}) == {"_id": 1, "t": t0}
    assert await ids(coll, {"t": {"$gt": t0}}) == [2]
    assert await ids(coll, {"t": {"$lte": t0}}) == [1, 3]
    assert [d["_id"] async for d in coll.find().sort("t", DESCENDING)] == [2, 1, 3]


async def test_sort_skip_limit(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_many(
        [{"_id": i, "g": "x" if i < 4 else "y", "n": i % 3} for i in range(1, 8)]
    )
    found = coll.find({}, {"_id": 1}).sort("_id", DESCENDING).skip(2).limit(3)
    assert [d["_id"] async for d in found] == [5, 4, 3]
    two_keys = coll.find({}, {"_id": 1}).sort([("g", DESCENDING), ("n", 1), ("_id", -1)])
    assert [d["_id"] async for d in two_keys] == [6, 7, 4, 5, 3, 1, 2]
    assert await coll.count_documents({"g": "x"}) == 3
    assert await coll.count_documents({}) == 7
    assert await coll.estimated_document_count() == 7


async def test_sort_puts_missing_and_null_first(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_many([{"_id": 1, "v": 2}, {"_id": 2}, {"_id": 3, "v": 1}])
    assert [d["_id"] async for d in coll.find().sort("v", 1)] == [2, 3, 1]
    assert [d["_id"] async for d in coll.find().sort("v", -1)] == [1, 3, 2]


async def test_distinct(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.c
    await coll.insert_many(
        [
            {"_id": 1, "benefit": "JKK", "n": 1, "tags": ["a", "b"]},
            {"_id": 2, "benefit": "JKM", "n": 2, "tags": ["b"]},
            {"_id": 3, "benefit": "JKK", "n": 2, "tags": []},
        ]
    )
    assert sorted(await coll.distinct("benefit")) == ["JKK", "JKM"]
    assert sorted(await coll.distinct("benefit", {"_id": {"$gt": 1}})) == ["JKK", "JKM"]
    assert sorted(await coll.distinct("n")) == [1, 2]
    assert sorted(await coll.distinct("tags")) == ["a", "b"]
    assert await coll.distinct("nothing") == []


@nx_defect("distinct() turns numeric-looking strings into numbers ('17.04' -> 17.04) and True to 1")
async def test_distinct_keeps_string_and_bool_types(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many(
        [{"_id": 1, "region": "17.04", "flag": True}, {"_id": 2, "region": "17", "flag": True}]
    )
    assert sorted(await mongo_db.c.distinct("region")) == ["17", "17.04"]
    assert await mongo_db.c.distinct("flag") == [True]


@nx_defect("distinct('_id') fails: 'JSON path error near _id'", raises=OperationFailure)
async def test_distinct_id(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_many([{"_id": 1}, {"_id": 2}])
    assert sorted(await mongo_db.c.distinct("_id")) == [1, 2]


async def test_find_projection(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "n": 1, "nik": "secret", "s": {"x": 1, "y": 2}})
    assert await mongo_db.c.find_one({"_id": 1}, {"n": 1}) == {"_id": 1, "n": 1}
    assert await mongo_db.c.find_one({"_id": 1}, {"n": 1, "_id": 0}) == {"n": 1}
    assert await mongo_db.c.find_one({"_id": 1}, {"nik": 0, "s": 0}) == {"_id": 1, "n": 1}


@nx_defect("a projection on a nested path returns a flat 'sub.x' key")
async def test_find_projection_nested_path(mongo_db: AsyncDatabase) -> None:
    await mongo_db.c.insert_one({"_id": 1, "s": {"x": 1, "y": 2}})
    assert await mongo_db.c.find_one({"_id": 1}, {"s.x": 1}) == {"_id": 1, "s": {"x": 1}}


async def test_missing_collection_reads_empty(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.never_written
    assert await coll.count_documents({}) == 0
    assert await coll.find_one({}) is None
    assert await coll.distinct("a") == []
    assert await agg(coll, [{"$match": {}}]) == []
    assert (await coll.update_one({"_id": 1}, {"$set": {"a": 1}})).matched_count == 0
    assert (await coll.delete_many({})).deleted_count == 0


# --- the outbox pattern ---------------------------------------------------------------------


async def test_outbox_relay_query_and_idempotent_mark(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.claims
    await coll.insert_many(
        [
            {"_id": "c1", "outbox": [event(1), event(2), event(3)], "outbox_pending": 3},
            {"_id": "c2", "outbox": [], "outbox_pending": 0},
        ]
    )
    assert await ids(coll, {"outbox_pending": {"$gt": 0}}) == ["c1"]

    extra, update = mark_sent(1)
    result = await coll.update_one({"_id": "c1", **extra}, update)
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await coll.find_one({"_id": "c1"}) == {
        "_id": "c1",
        "outbox": [event(2), event(3)],
        "outbox_pending": 2,
        "outbox_sent": [event(1)],
    }
    again = await coll.update_one({"_id": "c1", **extra}, update)
    assert (again.matched_count, again.modified_count) == (0, 0)
    assert (await coll.find_one({"_id": "c1"}))["outbox_pending"] == 2

    # the relay marks a batch in one ordered bulk write
    marks = [mark_sent(n, keep=2) for n in (2, 3)]
    bulk = await coll.bulk_write([UpdateOne({"_id": "c1", **f}, u) for f, u in marks])
    assert (bulk.matched_count, bulk.modified_count) == (2, 2)
    assert await coll.find_one({"_id": "c1"}) == {
        "_id": "c1",
        "outbox": [],
        "outbox_pending": 0,
        "outbox_sent": [event(2), event(3)],
    }
    assert await ids(coll, {"outbox_pending": {"$gt": 0}}) == []


@nx_defect(
    "after a $push of a pending event the outbox holds JSON strings, and the relay's "
    "$pull {'event_id': eid} then removes every pending event (events lost)"
)
async def test_outbox_event_pushed_between_read_and_mark_survives(
    mongo_db: AsyncDatabase,
) -> None:
    coll = mongo_db.claims
    await coll.insert_one({"_id": "c1", "outbox": [event(1), event(2)], "outbox_pending": 2})
    read = await coll.find_one({"outbox_pending": {"$gt": 0}})
    assert read is not None
    assert [e["event_id"] for e in read["outbox"]] == ["e1", "e2"]
    # a state change lands between the relay's read and its mark
    await coll.update_one(
        {"_id": "c1"}, {"$push": {"outbox": event(3)}, "$inc": {"outbox_pending": 1}}
    )
    extra, update = mark_sent(1)
    assert (await coll.update_one({"_id": "c1", **extra}, update)).modified_count == 1
    doc = await coll.find_one({"_id": "c1"})
    assert doc["outbox"] == [event(2), event(3)]
    assert doc["outbox_pending"] == 2
    for n in (2, 3):
        extra, update = mark_sent(n)
        assert (await coll.update_one({"_id": "c1", **extra}, update)).modified_count == 1
    doc = await coll.find_one({"_id": "c1"})
    assert (doc["outbox"], doc["outbox_pending"]) == ([], 0)


async def test_outbox_as_map_keyed_by_event_id(mongo_db: AsyncDatabase) -> None:
    """Pending events kept as a subdocument keyed by event id, added with ``$set``, marked sent
    with ``$unset``: correct on both stores, including an event added between read and mark."""
    coll = mongo_db.claims
    await coll.insert_one({"_id": "c1", "outbox": {"e1": event(1)}, "outbox_pending": 1})
    read = await coll.find_one({"outbox_pending": {"$gt": 0}})
    assert list(read["outbox"]) == ["e1"]
    await coll.update_one(
        {"_id": "c1"}, {"$set": {"outbox.e2": event(2)}, "$inc": {"outbox_pending": 1}}
    )
    mark = {
        "$unset": {"outbox.e1": ""},
        "$set": {"outbox_sent.e1": {"sent": True}},
        "$inc": {"outbox_pending": -1},
    }
    guard = {"_id": "c1", "outbox.e1": {"$exists": True}}
    assert (await coll.update_one(guard, mark)).modified_count == 1
    assert (await coll.update_one(guard, mark)).matched_count == 0
    assert await coll.find_one({"_id": "c1"}) == {
        "_id": "c1",
        "outbox": {"e2": event(2)},
        "outbox_pending": 1,
        "outbox_sent": {"e1": {"sent": True}},
    }


async def test_outbox_as_json_strings_the_way_the_project_stores_it(
    mongo_db: AsyncDatabase,
) -> None:
    """The project's outbox: entries are JSON strings, pushed onto an existing array, matched and
    pulled by value, moved to a sliced ``outbox_sent`` — including an entry added between the
    relay's read and its mark, and a second mark that must change nothing."""
    coll = mongo_db.workers
    entry = [
        json.dumps({"event_id": f"e{n}", "value": json.dumps({"n": n, "q": 'a"b'})})
        for n in range(4)
    ]
    await coll.insert_one(
        {"_id": "w1", "outbox": [entry[0]], "outbox_pending": 1, "outbox_sent": []}
    )
    await coll.update_one(
        {"_id": "w1"}, {"$push": {"outbox": {"$each": [entry[1]]}}, "$inc": {"outbox_pending": 1}}
    )
    read = await coll.find_one({"outbox_pending": {"$gt": 0}})
    assert read is not None and read["outbox"] == entry[:2]
    await coll.update_one(
        {"_id": "w1"}, {"$push": {"outbox": {"$each": entry[2:]}}, "$inc": {"outbox_pending": 2}}
    )

    def mark(e: str) -> UpdateOne:
        return UpdateOne(
            {"_id": "w1", "outbox": e},
            {
                "$pull": {"outbox": e},
                "$push": {"outbox_sent": {"$each": [e], "$slice": -2}},
                "$inc": {"outbox_pending": -1},
            },
        )

    result = await coll.bulk_write([mark(e) for e in read["outbox"]], ordered=True)
    assert result.modified_count == 2
    again = await coll.bulk_write([mark(e) for e in read["outbox"]], ordered=True)
    assert again.matched_count == 0
    doc = await coll.find_one({"_id": "w1"})
    assert doc == {"_id": "w1", "outbox": entry[2:], "outbox_pending": 2, "outbox_sent": entry[:2]}
    await coll.bulk_write([mark(e) for e in entry[2:]], ordered=True)
    doc = await coll.find_one({"_id": "w1"})
    assert doc == {"_id": "w1", "outbox": [], "outbox_pending": 0, "outbox_sent": entry[2:]}
    assert [json.loads(e)["event_id"] for e in doc["outbox_sent"]] == ["e2", "e3"]


async def test_outbox_moved_whole_by_one_update_many_with_rename(mongo_db: AsyncDatabase) -> None:
    """The relay's mark for documents holding one entry never marked before (a new aggregate
    and its event): one ``update_many`` renames ``outbox`` to ``outbox_sent``. It matches only a
    document whose one pending entry is among those published and whose ``outbox_sent`` is
    empty; a document changed meanwhile keeps its outbox; ``$push`` recreates ``outbox``."""
    coll = mongo_db.workers
    entry = [
        json.dumps({"event_id": f"e{n}", "value": json.dumps({"n": n, "q": 'a"b'})})
        for n in range(6)
    ]
    await coll.insert_many(
        [
            {"_id": f"w{n}", "outbox": [entry[n]], "outbox_pending": 1, "outbox_sent": []}
            for n in range(4)
        ]
        + [{"_id": "w4", "outbox": [entry[4]], "outbox_pending": 1, "outbox_sent": [entry[5]]}]
    )
    read = await coll.find({"outbox_pending": {"$gt": 0}}).sort("_id", 1).to_list()
    # Between the read and the mark, w1 gets another event, w2 is marked by another relay.
    await coll.update_one(
        {"_id": "w1"}, {"$push": {"outbox": {"$each": [entry[5]]}}, "$inc": {"outbox_pending": 1}}
    )
    await coll.update_one(
        {"_id": "w2", "outbox": entry[2]},
        {
            "$pull": {"outbox": entry[2]},
            "$push": {"outbox_sent": {"$each": [entry[2]], "$slice": -20}},
            "$inc": {"outbox_pending": -1},
        },
    )
    guard = {
        "_id": {"$in": [d["_id"] for d in read]},
        "outbox": {"$in": [d["outbox"][0] for d in read]},
        "outbox_pending": 1,
        "outbox_sent": {"$size": 0},
    }
    move = {"$rename": {"outbox": "outbox_sent"}, "$set": {"outbox_pending": 0}}
    moved = await coll.update_many(guard, move)
    assert (moved.matched_count, moved.modified_count) == (2, 2)
    docs = {d["_id"]: d async for d in coll.find({})}
    for n in (0, 3):
        assert docs[f"w{n}"] == {"_id": f"w{n}", "outbox_pending": 0, "outbox_sent": [entry[n]]}
    assert docs["w1"]["outbox"] == [entry[1], entry[5]] and docs["w1"]["outbox_pending"] == 2
    assert docs["w2"]["outbox"] == [] and docs["w2"]["outbox_sent"] == [entry[2]]
    assert docs["w4"]["outbox"] == [entry[4]] and docs["w4"]["outbox_sent"] == [entry[5]]
    assert (await coll.update_many(guard, move)).matched_count == 0
    # A later event of w0: the outbox is there again, and the relay finds and marks it.
    await coll.update_one(
        {"_id": "w0"}, {"$push": {"outbox": {"$each": [entry[5]]}}, "$inc": {"outbox_pending": 1}}
    )
    assert await ids(coll, {"outbox_pending": {"$gt": 0}}) == ["w0", "w1", "w4"]
    await coll.update_one(
        {"_id": "w0", "outbox": entry[5]},
        {
            "$pull": {"outbox": entry[5]},
            "$push": {"outbox_sent": {"$each": [entry[5]], "$slice": -2}},
            "$inc": {"outbox_pending": -1},
        },
    )
    assert await coll.find_one({"_id": "w0"}) == {
        "_id": "w0",
        "outbox": [],
        "outbox_pending": 0,
        "outbox_sent": [entry[0], entry[5]],
    }


async def test_pending_documents_but_those_being_marked(mongo_db: AsyncDatabase) -> None:
    """The relay's next query while the store marks a batch: pending documents whose ``_id`` is
    not among a thousand being marked, by index, a page at a time."""
    coll = mongo_db.workers
    await coll.create_index("outbox_pending")
    await coll.insert_many([{"_id": f"w{i:05d}", "outbox_pending": i % 2} for i in range(4000)])
    marking = [f"w{i:05d}" for i in range(1, 2001, 2)]
    query = {"outbox_pending": {"$gt": 0}, "_id": {"$nin": marking}}
    page = await coll.find(query, {"_id": 1}).limit(1000).to_list()
    assert sorted(d["_id"] for d in page) == [f"w{i:05d}" for i in range(2001, 4000, 2)]


async def test_guarded_counter_cannot_go_below_zero_under_concurrency(
    mongo_db: AsyncDatabase,
) -> None:
    """The programme quota: ``seats_left`` taken with a ``$gt: 0`` guard by 20 concurrent
    writers for 8 seats gives exactly 8 seats."""
    coll = mongo_db.programmes
    await coll.insert_one({"_id": "p1", "seats_left": 8, "enrolled": 0})

    async def take() -> bool:
        doc = await coll.find_one_and_update(
            {"_id": "p1", "seats_left": {"$gt": 0}},
            {"$inc": {"seats_left": -1, "enrolled": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    taken = await asyncio.gather(*(take() for _ in range(20)))
    assert sum(taken) == 8
    assert await coll.find_one({"_id": "p1"}) == {"_id": "p1", "seats_left": 0, "enrolled": 8}


# --- consumer idempotency guards ------------------------------------------------------------


async def test_deterministic_ids_bulk_upsert_applied_twice(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.coverage
    ops = [
        UpdateOne(
            {"_id": f"inv-{i}:w-{j}"},
            {"$setOnInsert": {"invoice": f"inv-{i}", "worker": f"w-{j}", "amount": 16800}},
            upsert=True,
        )
        for i in range(3)
        for j in range(4)
    ]
    first = await coll.bulk_write(ops, ordered=False)
    assert first.upserted_count == 12
    state = [d async for d in coll.find().sort("_id")]
    second = await coll.bulk_write(ops, ordered=False)
    assert (second.upserted_count, second.matched_count, second.modified_count) == (0, 12, 0)
    assert [d async for d in coll.find().sort("_id")] == state
    assert len(state) == 12


async def test_facts_inserted_once_by_unordered_insert_many(mongo_db: AsyncDatabase) -> None:
    """Reporting's facts: an unordered ``insert_many`` stores the new ones and refuses each
    ``_id`` stored already (or twice in the batch) with 11000, leaving the stored one as it is."""
    coll = mongo_db.facts
    await coll.insert_many([{"_id": "w1", "v": "first", "tally": 7}])
    with pytest.raises(BulkWriteError) as caught:
        await coll.insert_many(
            [
                {"_id": "w0", "v": "new", "tally": 0},
                {"_id": "w1", "v": "again", "tally": 0},
                {"_id": "w2", "v": "new", "tally": 0},
                {"_id": "w2", "v": "twice", "tally": 0},
            ],
            ordered=False,
        )
    details = caught.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(1, 11000), (3, 11000)]
    assert details["nInserted"] == 2
    assert [d async for d in coll.find({}).sort("_id", 1)] == [
        {"_id": "w0", "v": "new", "tally": 0},
        {"_id": "w1", "v": "first", "tally": 7},
        {"_id": "w2", "v": "new", "tally": 0},
    ]


async def test_claim_of_ten_thousand_ids_reports_what_it_changed(mongo_db: AsyncDatabase) -> None:
    """The tally's claim: one ``update_many`` over 10,000 ids (one batch) changes only those
    still waiting, and its ``modified_count`` says how many; the ids read back by batch."""
    coll = mongo_db.facts
    await coll.create_index("tally")
    await coll.insert_many([{"_id": f"w{i:05d}", "tally": 0} for i in range(10_000)])
    taken = await coll.update_many({"_id": {"$in": ["w00003", "w09999"]}}, {"$set": {"tally": 4}})
    assert taken.modified_count == 2
    batch = [f"w{i:05d}" for i in range(10_000)]
    claimed = await coll.update_many({"_id": {"$in": batch}, "tally": 0}, {"$set": {"tally": 5}})
    assert (claimed.matched_count, claimed.modified_count) == (9_998, 9_998)
    assert len(await coll.find({"_id": {"$in": batch}, "tally": 5}).to_list()) == 9_998
    again = await coll.update_many({"_id": {"$in": batch}, "tally": 0}, {"$set": {"tally": 6}})
    assert again.modified_count == 0
    assert await coll.find({"tally": 0}).limit(10).to_list() == []


async def test_counters_guarded_by_a_slot_updated_together(mongo_db: AsyncDatabase) -> None:
    """A tally's counting: one ``update_many`` adds the same amounts to the counters that do
    not hold the batch number in its slot (``$nin``: a counter lacking the slot matches), and
    records it there; the same batch again changes nothing; a batch ``ring`` numbers later
    reuses the slot."""
    coll = mongo_db.counters
    await coll.insert_many(
        [
            {"_id": "17.04", "workers": 5, "t_3": 3},  # holds batch 3
            {"_id": "17.05", "workers": 1, "t_3": 1},  # slot 3 holds batch 1
            {"_id": "17.06"},  # never counted
        ]
    )

    async def count(number: int) -> int:
        slot = f"t_{number % 128}"
        result = await coll.update_many(
            {"_id": {"$in": ["17.04", "17.05", "17.06"]}, slot: {"$nin": [number]}},
            {"$inc": {"workers": 2}, "$set": {slot: number}},
        )
        return int(result.modified_count)

    assert await count(3) == 2
    assert await count(3) == 0
    assert await count(131) == 3  # slot 3 again, a newer batch
    docs = {d["_id"]: d async for d in coll.find({})}
    assert {k: d["workers"] for k, d in docs.items()} == {"17.04": 7, "17.05": 5, "17.06": 4}
    assert {d["t_3"] for d in docs.values()} == {131}


@nx_defect("$ne in an update's filter does not match a document lacking the field (find does)")
async def test_ne_on_a_missing_field_in_an_update_filter(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.counters
    await coll.insert_one({"_id": "ID", "workers": 1})
    assert await ids(coll, {"t_5": {"$ne": 5}}) == ["ID"]
    result = await coll.update_one({"_id": "ID", "t_5": {"$ne": 5}}, {"$inc": {"workers": 1}})
    assert result.modified_count == 1


async def test_inbox_of_bson_blobs_read_in_insertion_order(mongo_db: AsyncDatabase) -> None:
    """The tally's inbox: documents holding a BSON blob come back byte for byte, in the order
    of their ObjectIds, a page at a time after the last one read, and go by ``$in``."""
    coll = mongo_db.inbox
    blobs = [
        bson.encode({"facts": [{"_id": f"w{i}", "at": datetime(2026, 1, i + 1)}]}) for i in range(9)
    ]
    for blob in blobs:
        await coll.insert_one({"count": 1, "facts": Binary(blob)})
    first = await coll.find({}).sort("_id", 1).limit(4).to_list()
    after = await coll.find({"_id": {"$gt": first[-1]["_id"]}}).sort("_id", 1).limit(4).to_list()
    assert [bytes(d["facts"]) for d in first + after] == blobs[:8]
    assert bson.decode(bytes(first[0]["facts"]))["facts"][0]["_id"] == "w0"
    assert (await coll.delete_many({"_id": {"$in": [d["_id"] for d in first]}})).deleted_count == 4
    assert await coll.count_documents({}) == 5


def offset_guard(key: str, offset: int) -> tuple[dict[str, Any], dict[str, Any]]:
    query = {"_id": key, "$or": [{"off.p0": {"$lt": offset}}, {"off.p0": {"$exists": False}}]}
    return query, {"$set": {"off.p0": offset}, "$inc": {"applied": 1}}


async def test_offset_guard(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.projection
    query, update = offset_guard("k", 5)
    first = await coll.update_one(query, update, upsert=True)
    assert first.upserted_id == "k"
    with pytest.raises(DuplicateKeyError):
        await coll.update_one(query, update, upsert=True)
    older_q, older_u = offset_guard("k", 4)
    with pytest.raises(DuplicateKeyError):
        await coll.update_one(older_q, older_u, upsert=True)
    assert await coll.find_one({"_id": "k"}) == {"_id": "k", "off": {"p0": 5}, "applied": 1}
    newer_q, newer_u = offset_guard("k", 6)
    assert (await coll.update_one(newer_q, newer_u, upsert=True)).modified_count == 1
    assert await coll.find_one({"_id": "k"}) == {"_id": "k", "off": {"p0": 6}, "applied": 2}


async def test_offset_guard_in_unordered_bulk(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.projection
    await coll.insert_one({"_id": "k", "off": {"p0": 6}, "applied": 1})
    stale_q, stale_u = offset_guard("k", 6)
    fresh_q, fresh_u = offset_guard("k2", 3)
    with pytest.raises(BulkWriteError) as caught:
        await coll.bulk_write(
            [UpdateOne(stale_q, stale_u, upsert=True), UpdateOne(fresh_q, fresh_u, upsert=True)],
            ordered=False,
        )
    details = caught.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(0, 11000)]
    assert details["nUpserted"] == 1
    assert await coll.find_one({"_id": "k"}) == {"_id": "k", "off": {"p0": 6}, "applied": 1}
    assert await coll.find_one({"_id": "k2"}) == {"_id": "k2", "off": {"p0": 3}, "applied": 1}


async def test_event_id_guard_with_nin_counts_once(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.totals
    await coll.insert_one({"_id": "17.04", "applied": [], "paid": 0, "claims": 0})

    async def apply(eid: str, amount: int) -> int:
        result = await coll.update_one(
            {"_id": "17.04", "applied": {"$nin": [eid]}},
            {
                "$push": {"applied": {"$each": [eid], "$slice": -100}},
                "$inc": {"paid": amount, "claims": 1},
            },
        )
        return result.modified_count

    assert [await apply("e1", 500), await apply("e1", 500), await apply("e2", 250)] == [1, 0, 1]
    assert await apply("e2", 250) == 0
    assert await coll.find_one({"_id": "17.04"}) == {
        "_id": "17.04",
        "applied": ["e1", "e2"],
        "paid": 750,
        "claims": 2,
    }


@nx_defect("an event-id guard written with $ne applies a redelivered event again")
async def test_event_id_guard_with_ne_counts_once(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.totals
    await coll.insert_one({"_id": "k", "applied": [], "claims": 0})
    for _ in range(2):
        await coll.update_one(
            {"_id": "k", "applied": {"$ne": "e1"}},
            {"$push": {"applied": "e1"}, "$inc": {"claims": 1}},
        )
    assert await coll.find_one({"_id": "k"}) == {"_id": "k", "applied": ["e1"], "claims": 1}


# --- concurrent writers ---------------------------------------------------------------------


async def test_concurrent_inc_loses_nothing(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.counters
    await coll.insert_one({"_id": "n", "v": 0})

    async def writer() -> None:
        for _ in range(50):
            await coll.update_one({"_id": "n"}, {"$inc": {"v": 1}})

    await asyncio.gather(*(writer() for _ in range(8)))
    assert await coll.find_one({"_id": "n"}) == {"_id": "n", "v": 400}


async def test_concurrent_upserts_create_one_document(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.workers
    keys = [f"w{k}" for k in range(10)]

    async def writer(me: int, key: str) -> bool:
        """Upsert, retrying a DuplicateKeyError as a driver user would; True if it inserted."""
        for _ in range(5):
            try:
                result = await coll.update_one(
                    {"_id": key}, {"$setOnInsert": {"owner": me}, "$inc": {"seen": 1}}, upsert=True
                )
            except DuplicateKeyError:
                continue
            return result.upserted_id is not None
        raise AssertionError(f"{key}: DuplicateKeyError five times in a row")

    for key in keys:
        inserted = await asyncio.gather(*(writer(me, key) for me in range(8)))
        assert inserted.count(True) == 1
        doc = await coll.find_one({"_id": key})
        assert doc == {"_id": key, "owner": inserted.index(True), "seen": 8}
    assert await coll.count_documents({}) == len(keys)


# --- aggregations ---------------------------------------------------------------------------


@pytest.fixture
async def payments(mongo_db: AsyncDatabase) -> AsyncCollection:
    coll = mongo_db.payments
    rows = [
        ("17.04", "JKK", 100, "paid"),
        ("17.04", "JKM", 50, "paid"),
        ("17.04", "JKK", 25, "paid"),
        ("17.05", "JKK", 70, "paid"),
        ("17.05", "JKM", 30, "void"),
        ("17.06", "JKM", 5, "paid"),
    ]
    await coll.insert_many(
        [
            {"_id": i, "region": r, "benefit": b, "amount": a, "status": s}
            for i, (r, b, a, s) in enumerate(rows)
        ]
    )
    return coll


async def test_group_on_single_field(payments: AsyncCollection) -> None:
    pipeline = [
        {"$match": {"status": "paid"}},
        {"$group": {"_id": "$region", "count": {"$sum": 1}, "total": {"$sum": "$amount"}}},
        {"$sort": {"total": -1}},
    ]
    assert await agg(payments, pipeline) == [
        {"_id": "17.04", "count": 3, "total": 175},
        {"_id": "17.05", "count": 1, "total": 70},
        {"_id": "17.06", "count": 1, "total": 5},
    ]
    by_id = [{"$group": {"_id": "$benefit", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]
    assert await agg(payments, by_id) == [{"_id": "JKK", "n": 3}, {"_id": "JKM", "n": 3}]


async def test_group_all_with_accumulators(payments: AsyncCollection) -> None:
    pipeline = [
        {"$group": {"_id": None, "s": {"$sum": "$amount"}, "mx": {"$max": "$amount"}}},
    ]
    assert await agg(payments, pipeline) == [{"_id": None, "s": 280, "mx": 100}]
    avg = await agg(payments, [{"$group": {"_id": None, "a": {"$avg": "$amount"}}}])
    assert avg[0]["a"] == pytest.approx(280 / 6)


@nx_defect("$group with a compound _id puts every document in one row")
async def test_group_on_compound_id(payments: AsyncCollection) -> None:
    pipeline = [
        {"$group": {"_id": {"r": "$region", "b": "$benefit"}, "n": {"$sum": 1}}},
        {"$sort": {"_id.r": 1, "_id.b": 1}},
    ]
    assert await agg(payments, pipeline) == [
        {"_id": {"r": "17.04", "b": "JKK"}, "n": 2},
        {"_id": {"r": "17.04", "b": "JKM"}, "n": 1},
        {"_id": {"r": "17.05", "b": "JKK"}, "n": 1},
        {"_id": {"r": "17.05", "b": "JKM"}, "n": 1},
        {"_id": {"r": "17.06", "b": "JKM"}, "n": 1},
    ]


async def test_count_project_unwind_sort_skip_limit_stages(payments: AsyncCollection) -> None:
    assert await agg(payments, [{"$match": {"region": "17.04"}}, {"$count": "k"}]) == [{"k": 3}]
    assert await agg(payments, [{"$match": {"_id": 0}}, {"$project": {"amount": 1, "_id": 0}}]) == [
        {"amount": 100}
    ]
    assert await agg(payments, [{"$match": {"_id": 0}}, {"$project": {"region": 1, "_id": 0}}]) == [
        {"region": "17.04"}
    ]
    paged = [{"$sort": {"amount": -1}}, {"$skip": 1}, {"$limit": 2}]
    assert [d["_id"] for d in await agg(payments, paged)] == [3, 1]
    two_keys = [{"$sort": {"benefit": 1, "amount": -1}}, {"$project": {"amount": 1, "_id": 0}}]
    assert [d["amount"] for d in await agg(payments, two_keys)] == [100, 70, 25, 50, 30, 5]
    await payments.insert_one({"_id": 99, "tags": ["a", "b", "a"]})
    unwound = [
        {"$match": {"_id": 99}},
        {"$unwind": "$tags"},
        {"$group": {"_id": "$tags", "c": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ]
    assert await agg(payments, unwound) == [{"_id": "a", "c": 2}, {"_id": "b", "c": 1}]


@nx_defect("$project inclusion turns an integer _id into a string")
async def test_project_keeps_id_type(payments: AsyncCollection) -> None:
    projected = await agg(payments, [{"$match": {"_id": 0}}, {"$project": {"amount": 1}}])
    assert projected == [{"_id": 0, "amount": 100}]


@nx_defect("$project {'_id': 1} alone returns the whole document")
async def test_project_id_only(payments: AsyncCollection) -> None:
    assert await agg(payments, [{"$match": {"_id": 0}}, {"$project": {"_id": 1}}]) == [{"_id": 0}]


@nx_defect("$facet adds an '_id': 0 field to its output document")
async def test_facet(payments: AsyncCollection) -> None:
    pipeline = [
        {
            "$facet": {
                "paid": [{"$match": {"status": "paid"}}, {"$count": "k"}],
                "all": [{"$count": "k"}],
            }
        }
    ]
    assert await agg(payments, pipeline) == [{"paid": [{"k": 5}], "all": [{"k": 6}]}]


# --- collections, server, transactions ------------------------------------------------------


@nx_defect(
    "rename() answers ok but renames nothing; on a server that has run longer it refuses with "
    "'Collection new already exists' although the test's database is new",
    raises=(AssertionError, OperationFailure),
    strict=False,
)
async def test_rename_collection(mongo_db: AsyncDatabase) -> None:
    await mongo_db.old.insert_one({"_id": 1})
    await mongo_db.old.rename("new")
    assert await mongo_db.new.count_documents({}) == 1
    assert await mongo_db.old.count_documents({}) == 0


async def test_list_and_drop_collections(mongo_db: AsyncDatabase) -> None:
    await mongo_db.bulk_write_target.bulk_write([InsertOne({"_id": 1}), InsertOne({"_id": 2})])
    await mongo_db.other.insert_one({"_id": 1})
    assert sorted(await mongo_db.list_collection_names()) == ["bulk_write_target", "other"]
    await mongo_db.other.drop()
    assert await mongo_db.list_collection_names() == ["bulk_write_target"]


@nx_defect("server_info() (the buildinfo command) answers without a version")
async def test_server_info_reports_version(mongo_db: AsyncDatabase) -> None:
    info = await mongo_db.client.server_info()
    assert isinstance(info.get("version"), str)


@nx_defect(
    "transactions are SQLite savepoints on a shared connection: other clients read "
    "uncommitted writes (the project uses no multi-document transactions)"
)
async def test_transaction_isolation(mongo_db: AsyncDatabase) -> None:
    hello = await mongo_db.client.admin.command("hello")
    if not EMBEDDED and "setName" not in hello and hello.get("msg") != "isdbgrid":
        pytest.skip("transactions need a replica set or mongos")
    coll = mongo_db.tx
    await coll.insert_one({"_id": 0})
    async with mongo_db.client.start_session() as session:
        await session.start_transaction()
        try:
            await coll.insert_one({"_id": 1}, session=session)
            visible_outside = await coll.count_documents({})
        finally:
            await session.abort_transaction()
    assert visible_outside == 1
    assert await ids(coll, {}) == [0]


@nx_defect("an upsert that inserts with $max on a dotted path stores a flat key 'hw.p0'")
async def test_upsert_insert_with_max_on_a_dotted_path_nests(mongo_db: AsyncDatabase) -> None:
    coll = mongo_db.state
    await coll.update_one({"_id": "s"}, {"$max": {"hw.p0": 5}}, upsert=True)
    assert await coll.find_one({"_id": "s"}) == {"_id": "s", "hw": {"p0": 5}}


@nx_defect("a boolean $set together with a subdocument reads back as 0/1")
async def test_boolean_set_beside_a_subdocument_reads_back_as_boolean(
    mongo_db: AsyncDatabase,
) -> None:
    coll = mongo_db.state
    await coll.insert_one({"_id": "s", "due": True})
    await coll.update_one({"_id": "s"}, {"$set": {"hw": {}, "due": False}})
    assert (await coll.find_one({"_id": "s"}))["due"] is False


async def test_relay_state_as_one_flat_document_per_partition(mongo_db: AsyncDatabase) -> None:
    """How the relay keeps its high-water marks: top-level fields only, correct on both."""
    coll = mongo_db.state
    ops = [
        UpdateOne(
            {"_id": f"hw|t|{p}"}, {"$max": {"offset": o}, "$set": {"kind": "hw"}}, upsert=True
        )
        for p, o in ((0, 5), (1, 7), (0, 3))
    ]
    await coll.bulk_write(ops, ordered=False)
    docs = await coll.find({"kind": "hw"}).sort("_id", 1).to_list()
    assert docs == [
        {"_id": "hw|t|0", "offset": 5, "kind": "hw"},
        {"_id": "hw|t|1", "offset": 7, "kind": "hw"},
    ]
    assert (await coll.delete_many({"kind": "hw"})).deleted_count == 2


# -- registration's worker documents (one person, their enrolments, search keys) -----------------


@nx_defect("a plain value never matches an array field that holds it (use $in)")
async def test_a_plain_value_matches_an_array_that_holds_it(mongo_db):
    coll = mongo_db.workers
    await coll.create_index("months")
    await coll.insert_many(
        [{"_id": 1, "months": ["2026-01", "2026-02"]}, {"_id": 2, "months": ["2026-03"]}]
    )
    assert await ids(coll, {"months": "2026-02"}) == [1]


async def test_in_matches_an_array_holding_any_of_the_values(mongo_db):
    coll = mongo_db.workers
    await coll.create_index("months")
    await coll.insert_many(
        [
            {"_id": 1, "months": ["2026-01", "2026-02"]},
            {"_id": 2, "months": ["2026-03"]},
            {"_id": 3, "months": []},
        ]
    )
    assert await ids(coll, {"months": {"$in": ["2026-02"]}}) == [1]
    assert await ids(coll, {"months": {"$in": ["2026-03", "2026-01"]}}) == [1, 2]


async def test_set_of_a_whole_array_of_subdocuments_reads_back_as_written(mongo_db):
    coll = mongo_db.workers
    at = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    await coll.insert_one({"_id": 1, "version": 0, "enrolments": [{"p": "PG-1", "at": at}]})
    enrolments = [
        {"p": "PG-1", "at": at, "ended_on": "2026-05-02", "status": "ended"},
        {"p": "PG-2", "at": at + timedelta(days=1), "ended_on": None, "status": "active"},
    ]
    after = await coll.find_one_and_update(
        {"_id": 1, "version": 0},
        {"$set": {"enrolments": enrolments}, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )
    assert after["enrolments"] == enrolments
    assert after["version"] == 1
    stale = await coll.find_one_and_update(
        {"_id": 1, "version": 0}, {"$set": {"enrolments": []}, "$inc": {"version": 1}}
    )
    assert stale is None  # a version guard refuses the second writer


async def test_a_field_of_an_array_of_subdocuments_is_matched(mongo_db):
    coll = mongo_db.workers
    await coll.insert_many(
        [{"_id": 1, "enrolments": [{"p": "PG-1"}, {"p": "PG-2"}]}, {"_id": 2, "enrolments": []}]
    )
    assert await ids(coll, {"enrolments.p": "PG-2"}) == [1]


async def test_unordered_insert_many_inserts_the_rest_and_names_each_duplicate(mongo_db):
    coll = mongo_db.workers
    await coll.create_index("nik", unique=True)
    await coll.insert_one({"_id": 1, "nik": "a"})
    with pytest.raises(BulkWriteError) as failed:
        await coll.insert_many(
            [
                {"_id": 2, "nik": "b"},
                {"_id": 3, "nik": "a"},  # the unique NIK
                {"_id": 4, "nik": "c"},
                {"_id": 1, "nik": "d"},  # the _id
            ],
            ordered=False,
        )
    errors = failed.value.details["writeErrors"]
    assert [(e["index"], e["code"]) for e in errors] == [(1, 11000), (3, 11000)]
    assert await ids(coll, {}) == [1, 2, 4]


@nx_defect("a datetime in a top-level $set is stored as a string without its time zone")
async def test_a_datetime_set_at_the_top_level_reads_back_as_a_datetime(mongo_db):
    coll = mongo_db.workers
    at = datetime(2026, 3, 1, 2, 0, 0, 123000, tzinfo=UTC)
    await coll.insert_one({"_id": 1})
    await coll.update_one({"_id": 1}, {"$set": {"left_at": at}})
    doc = await coll.find_one({"_id": 1})
    assert isinstance(doc["left_at"], datetime)
    assert doc["left_at"] == at


# -- what billing's invoice line blocks rely on -------------------------------------------------


async def test_a_block_of_5000_lines_as_one_megabyte_blob_round_trips(mongo_db):
    """Invoice lines are kept 5,000 to a document as one BSON blob of about a megabyte."""
    coll = mongo_db.invoice_lines
    lines = [
        {"enrolment_id": f"EN-{i:08d}", "worker_id": f"WK-{i:08d}", "amount": 16_800}
        for i in range(5_000)
    ]
    blob = Binary(bson.encode({"lines": lines * 4}))  # 20,000 lines, well over a megabyte
    assert len(blob) > 1_000_000
    await coll.insert_many([{"_id": f"INV-1|{b:05d}", "lines": blob} for b in range(3)])
    doc = await coll.find_one({"_id": "INV-1|00001"})
    assert bson.decode(bytes(doc["lines"]))["lines"] == lines * 4


async def test_the_block_holding_a_key_is_the_last_starting_at_or_before_it(mongo_db):
    """One enrolment's line is found by a range over the blocks' first enrolment ids, within
    one invoice (a compound index, a range, a descending sort and a limit together)."""
    coll = mongo_db.invoice_lines
    await coll.create_index([("invoice_id", 1), ("first_enrolment", 1)])
    await coll.insert_many(
        [
            {"_id": f"{inv}|{b}", "invoice_id": inv, "first_enrolment": f"EN-{b * 100:04d}"}
            for inv in ("INV-1", "INV-2")
            for b in range(5)
        ]
    )

    async def block_of(inv: str, key: str) -> str | None:
        found = (
            await coll.find({"invoice_id": inv, "first_enrolment": {"$lte": key}})
            .sort("first_enrolment", DESCENDING)
            .limit(1)
            .to_list()
        )
        return found[0]["_id"] if found else None

    assert await block_of("INV-2", "EN-0250") == "INV-2|2"
    assert await block_of("INV-1", "EN-0400") == "INV-1|4"
    assert await block_of("INV-1", "EN-9999") == "INV-1|4"
    assert await block_of("INV-1", "EN-0000") == "INV-1|0"
    assert await block_of("INV-1", "EM-9999") is None


async def test_billing_roster_guards_compare_iso_times_in_update_filters(mongo_db):
    """Billing applies an event only when newer: ``{"as_of": {"$lt": <ISO time>}}`` in an
    update's filter, ISO strings of one format on both sides (equal times do not match)."""
    coll = mongo_db.enrolments
    x = "2022-10-02T09:00:00.000000+00:00"
    for stored, matches in [
        ("0001-01-01T00:00:00.000000+00:00", 1),
        ("2022-10-02T08:59:59.999999+00:00", 1),
        (x, 0),
        ("2022-10-02T09:00:00.000001+00:00", 0),
    ]:
        await coll.delete_many({})
        await coll.insert_one({"_id": 1, "as_of": stored})
        result = await coll.update_one({"_id": 1, "as_of": {"$lt": x}}, {"$set": {"seen": True}})
        assert result.matched_count == matches, stored


@nx_defect("$lt of an ISO time against an empty string matches in find, not in an update filter")
async def test_lt_against_an_empty_string_in_an_update_filter(mongo_db):
    """So billing starts its guards at "0001-01-01T00:00:00.000000+00:00", never at ""."""
    coll = mongo_db.enrolments
    await coll.insert_one({"_id": 1, "as_of": ""})
    x = "2022-10-02T09:00:00.000000+00:00"
    assert await coll.count_documents({"as_of": {"$lt": x}}) == 1
    result = await coll.update_one({"_id": 1, "as_of": {"$lt": x}}, {"$set": {"seen": True}})
    assert result.matched_count == 1


async def test_billing_payments_set_subdocuments_by_dotted_path(mongo_db):
    """What payments rely on (a pushed subdocument becomes JSON text: see
    ``test_push_subdocument_reads_back_as_subdocument``): ``$set`` of ``field.<id>`` adds a key to a map (creating it), a
    subdocument value round trips, a whole list of subdocuments set at once round trips, and a
    guard of a string array with ``$nin`` refuses the second application."""
    coll = mongo_db.invoices
    await coll.insert_one({"_id": "INV", "payments": [], "paid_rupiah": 0})
    guard = {"_id": "INV", "payments": {"$nin": ["PAY-1"]}, "paid_rupiah": 0}
    change = {
        "$set": {"paid_rupiah": 5, "applied.PAY-1": 5, "uses.CREDIT-INV-1": {"amount": 5}},
        "$push": {"payments": "PAY-1"},
    }
    assert (await coll.update_one(guard, change)).modified_count == 1
    assert (await coll.update_one(guard, change)).modified_count == 0
    await coll.update_one({"_id": "INV"}, {"$set": {"apps": [{"invoice_id": "I", "n": 1}]}})
    doc = await coll.find_one({"_id": "INV"})
    assert doc["applied"] == {"PAY-1": 5} and doc["uses"] == {"CREDIT-INV-1": {"amount": 5}}
    assert doc["apps"] == [{"invoice_id": "I", "n": 1}] and doc["paid_rupiah"] == 5


# -- GridFS: what claims' documents rely on ----------------------------------------------------


async def test_gridfs_upload_download_and_list_by_metadata(mongo_db):
    """What claims' documents rely on: a file uploaded with metadata in chunks smaller than it
    downloads by its id byte for byte, and the files of one claim are found by a metadata
    field, with their length and content type."""
    from gridfs import AsyncGridFSBucket

    bucket = AsyncGridFSBucket(mongo_db, bucket_name="documents")
    data = bytes(range(256)) * 1_000  # 256,000 bytes: several chunks
    first = await bucket.upload_from_stream(
        "death-certificate.pdf",
        data,
        chunk_size_bytes=64 * 1024,
        metadata={"claim_id": "CL-1", "content_type": "application/pdf", "kind": "death"},
    )
    await bucket.upload_from_stream("other.txt", b"x", metadata={"claim_id": "CL-2"})
    second = await bucket.upload_from_stream("empty.txt", b"", metadata={"claim_id": "CL-1"})
    stream = await bucket.open_download_stream(first)
    assert await stream.read() == data
    assert await (await bucket.open_download_stream(second)).read() == b""
    files = await bucket.find({"metadata.claim_id": "CL-1"}).sort("uploadDate", 1).to_list()
    assert [f._id for f in files] == [first, second]
    assert files[0].length == len(data) and files[0].filename == "death-certificate.pdf"
    assert files[0].metadata["content_type"] == "application/pdf"
    await bucket.delete(second)
    assert [f._id async for f in bucket.find({"metadata.claim_id": "CL-1"})] == [first]


async def test_gridfs_download_of_a_missing_file_raises_nofile(mongo_db):
    from bson import ObjectId
    from gridfs import AsyncGridFSBucket
    from gridfs.errors import NoFile

    bucket = AsyncGridFSBucket(mongo_db, bucket_name="documents")
    with pytest.raises(NoFile):
        await bucket.open_download_stream(ObjectId())


@nx_defect("deleting a missing GridFS file fails with an error of its own", raises=OperationFailure)
async def test_gridfs_delete_of_a_missing_file_raises_nofile(mongo_db):
    """So claims never deletes a document it has not just found."""
    from bson import ObjectId
    from gridfs import AsyncGridFSBucket
    from gridfs.errors import NoFile

    bucket = AsyncGridFSBucket(mongo_db, bucket_name="documents")
    with pytest.raises(NoFile):
        await bucket.delete(ObjectId())


async def test_set_by_dotted_path_keeps_a_map_of_months(mongo_db):
    """What claims' cover view relies on instead of ``$addToSet`` (which adds nothing to a
    document without the array, above): ``$set`` of ``due.<YYYY-MM>`` on a document without
    the map creates it (also in a bulk upsert), a second set of the same month changes nothing
    else, and a key of digits stays a key of a map."""
    coll = mongo_db.cover
    await coll.insert_one({"_id": "P", "as_of": "x"})
    ops = [
        UpdateOne({"_id": pid}, {"$set": {f"due.{m}": f"{m}-15"}}, upsert=True)
        for pid, m in (("P", "2024-10"), ("P", "2024-11"), ("Q", "2024-10"), ("P", "2024-10"))
    ]
    await coll.bulk_write(ops, ordered=False)
    await coll.update_one({"_id": "P"}, {"$set": {"paid.1": "PY-1"}})
    p, q = await coll.find_one({"_id": "P"}), await coll.find_one({"_id": "Q"})
    assert p["due"] == {"2024-10": "2024-10-15", "2024-11": "2024-11-15"} and p["as_of"] == "x"
    assert q["due"] == {"2024-10": "2024-10-15"} and p["paid"] == {"1": "PY-1"}


async def test_billing_finds_ended_enrolments_by_a_range_past_never(mongo_db):
    """Billing's run reads the ended enrolments as ``{"ended_as_of": {"$gte": "0002"}}``: every
    ISO time of an end matches, the "never ended" mark (year 1) does not, on an indexed field."""
    coll = mongo_db.enrolments
    await coll.create_index("ended_as_of")
    never = "0001-01-01T00:00:00.000000+00:00"
    await coll.insert_many(
        [{"_id": f"EN-{i}", "ended_as_of": never} for i in range(200)]
        + [
            {"_id": "EN-a", "ended_as_of": "2022-10-02T09:00:00.000000+00:00"},
            {"_id": "EN-b", "ended_as_of": "2026-01-31T23:59:59.999999+00:00"},
        ]
    )
    assert await ids(coll, {"ended_as_of": {"$gte": "0002"}}) == ["EN-a", "EN-b"]


@nx_defect("a GridFS file's uploadDate is stored as text without its zone")
async def test_gridfs_upload_date_is_a_datetime(mongo_db):
    """So claims reads a document's upload time as text or datetime, UTC when zone-less."""
    from gridfs import AsyncGridFSBucket

    bucket = AsyncGridFSBucket(mongo_db, bucket_name="documents")
    file_id = await bucket.upload_from_stream("a.pdf", b"%PDF", metadata={"claim_id": "CL-1"})
    found = await bucket.find({"_id": file_id}).to_list()
    assert isinstance(found[0].upload_date, datetime)


@nx_defect("a string shaped like an ISO time compares as a time to the whole second")
async def test_iso_time_strings_compare_under_a_second(mongo_db):
    """So ``bpu_shared.store.set_if_newer`` guards on ``as_of_order`` (``event_order``:
    microseconds since 1970 as digits), not ``{"as_of": {"$lt": <ISO string>}}``: on the
    embedded store two ISO times within one second never compare, and of two events of one
    second the first written would stay, whichever is newer."""
    coll = mongo_db.times
    await coll.insert_one({"_id": 1, "as_of": "2026-11-24T01:39:01.537700+00:00"})
    assert await ids(coll, {"as_of": {"$lt": "2026-11-24T01:39:02.000000+00:00"}}) == [1]
    assert await ids(coll, {"as_of": {"$lt": "2026-11-24T01:39:01.538690+00:00"}}) == [1]


@nx_defect("a replacement upsert takes no _id from the filter: it makes an ObjectId")
async def test_replacement_upsert_takes_the_id_of_the_filter(mongo_db):
    """So reporting's targets (``store/targets.py``) and the rebuild's state document put the
    id in the replacement too."""
    from pymongo import ReplaceOne

    await mongo_db.c.bulk_write([ReplaceOne({"_id": "17|2026"}, {"n": 1}, upsert=True)])
    await mongo_db.c.replace_one({"_id": "17.04|2026"}, {"n": 2}, upsert=True)
    assert await ids(mongo_db.c, {}) == ["17.04|2026", "17|2026"]


async def test_replacement_upsert_with_the_id_in_the_replacement_keeps_it(mongo_db):
    from pymongo import ReplaceOne

    doc = {"_id": "17|2026", "n": 1}
    await mongo_db.c.bulk_write([ReplaceOne({"_id": "17|2026"}, doc, upsert=True)])
    await mongo_db.c.bulk_write([ReplaceOne({"_id": "17|2026"}, {**doc, "n": 2}, upsert=True)])
    await mongo_db.c.replace_one({"_id": "17.04|2026"}, {"_id": "17.04|2026", "n": 3}, upsert=True)
    assert [(d["_id"], d["n"]) async for d in mongo_db.c.find({}).sort("_id", 1)] == [
        ("17.04|2026", 3),
        ("17|2026", 2),
    ]
