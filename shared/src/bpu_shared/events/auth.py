"""Events that carry API keys to every service: only the key's hash travels."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from bpu_shared.events.envelope import Event, Payload, RegionCode


class ApiKeyIssuedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "key_id"

    key_id: str
    key_hash: str = Field(description="SHA-256 of the key, hex")
    role: str
    region_scope: RegionCode | None = None
    label: str
    issued_at: AwareDatetime


class ApiKeyIssued(Event[ApiKeyIssuedPayload]):
    """An admin issued an API key; every service learns its hash and role."""

    TOPIC: ClassVar[str] = "auth.api-key-issued.v1"
    PARTITIONS: ClassVar[int] = 1


class ApiKeyRevokedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "key_id"

    key_id: str
    revoked_at: AwareDatetime


class ApiKeyRevoked(Event[ApiKeyRevokedPayload]):
    """An admin revoked an API key."""

    TOPIC: ClassVar[str] = "auth.api-key-revoked.v1"
    PARTITIONS: ClassVar[int] = 1
