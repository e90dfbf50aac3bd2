"""Effective-dated tables shipped as JSON files (billing's rates, claims' benefits): the row
and the table they all share, a reader that names the row and field of whatever is broken
(``rows[5] (JKM-DEATH-2019): lump_sum``), and the checks and lookups every such table makes.
No I/O but reading the file; the routes of such a table are in ``table_routes``."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

from bpu_shared.effective import NotInForce
from bpu_shared.errors import DomainError

K = TypeVar("K", bound=StrEnum)
R = TypeVar("R", bound="DatedRow[Any]")


class TableError(DomainError, ValueError):
    """A table file is broken; ``field`` names the row and the field. Each table has its own
    subclass (``RateTableError``), whose ``title`` names the table."""

    title = "Broken table"

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(detail, where)


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DatedRow(Generic[K]):
    """What every row has: an id, its kind, the days it is in force (both inclusive; no end:
    open) and the regulation it comes from."""

    id: str
    kind: K
    effective_from: date
    effective_to: date | None
    source: str

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def figures(self) -> dict[str, Any]:
        """The row's own figures, as JSON-ready values (for listing): by default each field a
        kind adds, in order (a kind whose figures are not plain JSON values says how)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in _COMMON and not f.name.startswith("_")
        }


_COMMON = frozenset(f.name for f in fields(DatedRow))


def describe(row: DatedRow[Any]) -> Mapping[str, Any]:
    """A row as the API lists it."""
    return {
        "id": row.id,
        "kind": row.kind.value,
        "effective_from": row.effective_from,
        "effective_to": row.effective_to,
        "source": row.source,
        "figures": row.figures(),
    }


# -- reading a file ------------------------------------------------------------------------------

#: A field not in the row (``RowReader.whole`` says "missing" rather than "not None").
MISSING: Any = object()


