"""MongoDB access through PyMongo's async client; one database per service. Also the guarded
writes the services that keep a copy of registration's enrolments share (billing's roster,
claims' cover view): each idempotent, so an event applied again leaves the same state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)

from bpu_shared.settings import ServiceSettings

DUPLICATE_KEY = 11000
#: Errors that mean the store is unreachable for now, not that the operation is wrong.
TRANSIENT_STORE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionFailure,
    NetworkTimeout,
    ServerSelectionTimeoutError,
)


def connect(settings: ServiceSettings) -> AsyncMongoClient:
    """A client that fails fast when the store is down, so readiness and retries can react."""
    return AsyncMongoClient(
        settings.mongodb_url,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        tz_aware=True,
        appname=settings.service_name,
    )


def database(client: AsyncMongoClient, settings: ServiceSettings) -> AsyncDatabase:
    return client[settings.database_name]


async def ping(client: AsyncMongoClient) -> None:
    await client.admin.command("ping")


def prefix_query(field: str, prefix: str | None) -> dict[str, object]:
    """Documents whose region code ``field`` is ``prefix`` or lies inside it (all when None).
    A prefix regex, which both stores answer from the index."""
    if not prefix:
        return {}
    return {"$or": [{field: prefix}, {field: {"$regex": "^" + prefix.replace(".", r"\.") + r"\."}}]}


async def insert_new(coll: AsyncCollection[Any], docs: Sequence[Mapping[str, Any]]) -> set[int]:
    """Insert the documents whose ``_id`` is new (unordered); the positions refused as
    duplicates."""
    if not docs:
        return set()
    try:
        await coll.insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The field ``set_if_newer`` compares: ``as_of`` as ``event_order`` writes it.
ORDER_FIELD = "as_of_order"
#: The field ``end_enrolment`` compares: ``ended_as_of`` as ``event_order`` writes it.
ENDED_ORDER = "ended_order"


def event_order(occurred_at: datetime | str, event_id: str = "") -> str:
    """An event's place in time as a string that sorts as the events happened: microseconds
    since 1970, zero-padded to 20 digits, then ``|`` and the event id when given (two events of
    one microsecond). Not the ISO time: the embedded store compares ISO-shaped strings as times
    to the whole second, so of two events of one second the first written would stay
    (tests/integration/test_store_conformance.py)."""
    when = occurred_at if isinstance(occurred_at, datetime) else datetime.fromisoformat(occurred_at)
    micros = (when - _EPOCH) // timedelta(microseconds=1)
    return f"{micros:020d}|{event_id}" if event_id else f"{micros:020d}"


def _order_of(as_of: Any) -> str:
    """``as_of`` as ``event_order`` writes it: an ISO time converted, anything else (an order
    string already) as it is."""
    try:
        return event_order(str(as_of))
    except ValueError:
        return str(as_of)


async def _set_when_newer(
    coll: AsyncCollection[Any],
    doc_id: str,
    fields: Mapping[str, Any],
    order_field: str,
    time_field: str,
) -> bool:
    """``fields`` set on the stored document when its ``order_field`` is older than
    ``fields[order_field]``; a document written before it kept that field is compared by its
    ISO ``time_field`` once. Whether it was changed."""
    result = await coll.update_one(
        {"_id": doc_id, order_field: {"$lt": fields[order_field]}}, {"$set": dict(fields)}
    )
    if result.matched_count:
        return True
    result = await coll.update_one(
        {"_id": doc_id, order_field: {"$exists": False}, time_field: {"$lt": fields[time_field]}},
        {"$set": dict(fields)},
    )
    return bool(result.matched_count)


async def set_if_newer(coll: AsyncCollection[Any], doc_id: str, fields: Mapping[str, Any]) -> bool:
    """``fields`` (with the event's ``as_of``: its ISO time, or an ``event_order`` string) set
    on the document unless a newer event was applied to it (a guard in the filter on
    ``as_of_order``, the microseconds of ``as_of``: the embedded store cannot order two ISO
    times of one second); a document not stored yet is inserted. False when it was not changed
    (stored, and as new as this event or newer, or stored without an ``as_of``: that is the
    caller's to judge). Documents written before ``as_of_order`` existed are compared by their
    ISO ``as_of`` once, and carry the order from then on."""
    doc = {**fields, ORDER_FIELD: _order_of(fields["as_of"])}
    if await _set_when_newer(coll, doc_id, doc, ORDER_FIELD, "as_of"):
        return True
    try:
        await coll.insert_one({"_id": doc_id, **doc})
        return True
    except DuplicateKeyError:
        return False


async def add_enrolments(coll: AsyncCollection[Any], docs: Sequence[Mapping[str, Any]]) -> int:
    """Enrolments from ``WorkerRegistered`` (``bpu_shared.enrolments``) in one unordered bulk
    insert; how many were new. One stored already is left as it is, unless it was made from its
    end before its registration came (``registered`` False): then it gets the registration's
    fields, keeping its end."""
    refused = await insert_new(coll, docs)
    if refused:
        late = [
            UpdateOne(
                {"_id": docs[i]["_id"], "registered": False},
                {
                    "$set": {
                        k: v
                        for k, v in docs[i].items()
                        if k not in ("_id", "last_month", "ended_as_of", ENDED_ORDER)
                    }
                },
            )
            for i in sorted(refused)
        ]
        await coll.bulk_write(late, ordered=False)
    return len(docs) - len(refused)


async def end_enrolment(
    coll: AsyncCollection[Any],
    enrolment_id: str,
    last_month: str,
    as_of: str,
    stub: Mapping[str, Any],
) -> bool:
    """The enrolment ends with ``last_month``, unless a newer end was applied to it (compared
    by ``ended_order``, its microseconds, as ``set_if_newer`` does: two ends of one second
    keep the later); an enrolment not stored yet is stored from ``stub`` (its end came before
    its registration). True when something changed."""
    ended = {"last_month": last_month, "ended_as_of": as_of, ENDED_ORDER: _order_of(as_of)}
    if await _set_when_newer(coll, enrolment_id, ended, ENDED_ORDER, "ended_as_of"):
        return True
    try:
        await coll.insert_one({**stub, "_id": enrolment_id, **ended, "registered": False})
        return True
    except DuplicateKeyError:
        return False  # stored, with this end or a newer one
