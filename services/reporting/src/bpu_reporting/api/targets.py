"""``/targets``: a region's coverage target and vulnerable workforce per year — read them,
set one, or upload a CSV file of them (every valid row saved, every invalid one named by row
and column)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from pydantic import BaseModel, Field

from bpu_reporting.handlers.targets import GetTargets, SetTarget, TargetsLoaded, UploadTargets
from bpu_reporting.targets import Target
from bpu_shared.auth import Anyone
from bpu_shared.errors import InvalidInput
from bpu_shared.http import problem_responses
from bpu_shared.regions import RegionCode

router = APIRouter(tags=["targets"])


class TargetOut(BaseModel):
    region: str = Field(examples=["17"])
    year: int = Field(examples=[2026])
    workforce: int | None = Field(
        description="The region's vulnerable workforce (pekerja rentan); null when only a "
        "number of people was set",
        examples=[114883],
    )
    target_workers: int = Field(examples=[80418])
    target_percent: float | None = Field(examples=[70.0])
    source: str = Field(examples=["Dinas Nakertrans Provinsi Bengkulu, Nov 2024"])
    set_by: str = Field(description="The key that set it, or file:<name> for a loaded file")
    set_at: str

    @classmethod
    def of(cls, t: Target) -> TargetOut:
        return cls.model_validate(t.doc())


class TargetIn(BaseModel):
    """A target as people give it: a share of the workforce, or a number of people, or both."""

    workforce: int | None = Field(None, ge=1, examples=[114883])
    target_percent: float | None = Field(None, gt=0, le=100, examples=[70.0])
    target_workers: int | None = Field(None, ge=1, examples=[80418])
    source: str = Field("", max_length=500, examples=["Surat Gubernur Bengkulu, Nov 2024"])


class RowErrorOut(BaseModel):
    row: int = Field(description="The line in the file (the header is line 1)")
    column: str
    message: str


class TargetsUploaded(BaseModel):
    saved: int
    refused: int
    targets: list[TargetOut]
    errors: list[RowErrorOut]

    @classmethod
    def of(cls, loaded: TargetsLoaded) -> TargetsUploaded:
        return cls(
            saved=len(loaded.saved),
            refused=len(loaded.errors),
            targets=[TargetOut.of(t) for t in loaded.saved],
            errors=[
                RowErrorOut(row=e.row, column=e.column, message=e.message) for e in loaded.errors
            ],
        )


@router.get(
    "/targets",
    response_model=list[TargetOut],
    summary="Targets of a region and the regions below it",
    responses=problem_responses(401, 403, 422),
)
async def list_targets(
    request: Request,
    who: Anyone,
    region: Annotated[RegionCode | None, Query(description="17, 17.04, …; all when absent")] = None,
    year: Annotated[
        str | None,
        Query(pattern=r"^(20[1-9][0-9]|2100)$", description="YYYY; every year when absent"),
    ] = None,
) -> list[TargetOut]:
    found = await request.app.state.bus.handle(GetTargets(region, int(year) if year else None), who)
    return [TargetOut.of(t) for t in found]


@router.put(
    "/targets/{region}/{year}",
    response_model=TargetOut,
    summary="Set a region's target for a year (operator)",
    responses=problem_responses(401, 403, 422),
)
async def put_target(
    request: Request,
    who: Anyone,
    body: TargetIn,
    region: Annotated[str, Path(examples=["17.04"])],
    year: Annotated[int, Path(examples=[2026])],
) -> TargetOut:
    command = SetTarget(
        region, year, body.workforce, body.target_percent, body.target_workers, body.source
    )
    return TargetOut.of(await request.app.state.bus.handle(command, who))


@router.post(
    "/targets",
    response_model=TargetsUploaded,
    summary="Upload a CSV file of targets (operator)",
    description="Columns: region,year,workforce,target_percent,target_workers,source (give "
    "target_percent or target_workers). Every valid row is saved; each refused row is named "
    "by its line and column in `errors`.",
    responses=problem_responses(401, 403, 422),
)
async def upload_targets(
    request: Request,
    who: Anyone,
    file: Annotated[UploadFile, File(description="CSV, UTF-8")],
) -> TargetsUploaded:
    data = await file.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "is not UTF-8 text") from None
    command = UploadTargets(text, file.filename or "targets.csv")
    return TargetsUploaded.of(await request.app.state.bus.handle(command, who))
