"""Claims's repository. It holds only the service's copy of the API keys so far; its own
aggregates come with the claims flow, saved through the unit of work like registration's."""

from __future__ import annotations

from bpu_shared.service import Repository


class ClaimsRepository(Repository):
    pass
