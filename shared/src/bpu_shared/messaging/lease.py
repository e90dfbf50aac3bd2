"""A lease: one document naming which process may do a job alone (publish an outbox, keep a
tally) until an expiry it renews. Another process takes over once the holder has not renewed
for ``ttl`` seconds, e.g. because it was killed."""

from __future__ import annotations

import os
import socket
import time
import uuid

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

LEASES_COLLECTION = "leases"


def process_identity() -> str:
    """Host, pid and a random part: unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, coll: AsyncCollection, name: str, owner: str, ttl: float = 5.0) -> None:
        self.coll = coll
        self.name = name
        self.owner = owner
        self.ttl = ttl
        self._valid_until = 0.0  # our own view: monotonic time, a margin inside the expiry

    @property
    def held(self) -> bool:
        """Held by us, renewed recently enough to act without asking the store."""
        return time.monotonic() < self._valid_until

    async def acquire(self) -> bool:
        """Take or renew the lease; False while another live process holds it. Expiry is wall
        time (every replica reads the same clock on one host; in compose, the same kernel).

        Renewing ours and taking one that expired are two updates, not one filter with
        ``$or``: the embedded store joins an ``$or`` to the filter's other conditions without
        brackets, so ``{_id, $or: [...]}`` would match any expired lease of the collection
        (see the store conformance suite). A lease that does not exist yet is inserted."""
        started = time.monotonic()
        now = time.time()
        held = {"owner": self.owner, "expires": now + self.ttl, "renewed": now}
        after = ReturnDocument.AFTER
        doc = await self.coll.find_one_and_update(
            {"_id": self.name, "owner": self.owner}, {"$set": held}, return_document=after
        )
        if doc is None:
            doc = await self.coll.find_one_and_update(
                {"_id": self.name, "expires": {"$lt": now}}, {"$set": held}, return_document=after
            )
        if doc is None:
            try:
                await self.coll.insert_one({"_id": self.name, **held})
            except DuplicateKeyError:  # held by another process, not expired
                self._valid_until = 0.0
                return False
        elif doc.get("owner") != self.owner:
            self._valid_until = 0.0
            return False
        # Act on it for at most half the ttl from when we asked, so a slow answer cannot make
        # us act after another process may have taken over.
        self._valid_until = started + self.ttl / 2
        return True

    async def release(self) -> None:
        """Give the lease up at once (an orderly stop), so a replica takes over without waiting
        for the expiry."""
        self._valid_until = 0.0
        await self.coll.update_one(
            {"_id": self.name, "owner": self.owner}, {"$set": {"expires": 0.0}}
        )

    async def holder(self) -> str | None:
        doc = await self.coll.find_one({"_id": self.name})
        if doc is None or doc.get("expires", 0) < time.time():
            return None
        return str(doc["owner"])
