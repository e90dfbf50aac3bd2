"""What every registration route shares: asking the message bus."""

from __future__ import annotations

from typing import Any

from fastapi import Request


async def ask(request: Request, message: Any, principal: Any) -> Any:
    return await request.app.state.bus.handle(message, principal)
