"""The message bus: routes a command to its handler and a batch of events to every handler of
its type, with the dependencies bootstrap gave it. Each service lists its handlers in two tables
(``COMMAND_HANDLERS``, ``EVENT_HANDLERS``) at the bottom of its ``handlers`` module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bpu_shared.auth import Principal
from bpu_shared.clock import Clock
from bpu_shared.events import Event
from bpu_shared.service_layer.unit_of_work import Publisher

R = TypeVar("R")
S = TypeVar("S")


@dataclass
class Deps(Generic[R, S]):
    """What a handler may use: the repository (loads, and saves through the unit of work), the
    publisher the unit of work wakes, the clock (Asia/Jakarta) and the service's settings."""

    repository: R
    publisher: Publisher
    clock: Clock
    settings: S


CommandHandler = Callable[[Any, Principal, Any], Awaitable[Any]]
EventHandler = Callable[[Sequence[Any], Any], Awaitable[None]]


class MessageBus(Generic[R, S]):
    def __init__(
        self,
        deps: Deps[R, S],
        commands: Mapping[type, CommandHandler],
        events: Mapping[type[Event], Sequence[EventHandler]],
    ) -> None:
        self.deps = deps
        self.commands = dict(commands)
        self.events = {kind: list(handlers) for kind, handlers in events.items()}

    async def handle(self, command: Any, principal: Principal) -> Any:
        """Run the command's handler on behalf of ``principal``; its answer, or a domain
        error."""
        handler = self.commands.get(type(command))
        if handler is None:
            raise LookupError(f"no handler for {type(command).__name__}")
        return await handler(command, principal, self.deps)

    async def apply(self, events: Sequence[Event]) -> None:
        """Apply a batch of one event type with each of its handlers in turn (each handler is
        idempotent, so a batch that fails half-way is applied again whole)."""
        if not events:
            return
        for handler in self.events.get(type(events[0]), ()):
            await handler(events, self.deps)


def bootstrap(
    *,
    repository: R,
    publisher: Publisher,
    clock: Clock,
    settings: S,
    commands: Mapping[type, CommandHandler],
    events: Mapping[type[Event], Sequence[EventHandler]],
) -> MessageBus[R, S]:
    """Wire a service: the real repository, relay and clock in a process, fakes in a unit
    test. The repository's unit of work (if it has one) wakes ``publisher`` after a write."""
    uow = getattr(repository, "uow", None)
    if uow is not None:
        uow.publisher = publisher
    return MessageBus(Deps(repository, publisher, clock, settings), commands, events)
