"""GET /freshness: per topic the last event applied and the lag behind the broker, whether
facts wait to be counted, and whether a rebuild is running."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bpu_reporting.handlers.freshness import Freshness, GetFreshness
from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses

router = APIRouter(tags=["reporting"])


class TopicState(BaseModel):
    topic: str = Field(examples=["registration.worker-registered.v1"])
    event_type: str = Field(examples=["WorkerRegistered"])
    last_event_id: str | None = Field(description="The newest event applied from the topic")
    last_occurred_at: datetime | None = Field(description="When that event happened")
    last_applied_at: datetime | None = Field(description="When reporting applied it")
    lag: int | None = Field(
        description="Records on the broker that reporting's consumer group has not committed "
        "yet, over the topic's partitions; null when the broker could not be asked",
        examples=[0],
    )


class RebuildState(BaseModel):
    running: bool = Field(description="A rebuild holds its lease now")
    phase: str | None = Field(None, examples=["replaying"])
    started_at: str | None = None
    finished_at: str | None = None
    replayed: int | None = Field(None, description="Events replayed so far")
    total: int | None = Field(None, description="Events to replay (the ends read at its start)")
    behind: int | None = Field(None, description="Events on the topics past those replayed")
    outcome: str | None = Field(None, examples=["done"])
    summary: str | None = None


class FreshnessAnswer(BaseModel):
    as_of: datetime | None = Field(description="The newest event applied, on any topic")
    checked_at: datetime
    lag: int | None = Field(description="Records not consumed yet, over every topic")
    lag_error: str | None = Field(description="Why the lag is unknown, when it is")
    counting: bool = Field(description="Facts recorded wait to be counted by a tally")
    facts_waiting: dict[str, bool] = Field(description="Per tally: facts wait to be counted")
    rebuild: RebuildState
    topics: list[TopicState]


@router.get(
    "/freshness",
    response_model=FreshnessAnswer,
    summary="How current the projections are",
    description="Per topic reporting projects: the last event applied and the consumer lag "
    "behind the broker; whether facts wait to be counted; whether a rebuild is running. A "
    "dashboard shows `as_of` beside its figures.",
    responses=problem_responses(401, 403),
)
async def freshness(request: Request, who: Anyone) -> FreshnessAnswer:
    state: Freshness = await request.app.state.bus.handle(GetFreshness(), who)
    rebuild: dict[str, Any] = {
        k: v for k, v in state.rebuild.items() if k in RebuildState.model_fields
    }
    return FreshnessAnswer(
        as_of=state.as_of,
        checked_at=state.checked_at,
        lag=state.lag,
        lag_error=state.lag_error,
        counting=any(state.facts_waiting.values()),
        facts_waiting=state.facts_waiting,
        rebuild=RebuildState(**rebuild),
        topics=[TopicState(**vars(t)) for t in state.topics],
    )
