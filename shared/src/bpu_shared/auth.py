"""API keys and roles.

Every route but ``/health`` and ``/ready`` needs ``Authorization: Bearer <key>``. The admin key
comes from ``ADMIN_API_KEY``; other keys are issued by an admin on any service, stored hashed,
and reach every other service as ``ApiKeyIssued`` events (only the hash travels).

Roles: ``admin``; ``operator`` (social-security office staff); ``sponsor`` (a regional
government's officer, limited to its region-code prefix: Kaur's officer ``17.04`` sees only
``17.04…``); ``dashboard`` (reads reporting, changes nothing).

The key handlers (issue, revoke, list, and the two event handlers) are listed in every
service's handler tables; ``ApiKeys`` is the repository they use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, model_validator
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from bpu_shared.errors import Forbidden, NotFound, Unauthorized, Unavailable
from bpu_shared.events import (
    ApiKeyIssued,
    ApiKeyIssuedPayload,
    ApiKeyRevoked,
    ApiKeyRevokedPayload,
)
from bpu_shared.http import RequestModel, problem_responses
from bpu_shared.messaging.outbox import OUTBOX_FIELDS
from bpu_shared.regions import RegionCode, within

KEYS_COLLECTION = "api_keys"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    SPONSOR = "sponsor"
    DASHBOARD = "dashboard"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a key's id, role and, for a sponsor, the region it is limited to."""

    key_id: str
    role: Role
    region_scope: str | None = None

    def require_role(self, *roles: Role) -> None:
        """Only ``roles`` (and admin, who may do everything) may go on."""
        if self.role is not Role.ADMIN and self.role not in roles:
            raise Forbidden(
                f"role {self.role.value!r} may not do this; allowed: "
                + ", ".join(sorted({Role.ADMIN.value, *(r.value for r in roles)}))
            )

    def can_access(self, region_code: str) -> bool:
        """A sponsor sees its own region and everything below it; other roles see all."""
        if self.role is not Role.SPONSOR:
            return True
        return bool(self.region_scope) and within(region_code, self.region_scope or "")

    def require_region(self, region_code: str) -> None:
        """Acting on ``region_code``: refused outside a sponsor's region."""
        if not self.can_access(region_code):
            raise Forbidden(
                f"a sponsor key scoped to {self.region_scope} cannot act on {region_code}"
            )

    def scope(self, region: str | None) -> str | None:
        """The region a list or a dashboard reads: a sponsor's own region by default, and
        nothing outside it."""
        if self.role is not Role.SPONSOR:
            return region
        region = region or self.region_scope or ""
        self.require_region(region)
        return region


ADMIN = Principal("admin", Role.ADMIN)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A new key id and the full key shown once to the caller: ``bpu_<id>_<secret>``."""
    key_id = secrets.token_hex(8)
    return key_id, f"bpu_{key_id}_{secrets.token_urlsafe(32)}"


def _key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "bpu" else None


# -- the repository ----------------------------------------------------------------------------


class KeyUnitOfWork(Protocol):
    async def insert(self, name: str, document: Any, events: Sequence[Any]) -> None: ...

    async def update(
        self, name: str, where: Any, update: Any, events: Sequence[Any], *, upsert: bool = False
    ) -> dict[str, Any] | None: ...


class ApiKeys:
    """Every service's copy of the issued keys (hashes only)."""

    def __init__(self, coll: AsyncCollection, uow: KeyUnitOfWork) -> None:
        self.coll = coll
        self.uow = uow
        #: Called with each key id this process revokes or hears revoked (the authenticator
        #: forgets the keys it remembers).
        self.on_revoked: list[Callable[[str], None]] = []

    async def get(self, key_id: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"_id": key_id}, OUTBOX_FIELDS)

    async def all(self) -> list[dict[str, Any]]:
        docs = (
            await self.coll.find({}, {**OUTBOX_FIELDS, "key_hash": 0})
            .sort("issued_at", 1)
            .to_list()
        )
        return [d for d in docs if d.get("role")]

    async def add(self, event: ApiKeyIssued) -> None:
        p = event.payload
        doc = p.model_dump(exclude={"key_id"}) | {"_id": p.key_id}
        await self.uow.insert(KEYS_COLLECTION, doc, [event])

    async def revoke(self, event: ApiKeyRevoked) -> bool:
        p = event.payload
        doc = await self.uow.update(
            KEYS_COLLECTION,
            {"_id": p.key_id, "role": {"$exists": True}},
            {"$min": {"revoked_at": p.revoked_at}},
            [event],
        )
        for forget in self.on_revoked:
            forget(p.key_id)
        return doc is not None

    async def record_issued(self, payloads: Sequence[ApiKeyIssuedPayload]) -> None:
        """Created once, in one bulk write: a key issued again changes nothing."""
        if payloads:
            await self.coll.bulk_write(
                [
                    UpdateOne(
                        {"_id": p.key_id},
                        {"$setOnInsert": p.model_dump(exclude={"key_id"})},
                        upsert=True,
                    )
                    for p in payloads
                ],
                ordered=False,
            )

    async def record_revoked(self, payloads: Sequence[ApiKeyRevokedPayload]) -> None:
        """``$min``, in one bulk write: the earliest revocation wins, however often it
        arrives."""
        if payloads:
            await self.coll.bulk_write(
                [
                    UpdateOne(
                        {"_id": p.key_id}, {"$min": {"revoked_at": p.revoked_at}}, upsert=True
                    )
                    for p in payloads
                ],
                ordered=False,
            )
            for p in payloads:
                for forget in self.on_revoked:
                    forget(p.key_id)


