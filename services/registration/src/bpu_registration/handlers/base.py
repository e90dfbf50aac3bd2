"""What every registration handler shares: its dependencies' type, who may write, the
principal that automatic work acts as, and loading a programme with the caller's scope."""

from __future__ import annotations

from typing import Any

from bpu_registration.domain import Programme
from bpu_registration.store import RegistrationRepository
from bpu_shared.auth import Principal, Role
from bpu_shared.errors import NotFound
from bpu_shared.service_layer.bus import Deps

Registration = Deps[RegistrationRepository, Any]

#: Who may change registration data; sponsors only inside their region.
WRITERS = (Role.OPERATOR, Role.SPONSOR)

#: What the service does by itself (filling freed seats, ending a closed programme's
#: enrolments) is recorded under this key id in a worker's history.
SYSTEM = Principal(key_id="registration", role=Role.OPERATOR)


async def load_programme(
    deps: Registration, principal: Principal, programme_id: str, field: str | None = None
) -> tuple[Programme, int]:
    """The programme and its seats taken; "not found" also outside a sponsor's region (a key
    must not learn what lies elsewhere). ``field`` names it when it came in a body."""
    found = await deps.repository.programme(programme_id)
    if found is None or not principal.can_access(found[0].region_code):
        raise NotFound("programme", programme_id, field=field)
    return found
