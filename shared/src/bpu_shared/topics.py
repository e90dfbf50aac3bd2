"""Creating the catalogue's topics with their partition counts: the services do it at start,
``bpu-admin create-topics`` does it for the operators' stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from bpu_shared.events import all_topics
from bpu_shared.kafka_clients import AdminError, admin_client
from bpu_shared.settings import KafkaSettings

TOPIC_ALREADY_EXISTS = 36


def plan_topics(
    replication_factor: int = 1, topics: Mapping[str, int] | None = None, prefix: str = ""
) -> list[NewTopic]:
    """The topics to create: by default every topic of the catalogue, DLQs included, each
    named with ``prefix`` (``KAFKA_TOPIC_PREFIX``) before it, as the services name them."""
    if replication_factor < 1:
        raise AdminError(f"--replication-factor must be at least 1, not {replication_factor}")
    catalogue = all_topics() if topics is None else topics
    return [
        NewTopic(prefix + name, num_partitions=partitions, replication_factor=replication_factor)
        for name, partitions in catalogue.items()
    ]


@dataclass(frozen=True)
class TopicOutcome:
    """What became of one planned topic; ``line()`` is how it is reported."""

    name: str
    status: Literal["created", "exists", "failed"]
    partitions: int
    wanted_partitions: int
    detail: str = ""

    def line(self) -> str:
        text = f"{self.status:<8} {self.name}  partitions={self.partitions}"
        if self.status == "exists" and self.partitions < self.wanted_partitions:
            text += (
                f"  WARNING: the code wants {self.wanted_partitions}; adding partitions moves "
                "keys to other partitions, so do it only between deployments"
            )
        if self.detail:
            text += f"  {self.detail}"
        return text


async def create_topics(settings: KafkaSettings, plan: Sequence[NewTopic]) -> list[TopicOutcome]:
    """Create the planned topics that do not exist yet; report the others as they are."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        to_create = [topic for topic in plan if topic.name not in existing]
        errors: dict[str, tuple[int, str]] = {}
        if to_create:
            response = await admin.create_topics(to_create)
            for error in response.to_object()["topic_errors"]:
                if error["error_code"]:
                    errors[error["topic"]] = (error["error_code"], error["error_message"] or "")
        # Only names known to exist are described: a metadata request naming a missing topic
        # creates it on brokers that auto-create topics.
        described = [
            topic.name
            for topic in plan
            if topic.name in existing or errors.get(topic.name, (0,))[0] == TOPIC_ALREADY_EXISTS
        ]
        partitions = await _partition_counts(admin, described)

    outcomes = []
    for topic in plan:
        wanted = topic.num_partitions
        code, message = errors.get(topic.name, (0, ""))
        if topic.name in existing or code == TOPIC_ALREADY_EXISTS:
            outcomes.append(
                TopicOutcome(topic.name, "exists", partitions.get(topic.name, 0), wanted)
            )
        elif code:
            detail = f"{for_code(code).__name__}: {message}".rstrip(": ")
            outcomes.append(TopicOutcome(topic.name, "failed", 0, wanted, detail))
        else:
            outcomes.append(
                TopicOutcome(
                    topic.name,
                    "created",
                    wanted,
                    wanted,
                    f"replication={topic.replication_factor}",
                )
            )
    return outcomes


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in await admin.describe_topics(names)
        if topic["error_code"] == 0
    }
