"""Freshness: how current the projections are, so a dashboard can say "as of". Per topic the
last event applied and the consumer group's lag behind the broker; whether facts wait to be
counted; whether a rebuild is running."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka.errors import KafkaError

from bpu_reporting.handlers.base import Reporting
from bpu_reporting.rebuild import consumer_lag, facts_waiting, projected_topics, rebuild_status
from bpu_shared.auth import Principal, Role
from bpu_shared.kafka_clients import AdminError

#: Seconds a lag reading serves: it opens a broker client, and dashboards poll.
LAG_FRESH_FOR = 2.0
#: Seconds /freshness waits for the broker before answering without the lag.
LAG_TIMEOUT = 3.0
_lag_read: dict[str, tuple[float, dict[str, int]]] = {}


@dataclass(frozen=True)
class GetFreshness:
    pass


@dataclass(frozen=True)
class TopicFreshness:
    topic: str
    event_type: str
    last_event_id: str | None
    last_occurred_at: datetime | None
    last_applied_at: datetime | None
    lag: int | None  # records the service's consumer group has not committed; None if unknown


@dataclass(frozen=True)
class Freshness:
    as_of: datetime | None  # the newest event applied, on any topic
    checked_at: datetime
    topics: list[TopicFreshness]
    lag: int | None
    lag_error: str | None
    facts_waiting: dict[str, bool]  # per tally
    rebuild: dict[str, Any]


async def freshness(q: GetFreshness, principal: Principal, deps: Reporting) -> Freshness:
    principal.require_role(Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)
    settings = deps.settings
    prefix = settings.kafka_topic_prefix
    kinds = projected_topics()
    applied = await _last_applied(deps.repository)
    lag: dict[str, int] | None = None
    lag_error = None
    try:
        lag = await asyncio.wait_for(
            _lag(settings, prefix + settings.service_name, [prefix + t for t in kinds]),
            LAG_TIMEOUT,
        )
    except TimeoutError:
        lag_error = f"the broker did not answer within {LAG_TIMEOUT:.0f} s"
    except (AdminError, KafkaError, OSError) as error:
        lag_error = f"{type(error).__name__}: {error}"
    rows = []
    for topic, kind in sorted(kinds.items()):
        last = applied.get(topic) or applied.get(prefix + topic) or {}
        rows.append(
            TopicFreshness(
                topic=topic,
                event_type=kind.__name__,
                last_event_id=str(last["event_id"]) if last.get("event_id") else None,
                last_occurred_at=_moment(last.get("occurred_at")),
                last_applied_at=_moment(last.get("applied_at")),
                lag=None if lag is None else lag.get(prefix + topic, 0),
            )
        )
    newest = [r.last_occurred_at for r in rows if r.last_occurred_at is not None]
    ttl = float(getattr(settings, "lease_ttl_seconds", 5.0))
    return Freshness(
        as_of=max(newest) if newest else None,
        checked_at=deps.clock.now(),
        topics=rows,
        lag=None if lag is None else sum(lag.values()),
        lag_error=lag_error,
        facts_waiting=await facts_waiting(deps.repository),
        rebuild=await rebuild_status(deps.repository.db, ttl),
    )


async def _last_applied(repository: Any) -> dict[str, dict[str, Any]]:
    """The last event each topic's handlers applied (``repo.last_applied()``), or nothing
    where the repository keeps none."""
    last_applied = getattr(repository, "last_applied", None)
    if last_applied is None:
        return {}
    found: dict[str, dict[str, Any]] = await last_applied()
    return found


async def _lag(settings: Any, group_id: str, topics: list[str]) -> dict[str, int]:
    key = f"{settings.kafka_bootstrap_servers}|{group_id}"
    read = _lag_read.get(key)
    if read is not None and time.monotonic() - read[0] < LAG_FRESH_FOR:
        return read[1]
    lag = await consumer_lag(settings, group_id, topics)
    _lag_read[key] = (time.monotonic(), lag)
    return lag


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None
