"""Bulk-enrolment files as regency clerks make them (CSV from Excel, XLSX): read, check each row,
write the error report a clerk fixes and uploads again, and the templates. Pure: bytes in and out.

Daftar peserta = the list of workers a sponsor enrols at once; desa/kelurahan = village.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from typing import Literal, TypeGuard, TypeVar, cast

from bpu_registration.domain import Occupation
from bpu_shared.errors import InvalidInput
from bpu_shared.month import Month

#: The income a row without one declares: the base of the lowest bracket, where every
#: sponsored worker seen in the field sits. The domain still checks it against the minimum.
DEFAULT_MONTHLY_INCOME = 1_000_000
MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024
#: The data sheet's name in the XLSX template; a workbook with such a sheet is read from it.
DATA_SHEET = "Peserta"
GUIDE_SHEET = "Petunjuk"

#: What a cell may hold: text from a CSV, or what openpyxl makes of an XLSX cell.
Cell = str | int | float | datetime | date | time | bool | None
T = TypeVar("T")


# -- the columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    description: str
    format: str
    example: str
    #: Headers clerks write for this column (Indonesian ones too); matched by ``header_key``.
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column(
        "nik",
        True,
        "NIK (Nomor Induk Kependudukan), the 16-digit national id on the KTP",
        "16 digits, cell formatted as Text",
        "1704014107900001",
        (
            "NIK",
            "No KTP",
            "Nomor KTP",
            "No NIK",
            "Nomor NIK",
            "NIK KTP",
            "Nomor Induk Kependudukan",
        ),
    ),
    Column(
        "name",
        True,
        "Full name as on the KTP",
        "text",
        "Siti Aminah",
        ("Nama", "Nama Lengkap", "Nama Peserta", "Nama Pekerja", "Full Name"),
    ),
    Column(
        "phone",
        False,
        "Mobile number of the worker (for notices)",
        "0812-3456-7890 or +62 812 3456 7890",
        "081234567890",
        ("No HP", "Nomor HP", "HP", "No WA", "Telepon", "No Telp", "No Telepon", "Nomor Telepon"),
    ),
    Column(
        "occupation",
        True,
        "Work of the worker (pekerjaan)",
        "petani, buruh tani, nelayan, tukang ojek, tukang becak, kuli, pedagang, UMKM, "
        "guru honorer, pekerja keagamaan, ketua RT/RW, pekebun, pekerja sosial, lainnya",
        "petani",
        ("Pekerjaan", "Jenis Pekerjaan", "Profesi"),
    ),
    Column(
        "domicile_code",
        True,
        "Kemendagri code of the village (desa/kelurahan) where the worker lives now",
        "NN.NN.NN.NNNN with its dots, cell formatted as Text",
        "17.04.01.2001",
        (
            "Kode Desa",
            "Kode Kelurahan",
            "Kode Desa/Kelurahan",
            "Kode Wilayah Domisili",
            "Kode Domisili",
            "Kode Wilayah",
            "Village Code",
        ),
    ),
    Column(
        "declared_monthly_income",
        False,
        f"Declared monthly income in whole Rupiah; empty means Rp{DEFAULT_MONTHLY_INCOME:,}".replace(
            ",", "."
        ),
        "1500000, 1.500.000 or Rp 1.500.000",
        "1000000",
        ("Penghasilan", "Penghasilan per Bulan", "Penghasilan Bulanan", "Upah", "Income"),
    ),
    Column(
        "cover_start",
        False,
        "First month of cover; empty means the programme's first open month",
        "YYYY-MM",
        "2026-07",
        ("Mulai Kepesertaan", "Bulan Mulai", "Mulai Perlindungan"),
    ),
    Column(
        "priority",
        False,
        "Place on the waiting list when seats are short: 1 is served first "
        "(an extreme-poverty ranking or desil)",
        "a positive whole number",
        "1",
        ("Prioritas", "Desil", "Peringkat"),
    ),
    Column(
        "requested_on",
        False,
        "Date the worker asked to be enrolled; orders the waiting list within a priority",
        "YYYY-MM-DD or DD/MM/YYYY",
        "2026-06-15",
        ("Tanggal Permohonan", "Tgl Permohonan", "Tanggal Pengajuan", "Tanggal Daftar"),
    ),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)

_BRACKETS = re.compile(r"\(.*?\)|\[.*?\]|\*")
_SEPARATORS = re.compile(r"[\s_\-./]+")


def header_key(header: str) -> str:
    """How a header is compared: case, surrounding spaces, a ``*`` or a note in brackets
    ("Penghasilan (Rp)") do not count, and spaces, hyphens, dots and slashes are all ``_``."""
    text = _BRACKETS.sub(" ", header.replace("\ufeff", "").lower())
    return _SEPARATORS.sub("_", text).strip("_")


_COLUMN_BY_KEY: dict[str, str] = {
    header_key(header): column.name
    for column in COLUMNS
    for header in (column.name, *column.aliases)
}


# -- what a read gives -------------------------------------------------------------------------


class FileRefused(InvalidInput):
    """The whole file cannot be taken (format, size, header); nothing of it is enrolled."""

    def __init__(self, detail: str) -> None:
        super().__init__("file", detail)


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number as Excel shows it, and its cells in the file's column order
    (``headers`` is the sheet's own tuple, shared by every row)."""

    number: int
    values: tuple[Cell, ...]
    headers: tuple[str, ...]

    @property
    def cells(self) -> dict[str, str]:
        """The row as sent, by the header as sent."""
        return {h: cell_text(v) for h, v in zip(self.headers, self.values, strict=False)}


