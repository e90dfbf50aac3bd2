"""What reporting's end-to-end tests share: waiting until the running service has projected
what was published."""

from __future__ import annotations

from collections.abc import Sequence

from bpu_devstack.inprocess import Running
from bpu_reporting.rebuild import facts_waiting
from bpu_shared.events import Event
from tests.e2e.test_slice import wait_committed
from tests.harness import eventually


async def projected(infra, prefix: str, reporting: Running, events: Sequence[Event]) -> None:
    """Until the service committed every record of the events' topics and every tally counted
    every fact recorded (no inbox document, no waiting fact: ``facts_waiting``, which names
    every tally the repository has, so a new one is waited for too)."""
    for topic in sorted({e.TOPIC for e in events}):
        await wait_committed(infra, reporting, prefix + topic)
    repository = reporting.repository

    async def waiting() -> bool:
        return any((await facts_waiting(repository)).values())

    await eventually(waiting, lambda left: not left, timeout=30)
