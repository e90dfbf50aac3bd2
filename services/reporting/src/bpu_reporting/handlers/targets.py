"""Targets and the workforce: an operator sets a region's target for a year (``SetTarget``) or
uploads a file of them (``UploadTargets``: every valid row saved, every invalid one reported
by row and column); dashboards, operators and a sponsor (in its region) read them
(``GetTargets``). The file named by ``TARGETS_FILE`` is loaded at start (``load_targets_file``)
without undoing what an operator set since.

The target block of a coverage answer is ``bpu_reporting.targets.target_figures(target,
covered)``, with the target from ``repo.targets(codes, year)``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bpu_reporting.handlers.base import Reporting
from bpu_reporting.store import ReportingRepository
from bpu_reporting.targets import (
    RowError,
    Target,
    TargetFigures,
    make_target,
    parse_targets_csv,
    target_figures,
)
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import Clock
from bpu_shared.errors import InvalidInput

log = logging.getLogger(__name__)

TARGET_READERS = (Role.DASHBOARD, Role.OPERATOR, Role.SPONSOR)


@dataclass(frozen=True)
class GetTargets:
    region: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class SetTarget:
    region: str
    year: int
    workforce: int | None
    target_percent: float | None
    target_workers: int | None
    source: str


@dataclass(frozen=True)
class UploadTargets:
    """A targets file's text (CSV: region,year,workforce,target_percent,target_workers,source)."""

    text: str
    filename: str = "targets.csv"


@dataclass(frozen=True)
class TargetsLoaded:
    """What a file did: the targets saved and the rows refused."""

    saved: list[Target]
    errors: list[RowError]

    def summary(self) -> str:
        return f"{len(self.saved)} targets saved, {len(self.errors)} rows refused"


async def targets(q: GetTargets, principal: Principal, deps: Reporting) -> list[Target]:
    principal.require_role(*TARGET_READERS)
    region = principal.scope(q.region)
    found = await deps.repository.targets_within(region, q.year)
    return [Target(**t) for t in found]


async def set_target(c: SetTarget, principal: Principal, deps: Reporting) -> Target:
    principal.require_role(Role.OPERATOR)
    target = make_target(
        c.region,
        c.year,
        workforce=c.workforce,
        target_percent=c.target_percent,
        target_workers=c.target_workers,
        source=c.source,
        set_by=principal.key_id,
        set_at=deps.clock.now(),
    )
    await deps.repository.save_targets([target.doc()])
    return target


async def upload_targets(c: UploadTargets, principal: Principal, deps: Reporting) -> TargetsLoaded:
    principal.require_role(Role.OPERATOR)
    saved, errors = parse_targets_csv(c.text, set_by=principal.key_id, set_at=deps.clock.now())
    await deps.repository.save_targets([t.doc() for t in saved])
    return TargetsLoaded(saved, errors)


async def load_targets_file(
    path: Path, repository: ReportingRepository, clock: Clock
) -> TargetsLoaded:
    """The targets of a file on this machine (``TARGETS_FILE``), each saved unless an operator
    set that region's and year's since the file was last loaded; refused rows are logged. An
    unreadable file or header stops the start: a setting that names a file means it."""
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    except OSError as error:
        raise InvalidInput(
            "TARGETS_FILE", f"cannot read {path}: {error.strerror or error}"
        ) from None
    saved, errors = parse_targets_csv(text, set_by=f"file:{path.name}", set_at=clock.now())
    written = await repository.seed_targets([t.doc() for t in saved])
    for refused in errors:
        log.warning("targets file %s: %s", path, refused)
    log.info(
        "targets file %s: %d targets, %d written (the others set by an operator), %d rows refused",
        path,
        len(saved),
        written,
        len(errors),
    )
    return TargetsLoaded(saved, errors)


__all__ = [
    "GetTargets",
    "SetTarget",
    "TargetFigures",
    "TargetsLoaded",
    "UploadTargets",
    "load_targets_file",
    "set_target",
    "target_figures",
    "targets",
    "upload_targets",
]
