"""GET /contributions: contributions invoiced, paid and outstanding per region and month."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from bpu_reporting.api.common import (
    Answer,
    Money,
    Report,
    answer,
    answer_fields,
    responses,
    row_place,
)
from bpu_reporting.handlers import (
    GetContributions,
    RegionTotals,
)
from bpu_shared.auth import Anyone

router = APIRouter(tags=["reporting"])


class ContributionFigures(BaseModel):
    invoiced: Money = Field(description="Contributions invoiced (all invoices of the period)")
    worker_months_invoiced: int = Field(examples=[7130])
    invoices: int = Field(description="Invoices issued by programmes of this region", examples=[1])
    paid: Money = Field(description="Contributions of the worker-months paid in full")
    workers_covered: int = Field(description="Worker-months paid in full", examples=[7130])
    outstanding: Money = Field(description="Invoiced less paid")
    payments_applied: Money = Field(
        description="What payments put on the invoices of programmes of this region, whole "
        "worker-months or not (a programme's region and above only)"
    )
    programmes_lapsed: int = Field(examples=[0])
    workers_lapsed: int = Field(examples=[0])


class ContributionRow(ContributionFigures):
    region: str = Field(description="The child region's code (the region asked, per month)")
    month: str | None = Field(description="The row's month, when by=month")
    name: str = Field(examples=["Kinal"])


class Contributions(ContributionFigures, Answer):
    breakdown: list[ContributionRow]


FIGURES = [*ContributionFigures.model_fields]


def _contribution_figures(t: dict[str, int]) -> dict[str, object]:
    invoiced, paid = t["contributions_invoiced_rupiah"], t["contributions_paid_rupiah"]
    return {
        "invoiced": Money.of(invoiced),
        "worker_months_invoiced": t["worker_months_invoiced"],
        "invoices": t["invoices"],
        "paid": Money.of(paid),
        "workers_covered": t["workers_covered"],
        "outstanding": Money.of(max(invoiced - paid, 0)),
        "payments_applied": Money.of(t["payments_applied_rupiah"]),
        "programmes_lapsed": t["programmes_lapsed"],
        "workers_lapsed": t["workers_lapsed"],
    }


@router.get(
    "/contributions",
    response_model=Contributions,
    summary="Contributions invoiced, paid and outstanding",
    responses=responses(Contributions),
)
async def contributions(
    request: Request,
    who: Anyone,
    params: Report,
) -> Response:
    """The region's contributions (all time, for one month's invoices, or summed over a range
    of months) and its rows: the next region level (by=region) or each month (by=month), from
    billing's invoices, payments and lapses. Per sponsor or programme; not per occupation
    (billing's events carry none: 422). A sponsor key sees its own region only. ETag and
    If-None-Match: 304 while nothing changed."""

    async def build() -> BaseModel:
        query = params.query()
        r: RegionTotals = await request.app.state.bus.handle(GetContributions(**query), who)
        return Contributions(
            **answer_fields(r),
            breakdown=[
                ContributionRow(
                    **row_place(r, code, name),
                    **_contribution_figures(t),  # type: ignore[arg-type]
                )
                for code, name, t in r.breakdown
            ],
            **_contribution_figures(r.totals),  # type: ignore[arg-type]
        )

    return await answer(request, who, build, params.format, figures=FIGURES, name="contributions")
