"""Enrolments ended (``EnrolmentEnded``): one fact per enrolment, so enrolled now is the
enrolments registered less those ended."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bpu_reporting.handlers.base import COUNTED_UNDER, Reporting, provenance
from bpu_shared.events import EnrolmentEnded

_ENDED_FIELDS = {*COUNTED_UNDER, "cover_end", "reason", "effective_on"}


def ended_enrolment_facts(events: Sequence[EnrolmentEnded]) -> dict[str, dict[str, Any]]:
    """One fact per enrolment ended, keyed by its enrolment id (an enrolment ends once; its
    end told again, or moved, counts once); no personal data."""
    return {
        e.payload.enrolment_id: {
            **e.payload.model_dump(mode="json", include=_ENDED_FIELDS),
            **provenance(e),
        }
        for e in events
    }


async def record_enrolments_ended(events: Sequence[EnrolmentEnded], deps: Reporting) -> None:
    await deps.repository.add_ended_enrolments(ended_enrolment_facts(events))
