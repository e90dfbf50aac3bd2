"""The unit of work: one single-document write carrying an aggregate's change and the events it
raised (the outbox), stamped with the correlation and causation ids, then a wake-up for the
relay. It is the only writer of outboxes, and the relay publishes exactly the collections it
was built with, so no collection written here can be missing from the relay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from bpu_shared.events import Event
from bpu_shared.logging import correlation_id
from bpu_shared.messaging.outbox import OUTBOX_FIELDS, merge_updates, outbox_push, with_outbox
from bpu_shared.service_layer.context import causation_id

E = TypeVar("E", bound=Event)


class Publisher(Protocol):
    """What gets committed events on their way: the outbox relay (told to look now)."""

    def wake(self) -> None: ...


@runtime_checkable
class TakesNewDocuments(Protocol):
    """A publisher that also takes documents just inserted with their first events, as they
    were written, and so need not read them back (the outbox relay)."""

    def take(self, collection: str, documents: Sequence[Mapping[str, Any]]) -> None: ...


class NoPublisher:
    """Until bootstrap connects the relay: events wait for the relay's next tick."""

    def wake(self) -> None:
        return None


def stamp(events: Sequence[E]) -> list[E]:
    """Each event with the correlation and causation ids of the work in hand, unless the
    handler set them itself."""
    cid, cause = correlation_id.get(), causation_id.get()
    return [
        e.model_copy(
            update={
                "correlation_id": e.correlation_id or cid,
                "causation_id": e.causation_id or cause,
            }
        )
        for e in events
    ]


class UnitOfWork:
    """Writes to the outbox collections of one database; ``collections`` is also the relay's
    list."""

    def __init__(
        self, db: AsyncDatabase, collections: Sequence[str], publisher: Publisher | None = None
    ) -> None:
        self.db = db
        self.collections: tuple[str, ...] = tuple(dict.fromkeys(collections))
        self.publisher: Publisher = publisher or NoPublisher()

    def _collection(self, name: str) -> AsyncCollection:
        if name not in self.collections:
            raise ValueError(
                f"{name!r} is not an outbox collection of this unit of work "
                f"({', '.join(self.collections)}): the relay would never publish its events"
            )
        return self.db[name]

    async def insert(self, name: str, document: Mapping[str, Any], events: Sequence[Event]) -> None:
        """A new aggregate with its first events (DuplicateKeyError when its id exists)."""
        doc = with_outbox(dict(document), *stamp(events))
        await self._collection(name).insert_one(doc)
        self._written(name, [doc])

    async def insert_many(
        self, name: str, changes: Sequence[tuple[Mapping[str, Any], Sequence[Event]]]
    ) -> list[Any]:
        """Many new aggregates, each with its events, in one unordered bulk write (each document
        still carries its own outbox, so each is atomic on its own). The ids that were inserted;
        a document whose id or unique key exists already is left out, not raised."""
        if not changes:
            return []
        docs = [with_outbox(dict(doc), *stamp(events)) for doc, events in changes]
        try:
            result = await self._collection(name).insert_many(docs, ordered=False)
            inserted = list(result.inserted_ids)
        except BulkWriteError as failed:
            refused = {e["index"] for e in failed.details.get("writeErrors", [])}
            if any(e.get("code") != 11000 for e in failed.details.get("writeErrors", [])):
                raise
            inserted = [d["_id"] for i, d in enumerate(docs) if i not in refused]
            docs = [d for i, d in enumerate(docs) if i not in refused]
        if inserted:
            self._written(name, docs)
        return inserted

    def _written(self, name: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """New documents with pending events: to the relay as written, or a wake-up."""
        if isinstance(self.publisher, TakesNewDocuments):
            self.publisher.take(name, docs)
        else:
            self.publisher.wake()

    async def update(
        self,
        name: str,
        where: Mapping[str, Any],
        update: Mapping[str, Any],
        events: Sequence[Event],
        *,
        upsert: bool = False,
    ) -> dict[str, Any] | None:
        """Change one aggregate if ``where`` still matches it (put the expected state or version
        in it) and add its events, in one write; the document after, or None if nothing
        matched."""
        ops = merge_updates(dict(update), outbox_push(*stamp(events))) if events else update
        doc = await self._collection(name).find_one_and_update(
            dict(where),
            dict(ops),
            projection=OUTBOX_FIELDS,
            return_document=ReturnDocument.AFTER,
            upsert=upsert,
        )
        if doc is not None and events:
            self.publisher.wake()
        return doc
