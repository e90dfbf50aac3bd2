"""The shared kit of effective-dated tables (``bpu_shared.tables``), on a toy table of fees: each
broken field named by row and field, the id and same-day checks, the row in force on a day,
listing order and figures, loading a file once per process; and the row as the API lists it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from bpu_shared.effective import NotInForce
from bpu_shared.table_routes import RowOut
from bpu_shared.tables import (
    MISSING,
    DatedRow,
    DatedTable,
    RowReader,
    TableError,
    describe,
    latest,
)


class FeeKind(StrEnum):
    FLAT = "flat"
    WAIVER = "waiver"


class FeeTableError(TableError):
    title = "Broken fee table"


@dataclass(frozen=True, kw_only=True)
class FeeRow(DatedRow[FeeKind]):
    pass


@dataclass(frozen=True, kw_only=True)
class Flat(FeeRow):
    amount: int
    cap: int | None
    _cached: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class Waiver(FeeRow):
    regions: frozenset[str]

    def figures(self) -> dict[str, Any]:
        return {"regions": sorted(self.regions)}


def _parse(row: RowReader) -> FeeRow:
    common = row.common(FeeKind)
    if common["kind"] is FeeKind.FLAT:
        return Flat(
            **common, amount=row.integer("amount", 0, 1_000), cap=row.integer_or_none("cap")
        )
    regions = row.names("regions", frozenset({"17", "64"}))
    assert regions is not None
    return Waiver(**common, regions=regions)


@dataclass(frozen=True)
class FeeTable(DatedTable[FeeRow]):
    shipped = ("bpu_shared", "no-such-file.json")
    error = FeeTableError
    file_field = "fees_file"
    what = "fee table"
    kinds = FeeKind
    overlapping = frozenset({FeeKind.WAIVER})

    @staticmethod
    def parse_row(row: RowReader) -> FeeRow:
        return _parse(row)


def _flat(ident: str, start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": "flat",
        "effective_from": start,
        "effective_to": end,
        "source": "Perda 1/2020",
        "amount": 100,
        "cap": None,
        **extra,
    }


def _waiver(ident: str, start: str) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": "waiver",
        "effective_from": start,
        "source": "Perda 2/2021",
        "regions": ["64"],
    }


def _doc(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"table_version": "2026-01", "rows": list(rows)}


SHIPPED = _doc(
    _waiver("W-2021", "2021-01-01"),
    _flat("FLAT-2020", "2020-01-01", "2023-12-31"),
    _flat("FLAT-2024", "2024-01-01", amount=150, cap=900),
    _waiver("W-2021-B", "2021-01-01"),
)


def _broken(index: int, **changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SHIPPED))
    doc["rows"][index] = {
        k: v for k, v in {**doc["rows"][index], **changes}.items() if v is not ...
    }
    return doc


# -- reading rows --------------------------------------------------------------------------------


def test_a_table_reads_its_rows_and_version() -> None:
    table = FeeTable.from_document(SHIPPED)
    assert table.version == "2026-01"
    assert [r.id for r in table.all_rows] == ["W-2021", "FLAT-2020", "FLAT-2024", "W-2021-B"]
    newest = table.all_rows[2]
    assert newest == Flat(
        id="FLAT-2024",
        kind=FeeKind.FLAT,
        effective_from=date(2024, 1, 1),
        effective_to=None,
        source="Perda 1/2020",
        amount=150,
        cap=900,
    )


@pytest.mark.parametrize(
    ("index", "changes", "where", "words"),
    [
        (1, {"kind": "surcharge"}, "rows[1] (FLAT-2020): kind", "known: flat, waiver"),
        (1, {"kind": ...}, "rows[1] (FLAT-2020): kind", "missing"),
        (1, {"amount": "100"}, "rows[1] (FLAT-2020): amount", "whole number from 0 to 1000"),
        (1, {"amount": 1_001}, "rows[1] (FLAT-2020): amount", "not 1001"),
        (1, {"amount": True}, "rows[1] (FLAT-2020): amount", "not True"),
        (1, {"amount": ...}, "rows[1] (FLAT-2020): amount", "missing"),
        (1, {"cap": ...}, "rows[1] (FLAT-2020): cap", "missing"),
        (1, {"cap": -1}, "rows[1] (FLAT-2020): cap", "from 0"),
        (1, {"effective_from": "2020-02-30"}, "rows[1] (FLAT-2020): effective_from", "YYYY"),
        (1, {"effective_from": 2020}, "rows[1] (FLAT-2020): effective_from", "YYYY"),
        (1, {"effective_to": "2019-12-31"}, "rows[1] (FLAT-2020): effective_to", "before"),
        (1, {"source": " "}, "rows[1] (FLAT-2020): source", "must be text"),
        (1, {"id": ...}, "rows[1]: id", "missing"),
        (1, {"id": 7}, "rows[1]: id", "must be text"),
        (0, {"regions": ["64", "99"]}, "rows[0] (W-2021): regions", "unknown 99"),
        (0, {"regions": "64"}, "rows[0] (W-2021): regions", "a list of names"),
    ],
)
def test_a_broken_field_is_named_by_row_and_field(
    index: int, changes: dict[str, Any], where: str, words: str
) -> None:
    with pytest.raises(FeeTableError) as raised:
        FeeTable.from_document(_broken(index, **changes))
    assert raised.value.field == where
    assert words in raised.value.detail
    assert raised.value.title == "Broken fee table"


def test_an_absent_end_and_an_absent_optional_list_are_open() -> None:
    table = FeeTable.from_document(_broken(1, effective_to=...))
    assert table.all_rows[1].effective_to is None
    reader = RowReader(0, {"id": "X"}, FeeTableError)
    assert reader.names("regions", frozenset({"64"}), optional=True) is None
    assert reader.day("effective_to", optional=True) is None


def test_a_figure_inside_a_row_is_named_by_its_path() -> None:
    reader = RowReader(4, {"id": "T", "caps": {"land": "5"}}, FeeTableError)
    with pytest.raises(FeeTableError) as raised:
        reader.whole("caps.land", reader.raw["caps"]["land"])
    assert raised.value.field == "rows[4] (T): caps.land"
    assert raised.value.detail == "must be a whole number from 0, not '5'"
    with pytest.raises(FeeTableError, match="missing"):
        reader.whole("caps.sea", reader.raw["caps"].get("sea", MISSING))
    with pytest.raises(FeeTableError, match="not None"):
        reader.whole("caps.sea", reader.raw["caps"].get("sea"))
    assert reader.whole("caps.air", 30, 0, 30) == 30


def test_a_flag_is_true_or_false() -> None:
    reader = RowReader(0, {"covered": "no", "paid": False}, FeeTableError)
    assert reader.flag("paid") is False
    with pytest.raises(FeeTableError, match="true or false"):
        reader.flag("covered")


def test_a_document_that_is_not_a_table() -> None:
    for doc in ([], {"rows": 3}, {"table_version": "x"}):
        with pytest.raises(FeeTableError, match="the fee table is an object with a list of rows"):
            FeeTable.from_document(doc)
    with pytest.raises(FeeTableError) as raised:
        FeeTable.from_document({"rows": [], "table_version": 2026})
    assert raised.value.field == "table_version"
    with pytest.raises(FeeTableError) as raised:
        FeeTable.from_document({"rows": [_flat("A", "2020-01-01"), ["not", "a", "row"]]})
    assert raised.value.field == "rows[1]"


# -- checking the table --------------------------------------------------------------------------


def test_an_id_used_twice_is_refused() -> None:
    doc = _broken(2, id="FLAT-2020")
    with pytest.raises(FeeTableError, match="'FLAT-2020' is used twice") as raised:
        FeeTable.from_document(doc)
    assert raised.value.field == "rows[2] (FLAT-2020): id"


def test_two_rows_of_a_kind_from_one_day_are_refused_unless_they_apply_together() -> None:
    doc = _broken(2, effective_from="2020-01-01")
    with pytest.raises(FeeTableError, match="which one applies would be unclear") as raised:
        FeeTable.from_document(doc)
    assert raised.value.field == "rows[2] (FLAT-2024): effective_from"
    # The two waivers start the same day: they apply together, as discounts do.
    assert len(FeeTable.from_document(SHIPPED).all_rows) == 4


def test_rows_built_in_code_are_checked_as_a_file_is() -> None:
    row = FeeTable.from_document(SHIPPED).all_rows[1]
    with pytest.raises(FeeTableError, match="used twice"):
        FeeTable.of([row, row])


# -- reading the table ---------------------------------------------------------------------------


def test_the_row_in_force_is_the_latest_started_and_not_ended() -> None:
    rows = FeeTable.from_document(SHIPPED).all_rows
    assert latest(rows, Flat, date(2020, 1, 1), "flat fee", "on").id == "FLAT-2020"
    assert latest(rows, Flat, date(2023, 12, 31), "flat fee", "on").id == "FLAT-2020"
    assert latest(rows, Flat, date(2024, 1, 1), "flat fee", "on").id == "FLAT-2024"
    overlapping = [*rows, replace(rows[2], id="FLAT-2025", effective_from=date(2025, 1, 1))]
    assert latest(overlapping, Flat, date(2025, 6, 1), "flat fee", "on").id == "FLAT-2025"
    with pytest.raises(NotInForce) as raised:
        latest(rows, Flat, date(2019, 12, 31), "flat fee", "period")
    assert raised.value.field == "period"
    assert raised.value.detail == "no flat fee is in force on 2019-12-31"
    ended = [r for r in rows if r.id != "FLAT-2024"]
    with pytest.raises(NotInForce):
        latest(ended, Flat, date(2024, 1, 1), "flat fee", "on")


def test_rows_are_listed_by_kind_then_date_then_id() -> None:
    listed = FeeTable.from_document(SHIPPED).rows()
    assert [r.id for r in listed] == ["FLAT-2020", "FLAT-2024", "W-2021", "W-2021-B"]


def test_a_rows_figures_are_its_own_fields_unless_it_says_how() -> None:
    rows = FeeTable.from_document(SHIPPED).all_rows
    flat, waiver = rows[2], rows[0]
    assert flat.figures() == {"amount": 150, "cap": 900}
    assert list(flat.figures()) == ["amount", "cap"]
    assert waiver.figures() == {"regions": ["64"]}
    assert describe(flat) == {
        "id": "FLAT-2024",
        "kind": "flat",
        "effective_from": date(2024, 1, 1),
        "effective_to": None,
        "source": "Perda 1/2020",
        "figures": {"amount": 150, "cap": 900},
    }


def test_a_row_as_the_api_lists_it() -> None:
    flat = FeeTable.from_document(SHIPPED).all_rows[1]
    out = RowOut.of(flat)
    assert type(out) is RowOut
    assert out.model_dump(mode="json") == {
        "id": "FLAT-2020",
        "kind": "flat",
        "effective_from": "2020-01-01",
        "effective_to": "2023-12-31",
        "source": "Perda 1/2020",
        "figures": {"amount": 100, "cap": None},
    }


# -- loading a file ------------------------------------------------------------------------------


def test_a_file_is_read_and_a_broken_one_named(tmp_path: Path) -> None:
    path = tmp_path / "fees.json"
    path.write_text(json.dumps(SHIPPED), "utf-8")
    assert FeeTable.load(path) == FeeTable.from_document(SHIPPED)
    with pytest.raises(FeeTableError, match="cannot read the fee table") as raised:
        FeeTable.load(tmp_path / "missing.json")
    assert raised.value.field == "fees_file"
    with pytest.raises(FeeTableError, match="cannot read the fee table"):
        FeeTable.load()  # the shipped file this toy table names is not there
    path.write_text("{rows", "utf-8")
    with pytest.raises(FeeTableError, match="not JSON") as raised:
        FeeTable.load(path)
    assert raised.value.field == "fees_file"


def test_a_table_is_loaded_once_per_path(tmp_path: Path) -> None:
    path = tmp_path / "fees.json"
    path.write_text(json.dumps(SHIPPED), "utf-8")
    first = FeeTable.loaded(path)
    path.write_text("{broken", "utf-8")
    assert FeeTable.loaded(str(path)) is first
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_doc(_flat("ONLY", "2020-01-01"))), "utf-8")
    assert [r.id for r in FeeTable.loaded(other).all_rows] == ["ONLY"]
