"""The event envelope every event on the wire carries, and the types its payloads share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bpu_shared.month import Month
from bpu_shared.regions import RegionCode

__all__ = ["Event", "Month", "Payload", "RegionCode", "Rupiah"]

#: Money is whole Rupiah.
Rupiah = Annotated[int, Field(ge=0)]


class Payload(BaseModel):
    """Base of every payload: unknown fields are ignored so producers can add fields freely."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: The payload field holding the aggregate id, used as the Kafka key.
    KEY_FIELD: ClassVar[str]


P = TypeVar("P", bound=Payload)


class Event(BaseModel, Generic[P]):
    """Envelope: identity, type, version, time, origin and causality, then the payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: ``<context>.<event>.v<major>``; set by each event class.
    TOPIC: ClassVar[str]
    #: Partitions the topic is created with (operators' Kafka; the embedded broker too).
    PARTITIONS: ClassVar[int] = 6

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; consumers dedupe on it")
    event_type: str = Field(description="The event's name, equal to the class name")
    schema_version: int = Field(
        1, ge=1, description="Minor schema version within the topic's major"
    )
    occurred_at: AwareDatetime = Field(description="When the change happened")
    producer: str = Field(description="The service that produced the event")
    correlation_id: str | None = Field(
        None, description="Id shared by everything one request caused"
    )
    causation_id: str | None = Field(
        None, description="Id of the event or request that caused this"
    )
    payload: P

    @model_validator(mode="after")
    def _type_matches_class(self) -> Self:
        # A valid payload under another event's name is not this event.
        if self.event_type != type(self).__name__:
            raise ValueError(
                f"event_type is {self.event_type!r}; this topic carries {type(self).__name__}"
            )
        return self

    @classmethod
    def create(
        cls,
        payload: P,
        *,
        producer: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Self:
        return cls(
            event_type=cls.__name__,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=payload,
        )

    @property
    def key(self) -> str:
        """The aggregate id: one aggregate's events share a partition and stay in order."""
        return str(getattr(self.payload, self.payload.KEY_FIELD))

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_wire(cls, data: bytes | str | dict[str, Any]) -> Self:
        if isinstance(data, dict):
            return cls.model_validate(data)
        return cls.model_validate_json(data)
