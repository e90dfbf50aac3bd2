"""Bulk-enrolment files: reading CSV and XLSX as clerks make them, checking each row, the error
report a clerk fixes and uploads again, and the templates. Real files: openpyxl workbooks and
Windows-1252 bytes as Excel's CSV export writes them."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter

from bpu_registration.domain import Occupation, parse_identity
from bpu_registration.files import (
    COLUMNS,
    DEFAULT_MONTHLY_INCOME,
    FileRefused,
    Row,
    RowError,
    RowValues,
    Sheet,
    duplicate_niks,
    error_report_csv,
    header_key,
    parse_row,
    parse_sheet,
    read_sheet,
    sheet_niks,
    template_csv,
    template_xlsx,
)
from bpu_shared.errors import InvalidInput
from bpu_shared.month import Month

WOMAN_NIK = "1704014107900001"  # Kinal (Kaur), born 1 July 1990
MAN_NIK = "1704011708850123"  # Kinal, born 17 August 1985
KAUR_VILLAGE = "17.04.01.2001"
HEADER = ["NIK", "Nama", "Pekerjaan", "Kode Desa"]


def csv_bytes(rows: list[list[str]], *, delimiter: str = ";", encoding: str = "cp1252") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[Any]], *, title: str = "Sheet1", first_row: int = 1) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for offset, values in enumerate(rows):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=first_row + offset, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def one_row(**cells: Any) -> tuple[Sheet, Row]:
    """A CSV sheet of one data row: the four required columns, overridden or extended."""
    values = {"nik": WOMAN_NIK, "name": "Siti Aminah", "occupation": "petani"}
    values["domicile_code"] = KAUR_VILLAGE
    values.update(cells)
    sheet = read_sheet(csv_bytes([list(values), [str(v) for v in values.values()]]))
    return sheet, sheet.rows[0]


def xlsx_row(**cells: Any) -> tuple[Sheet, Row]:
    values: dict[str, Any] = {"nik": WOMAN_NIK, "name": "Siti Aminah", "occupation": "petani"}
    values["domicile_code"] = KAUR_VILLAGE
    values.update(cells)
    sheet = read_sheet(xlsx_bytes([list(values), list(values.values())]))
    return sheet, sheet.rows[0]


def problems(sheet: Sheet, row: Row) -> dict[str, str]:
    values, errors = parse_row(sheet, row)
    assert (values is None) == bool(errors)
    return {e.column: e.reason for e in errors}


def refused(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(FileRefused) as exc:
        read_sheet(data, "peserta.csv", **kwargs)
    assert isinstance(exc.value, InvalidInput)
    assert exc.value.field == "file"
    return exc.value.detail


# -- columns and headers -----------------------------------------------------------------------


def test_the_documented_columns_and_which_are_required() -> None:
    assert [c.name for c in COLUMNS] == [
        "nik",
        "name",
        "phone",
        "occupation",
        "domicile_code",
        "declared_monthly_income",
        "cover_start",
        "priority",
        "requested_on",
    ]
    assert {c.name for c in COLUMNS if c.required} == {"nik", "name", "occupation", "domicile_code"}
    assert all(c.description and c.example and c.format for c in COLUMNS)


def test_no_header_is_accepted_for_two_columns() -> None:
    owner: dict[str, str] = {}
    for column in COLUMNS:
        for header in (column.name, *column.aliases):
            key = header_key(header)
            assert owner.setdefault(key, column.name) == column.name, header


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("NIK", "nik"),
        ("  No. KTP ", "nik"),
        ("no-ktp", "nik"),
        ("NIK *", "nik"),
        ("NAMA_LENGKAP", "name"),
        ("Nama Lengkap", "name"),
        ("No HP", "phone"),
        ("Telepon", "phone"),
        ("No. Telp", "phone"),
        ("Pekerjaan", "occupation"),
        ("Kode Desa", "domicile_code"),
        ("Kode Wilayah Domisili", "domicile_code"),
        ("Kode Desa/Kelurahan", "domicile_code"),
        ("Penghasilan per Bulan (Rp)", "declared_monthly_income"),
        ("Mulai Kepesertaan", "cover_start"),
        ("Desil", "priority"),
        ("Prioritas", "priority"),
        ("Tanggal Permohonan", "requested_on"),
        ("declared monthly income", "declared_monthly_income"),
    ],
)
def test_headers_clerks_write_are_recognised(header: str, column: str) -> None:
    headers = {"nik": "nik", "name": "name", "occupation": "occupation"}
    headers["domicile_code"] = "domicile_code"
    headers[column] = header
    sheet = read_sheet(csv_bytes([list(headers.values()), ["1"] * len(headers)]))
    assert sheet.header_of(column) == header.strip()
    assert sheet.ignored_columns == ()


# -- reading CSV -------------------------------------------------------------------------------


def test_excel_csv_in_indonesia_is_semicolons_in_windows_1252() -> None:
    data = csv_bytes([HEADER, [WOMAN_NIK, "José Müller", "nelayan", KAUR_VILLAGE]])
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really cp1252 bytes, not UTF-8
    sheet = read_sheet(data)
    assert (sheet.format, sheet.encoding, sheet.delimiter) == ("csv", "cp1252", ";")
    assert sheet.rows[0].cells["Nama"] == "José Müller"


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_utf8_with_a_bom_and_any_of_the_three_delimiters(delimiter: str) -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(
        [HEADER, [WOMAN_NIK, "Nur Ḥayati, S.Pd.", "guru honorer", KAUR_VILLAGE]],
        delimiter=delimiter,
        encoding="utf-8",
    )
    sheet = read_sheet(data)
    assert (sheet.encoding, sheet.delimiter) == ("utf-8", delimiter)
    assert sheet.columns == ("nik", "name", "occupation", "domicile_code")
    values, errors = parse_row(sheet, sheet.rows[0])
    assert errors == []
    assert values is not None and values.name == "Nur Ḥayati, S.Pd."


def test_blank_rows_are_skipped_and_rows_keep_the_numbers_excel_shows() -> None:
    data = csv_bytes(
        [
            HEADER,
            [WOMAN_NIK, "A", "petani", KAUR_VILLAGE],
            ["", "", " ", ""],  # Excel's ;;;
            [],
            [MAN_NIK, "B", "petani", KAUR_VILLAGE],
        ]
    )
    sheet = read_sheet(data)
    assert [r.number for r in sheet.rows] == [2, 5]


def test_columns_in_any_order_and_unknown_columns_are_ignored_not_refused() -> None:
    data = csv_bytes(
        [
            ["Keterangan", "Kode Desa", "Pekerjaan", "No KK", "Nama Lengkap", "No KTP"],
            ["catatan", KAUR_VILLAGE, "pedagang", "1704010101010001", "Budi", MAN_NIK],
        ]
    )
    sheet = read_sheet(data)
    assert sheet.columns == ("domicile_code", "occupation", "name", "nik")
    assert sheet.ignored_columns == ("Keterangan", "No KK")
    assert sheet.rows[0].cells == {
        "Keterangan": "catatan",
        "Kode Desa": KAUR_VILLAGE,
        "Pekerjaan": "pedagang",
        "No KK": "1704010101010001",
        "Nama Lengkap": "Budi",
        "No KTP": MAN_NIK,
    }
    values, errors = parse_row(sheet, sheet.rows[0])
    assert errors == []
    assert values == RowValues(
        nik=MAN_NIK,
        name="Budi",
        phone=None,
        occupation=Occupation.TRADER,
        domicile_code=KAUR_VILLAGE,
        declared_monthly_income=DEFAULT_MONTHLY_INCOME,
        cover_start=None,
        priority=None,
        requested_on=None,
    )


def test_short_rows_are_padded_and_extra_cells_are_a_row_error() -> None:
    data = csv_bytes(
        [
            HEADER,
            [WOMAN_NIK, "Siti"],
            [MAN_NIK, "Budi", "petani", KAUR_VILLAGE, "Jl. Merdeka", "RT 3"],
        ]
    )
    sheet = read_sheet(data)
    assert problems(sheet, sheet.rows[0]) == {
        "occupation": "required, but the cell is empty",
        "domicile_code": "required, but the cell is empty",
    }
    extra = problems(sheet, sheet.rows[1])
    assert list(extra) == [""]
    assert "2 cell(s) beyond the last column (Jl. Merdeka; RT 3)" in extra[""]


# -- refusing a whole file ---------------------------------------------------------------------


def test_an_empty_file_is_refused() -> None:
    assert "empty" in refused(b"")
    assert "empty" in refused(b"\r\n\r\n  ")
    assert "empty" in refused(csv_bytes([[], ["", ""], []]))


def test_a_header_without_data_rows_is_refused() -> None:
    assert "no data rows" in refused(csv_bytes([HEADER, ["", "", "", ""]]))


def test_missing_required_columns_are_named_with_the_headers_accepted() -> None:
    detail = refused(csv_bytes([["Nama", "Keterangan"], ["Siti", "x"]]))
    assert "nik (accepted headers: nik, NIK, No KTP" in detail
    assert "occupation (accepted headers: occupation, Pekerjaan" in detail
    assert "domicile_code (accepted headers: domicile_code, Kode Desa" in detail
    assert "name (" not in detail  # present
    assert "'Nama', 'Keterangan'" in detail  # what was read, to spot a typo


def test_a_column_given_twice_is_refused() -> None:
    detail = refused(
        csv_bytes([[*HEADER, "No KTP"], [WOMAN_NIK, "A", "petani", KAUR_VILLAGE, "1"]])
    )
    assert "two columns for nik: 'NIK' and 'No KTP'" in detail


def test_over_the_byte_limit_is_refused_before_reading() -> None:
    data = csv_bytes([HEADER] + [[WOMAN_NIK, "A", "petani", KAUR_VILLAGE]] * 100)
    assert "the limit is" in refused(data, max_bytes=len(data) - 1)
    assert read_sheet(data, max_bytes=len(data)).rows


def test_over_the_row_limit_says_how_many_rows_and_the_limit() -> None:
    data = csv_bytes([HEADER] + [[WOMAN_NIK, "A", "petani", KAUR_VILLAGE]] * 1201)
    assert "has 1,201 rows; the limit is 1,200 rows per file" in refused(data, max_rows=1200)
    assert len(read_sheet(data, max_rows=1201).rows) == 1201


def test_legacy_xls_is_refused_with_what_to_do() -> None:
    detail = refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert "XLS (Excel 97-2003)" in detail
    assert "save as XLSX or CSV" in detail


def test_binary_and_other_zip_files_are_refused() -> None:
    assert "neither CSV text nor XLSX" in refused(b"%PDF-1.7\n\x00\x01\x02binary")
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert "not an Excel workbook" in refused(docx.getvalue())
    ods = io.BytesIO()
    with zipfile.ZipFile(ods, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    assert "OpenDocument" in refused(ods.getvalue())
    assert "damaged" in refused(b"PK\x03\x04 not really a zip")


def test_text_in_neither_utf8_nor_windows_1252_is_refused() -> None:
    # 0x81 is undefined in Windows-1252 and not valid UTF-8 here.
    assert "not text in UTF-8 or Windows-1252" in refused(b"nik;nama\r\n\x81\x81;x\r\n")


# -- reading XLSX ------------------------------------------------------------------------------


def test_xlsx_header_is_the_first_non_empty_row_and_numbers_match_excel() -> None:
    rows: list[list[Any]] = [HEADER, [WOMAN_NIK, "Siti", "petani", KAUR_VILLAGE], [], ["x"]]
    sheet = read_sheet(xlsx_bytes(rows, first_row=3))
    assert sheet.format == "xlsx"
    assert sheet.encoding is None and sheet.delimiter is None
    assert [r.number for r in sheet.rows] == [4, 6]


def test_xlsx_prefers_a_sheet_named_like_the_templates_data_sheet() -> None:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Catatan"
    notes.append(["just notes"])
    data = book.create_sheet("peserta")
    data.append(HEADER)
    data.append([WOMAN_NIK, "Siti", "petani", KAUR_VILLAGE])
    out = io.BytesIO()
    book.save(out)
    sheet = read_sheet(out.getvalue())
    assert sheet.sheet_name == "peserta"
    assert sheet.rows[0].cells["NIK"] == WOMAN_NIK


def test_a_nik_excel_stored_as_a_number_is_an_error_never_a_guess() -> None:
    sheet, row = xlsx_row(nik=1704014107900000)
    reason = problems(sheet, row)["nik"]
    assert "only 15 digits" in reason and "Text" in reason
    # As sent, it shows as Excel shows it, so the report keeps the damage visible.
    assert row.cells["nik"] == "1.7040141079E+15"


def test_typed_xlsx_cells_income_dates_phone() -> None:
    sheet, row = xlsx_row(
        declared_monthly_income=1500000,
        cover_start=datetime(2026, 7, 1),
        requested_on=datetime(2026, 6, 15),
        phone=81234567890,  # Excel dropped the leading 0
        priority=2.0,
    )
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None
    assert values.declared_monthly_income == 1_500_000
    assert values.cover_start == Month(2026, 7)
    assert values.requested_on == date(2026, 6, 15)
    assert values.phone == "81234567890"
    assert values.priority == 2


def test_a_village_code_excel_made_a_number_is_an_error() -> None:
    sheet, row = xlsx_row(domicile_code=64.01)
    assert "write the village code as text with its dots" in problems(sheet, row)["domicile_code"]


def test_xlsx_income_with_cents_is_refused() -> None:
    sheet, row = xlsx_row(declared_monthly_income=1500000.5)
    assert "not whole Rupiah" in problems(sheet, row)["declared_monthly_income"]


# -- one row's cells ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        WOMAN_NIK,
        f"'{WOMAN_NIK}",
        f" {WOMAN_NIK} ",
        "1704 0141 0790 0001",
        "1704.0141.0790.0001",
        f'"{WOMAN_NIK}"',
        f'="{WOMAN_NIK}"',
    ],
)
def test_nik_written_with_spaces_dots_quotes_or_an_apostrophe(written: str) -> None:
    sheet, row = one_row(nik=written)
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None and values.nik == WOMAN_NIK


@pytest.mark.parametrize(
    "written", ["1.70401E+15", "1,70401E+15", "1704014107900000.0", "1704014107900000,00"]
)
def test_nik_text_that_shows_excel_made_it_a_number(written: str) -> None:
    sheet, row = one_row(nik=written)
    assert "only 15 digits" in problems(sheet, row)["nik"]


def test_nik_with_letters_is_an_error_but_its_structure_is_the_domains() -> None:
    sheet, row = one_row(nik="17040141O7900001")  # a letter O
    assert "digits only" in problems(sheet, row)["nik"]
    sheet, row = one_row(nik="123")
    values, errors = parse_row(sheet, row)
    assert errors == [] and values is not None and values.nik == "123"
    with pytest.raises(InvalidInput):
        parse_identity(values.nik)


@pytest.mark.parametrize(
    "written",
    [
        "1500000",
        "1.500.000",
        "Rp 1.500.000",
        "Rp1.500.000",
        "Rp. 1.500.000,-",
        "1,500,000",
        "1.500.000,00",
        "1,500,000.00",
        "IDR 1 500 000",
    ],
)
def test_income_as_clerks_write_rupiah(written: str) -> None:
    sheet, row = one_row(declared_monthly_income=written)
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None and values.declared_monthly_income == 1_500_000


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("1,5", "not whole Rupiah"),
        ("1.500.000,50", "not whole Rupiah"),
        ("satu juta", "not an amount in Rupiah"),
        ("-1000000", "not an amount in Rupiah"),
        ("1.500.000.00", "not an amount in Rupiah"),
        ("1.5000", "not an amount in Rupiah"),
    ],
)
def test_income_that_is_not_whole_rupiah(written: str, reason: str) -> None:
    sheet, row = one_row(declared_monthly_income=written)
    assert reason in problems(sheet, row)["declared_monthly_income"]


def test_an_empty_income_is_the_lowest_bracket_base() -> None:
    sheet, row = one_row(declared_monthly_income="")
    values, _ = parse_row(sheet, row)
    assert values is not None and values.declared_monthly_income == 1_000_000


@given(st.integers(min_value=0, max_value=10**11))
def test_any_amount_written_the_usual_ways_reads_back(amount: int) -> None:
    dotted = f"{amount:,}".replace(",", ".")
    for written in (str(amount), dotted, f"Rp {dotted}", f"{amount:,}", f"Rp{dotted},-"):
        sheet, row = one_row(declared_monthly_income=written)
        values, errors = parse_row(sheet, row)
        assert errors == [], written
        assert values is not None and values.declared_monthly_income == amount


@pytest.mark.parametrize(
    ("written", "occupation"),
    [
        ("petani", Occupation.FARMER),
        ("Buruh Tani", Occupation.FARM_LABOURER),
        ("NELAYAN", Occupation.FISHER),
        ("tukang ojek", Occupation.MOTORCYCLE_TAXI_RIDER),
        ("Ojek", Occupation.MOTORCYCLE_TAXI_RIDER),
        ("tukang becak", Occupation.PEDICAB_DRIVER),
        ("kuli", Occupation.PORTER),
        ("buruh angkut", Occupation.PORTER),
        ("pedagang", Occupation.TRADER),
        ("UMKM", Occupation.SMALL_BUSINESS),
        ("usaha mikro", Occupation.SMALL_BUSINESS),
        ("guru honorer", Occupation.HONORARY_TEACHER),
        ("pekerja keagamaan", Occupation.RELIGIOUS_WORKER),
        ("Marbot", Occupation.RELIGIOUS_WORKER),
        ("guru ngaji", Occupation.RELIGIOUS_WORKER),
        ("Ketua RT", Occupation.RT_RW_OFFICER),
        ("ketua RW", Occupation.RT_RW_OFFICER),
        ("ketua RT/RW", Occupation.RT_RW_OFFICER),
        ("pekebun", Occupation.PLANTATION_WORKER),
        ("pekerja sosial", Occupation.SOCIAL_WORKER),
        ("Relawan", Occupation.SOCIAL_WORKER),
        ("  tukang   ojek ", Occupation.MOTORCYCLE_TAXI_RIDER),
    ],
)
def test_occupation_in_indonesian(written: str, occupation: Occupation) -> None:
    sheet, row = one_row(occupation=written)
    values, _ = parse_row(sheet, row)
    assert values is not None and values.occupation is occupation


@pytest.mark.parametrize("occupation", list(Occupation))
def test_occupation_by_its_english_value_any_case(occupation: Occupation) -> None:
    for written in (occupation.value, occupation.value.upper().replace("_", " ")):
        sheet, row = one_row(occupation=written)
        values, _ = parse_row(sheet, row)
        assert values is not None and values.occupation is occupation


def test_an_unknown_occupation_lists_what_is_accepted() -> None:
    sheet, row = one_row(occupation="astronot")
    reason = problems(sheet, row)["occupation"]
    assert "unknown occupation 'astronot'" in reason
    assert "petani" in reason and "tukang ojek" in reason and "ketua RT/RW" in reason


@pytest.mark.parametrize(
    "written", ["2026-07", "2026-7", "2026-07-15", "15/07/2026", "07/2026", "Juli 2026", "jul 2026"]
)
def test_cover_start_month(written: str) -> None:
    sheet, row = one_row(cover_start=written)
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None and values.cover_start == Month(2026, 7)


@pytest.mark.parametrize("written", ["2026-13", "Juli", "next month", "2026-02-30"])
def test_cover_start_that_is_not_a_month(written: str) -> None:
    sheet, row = one_row(cover_start=written)
    assert "write it as YYYY-MM" in problems(sheet, row)["cover_start"]


@pytest.mark.parametrize(
    "written", ["2026-06-15", "15/06/2026", "15-06-2026", "2026-06-15 00:00:00"]
)
def test_requested_on_date(written: str) -> None:
    sheet, row = one_row(requested_on=written)
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None and values.requested_on == date(2026, 6, 15)


@pytest.mark.parametrize("written", ["31/02/2026", "kemarin", "2026-06", "06/15/2026"])
def test_requested_on_that_is_not_a_date(written: str) -> None:
    sheet, row = one_row(requested_on=written)
    assert "not a date" in problems(sheet, row)["requested_on"]


@pytest.mark.parametrize(
    ("written", "priority"), [("1", 1), ("12", 12), ("3.0", 3), ("1.000", 1000)]
)
def test_priority_positive_whole_number(written: str, priority: int) -> None:
    sheet, row = one_row(priority=written)
    values, errors = parse_row(sheet, row)
    assert errors == []
    assert values is not None and values.priority == priority


@pytest.mark.parametrize("written", ["0", "-1", "1.5", "satu"])
def test_priority_that_is_not_positive_whole(written: str) -> None:
    sheet, row = one_row(priority=written)
    assert "positive whole number" in problems(sheet, row)["priority"]


def test_every_problem_of_a_row_is_reported_not_only_the_first() -> None:
    sheet, row = one_row(
        nik="1.70401E+15",
        name="  ",
        occupation="astronot",
        declared_monthly_income="sejuta",
        cover_start="kapan-kapan",
    )
    assert set(problems(sheet, row)) == {
        "nik",
        "name",
        "occupation",
        "declared_monthly_income",
        "cover_start",
    }


def test_phone_and_domicile_are_kept_as_written_for_the_domain() -> None:
    sheet, row = one_row(phone=" 0812-3456-7890 ", domicile_code=" 17.04.01.2001 ")
    values, _ = parse_row(sheet, row)
    assert values is not None
    assert (values.phone, values.domicile_code) == ("0812-3456-7890", KAUR_VILLAGE)


# -- repeated NIKs -----------------------------------------------------------------------------


def test_a_nik_repeating_an_earlier_row_names_the_first_row() -> None:
    data = csv_bytes(
        [
            HEADER,
            [WOMAN_NIK, "Siti", "petani", KAUR_VILLAGE],  # row 2
            [MAN_NIK, "Budi", "astronot", KAUR_VILLAGE],  # row 3: fails, still claims its NIK
            [f"'{WOMAN_NIK}", "Siti A.", "petani", KAUR_VILLAGE],  # row 4
            [MAN_NIK, "Budi", "petani", KAUR_VILLAGE],  # row 5
            ["1704011708850124", "Ani", "petani", KAUR_VILLAGE],  # row 6
        ]
    )
    sheet = read_sheet(data)
    parsed = parse_sheet(sheet)
    assert sorted(parsed.values) == [2, 6]
    assert [(e.row, e.column) for e in parsed.errors] == [
        (3, "occupation"),
        (4, "nik"),
        (5, "nik"),
    ]
    assert parsed.errors[1].reason == "the same NIK as row 2; list a worker once"
    assert parsed.errors[2].reason == "the same NIK as row 3; list a worker once"
    assert duplicate_niks(sheet_niks(sheet)) == parsed.errors[1:]
    assert duplicate_niks([(2, "1"), (3, "2"), (9, "1")]) == [
        RowError(9, "nik", "the same NIK as row 2; list a worker once")
    ]


# -- the error report --------------------------------------------------------------------------


def clerk_file() -> bytes:
    return csv_bytes(
        [
            ["No KTP", "Nama Lengkap", "Pekerjaan", "Kode Desa", "Penghasilan", "Keterangan"],
            [WOMAN_NIK, "Siti Aminah", "petani", KAUR_VILLAGE, "1.000.000", "ok"],
            [MAN_NIK, "Budi Santoso", "astronot", KAUR_VILLAGE, "1,5", "dua masalah"],
            ["1.70401E+15", "José Müller", "nelayan", KAUR_VILLAGE, "", "Excel"],
        ]
    )


def test_error_report_is_excel_csv_with_the_rows_as_sent() -> None:
    sheet = read_sheet(clerk_file())
    parsed = parse_sheet(sheet)
    report = error_report_csv(sheet, parsed.errors)
    assert report.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == [
        "row",
        "column",
        "reason",
        "No KTP",
        "Nama Lengkap",
        "Pekerjaan",
        "Kode Desa",
        "Penghasilan",
        "Keterangan",
    ]
    assert len(lines) == 3  # one line per failed row
    row3, row4 = lines[1], lines[2]
    assert row3[:2] == ["3", "Pekerjaan | Penghasilan"]
    assert row3[2].startswith("unknown occupation 'astronot'")
    assert " | '1,5' is not whole Rupiah" in row3[2]
    # A NIK as ="…", so that Excel opening the report keeps its 16 digits.
    assert row3[3:] == [
        f'="{MAN_NIK}"',
        "Budi Santoso",
        "astronot",
        KAUR_VILLAGE,
        "1,5",
        "dua masalah",
    ]
    assert row4[:2] == ["4", "No KTP"]
    assert row4[3:5] == ["1.70401E+15", "José Müller"]


def test_the_report_fixed_by_the_clerk_uploads_again_as_it_is() -> None:
    sheet = read_sheet(clerk_file())
    report = error_report_csv(sheet, parse_sheet(sheet).errors).decode("utf-8-sig")

    again = read_sheet(report.encode("utf-8-sig"))
    assert again.ignored_columns == ("row", "column", "reason", "Keterangan")
    assert [r.number for r in again.rows] == [2, 3]
    still = parse_sheet(again)
    assert {(e.row, e.column) for e in still.errors} == {
        (2, "occupation"),
        (2, "declared_monthly_income"),
        (3, "nik"),  # the damaged NIK stays damaged: nothing was guessed
    }

    fixed = (
        report.replace(";astronot;", ";nelayan;")
        .replace(";1,5;", ";1.500.000;")
        .replace("1.70401E+15", "1704014107900002")
    )
    done = parse_sheet(read_sheet(fixed.encode("cp1252")))  # saved again by Excel, in cp1252
    assert done.errors == []
    assert done.values[2].nik == MAN_NIK
    assert done.values[2].occupation is Occupation.FISHER
    assert done.values[2].declared_monthly_income == 1_500_000
    assert done.values[3].nik == "1704014107900002"
    assert done.values[3].name == "José Müller"


def test_a_report_of_a_report_has_one_set_of_report_columns() -> None:
    sheet = read_sheet(clerk_file())
    report = error_report_csv(sheet, parse_sheet(sheet).errors)
    again = read_sheet(report)
    second = error_report_csv(again, parse_sheet(again).errors).decode("utf-8-sig")
    header = second.splitlines()[0].split(";")
    assert header[:3] == ["row", "column", "reason"]
    assert header.count("row") == 1 and header.count("reason") == 1


def test_error_report_of_an_xlsx_keeps_the_excel_damage_visible() -> None:
    sheet = read_sheet(xlsx_bytes([HEADER, [1704014107900000, "Siti", "petani", KAUR_VILLAGE]]))
    report = error_report_csv(sheet, parse_sheet(sheet).errors)
    again = read_sheet(report)
    assert "only 15 digits" in parse_sheet(again).errors[0].reason


# -- templates ---------------------------------------------------------------------------------


def test_the_csv_template_reads_back_and_its_example_row_is_valid() -> None:
    data = template_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    sheet = read_sheet(data)
    assert sheet.columns == tuple(c.name for c in COLUMNS)
    assert sheet.ignored_columns == ()
    parsed = parse_sheet(sheet)
    assert parsed.errors == []
    example = parsed.values[2]
    assert example.nik == WOMAN_NIK and example.domicile_code == KAUR_VILLAGE
    assert parse_identity(example.nik).issued_in == "17.04.01"


def test_the_xlsx_template_has_text_columns_and_a_guide() -> None:
    data = template_xlsx()
    parsed = parse_sheet(read_sheet(data))
    assert parsed.errors == []
    assert parsed.values[2].nik == WOMAN_NIK

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Peserta", "Petunjuk"]
    sheet = book["Peserta"]
    headers = [c.value for c in sheet[1]]
    assert headers == [c.name for c in COLUMNS]
    for name in ("nik", "domicile_code", "phone"):
        letter = get_column_letter(headers.index(name) + 1)
        assert sheet[f"{letter}2"].number_format == "@"
        assert sheet[f"{letter}2"].data_type == "s"
        assert sheet.column_dimensions[letter].number_format == "@"
    income = sheet.cell(row=2, column=headers.index("declared_monthly_income") + 1)
    assert income.value == 1_000_000

    guide = book["Petunjuk"]
    text = "\n".join(str(c.value) for row in guide.iter_rows() for c in row if c.value)
    for column in COLUMNS:
        assert column.name in text
        for alias in column.aliases:
            assert alias in text
    assert "Format" in text and "Wajib / Required" in text
