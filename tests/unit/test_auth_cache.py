"""The authenticator remembers valid keys for a few seconds, so a polling dashboard costs no
store read per request, and forgets them on revocation and expiry."""

from __future__ import annotations

from typing import Any

import pytest

from bpu_shared.auth import Authenticator, Role, hash_key
from bpu_shared.errors import Unauthorized

KEY = "bpu_0123456789abcdef_secret-part-of-the-key"
ADMIN = "admin-key-" + "0" * 16


class Keys:
    """The service's key table, counting its reads."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {
            "0123456789abcdef": {
                "_id": "0123456789abcdef",
                "role": "dashboard",
                "key_hash": hash_key(KEY),
            }
        }
        self.reads = 0
        self.on_revoked: list[Any] = []

    async def get(self, key_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.docs.get(key_id)

    def revoke(self, key_id: str) -> None:
        self.docs[key_id]["revoked_at"] = "2026-11-24T00:00:00Z"
        for forget in self.on_revoked:
            forget(key_id)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def authenticator(seconds: float) -> tuple[Authenticator, Keys, Clock]:
    keys, clock = Keys(), Clock()
    return Authenticator(ADMIN, keys, cache_seconds=seconds, now=clock), keys, clock  # type: ignore[arg-type]


async def test_a_valid_key_is_read_once_while_remembered_and_again_after() -> None:
    auth, keys, clock = authenticator(5)
    for _ in range(10):
        principal = await auth.principal(KEY)
    assert (principal.role, keys.reads) == (Role.DASHBOARD, 1)
    clock.t += 5.1
    await auth.principal(KEY)
    assert keys.reads == 2


async def test_without_a_cache_every_request_reads_the_key() -> None:
    auth, keys, _ = authenticator(0)
    for _ in range(3):
        await auth.principal(KEY)
    assert keys.reads == 3


async def test_a_key_revoked_here_is_refused_at_once() -> None:
    auth, keys, _ = authenticator(5)
    await auth.principal(KEY)
    keys.revoke("0123456789abcdef")
    with pytest.raises(Unauthorized):
        await auth.principal(KEY)


async def test_a_key_revoked_elsewhere_is_refused_once_its_time_is_up() -> None:
    auth, keys, clock = authenticator(5)
    await auth.principal(KEY)
    keys.docs["0123456789abcdef"]["revoked_at"] = "2026-11-24T00:00:00Z"  # not through here
    await auth.principal(KEY)  # remembered: still valid here for at most 5 s
    clock.t += 5.1
    with pytest.raises(Unauthorized):
        await auth.principal(KEY)


async def test_another_secret_with_a_remembered_key_id_is_refused_and_never_remembered() -> None:
    auth, keys, _ = authenticator(5)
    await auth.principal(KEY)
    forged = KEY.rsplit("_", 1)[0] + "_forged"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await auth.principal(forged)
    assert keys.reads == 3  # the forged key was looked up each time, and the real one forgotten
    await auth.principal(KEY)
    assert keys.reads == 4


async def test_unknown_keys_are_not_remembered() -> None:
    auth, keys, _ = authenticator(5)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await auth.principal("bpu_ffffffffffffffff_nobody")
    assert keys.reads == 2
    assert (await auth.principal(ADMIN)).role == Role.ADMIN
