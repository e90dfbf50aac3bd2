"""``/rates``: every row of the contribution rate table, and what is in force on a day."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bpu_billing.handlers import GetRate, ListRates
from bpu_billing.handlers.rates import RatesOnDay
from bpu_shared.events import BenefitProgramme
from bpu_shared.table_routes import RowOut, add_in_force_route, add_rows_route

router = APIRouter(tags=["rates"])


class RateRowOut(RowOut):
    kind: str = Field(description="jkk_brackets, jkm, jht, discount or arrears")
    figures: dict[str, Any] = Field(description="The row's own figures (bands, amount, percent…)")


class RatesInForceOut(BaseModel):
    on: date
    table_version: str
    jkk_brackets: RateRowOut
    jkm: RateRowOut
    jht: RateRowOut
    discounts: list[RateRowOut]
    arrears: RateRowOut
    lowest_income: int = Field(description="The lowest bracket's base, Rupiah")
    monthly_at_lowest_income: dict[BenefitProgramme, int] = Field(
        description="Each benefit's monthly contribution at the lowest income, full price"
    )
    monthly_jkk_jkm: int = Field(description="JKK + JKM a month at the lowest income, full price")
    monthly_with_jht: int = Field(description="JKK + JKM + JHT a month at the lowest income")

    @classmethod
    def of(cls, found: RatesOnDay) -> RatesInForceOut:
        view = found.view
        return cls(
            on=view.day,
            table_version=found.table_version,
            jkk_brackets=RateRowOut.of(view.jkk),
            jkm=RateRowOut.of(view.jkm),
            jht=RateRowOut.of(view.jht),
            discounts=[RateRowOut.of(d) for d in view.discounts],
            arrears=RateRowOut.of(view.arrears),
            lowest_income=found.lowest_income,
            monthly_at_lowest_income=found.at_lowest_income,
            monthly_jkk_jkm=found.monthly_regional,
            monthly_with_jht=found.monthly_with_jht,
        )


add_rows_route(
    router, "/rates", RateRowOut, ListRates, "Every row of the rate table, in force or not"
)
add_in_force_route(
    router,
    "/rates",
    RatesInForceOut,
    GetRate,
    "The rates, discounts and arrears rule in force on a day",
)