class Authenticator:
    """Checks bearer keys against the admin key and the service's own copy of issued keys.

    A key found valid is remembered for ``cache_seconds`` (by key id, with its hash), so a
    dashboard polling every few seconds costs no store read per request. A key revoked through
    this process is forgotten at once; one revoked elsewhere stops working here within
    ``cache_seconds`` of this service hearing ``ApiKeyRevoked``. Unknown and invalid keys are
    never remembered: a key issued a moment ago works as soon as the service has heard of it.
    """

    #: Keys remembered at most; beyond it the memory starts again (keys are few: officers,
    #: sponsors, dashboards).
    MAX_REMEMBERED = 10_000

    def __init__(
        self,
        admin_key: str,
        keys: ApiKeys,
        cache_seconds: float = 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin_hash = hash_key(admin_key)
        self.keys = keys
        self.cache_seconds = cache_seconds
        self._now = now
        self._remembered: dict[str, tuple[float, str, Principal]] = {}
        keys.on_revoked.append(self.forget)

    def forget(self, key_id: str) -> None:
        self._remembered.pop(key_id, None)

    async def principal(self, key: str) -> Principal:
        key_hash = hash_key(key)
        if hmac.compare_digest(key_hash, self._admin_hash):
            return ADMIN
        key_id = _key_id(key)
        remembered = self._remembered.get(key_id) if key_id else None
        if remembered is not None:
            until, known_hash, principal = remembered
            if until > self._now() and hmac.compare_digest(known_hash, key_hash):
                return principal
            self.forget(remembered[2].key_id)
        doc = await self.keys.get(key_id) if key_id else None
        if (
            doc is None
            or doc.get("revoked_at") is not None
            or not doc.get("key_hash")
            or not hmac.compare_digest(doc["key_hash"], key_hash)
        ):
            raise Unauthorized("the API key is not valid")
        principal = Principal(doc["_id"], Role(doc["role"]), doc.get("region_scope"))
        if self.cache_seconds > 0:
            if len(self._remembered) >= self.MAX_REMEMBERED:
                self._remembered.clear()
            self._remembered[principal.key_id] = (
                self._now() + self.cache_seconds,
                doc["key_hash"],
                principal,
            )
        return principal


# -- commands and handlers ---------------------------------------------------------------------


class IssueApiKey(RequestModel):
    role: Role = Field(description="operator, sponsor or dashboard")
    region_scope: RegionCode | None = Field(
        None, description="Required for sponsor keys: the region-code prefix the key may touch"
    )
    label: str = Field(min_length=1, max_length=200, description="Whose key this is")

    @model_validator(mode="after")
    def _scope(self) -> IssueApiKey:
        if self.role is Role.ADMIN:
            raise ValueError("admin keys are not issued; the admin key comes from ADMIN_API_KEY")
        if self.role is Role.SPONSOR and not self.region_scope:
            raise ValueError("region_scope is required for a sponsor key")
        if self.role is not Role.SPONSOR and self.region_scope:
            raise ValueError(
                f"region_scope limits sponsor keys only; a {self.role.value} key sees every region"
            )
        return self


@dataclass(frozen=True)
class RevokeApiKey:
    key_id: str


@dataclass(frozen=True)
class ListApiKeys:
    pass


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


def _admin_only(principal: Principal) -> None:
    principal.require_role()


async def issue_api_key(cmd: IssueApiKey, principal: Principal, deps: Any) -> IssuedKey:
    _admin_only(principal)
    key_id, key = new_key()
    event = ApiKeyIssued.create(
        ApiKeyIssuedPayload(
            key_id=key_id,
            key_hash=hash_key(key),
            role=cmd.role.value,
            region_scope=cmd.region_scope,
            label=cmd.label,
            issued_at=deps.clock.now(),
        ),
        producer=deps.settings.service_name,
    )
    try:
        await deps.repository.api_keys.add(event)
    except DuplicateKeyError:  # 64 random bits colliding: ask again
        raise Unavailable("key id collision; try again") from None
    return IssuedKey(
        key_id=key_id, key=key, role=cmd.role, region_scope=cmd.region_scope, label=cmd.label
    )


async def revoke_api_key(cmd: RevokeApiKey, principal: Principal, deps: Any) -> None:
    _admin_only(principal)
    event = ApiKeyRevoked.create(
        ApiKeyRevokedPayload(key_id=cmd.key_id, revoked_at=deps.clock.now()),
        producer=deps.settings.service_name,
    )
    if not await deps.repository.api_keys.revoke(event):
        raise NotFound("API key", cmd.key_id)


async def list_api_keys(cmd: ListApiKeys, principal: Principal, deps: Any) -> list[KeyInfo]:
    _admin_only(principal)
    return [
        KeyInfo(
            key_id=d["_id"],
            **{k: d.get(k) for k in ("role", "region_scope", "label", "issued_at", "revoked_at")},
        )
        for d in await deps.repository.api_keys.all()
    ]


async def record_api_keys_issued(events: Sequence[ApiKeyIssued], deps: Any) -> None:
    await deps.repository.api_keys.record_issued([e.payload for e in events])


async def record_api_keys_revoked(events: Sequence[ApiKeyRevoked], deps: Any) -> None:
    await deps.repository.api_keys.record_revoked([e.payload for e in events])


# -- the edge ----------------------------------------------------------------------------------

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


Anyone = Annotated[Principal, Depends(current_principal)]


def admin_router() -> APIRouter:
    """The API-key routes every service mounts; they only translate to the key handlers."""
    router = APIRouter(prefix="/admin/api-keys", tags=["admin"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=IssuedKey,
        responses=problem_responses(401, 403, 422, 503),
    )
    async def issue_key(body: IssueApiKey, request: Request, principal: Anyone) -> IssuedKey:
        issued: IssuedKey = await request.app.state.bus.handle(body, principal)
        return issued

    @router.get("", response_model=list[KeyInfo], responses=problem_responses(401, 403))
    async def list_keys(request: Request, principal: Anyone) -> list[KeyInfo]:
        keys: list[KeyInfo] = await request.app.state.bus.handle(ListApiKeys(), principal)
        return keys

    @router.delete(
        "/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def revoke_key(key_id: str, request: Request, principal: Anyone) -> None:
        await request.app.state.bus.handle(RevokeApiKey(key_id), principal)

    return router


#: The key handlers, which every service's tables include.
KEY_COMMAND_HANDLERS: dict[type, Any] = {
    IssueApiKey: issue_api_key,
    RevokeApiKey: revoke_api_key,
    ListApiKeys: list_api_keys,
}
KEY_EVENT_HANDLERS: dict[type, list[Any]] = {
    ApiKeyIssued: [record_api_keys_issued],
    ApiKeyRevoked: [record_api_keys_revoked],
}
