"""API keys and roles.

Every route but ``/health`` and ``/ready`` needs ``Authorization: Bearer <key>``. The admin key
comes from ``ADMIN_API_KEY``; other keys are issued by an admin on any service, stored hashed,
and reach every other service as ``ApiKeyIssued`` events (only the hash travels).

Roles: ``admin``; ``operator`` (social-security office staff); ``sponsor`` (a regional
government's officer, limited to its region-code prefix: Kaur's officer ``17.04`` sees only
``17.04…``); ``dashboard`` (reads reporting, changes nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, model_validator
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bpu_shared.errors import Forbidden, NotFound, Problem
from bpu_shared.events import (
    ApiKeyIssued,
    ApiKeyIssuedPayload,
    ApiKeyRevoked,
    ApiKeyRevokedPayload,
    RegionCode,
)
from bpu_shared.messaging.outbox import OUTBOX_FIELDS, merge_updates, outbox_push, with_outbox

KEYS_COLLECTION = "api_keys"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    SPONSOR = "sponsor"
    DASHBOARD = "dashboard"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    region_scope: str | None = None

    def can_access(self, region_code: str) -> bool:
        """A sponsor sees its own region and everything below it; other roles see all."""
        if self.role is not Role.SPONSOR:
            return True
        scope = self.region_scope or ""
        return region_code == scope or region_code.startswith(scope + ".")

    def require_region(self, region_code: str) -> None:
        if not self.can_access(region_code):
            raise Forbidden(
                f"a sponsor key scoped to {self.region_scope} cannot act on {region_code}"
            )


class Unauthorized(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail, status=401, title="Unauthorized")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A new key id and the full key shown once to the caller: ``bpu_<id>_<secret>``."""
    key_id = secrets.token_hex(8)
    return key_id, f"bpu_{key_id}_{secrets.token_urlsafe(32)}"


def _key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "bpu" else None


class Authenticator:
    """Checks bearer keys against the admin key and the service's own copy of issued keys."""

    def __init__(self, admin_key: str, keys: AsyncCollection) -> None:
        self._admin_hash = hash_key(admin_key)
        self.keys = keys

    async def principal(self, key: str) -> Principal:
        if hmac.compare_digest(hash_key(key), self._admin_hash):
            return Principal("admin", Role.ADMIN)
        key_id = _key_id(key)
        doc = await self.keys.find_one({"_id": key_id}) if key_id else None
        if (
            doc is None
            or doc.get("revoked_at") is not None
            or not doc.get("key_hash")
            or not hmac.compare_digest(doc["key_hash"], hash_key(key))
        ):
            raise Unauthorized("the API key is not valid")
        return Principal(doc["_id"], Role(doc["role"]), doc.get("region_scope"))

    async def apply_issued(self, events: Sequence[ApiKeyIssued]) -> None:
        for event in events:
            p = event.payload
            await self.keys.update_one(
                {"_id": p.key_id},
                {
                    "$setOnInsert": {
                        "key_hash": p.key_hash,
                        "role": p.role,
                        "region_scope": p.region_scope,
                        "label": p.label,
                        "issued_at": p.issued_at,
                    }
                },
                upsert=True,
            )

    async def apply_revoked(self, events: Sequence[ApiKeyRevoked]) -> None:
        for event in events:
            await self.keys.update_one(
                {"_id": event.payload.key_id},
                {"$min": {"revoked_at": event.payload.revoked_at}},
                upsert=True,
            )


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    authenticator: Authenticator = request.app.state.runtime.authenticator
    return await authenticator.principal(credentials.credentials)


def require(*roles: Role) -> Callable[..., Any]:
    """A dependency admitting only ``roles`` (admin is always admitted)."""
    allowed = {Role.ADMIN, *roles}

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"role {principal.role.value!r} may not do this; allowed: "
                + ", ".join(sorted(r.value for r in allowed))
            )
        return principal

    return dependency


# -- the admin routes every service mounts ----------------------------------------------------


class IssueKey(BaseModel):
    role: Role = Field(description="operator, sponsor or dashboard")
    region_scope: RegionCode | None = Field(
        None, description="Required for sponsor keys: the region-code prefix the key may touch"
    )
    label: str = Field(min_length=1, max_length=200, description="Whose key this is")

    @model_validator(mode="after")
    def _scope(self) -> IssueKey:
        if self.role is Role.ADMIN:
            raise ValueError("admin keys are not issued; the admin key comes from ADMIN_API_KEY")
        if self.role is Role.SPONSOR and not self.region_scope:
            raise ValueError("region_scope is required for a sponsor key")
        if self.role is not Role.SPONSOR and self.region_scope:
            raise ValueError(
                f"region_scope limits sponsor keys only; a {self.role.value} key sees every region"
            )
        return self


class IssuedKey(BaseModel):
    key_id: str
    key: str = Field(description="Shown once; only its hash is stored")
    role: Role
    region_scope: str | None
    label: str


class KeyInfo(BaseModel):
    key_id: str
    role: Role
    region_scope: str | None
    label: str
    issued_at: datetime | None
    revoked_at: datetime | None = None


def admin_router(service: str) -> APIRouter:
    router = APIRouter(prefix="/admin/api-keys", tags=["admin"])
    admin_only = Depends(require())

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=IssuedKey)
    async def issue_key(body: IssueKey, request: Request, _: Principal = admin_only) -> IssuedKey:
        runtime = request.app.state.runtime
        key_id, key = new_key()
        event = ApiKeyIssued.create(
            ApiKeyIssuedPayload(
                key_id=key_id,
                key_hash=hash_key(key),
                role=body.role.value,
                region_scope=body.region_scope,
                label=body.label,
                issued_at=datetime.now(UTC),
            ),
            producer=service,
            correlation_id=request.state.correlation_id,
        )
        doc = {
            "_id": key_id,
            "key_hash": event.payload.key_hash,
            "role": body.role.value,
            "region_scope": body.region_scope,
            "label": body.label,
            "issued_at": event.payload.issued_at,
        }
        try:
            await runtime.authenticator.keys.insert_one(with_outbox(doc, event))
        except DuplicateKeyError:  # 64 random bits colliding: ask again
            raise Problem(detail="key id collision; try again", status=503) from None
        runtime.relay.wake()
        return IssuedKey(
            key_id=key_id, key=key, role=body.role, region_scope=body.region_scope, label=body.label
        )

    @router.get("", response_model=list[KeyInfo])
    async def list_keys(request: Request, _: Principal = admin_only) -> list[KeyInfo]:
        keys = request.app.state.runtime.authenticator.keys
        docs = await keys.find({}, {**OUTBOX_FIELDS, "key_hash": 0}).sort("issued_at", 1).to_list()
        return [
            KeyInfo(
                key_id=d["_id"],
                **{
                    k: d.get(k)
                    for k in ("role", "region_scope", "label", "issued_at", "revoked_at")
                },
            )
            for d in docs
            if d.get("role")
        ]

    @router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_key(key_id: str, request: Request, _: Principal = admin_only) -> None:
        runtime = request.app.state.runtime
        now = datetime.now(UTC)
        event = ApiKeyRevoked.create(
            ApiKeyRevokedPayload(key_id=key_id, revoked_at=now),
            producer=service,
            correlation_id=request.state.correlation_id,
        )
        result = await runtime.authenticator.keys.update_one(
            {"_id": key_id, "role": {"$exists": True}},
            merge_updates({"$set": {"revoked_at": now}}, outbox_push(event)),
        )
        if result.matched_count == 0:
            raise NotFound("API key", key_id)
        runtime.relay.wake()

    return router
