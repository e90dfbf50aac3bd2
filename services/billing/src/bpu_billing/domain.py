"""Billing rules: the contribution (iuran) rate table and what one worker costs a month. Pure.

Rates are data with an effective date, not constants: regulations change (PP 44/2015 as amended
by PP 82/2019 today). Money is whole Rupiah.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_shared.effective import in_force
from bpu_shared.events import BenefitProgramme


@dataclass(frozen=True)
class ContributionRate:
    """One version of the rate table, in force from ``effective_from``."""

    effective_from: date
    jkk_basis_points: int  # JKK: share of declared income, 100 = 1%
    jkm_flat: int  # JKM: flat Rupiah a month
    jht_basis_points: int  # JHT: share of declared income, 200 = 2%
    lowest_declared_income: int
    source: str

    def monthly(
        self, declared_income: int, benefits: frozenset[BenefitProgramme]
    ) -> dict[BenefitProgramme, int]:
        """Each benefit's contribution for one worker-month."""
        income = max(declared_income, self.lowest_declared_income)
        amounts = {
            BenefitProgramme.JKK: income * self.jkk_basis_points // 10_000,
            BenefitProgramme.JKM: self.jkm_flat,
            BenefitProgramme.JHT: income * self.jht_basis_points // 10_000,
        }
        return {b: amounts[b] for b in BenefitProgramme if b in benefits}


#: The rate table as published; a new regulation is a new row, not an edit.
DEFAULT_RATES: tuple[ContributionRate, ...] = (
    ContributionRate(
        effective_from=date(2019, 12, 2),
        jkk_basis_points=100,
        jkm_flat=6_800,
        jht_basis_points=200,
        lowest_declared_income=1_000_000,
        source="PP 44/2015 as amended by PP 82/2019",
    ),
)


def rate_on(day: date, table: tuple[ContributionRate, ...] = DEFAULT_RATES) -> ContributionRate:
    """The version in force on ``day``."""
    return in_force(table, day, "contribution rate")
