"""A background job that one replica at a time does, pass after pass (the outbox relay, a tally):
it holds a lease, runs a pass when woken or every ``interval``, logs and retries after a failed
pass, and gives the lease up when it stops so another replica takes over at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bpu_shared.messaging.lease import Lease
from bpu_shared.store import TRANSIENT_STORE_ERRORS

log = logging.getLogger(__name__)

#: Seconds a stopping job waits to give its lease up.
RELEASE_TIMEOUT = 2.0


class LeaseLost(Exception):
    """Another process holds the lease now: stop, it will carry on."""


class LeasedLoop:
    def __init__(self, name: str, lease: Lease, interval: float) -> None:
        self.name = name
        self.lease = lease
        self.interval = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_pass(self) -> None:
        """One pass of the job; called only while this process holds the lease."""
        raise NotImplementedError

    def passed_over(self) -> None:
        """Called instead of a pass when another process holds the lease."""

    def wake(self) -> None:
        """Run a pass now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                # Without the lease another replica does the job; look again at the next tick.
                if self.lease.held or await self.lease.acquire():
                    await self.run_pass()
                else:
                    self.passed_over()
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.info("%s: another process holds the lease now", self.name)
                self.passed_over()
            except TRANSIENT_STORE_ERRORS as exc:
                log.warning("%s: store unreachable (%s); retrying", self.name, exc)
            except Exception:
                log.exception("%s: pass failed; retrying", self.name)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Given up so another replica takes over at once; a store that is gone (the whole
        # stack stopping) must not hold the stop: the lease then simply expires.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.lease.release(), RELEASE_TIMEOUT)