@dataclass
class Sheet:
    format: Literal["csv", "xlsx"]
    #: The header row as sent, in file order.
    headers: tuple[str, ...]
    #: Canonical names of the documented columns found, in file order.
    columns: tuple[str, ...]
    #: Headers that are not documented columns (an error report's row/column/reason, notes).
    ignored_columns: tuple[str, ...]
    rows: list[Row]
    #: Where each documented column is: canonical name → index in ``headers``.
    positions: dict[str, int]
    encoding: str | None = None
    delimiter: str | None = None
    sheet_name: str | None = None

    def header_of(self, column: str) -> str:
        """The header the clerk wrote for a documented column (the name itself if absent)."""
        index = self.positions.get(column)
        return column if index is None else self.headers[index]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str  # a canonical column name, or "" for the row as a whole
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column or 'row'}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RowValues:
    """One row as typed values, ready for ``Worker.enrol`` (which checks the rules)."""

    nik: str
    name: str
    phone: str | None
    occupation: Occupation
    domicile_code: str
    declared_monthly_income: int
    cover_start: Month | None
    priority: int | None
    requested_on: date | None


@dataclass
class ParsedSheet:
    #: Rows without a problem, by row number.
    values: dict[int, RowValues]
    #: Every problem found, in row order.
    errors: list[RowError] = field(default_factory=list)


# -- reading -----------------------------------------------------------------------------------

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"


def read_sheet(
    data: bytes,
    filename: str | None = None,
    *,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
) -> Sheet:
    """The rows of an uploaded CSV or XLSX file, told apart by content (the name is only
    used in messages). Raises ``FileRefused`` naming what is wrong with the file as a whole."""
    what = f"{filename!r}" if filename else "the file"
    if len(data) > max_bytes:
        raise FileRefused(
            f"{what} is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{max_bytes / 1024 / 1024:.0f} MB: split it into several files"
        )
    if not data.strip():
        raise FileRefused(f"{what} is empty")
    if data.startswith(_OLE):
        raise FileRefused(
            f"{what} is XLS (Excel 97-2003), which is not read here: in Excel use "
            "File → Save As to save as XLSX or CSV"
        )
    if data.startswith(_ZIP):
        return _read_xlsx(data, what, max_rows)
    return _read_csv(data, what, max_rows)


def _read_csv(data: bytes, what: str, max_rows: int) -> Sheet:
    if b"\x00" in data[:65536]:
        raise FileRefused(f"{what} is neither CSV text nor XLSX: save it as XLSX or CSV")
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Excel's "CSV" on an Indonesian Windows writes the ANSI code page, Windows-1252.
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise FileRefused(
                f"{what} is not text in UTF-8 or Windows-1252: save it as XLSX or CSV UTF-8"
            ) from None
    delimiter = _delimiter(text)
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        sheet = _collect(enumerate(records, start=1), what, max_rows, "csv")
    except csv.Error as exc:
        raise FileRefused(f"{what} is not a readable CSV ({exc})") from None
    sheet.encoding, sheet.delimiter = encoding, delimiter
    return sheet


