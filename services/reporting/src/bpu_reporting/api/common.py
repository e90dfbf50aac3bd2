"""What the dashboard routes share: the region and period parameters, and Rupiah as an
integer beside the string Indonesians write."""

from __future__ import annotations

from typing import Annotated

import lokal
from fastapi import Query
from pydantic import BaseModel, Field

from bpu_shared.month import PATTERN, Month
from bpu_shared.regions import RegionCode

RegionQuery = Annotated[
    RegionCode | None,
    Query(description="Region code: 17 (province), 17.04 (regency), 17.04.01 (district)"),
]
PeriodQuery = Annotated[
    str | None,
    Query(pattern=PATTERN, description="The month, YYYY-MM; all time when absent"),
]


class Money(BaseModel):
    """An amount in Rupiah, as an integer and as Indonesians write it."""

    rupiah: int = Field(examples=[119784000])
    formatted: str = Field(examples=["Rp119.784.000"])

    @classmethod
    def of(cls, amount: int) -> Money:
        return cls(rupiah=amount, formatted=str(lokal.format_rupiah(amount)))


def month_param(period: str | None) -> Month | None:
    return Month.parse(period) if period else None
