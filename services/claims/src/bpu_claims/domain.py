"""Claims rules: the benefit table for JKK (work accident) and JKM (death) claims. Pure.

Amounts are data with an effective date (PP 82/2019; Permenaker 5/2021), not constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bpu_shared.effective import in_force


@dataclass(frozen=True)
class BenefitTable:
    """One version of the benefit table, in force from ``effective_from``."""

    effective_from: date
    source: str
    jkm_lump_sum: int
    jkm_periodic: int
    jkm_funeral: int
    jkm_early_death_total: int  # death within the first months of membership
    jkm_early_death_months: int
    jkk_death_income_multiple: int
    jkk_funeral: int
    jkk_periodic: int
    jkk_total_disability_income_multiple: int
    jkk_partial_disability_income_multiple: int
    jkk_claim_expiry_years: int

    def jkm_death(self, months_of_membership: int) -> int:
        """The JKM benefit for a death not from work."""
        if months_of_membership < self.jkm_early_death_months:
            return self.jkm_early_death_total
        return self.jkm_lump_sum + self.jkm_periodic + self.jkm_funeral

    def jkk_death(self, declared_income: int) -> int:
        """The JKK death benefit before the scholarship."""
        return (
            self.jkk_death_income_multiple * declared_income + self.jkk_funeral + self.jkk_periodic
        )


DEFAULT_BENEFITS: tuple[BenefitTable, ...] = (
    BenefitTable(
        effective_from=date(2019, 12, 2),
        source="PP 82/2019; Permenaker 5/2021",
        jkm_lump_sum=20_000_000,
        jkm_periodic=12_000_000,
        jkm_funeral=10_000_000,
        jkm_early_death_total=10_000_000,
        jkm_early_death_months=3,
        jkk_death_income_multiple=48,
        jkk_funeral=10_000_000,
        jkk_periodic=12_000_000,
        jkk_total_disability_income_multiple=56,
        jkk_partial_disability_income_multiple=80,
        jkk_claim_expiry_years=5,
    ),
)


def benefits_on(day: date, table: tuple[BenefitTable, ...] = DEFAULT_BENEFITS) -> BenefitTable:
    """The version in force on ``day``."""
    return in_force(table, day, "benefit table")
