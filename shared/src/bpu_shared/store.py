"""MongoDB access through PyMongo's async client; one database per service."""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from bpu_shared.settings import ServiceSettings

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
