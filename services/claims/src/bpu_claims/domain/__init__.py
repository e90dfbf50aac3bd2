"""Claims' pure rules (no I/O): the benefit table as data (``benefits``), the benefit formulas
(``formulas``), the scholarship's yearly schedule (``scholarship``) and eligibility with
numbered refusal reasons (``eligibility``)."""

from __future__ import annotations

from bpu_claims.domain.benefits import (
    BenefitRow,
    BenefitRules,
    BenefitTable,
    BenefitTableError,
    RuleKind,
    SchoolLevel,
    TransportMode,
)
from bpu_claims.domain.eligibility import (
    ClaimFacts,
    CoverView,
    MonthStatus,
    Reason,
    Refusal,
    check_eligibility,
    months_between,
    refuses_claim,
)
from bpu_claims.domain.formulas import (
    BenefitKind,
    BenefitLine,
    Disability,
    JkkFacts,
    Place,
    jkk_lines,
    jkm_lines,
)
from bpu_claims.domain.scholarship import Child, Instalment, scholarship_schedule

__all__ = [
    "BenefitKind",
    "BenefitLine",
    "BenefitRow",
    "BenefitRules",
    "BenefitTable",
    "BenefitTableError",
    "Child",
    "ClaimFacts",
    "CoverView",
    "Disability",
    "Instalment",
    "JkkFacts",
    "MonthStatus",
    "Place",
    "Reason",
    "Refusal",
    "RuleKind",
    "SchoolLevel",
    "TransportMode",
    "check_eligibility",
    "jkk_lines",
    "jkm_lines",
    "months_between",
    "refuses_claim",
    "scholarship_schedule",
]