class RowReader:
    """Reads one raw row, naming the row and field in every error."""

    def __init__(self, index: int, raw: Any, error: type[TableError]) -> None:
        if not isinstance(raw, dict):
            raise error(f"rows[{index}]", "a row is an object")
        self.raw: dict[str, Any] = raw
        self.error = error
        ident = raw.get("id")
        self.where = f"rows[{index}] ({ident})" if isinstance(ident, str) else f"rows[{index}]"

    def fail(self, name: str, detail: str) -> TableError:
        return self.error(f"{self.where}: {name}", detail)

    def get(
        self, name: str, check: Callable[[Any], bool], what: str, *, optional: bool = False
    ) -> Any:
        """``raw[name]`` when ``check`` accepts it; with ``optional``, None when absent or
        null."""
        if name not in self.raw:
            if optional:
                return None
            raise self.fail(name, "missing")
        value = self.raw[name]
        if value is None and optional:
            return None
        if not check(value):
            raise self.fail(name, f"must be {what}, not {value!r}")
        return value

    def common(self, kinds: type[K]) -> dict[str, Any]:
        """The fields every row has (``DatedRow``'s), checked in the order a person reads
        them: the kind, the dates, the id, the source."""
        kind_text = self.text("kind")
        try:
            kind = kinds(kind_text)
        except ValueError:
            raise self.fail(
                "kind", f"unknown kind {kind_text!r} (known: {', '.join(kinds)})"
            ) from None
        start = self.day("effective_from")
        assert start is not None
        end = self.day("effective_to", optional=True)
        if end is not None and end < start:
            raise self.fail("effective_to", f"{end} is before effective_from {start}")
        return {
            "id": self.text("id"),
            "kind": kind,
            "effective_from": start,
            "effective_to": end,
            "source": self.text("source"),
        }

    def text(self, name: str) -> str:
        return str(self.get(name, lambda v: isinstance(v, str) and v.strip() != "", "text"))

    def flag(self, name: str) -> bool:
        return bool(self.get(name, lambda v: isinstance(v, bool), "true or false"))

    def integer(self, name: str, low: int = 0, high: int | None = None) -> int:
        return self.whole(name, self.raw.get(name, MISSING), low, high)

    def integer_or_none(self, name: str) -> int | None:
        """A whole number, or null (the field must be there)."""
        if name not in self.raw:
            raise self.fail(name, "missing")
        return None if self.raw[name] is None else self.integer(name)

    def whole(self, name: str, value: Any, low: int = 0, high: int | None = None) -> int:
        """``value``, read from inside the row (``caps.land``, ``bands[3].base``), as a whole
        number from ``low`` to ``high``; ``MISSING`` when it is not there."""
        if value is MISSING:
            raise self.fail(name, "missing")
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            bound = f"a whole number from {low}" + ("" if high is None else f" to {high}")
            raise self.fail(name, f"must be {bound}, not {value!r}")
        return value

    def day(self, name: str, *, optional: bool = False) -> date | None:
        value = self.get(name, lambda v: isinstance(v, str), "a date YYYY-MM-DD", optional=optional)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"must be a date YYYY-MM-DD, not {value!r}") from None

    def names(
        self, name: str, known: frozenset[str], *, optional: bool = False
    ) -> frozenset[str] | None:
        value = self.get(
            name,
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "a list of names",
            optional=optional,
        )
        if value is None:
            return None
        unknown = sorted(set(value) - known)
        if unknown:
            raise self.fail(
                name, f"unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return frozenset(value)


def read_document(
    path: Path | None, shipped: Traversable, error: type[TableError], *, file_field: str, what: str
) -> Any:
    """The JSON in ``path``, by default the ``shipped`` file; an unreadable file or one that is
    not JSON raises ``error`` naming ``file_field``."""
    try:
        text = (shipped if path is None else Path(path)).read_text("utf-8")
    except OSError as failure:
        raise error(file_field, f"cannot read the {what}: {failure}") from failure
    try:
        return json.loads(text)
    except json.JSONDecodeError as failure:
        raise error(file_field, f"not JSON: {failure}") from failure


def parse_document(
    doc: Any, parse: Callable[[RowReader], R], error: type[TableError], *, what: str
) -> tuple[tuple[R, ...], str]:
    """A table document's rows, each read by ``parse``, and its ``table_version``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise error("rows", f"the {what} is an object with a list of rows")
    version = doc.get("table_version", "")
    if not isinstance(version, str):
        raise error("table_version", "must be text")
    rows = tuple(parse(RowReader(i, raw, error)) for i, raw in enumerate(doc["rows"]))
    return rows, version


# -- checking and looking up ---------------------------------------------------------------------


def check_rows(
    rows: Iterable[DatedRow[K]], error: type[TableError], *, overlapping: Collection[K] = ()
) -> None:
    """Every id once, and no two rows of one kind starting the same day (which would apply is
    unclear), except for kinds in ``overlapping`` (rows that apply together, as discounts)."""
    seen: set[str] = set()
    starts: dict[tuple[K, date], DatedRow[K]] = {}
    for i, row in enumerate(rows):
        where = f"rows[{i}] ({row.id})"
        if row.id in seen:
            raise error(f"{where}: id", f"the id {row.id!r} is used twice")
        seen.add(row.id)
        if row.kind in overlapping:
            continue
        other = starts.get((row.kind, row.effective_from))
        if other is not None:
            raise error(
                f"{where}: effective_from",
                f"{row.kind} row {other.id!r} starts on {row.effective_from} too: "
                "which one applies would be unclear",
            )
        starts[(row.kind, row.effective_from)] = row


def by_kind(rows: Iterable[R], kinds: type[StrEnum]) -> tuple[R, ...]:
    """Every row, ordered by kind (in the enum's order) then date (for listing)."""
    order = {kind: i for i, kind in enumerate(kinds)}
    return tuple(sorted(rows, key=lambda r: (order[r.kind], r.effective_from, r.id)))


def latest(rows: Iterable[DatedRow[Any]], kind: type[R], day: date, what: str, field: str) -> R:
    """The row of type ``kind`` in force on ``day`` (the later start wins); ``NotInForce``
    naming ``field`` when there is none."""
    found = [r for r in rows if isinstance(r, kind) and r.in_force_on(day)]
    if not found:
        raise NotInForce(field, f"no {what} is in force on {day}")
    return max(found, key=lambda r: r.effective_from)


# -- a table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatedTable(Generic[R]):
    """Every row of one effective-dated table, and the file's ``table_version``. A table says
    where its file is shipped, how it names itself in errors and how it reads a row."""

    version: str
    all_rows: tuple[R, ...]

    #: The shipped file: the package and the path inside it (``data/rates.json``).
    shipped: ClassVar[tuple[str, str]]
    #: The error a broken file raises, and the field naming an unreadable file.
    error: ClassVar[type[TableError]]
    file_field: ClassVar[str]
    #: The table in words (``rate table``), for messages.
    what: ClassVar[str]
    #: The kinds of rows, in the order they are listed.
    kinds: ClassVar[type[StrEnum]]
    #: Kinds of which several rows may start the same day (they apply together).
    overlapping: ClassVar[frozenset[StrEnum]] = frozenset()

    @staticmethod
    def parse_row(row: RowReader) -> Any:
        """One row of the file (a ``DatedRow`` of the table's own kind)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path | None = None) -> Self:
        """The table in ``path``, by default the one shipped with the service. A broken file
        raises the table's error naming the row and field."""
        package, name = cls.shipped
        shipped = resources.files(package).joinpath(name)
        doc = read_document(path, shipped, cls.error, file_field=cls.file_field, what=cls.what)
        return cls.from_document(doc)

    @classmethod
    def loaded(cls, path: str | Path | None = None) -> Self:
        """The table of this process: ``load(path)`` the first time, then the same table (a
        table is immutable; a new file is read by a new process)."""
        key = (cls, None if path is None else Path(path))
        table = _LOADED.get(key)
        if table is None:
            table = _LOADED[key] = cls.load(key[1])
        assert isinstance(table, cls)
        return table

    @classmethod
    def from_document(cls, doc: Any) -> Self:
        rows, version = parse_document(doc, cls.parse_row, cls.error, what=cls.what)
        return cls.of(rows, version)

    @classmethod
    def of(cls, rows: Iterable[R], version: str = "") -> Self:
        """A table of rows built in code (tests); checked as a file is."""
        table = tuple(rows)
        check_rows(table, cls.error, overlapping=cls.overlapping)
        return cls(version, table)

    def rows(self) -> tuple[R, ...]:
        """Every row, in force or not, ordered by kind then date (for listing)."""
        return by_kind(self.all_rows, self.kinds)


_LOADED: dict[tuple[type[DatedTable[Any]], Path | None], DatedTable[Any]] = {}
