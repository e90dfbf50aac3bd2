"""What every claims handler shares: its dependencies' type, who may act, and the principal
that automatic work acts as."""

from __future__ import annotations

from typing import Any

from bpu_claims.store import ClaimsRepository
from bpu_shared.auth import Principal, Role
from bpu_shared.service_layer.bus import Deps

Claims = Deps[ClaimsRepository, Any]

#: Who may file claims and attach documents: the office's staff, and a sponsor in its region.
FILERS = (Role.OPERATOR, Role.SPONSOR)
#: Who may assess, approve, reject and pay: the social-security office's staff.
OFFICERS = (Role.OPERATOR,)
#: Who may read the benefit table: anyone with a key that reads.
READERS = (Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)
#: Who may read claims and their documents (heirs, bank accounts, children): not a dashboard.
CLAIM_READERS = (Role.OPERATOR, Role.SPONSOR)

#: What the service does by itself (the cover view from events).
SYSTEM = Principal(key_id="claims", role=Role.OPERATOR)
