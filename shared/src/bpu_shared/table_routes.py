"""What the API of every effective-dated table (``bpu_shared.tables``) has: its rows as they
are listed, and the route listing them all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Self

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bpu_shared.auth import Anyone
from bpu_shared.http import problem_responses
from bpu_shared.tables import DatedRow, describe


class RowOut(BaseModel):
    """A row as the API lists it. A table's own model subclasses it to say, in the ``kind``
    and ``figures`` descriptions, which kinds and figures it has."""

    id: str
    kind: str
    effective_from: date
    effective_to: date | None = Field(description="Last day in force; null: no end yet")
    source: str = Field(description="The regulation the row comes from")
    figures: dict[str, Any]

    @classmethod
    def of(cls, row: DatedRow[Any]) -> Self:
        return cls.model_validate(describe(row))


def add_rows_route(
    router: APIRouter,
    path: str,
    *,
    model: type[RowOut],
    query: Callable[[], object],
    name: str,
    summary: str,
) -> None:
    """``GET path``: every row of the table, in force or not, as ``model``; the bus answers
    ``query()`` with the rows (the handler checks who may read them)."""

    async def list_rows(request: Request, who: Anyone) -> list[RowOut]:
        rows: tuple[DatedRow[Any], ...] = await request.app.state.bus.handle(query(), who)
        return [model.of(row) for row in rows]

    router.add_api_route(
        path,
        list_rows,
        methods=["GET"],
        name=name,
        response_model=list[model],  # type: ignore[valid-type]  # a model chosen at run time
        summary=summary,
        responses=problem_responses(401, 403),
    )