def _delimiter(text: str) -> str:
    """``;``, ``,`` or tab: whichever the header line has most of, outside quotes (Excel in
    Indonesia separates with ``;`` because ``,`` is the decimal comma)."""
    counts = {";": 0, ",": 0, "\t": 0}
    quoted = False
    for char in text.lstrip("\r\n"):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def _read_xlsx(data: bytes, what: str, max_rows: int) -> Sheet:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError):
        raise FileRefused(f"{what} looks like XLSX but is damaged: save it again") from None
    if "xl/workbook.bin" in names:
        raise FileRefused(f"{what} is XLSB (Excel binary workbook): save it as XLSX or CSV")
    if "mimetype" in names or "content.xml" in names:
        raise FileRefused(f"{what} is an OpenDocument (ODS) file: save it as XLSX or CSV")
    if "xl/workbook.xml" not in names:
        raise FileRefused(f"{what} is a ZIP file, not an Excel workbook: upload XLSX or CSV")
    import openpyxl  # only XLSX uploads pay for loading it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise FileRefused(f"{what} is not a readable XLSX workbook ({exc})") from None
    try:
        sheets = book.worksheets
        if not sheets:
            raise FileRefused(f"{what} has no sheet")
        sheet = next(
            (s for s in sheets if s.title.strip().lower() == DATA_SHEET.lower()), sheets[0]
        )
        # The dimension a file declares may be missing or wrong (other tools than Excel):
        # read every row there is instead.
        sheet.reset_dimensions()
        # With data_only and no rich text, openpyxl gives values of the ``Cell`` kinds (a
        # duration or a decimal is shown by ``cell_text`` as ``str`` would).
        rows = cast(
            Iterator[tuple[int, Sequence[Cell]]],
            enumerate(sheet.iter_rows(values_only=True), start=1),
        )
        try:
            result = _collect(rows, what, max_rows, "xlsx")
        except FileRefused:
            raise
        except Exception as exc:
            raise FileRefused(f"{what} is not a readable XLSX workbook ({exc})") from None
        result.sheet_name = sheet.title
        return result
    finally:
        book.close()


