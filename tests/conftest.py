"""Test infrastructure: the broker and store every integration and end-to-end test talks to.

``TEST_BACKEND`` picks them, once per session:
- ``embedded`` (default): Tansu and NX-27017 started here on free ports;
- ``containers``: Apache Kafka and MongoDB through testcontainers (needs Docker);
- ``external``: the servers named by ``KAFKA_BOOTSTRAP_SERVERS`` and ``MONGODB_URL``.
Tests are isolated by unique database and topic names, not by new servers.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bpu_devstack.servers import EmbeddedKafka, EmbeddedMongo, free_port

BACKEND = os.environ.get("TEST_BACKEND", "embedded")


@dataclass(frozen=True)
class Infra:
    backend: str
    kafka_bootstrap_servers: str
    mongodb_url: str


def _embedded(tmp: Path) -> Iterator[Infra]:
    kafka = EmbeddedKafka(port=free_port(), log_path=tmp / "kafka.log")
    mongo = EmbeddedMongo(port=free_port(), data_dir=tmp / "mongodb", log_path=tmp / "mongo.log")
    kafka.start()
    mongo.start()
    try:
        yield Infra("embedded", kafka.bootstrap_servers, mongo.url)
    finally:
        kafka.stop()
        mongo.stop()


def _containers() -> Iterator[Infra]:
    # testcontainers' KafkaContainer drives Confluent's image (Apache Kafka 3.9 in cp-kafka
    # 7.9); its start script is written for that image, not for apache/kafka.
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.mongodb import MongoDbContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft()
    with kafka, MongoDbContainer("mongo:8.0.4") as mongo:
        yield Infra("containers", kafka.get_bootstrap_server(), mongo.get_connection_url())


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    if BACKEND == "external":
        yield Infra(
            "external",
            os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            os.environ["MONGODB_URL"],
        )
    elif BACKEND == "containers":
        yield from _containers()
    elif BACKEND == "embedded":
        with tempfile.TemporaryDirectory(prefix="bpu-test-") as tmp:
            yield from _embedded(Path(tmp))
    else:
        raise pytest.UsageError(f"TEST_BACKEND={BACKEND!r}: use embedded, containers or external")


@pytest.fixture(scope="session")
async def mongo_client(infra: Infra) -> AsyncIterator[AsyncMongoClient]:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
async def mongo_db(mongo_client: AsyncMongoClient) -> AsyncIterator[AsyncDatabase]:
    """A database of this test's own, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest.fixture
def unique() -> str:
    """A short unique token for topic, group and database names."""
    return uuid.uuid4().hex[:10]
