"""The two routes of every effective-dated table (``bpu_shared.tables``): ``GET /<table>``, every
row as listed, and ``GET /<table>/in-force?on=``, what applies on a day. Like any route they
only translate: the bus's handler checks who may read and answers; a model says how."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Protocol, Self

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from bpu_shared.auth import Anyone
from bpu_shared.http import Day, problem_responses
from bpu_shared.tables import DatedRow, describe

#: The day asked about; the handler takes today (Asia/Jakarta) when it is not given.
OnDay = Annotated[Day | None, Query(description="Defaults to today (Asia/Jakarta)")]


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


class AnswerOut(Protocol):
    """A response model built from the handler's answer."""

    @classmethod
    def of(cls, answer: Any) -> BaseModel: ...


def add_rows_route(
    router: APIRouter, path: str, model: type[RowOut], query: Callable[[], object], summary: str
) -> None:
    """``GET path`` (operation ``list_<table>``): the rows the bus answers ``query()`` with,
    each as ``model``."""

    async def list_rows(request: Request, who: Anyone) -> list[RowOut]:
        rows: tuple[DatedRow[Any], ...] = await request.app.state.bus.handle(query(), who)
        return [model.of(row) for row in rows]

    router.add_api_route(
        path,
        list_rows,
        methods=["GET"],
        name=f"list_{path.strip('/')}",
        response_model=list[model],  # type: ignore[valid-type]  # a model chosen at run time
        summary=summary,
        responses=problem_responses(401, 403),
    )


def add_in_force_route(
    router: APIRouter,
    path: str,
    model: type[AnswerOut],
    query: Callable[[date | None], object],
    summary: str,
) -> None:
    """``GET path/in-force?on=`` (operation ``<table>_in_force``): the bus's answer to
    ``query(on)``, as ``model.of(answer)``."""

    async def in_force(request: Request, who: Anyone, on: OnDay = None) -> Any:
        return model.of(await request.app.state.bus.handle(query(on), who))

    router.add_api_route(
        f"{path}/in-force",
        in_force,
        methods=["GET"],
        name=f"{path.strip('/')}_in_force",
        response_model=model,
        summary=summary,
        responses=problem_responses(401, 403, 422),
    )
