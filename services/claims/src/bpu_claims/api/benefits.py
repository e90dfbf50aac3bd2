"""``/benefits``: every row of the JKK and JKM benefit table, and what is in force on a day."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bpu_claims.domain import Reason
from bpu_claims.handlers.benefits import BenefitsOnDay, GetBenefits, ListBenefits
from bpu_shared.table_routes import RowOut, add_in_force_route, add_rows_route

router = APIRouter(tags=["benefits"])


class BenefitRowOut(RowOut):
    kind: str = Field(
        description="medical, transport, temporary_inability, disability, jkk_death, jkm_death, "
        "jkm_early_death, scholarship, claim_expiry or cover"
    )
    figures: dict[str, Any] = Field(description="The row's own figures (amounts in Rupiah)")


class ReasonOut(BaseModel):
    code: str = Field(description="R01, R02…")
    text: str
    source: str


class BenefitsInForceOut(BaseModel):
    on: date
    table_version: str
    rows: list[BenefitRowOut] = Field(description="One row of each kind")
    jkm_death: int = Field(description="JKM for a death not from work, Rupiah (Rp42m)")
    jkm_early_death: int = Field(description="JKM early in membership (the reduced benefit)")
    jkk_death_at_lowest_income: int = Field(
        description="JKK work-accident death at Rp1,000,000 income, before the scholarship"
    )
    scholarship_per_child: int = Field(description="The most one child can receive")
    reasons: list[ReasonOut] = Field(description="The numbered refusal reasons")

    @classmethod
    def of(cls, found: BenefitsOnDay) -> BenefitsInForceOut:
        return cls(
            on=found.rules.day,
            table_version=found.rules.table_version,
            rows=[BenefitRowOut.of(row) for row in found.rules.rows()],
            jkm_death=found.jkm_death,
            jkm_early_death=found.jkm_early_death,
            jkk_death_at_lowest_income=found.jkk_death_at_lowest_income,
            scholarship_per_child=found.scholarship_per_child,
            reasons=[ReasonOut(code=r.code, text=r.text, source=r.source) for r in Reason],
        )


add_rows_route(
    router,
    "/benefits",
    BenefitRowOut,
    ListBenefits,
    "Every row of the benefit table, in force or not",
)
add_in_force_route(
    router, "/benefits", BenefitsInForceOut, GetBenefits, "The benefit rules in force on a day"
)
