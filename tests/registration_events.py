"""Registration's events for the tests of the services that keep a copy of the enrolments
(billing's roster, claims' cover view): one programme and its workers, numbered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bpu_shared.events import (
    BenefitProgramme,
    EndReason,
    EnrolmentEnded,
    EnrolmentEndedPayload,
    WorkerChanged,
    WorkerChangedPayload,
    WorkerRegistered,
    WorkerRegisteredPayload,
)


@dataclass(frozen=True)
class Programme:
    """A programme, with what its workers share: their villages (worker ``i`` lives in
    ``villages[i % len(villages)]``) and occupation."""

    programme_id: str
    sponsor_id: str
    name: str
    region_code: str
    budget_year: int
    quota: int
    benefits: Sequence[BenefitProgramme]
    start_month: str
    end_month: str
    villages: Sequence[str]
    occupation: str

    def terms(self, **over: Any) -> dict[str, Any]:
        """The terms of a programme event's payload, ``over`` replacing some."""
        return {
            "programme_id": self.programme_id,
            "sponsor_id": self.sponsor_id,
            "name": self.name,
            "region_code": self.region_code,
            "budget_year": self.budget_year,
            "budget_rupiah": 1_000_000_000,
            "quota": self.quota,
            "benefits": list(self.benefits),
            "start_month": self.start_month,
            "end_month": self.end_month,
            **over,
        }

    def facts(self, i: int, income: int = 1_000_000) -> dict[str, Any]:
        """Worker ``i``'s facts (``WK-<i>``)."""
        village = self.villages[i % len(self.villages)]
        return {
            "worker_id": f"WK-{i:05d}",
            "province_code": village.split(".", 1)[0],
            "regency_code": ".".join(village.split(".")[:2]),
            "district_code": village.rsplit(".", 1)[0],
            "village_code": village,
            "occupation": self.occupation,
            "gender": "L",
            "declared_monthly_income": income,
        }

    def registered(
        self, i: int, at: datetime, occurred_at: datetime, cover_end: str | None = None
    ) -> WorkerRegistered:
        """Worker ``i`` enrolled (``EN-<i>``) from the programme's start, registered ``at``."""
        return WorkerRegistered.create(
            WorkerRegisteredPayload(
                **self.facts(i),
                sponsor_id=self.sponsor_id,
                programme_id=self.programme_id,
                benefits=list(self.benefits),
                cover_start=self.start_month,
                cover_end=cover_end,
                registered_at=at,
                enrolment_id=f"EN-{i:05d}",
            ),
            producer="t",
            occurred_at=occurred_at,
        )

    def ended(
        self, i: int, last_month: str, effective_on: date, occurred_at: datetime
    ) -> EnrolmentEnded:
        """Worker ``i``'s enrolment ended (withdrawn) with ``last_month``."""
        return EnrolmentEnded.create(
            EnrolmentEndedPayload(
                **self.facts(i),
                enrolment_id=f"EN-{i:05d}",
                sponsor_id=self.sponsor_id,
                programme_id=self.programme_id,
                cover_start=self.start_month,
                cover_end=last_month,
                reason=EndReason.WITHDRAWN,
                effective_on=effective_on,
            ),
            producer="t",
            occurred_at=occurred_at,
        )

    def changed(
        self,
        i: int,
        effective_month: str,
        occurred_at: datetime,
        changed: Sequence[str] = ("declared_monthly_income",),
        income: int = 2_500_000,
        like: int | None = None,
    ) -> WorkerChanged:
        """Worker ``i``'s declared income changed to ``income`` from ``effective_month``; with
        ``like``, the other facts become worker ``like``'s (another village)."""
        facts = {**self.facts(i if like is None else like, income), "worker_id": f"WK-{i:05d}"}
        return WorkerChanged.create(
            WorkerChangedPayload(**facts, changed=list(changed), effective_month=effective_month),
            producer="t",
            occurred_at=occurred_at,
        )