def _blank(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_record(record: Sequence[Cell]) -> bool:
    # Stops at the first filled cell, usually the first one.
    for value in record:
        if value is not None and (type(value) is not str or value.strip()):
            return False
    return True


def _collect(
    records: Iterator[tuple[int, Sequence[Cell]]],
    what: str,
    max_rows: int,
    kind: Literal["csv", "xlsx"],
) -> Sheet:
    header: tuple[str, ...] | None = None
    for _, record in records:
        if not _blank_record(record):
            header = tuple(cell_text(v).strip() for v in record)
            break
    if header is None:
        raise FileRefused(f"{what} is empty: it has no header row")
    while header and not header[-1]:
        header = header[:-1]
    positions, ignored = _match_columns(header, what)
    width = len(header)
    padding = ("",) * width
    rows: list[Row] = []
    count = 0
    for number, record in records:
        if _blank_record(record):
            continue  # Excel leaves blank rows behind; they keep their numbers
        count += 1
        if count > max_rows:
            continue  # only counted, to say how many there are
        values = tuple(record)
        if len(values) < width:
            values = values + padding[: width - len(values)]
        rows.append(Row(number, values, header))
    if count > max_rows:
        raise FileRefused(
            f"{what} has {count:,} rows; the limit is {max_rows:,} rows per file: "
            "split it into several files"
        )
    if not rows:
        raise FileRefused(f"{what} has a header row but no data rows")
    return Sheet(
        format=kind,
        headers=header,
        columns=tuple(sorted(positions, key=positions.__getitem__)),
        ignored_columns=ignored,
        rows=rows,
        positions=positions,
    )


def _match_columns(header: tuple[str, ...], what: str) -> tuple[dict[str, int], tuple[str, ...]]:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, text in enumerate(header):
        name = _COLUMN_BY_KEY.get(header_key(text))
        if name is None:
            if text:
                ignored.append(text)
        elif name in positions:
            raise FileRefused(
                f"{what} has two columns for {name}: {header[positions[name]]!r} and "
                f"{text!r}; keep one"
            )
        else:
            positions[name] = index
    missing = [c for c in COLUMNS if c.required and c.name not in positions]
    if missing:
        accepted = "; ".join(
            f"{c.name} (accepted headers: {', '.join((c.name, *c.aliases))})" for c in missing
        )
        found = ", ".join(repr(h) for h in header if h) or "nothing"
        raise FileRefused(
            f"{what} lacks the required column(s) {accepted}. The header row read was: {found}"
        )
    return positions, tuple(ignored)


def cell_text(value: Cell) -> str:
    """A cell as text, as Excel would show it: numbers with at most 15 significant digits
    (all Excel keeps), so a 16-digit number shows as ``1.7040141079E+15`` and is still seen
    as a damaged NIK when the text comes back in a CSV."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int | float):
        return format(float(value), ".15G")
    return str(value)


# -- one row -----------------------------------------------------------------------------------

# Text that shows Excel turned a long number into a float: 1.70401E+15, 1,70401E+15 (the
# Indonesian decimal comma), 1704014107900000.0.
_EXCEL_NUMBER = re.compile(r"\d+(?:[.,]\d+)?[eE]\+?\d+|\d{12,}[.,]0+")
_EXCEL_FORMULA_TEXT = re.compile(r'="(.*)"', re.DOTALL)
_NIK_NOISE = re.compile(r"[\s.\-\"']+")
_NIK_DAMAGED = (
    "Excel stored the NIK as a number and keeps only 15 digits, so its last digit is lost; "
    "format the NIK column as Text and type the NIK again"
)


def _text(value: Cell) -> str:
    """A text cell stripped of what spreadsheets add: surrounding spaces, the leading
    apostrophe that forces text, the ``="…"`` wrapper the error report puts on long digits."""
    text = (value if type(value) is str else cell_text(value)).strip()
    if text and text[0] in "'=":
        match = _EXCEL_FORMULA_TEXT.fullmatch(text)
        if match:
            text = match.group(1).strip()
        if text.startswith("'"):
            text = text[1:].lstrip()
    return text


def _is_number(value: Cell) -> TypeGuard[int | float]:
    # Checked on every cell of a CSV too: the type test first keeps that cheap.
    return type(value) is not str and isinstance(value, int | float) and not isinstance(value, bool)


def _nik(value: Cell) -> tuple[str | None, str | None]:
    if _is_number(value):
        return None, _NIK_DAMAGED
    text = _text(value)
    if text.isdigit() and text.isascii():
        return text, None
    if not text:
        return None, "required, but the cell is empty"
    if _EXCEL_NUMBER.fullmatch(text):
        return None, _NIK_DAMAGED
    digits = _NIK_NOISE.sub("", text)
    if not digits.isdigit() or not digits.isascii():
        return None, f"a NIK has digits only, not {text!r}"
    return digits, None


def _occupation_key(text: str) -> str:
    return " ".join(_SEPARATORS.sub(" ", text.lower()).split())


#: The Indonesian names clerks write, beside the English values of ``Occupation``.
_OCCUPATION_NAMES = {
    Occupation.FARMER: "petani",
    Occupation.FARM_LABOURER: "buruh tani|buruh harian lepas tani",
    Occupation.FISHER: "nelayan|nelayan tradisional|buruh nelayan",
    Occupation.MOTORCYCLE_TAXI_RIDER: "tukang ojek|ojek|ojek online|ojol|pengemudi ojek",
    Occupation.PEDICAB_DRIVER: "tukang becak|becak|pengayuh becak|pengemudi becak",
    Occupation.PORTER: "kuli|buruh angkut|kuli angkut|kuli panggul|buruh bongkar muat",
    Occupation.TRADER: "pedagang|pedagang kecil|pedagang kaki lima|pkl|pedagang keliling",
    Occupation.SMALL_BUSINESS: "umkm|usaha mikro|pelaku umkm|pelaku usaha mikro|usaha kecil",
    Occupation.HONORARY_TEACHER: "guru honorer|guru honor",
    Occupation.RELIGIOUS_WORKER: (
        "pekerja keagamaan|marbot|marbot masjid|guru ngaji|imam masjid|penjaga rumah ibadah"
    ),
    Occupation.RT_RW_OFFICER: "ketua rt|ketua rw|ketua rt/rw|rt/rw|rt|rw|pengurus rt/rw",
    Occupation.PLANTATION_WORKER: "pekebun|buruh kebun|petani kebun",
    Occupation.SOCIAL_WORKER: "pekerja sosial|relawan|relawan sosial",
    Occupation.OTHER: "lainnya|lain lain",
}
_OCCUPATIONS: dict[str, Occupation] = {
    _occupation_key(text): occupation
    for occupation, names in _OCCUPATION_NAMES.items()
    for text in (occupation.value, *names.split("|"))
}
_OCCUPATION_HELP = (
    "write one of: petani, buruh tani, nelayan, tukang ojek, tukang becak, kuli, pedagang, "
    "UMKM, guru honorer, pekerja keagamaan, ketua RT/RW, pekebun, pekerja sosial, lainnya "
    "(or its English value: farmer, farm_labourer, fisher, …)"
)


def _occupation(value: Cell) -> tuple[Occupation | None, str | None]:
    return _occupation_of_text(_text(value))


# The columns whose values repeat down a file (occupation, income, months, dates) parse
# each distinct text once: it keeps 100,000 rows within a second or two.
@lru_cache(maxsize=4096)
def _occupation_of_text(text: str) -> tuple[Occupation | None, str | None]:
    if not text:
        return None, "required, but the cell is empty"
    found = _OCCUPATIONS.get(_occupation_key(text))
    if found is None:
        return None, f"unknown occupation {text!r}; {_OCCUPATION_HELP}"
    return found, None


def _domicile(value: Cell) -> tuple[str | None, str | None]:
    if _is_number(value):
        # A village code has three dots, so it is never a number: Excel made it one.
        return None, (
            f"the cell is a number ({cell_text(value)}); write the village code as text "
            "with its dots, like 64.01.01.2001, in a column formatted as Text"
        )
    text = "".join(_text(value).split())
    if not text:
        return None, "required, but the cell is empty"
    return text, None


# Rupiah as clerks write it: 1500000, 1.500.000, 1,500,000, Rp 1.500.000,00, Rp1.500.000,-
_RUPIAH_PREFIX = re.compile(r"^(?:rp\.?|idr)", re.IGNORECASE)
_RUPIAH = re.compile(r"(\d{1,3}(?:([.,])\d{3})(?:\2\d{3})*|\d+)(?:([.,])(\d{1,2}))?")


def _income(value: Cell) -> tuple[int | None, str | None]:
    if _is_number(value):
        number = float(value)
        if number != int(number):
            return None, f"{cell_text(value)} is not whole Rupiah"
        return _non_negative(int(number), cell_text(value))
    return _income_of_text(_text(value))


@lru_cache(maxsize=4096)
def _income_of_text(text: str) -> tuple[int | None, str | None]:
    if not text:
        return DEFAULT_MONTHLY_INCOME, None
    compact = _RUPIAH_PREFIX.sub("", "".join(text.split()))
    compact = compact.removesuffix(",-").removesuffix(".-")
    match = _RUPIAH.fullmatch(compact)
    if match is None or (match.group(3) and match.group(3) == match.group(2)):
        return None, f"{text!r} is not an amount in Rupiah; write it like 1500000 or 1.500.000"
    if match.group(4) and int(match.group(4)):
        return None, f"{text!r} is not whole Rupiah"
    whole = match.group(1)
    return _non_negative(int(whole.replace(".", "").replace(",", "")), text)


def _non_negative(amount: int, text: str) -> tuple[int | None, str | None]:
    if amount < 0:
        return None, f"{text} is negative"
    return amount, None


_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        (
            "januari january jan",
            "februari february pebruari feb peb",
            "maret march mar",
            "april apr",
            "mei may",
            "juni june jun",
            "juli july jul",
            "agustus august agu agt aug",
            "september sep sept",
            "oktober october okt oct",
            "november nopember nov nop",
            "desember december des dec",
        ),
        start=1,
    )
    for name in names.split()
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?")
_DMY_DATE = re.compile(r"(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{4})")
_YEAR_MONTH = re.compile(r"(\d{4})[-/](\d{1,2})")
_MONTH_YEAR = re.compile(r"(\d{1,2})/(\d{4})")
_NAMED_MONTH = re.compile(r"([a-z]+)\.?\s+(\d{4})")


def _date_of_text(text: str) -> date | None:
    iso = _ISO_DATE.fullmatch(text)
    dmy = _DMY_DATE.fullmatch(text)
    try:
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if dmy:
            return date(int(dmy.group(3)), int(dmy.group(2)), int(dmy.group(1)))
    except ValueError:
        return None
    return None


def _requested_on(value: Cell) -> tuple[date | None, str | None]:
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    return _requested_on_of_text(_text(value))


@lru_cache(maxsize=4096)
def _requested_on_of_text(text: str) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    found = _date_of_text(text)
    if found is None:
        return None, f"{text!r} is not a date; write it as YYYY-MM-DD or DD/MM/YYYY"
    return found, None


def _cover_start(value: Cell) -> tuple[Month | None, str | None]:
    if isinstance(value, date):  # datetime too
        return Month(value.year, value.month), None
    return _cover_start_of_text(_text(value))


@lru_cache(maxsize=4096)
def _cover_start_of_text(text: str) -> tuple[Month | None, str | None]:
    if not text:
        return None, None
    day = _date_of_text(text)
    if day is not None:
        return Month.of(day), None
    year_month = _YEAR_MONTH.fullmatch(text)
    month_year = _MONTH_YEAR.fullmatch(text)
    named = _NAMED_MONTH.fullmatch(text.lower())
    try:
        if year_month:
            return Month(int(year_month.group(1)), int(year_month.group(2))), None
        if month_year:
            return Month(int(month_year.group(2)), int(month_year.group(1))), None
        if named and named.group(1) in _MONTH_NAMES:
            return Month(int(named.group(2)), _MONTH_NAMES[named.group(1)]), None
    except ValueError:
        pass
    return None, f"{text!r} is not a month; write it as YYYY-MM, like 2026-07"


def _priority(value: Cell) -> tuple[int | None, str | None]:
    if _is_number(value):
        number = float(value)
        whole = int(number) if number == int(number) else 0
        if whole < 1:
            return None, f"{cell_text(value)} is not a positive whole number (1 = first)"
        return whole, None
    return _priority_of_text(_text(value))


@lru_cache(maxsize=4096)
def _priority_of_text(text: str) -> tuple[int | None, str | None]:
    if not text:
        return None, None
    match = _RUPIAH.fullmatch(text)  # a whole number, maybe written 1.000 or 12.0
    whole = 0
    if match and not (match.group(3) and match.group(3) == match.group(2)):
        if not (match.group(4) and int(match.group(4))):
            whole = int(match.group(1).replace(".", "").replace(",", ""))
    if whole < 1:
        return None, f"{text!r} is not a positive whole number (1 = first)"
    return whole, None


def _name(value: Cell) -> tuple[str | None, str | None]:
    text = " ".join(_text(value).split())
    return (text, None) if text else (None, "required, but the cell is empty")


def _phone(value: Cell) -> tuple[str | None, str | None]:
    if _is_number(value):
        # Excel drops the leading 0 of 0812…; 812… still reads as an Indonesian mobile.
        number = float(value)
        return (str(int(number)) if number == int(number) else cell_text(value)), None
    return _text(value) or None, None


def parse_row(sheet: Sheet, row: Row) -> tuple[RowValues | None, list[RowError]]:
    """The row's typed values, or every problem of the row (not only the first). The rules of
    enrolment (NIK structure, region, age, minimum income) are the domain's, checked later."""
    errors: list[RowError] = []
    values = row.values
    cell = {column: values[index] for column, index in sheet.positions.items()}.get

    def check(column: str, result: tuple[T | None, str | None]) -> T | None:
        value, problem = result
        if problem is not None:
            errors.append(RowError(row.number, column, problem))
        return value

    nik = check("nik", _nik(cell("nik")))
    name = check("name", _name(cell("name")))
    phone = check("phone", _phone(cell("phone")))
    occupation = check("occupation", _occupation(cell("occupation")))
    domicile = check("domicile_code", _domicile(cell("domicile_code")))
    income = check("declared_monthly_income", _income(cell("declared_monthly_income")))
    cover_start = check("cover_start", _cover_start(cell("cover_start")))
    priority = check("priority", _priority(cell("priority")))
    requested_on = check("requested_on", _requested_on(cell("requested_on")))
    extra = [cell_text(v) for v in values[len(sheet.headers) :] if not _blank(v)]
    if extra:
        errors.append(
            RowError(
                row.number,
                "",
                f"{len(extra)} cell(s) beyond the last column ({'; '.join(extra[:3])}): "
                "is a value holding the separator not in quotes?",
            )
        )
    if errors:
        return None, errors
    assert nik and name and occupation and domicile and income is not None
    return (
        RowValues(
            nik=nik,
            name=name,
            phone=phone,
            occupation=occupation,
            domicile_code=domicile,
            declared_monthly_income=income,
            cover_start=cover_start,
            priority=priority,
            requested_on=requested_on,
        ),
        [],
    )


def sheet_niks(sheet: Sheet) -> Iterator[tuple[int, str]]:
    """Each row's number and NIK, for the rows whose NIK cell reads as digits."""
    index = sheet.positions["nik"]
    for row in sheet.rows:
        nik, _ = _nik(row.values[index])
        if nik is not None:
            yield row.number, nik


def duplicate_niks(niks: Iterable[tuple[int, str]]) -> list[RowError]:
    """The rows whose NIK repeats an earlier row of the same file, each naming that first
    row: a worker is listed once. ``niks`` is (row number, NIK) in row order, as
    ``sheet_niks`` gives."""
    first: dict[str, int] = {}
    errors = []
    for number, nik in niks:
        seen = first.setdefault(nik, number)
        if seen != number:
            errors.append(
                RowError(number, "nik", f"the same NIK as row {seen}; list a worker once")
            )
    return errors


def parse_sheet(sheet: Sheet) -> ParsedSheet:
    """Every row parsed, and repeated NIKs found: the rows fit to enrol and all problems."""
    parsed = ParsedSheet(values={})
    niks: list[tuple[int, str]] = []
    nik_index = sheet.positions["nik"]
    for row in sheet.rows:
        values, errors = parse_row(sheet, row)
        if values is not None:
            parsed.values[row.number] = values
            niks.append((row.number, values.nik))
        else:
            parsed.errors.extend(errors)
            nik, _ = _nik(row.values[nik_index])  # a row failing elsewhere still claims its NIK
            if nik is not None:
                niks.append((row.number, nik))
    duplicates = duplicate_niks(niks)
    for error in duplicates:
        parsed.values.pop(error.row, None)
    if duplicates:
        parsed.errors.extend(duplicates)
        parsed.errors.sort(key=lambda e: e.row)  # stable: a row's own order is kept
    return parsed


# -- writing: the error report and the templates ----------------------------------------------

REPORT_COLUMNS = ("row", "column", "reason")
_LONG_DIGITS = re.compile(r"\d{12,}")


def _excel_safe(text: str) -> str:
    """Long digit strings as ``="…"``: Excel opening a CSV would otherwise turn a NIK into a
    15-digit number, and the clerk fixing the report would lose the NIKs. ``read_sheet``
    takes the wrapper off again."""
    return f'="{text}"' if _LONG_DIGITS.fullmatch(text) else text


def _csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 with a BOM and ``;``: what Excel in Indonesia opens as columns, accents intact."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def error_report_csv(sheet: Sheet, errors: Iterable[RowError]) -> bytes:
    """The rows that failed, as sent, after ``row``, ``column`` and ``reason`` (a row's
    several problems joined with `` | ``). The clerk fixes the rows and uploads this same file
    again: ``read_sheet`` ignores the three report columns."""
    by_row: dict[int, list[RowError]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error)
    # A report uploaded again and failing again must not pile up a second set of report columns.
    keep = [i for i, h in enumerate(sheet.headers) if header_key(h) not in REPORT_COLUMNS]
    rows_by_number = {row.number: row for row in sheet.rows if row.number in by_row}
    lines: list[list[str]] = [[*REPORT_COLUMNS, *(sheet.headers[i] for i in keep)]]
    for number in sorted(by_row):
        problems = by_row[number]
        row = rows_by_number.get(number)
        cells = [cell_text(row.values[i]) if row else "" for i in keep]
        lines.append(
            [
                str(number),
                " | ".join(sheet.header_of(e.column) if e.column else "row" for e in problems),
                " | ".join(e.reason for e in problems),
                *(_excel_safe(c) for c in cells),
            ]
        )
    return _csv_bytes(lines)


def template_csv() -> bytes:
    """An empty list to fill in: the headers in order and one example row."""
    return _csv_bytes([list(COLUMN_NAMES), [_excel_safe(c.example) for c in COLUMNS]])


#: Columns Excel must keep as typed: it drops digits of a NIK, the 0 of a phone number, and
#: reads a village code or a month as a number or a date.
_TEXT_COLUMNS = frozenset({"nik", "phone", "domicile_code", "cover_start"})


def template_xlsx() -> bytes:
    """The XLSX template: sheet "Peserta" with the headers and an example row (the NIK,
    phone, village code and month columns formatted as Text), and sheet "Petunjuk" (guide)
    describing each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    data = book.active
    assert data is not None
    data.title = DATA_SHEET
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    data.append(list(COLUMN_NAMES))
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        head = data.cell(row=1, column=index)
        head.font, head.fill = bold, fill
        example: str | int = column.example
        if column.name in ("declared_monthly_income", "priority"):
            example = int(column.example)
        cell = data.cell(row=2, column=index, value=example)
        dimension = data.column_dimensions[letter]
        dimension.width = max(len(column.name), len(column.example)) + 4
        if column.name in _TEXT_COLUMNS:
            cell.number_format = "@"
            # The column's own format is what Excel gives the cells a clerk types or pastes.
            dimension.number_format = "@"
    data.freeze_panes = "A2"
    choices = DataValidation(
        type="list",
        formula1='"petani,buruh tani,nelayan,tukang ojek,tukang becak,kuli,pedagang,UMKM,'
        'guru honorer,pekerja keagamaan,ketua RT/RW,pekebun,pekerja sosial,lainnya"',
        allow_blank=True,
        showErrorMessage=False,  # a suggestion: the English values and synonyms are accepted
    )
    occupation_letter = get_column_letter(COLUMN_NAMES.index("occupation") + 1)
    choices.add(f"{occupation_letter}2:{occupation_letter}{MAX_ROWS + 1}")
    data.add_data_validation(choices)

    guide = book.create_sheet(GUIDE_SHEET)
    guide.append(["Petunjuk pengisian / Guide"])
    guide["A1"].font = Font(bold=True, size=14)
    for note in (
        f"Isi sheet {DATA_SHEET}, satu baris per pekerja, paling banyak {MAX_ROWS:,} baris "
        f"per file. / Fill in sheet {DATA_SHEET}, one row per worker, at most "
        f"{MAX_ROWS:,} rows per file.".replace(",", "."),
        "Kolom NIK dan kode desa harus berformat Teks agar Excel tidak mengubah angkanya. / "
        "Keep the NIK and village-code columns formatted as Text so Excel keeps every digit.",
        "Simpan sebagai XLSX atau CSV (bukan XLS). Urutan kolom bebas; kolom lain diabaikan. "
        "/ Save as XLSX or CSV (not XLS). Columns may be in any order; other columns are "
        "ignored.",
    ):
        guide.append([note])
    guide.append([])
    heading = [
        "Kolom / Column",
        "Wajib / Required",
        "Keterangan / Description",
        "Format",
        "Contoh / Example",
        "Judul lain yang diterima / Accepted headers",
    ]
    guide.append(heading)
    heading_row = guide.max_row
    for index in range(1, len(heading) + 1):
        cell = guide.cell(row=heading_row, column=index)
        cell.font, cell.fill = bold, fill
    for column in COLUMNS:
        guide.append(
            [
                column.name,
                "ya / yes" if column.required else "tidak / no",
                column.description,
                column.format,
                column.example,
                ", ".join(column.aliases),
            ]
        )
        guide.cell(row=guide.max_row, column=5).number_format = "@"
    for letter, width in zip("ABCDEF", (26, 16, 60, 40, 20, 60), strict=True):
        guide.column_dimensions[letter].width = width
    for row in guide.iter_rows(min_row=heading_row + 1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
