"""What every billing handler shares: its dependencies' type, who may write, and the principal
that automatic work (the monthly run, payments arriving as events) acts as."""

from __future__ import annotations

from typing import Any

from bpu_billing.store import BillingRepository
from bpu_shared.auth import Principal, Role
from bpu_shared.service_layer.bus import Deps

Billing = Deps[BillingRepository, Any]

#: Who may start billing runs and record payments: the social-security office's staff.
#: Sponsors read their own region's invoices, statements and budgets.
WRITERS = (Role.OPERATOR,)
READERS = (Role.OPERATOR, Role.SPONSOR, Role.DASHBOARD)

#: What the service does by itself (the run on the 1st, payments reported by a bank system).
SYSTEM = Principal(key_id="billing", role=Role.OPERATOR)
