"""The monitoring table as a file and as paper: CSV (one row per regency, then the totals) and a
print-ready A4 page in Indonesian for the province's monitoring meeting. Pure."""

from __future__ import annotations

import csv
import io
from html import escape

import lokal

from bpu_reporting.handlers.monitoring import COLUMNS, Monitoring, MonitoringRow
from bpu_shared.calendar import indonesian_date, indonesian_month
from bpu_shared.clock import JAKARTA


def csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def monitoring_csv(m: Monitoring) -> str:
    """A header of the JSON rows' field names, a row per regency, and the totals row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in [*m.rows, m.totals]:
        writer.writerow([csv_value(getattr(row, c)) for c in COLUMNS])
    return out.getvalue()


def angka(n: int | None) -> str:
    """``80418`` → ``80.418`` (Indonesian grouping); empty for none."""
    return "" if n is None else f"{n:,}".replace(",", ".")


def persen(p: float | None) -> str:
    return "" if p is None else f"{p:.1f}%".replace(".", ",")


def rp(amount: int) -> str:
    return str(lokal.format_rupiah(amount))


HEAD = (
    "Kode",
    "Kabupaten/Kota",
    "Menganggarkan",
    "Anggaran",
    "Program",
    "Peserta terlindungi",
    "Target",
    "% target",
    "Kurang dari target",
    "Pekerja rentan",
    "% pekerja rentan",
    "Iuran ditagih",
    "Iuran dibayar",
    "Manfaat dibayar",
    "Daftar tunggu",
)


def _cells(r: MonitoringRow) -> tuple[str, ...]:
    return (
        r.region,
        r.name,
        "Ya" if r.budgeted else "Tidak",
        rp(r.budget_rupiah),
        angka(r.programmes),
        angka(r.covered),
        angka(r.target_workers),
        persen(r.covered_pct_of_target),
        angka(r.to_target),
        angka(r.workforce),
        persen(r.covered_pct_of_workforce),
        rp(r.contributions_invoiced_rupiah),
        rp(r.contributions_paid_rupiah),
        rp(r.benefits_paid_rupiah),
        angka(r.waiting),
    )


def kalimat(r: MonitoringRow) -> str:
    """The row against its target and its workforce, in Indonesian ("Kepahiang: kurang 1.942
    peserta lagi untuk mencapai target 1.984"); empty without a target."""
    if r.target_workers is None or r.to_target is None:
        return ""
    name = r.name.removeprefix("Jumlah ").removeprefix("Kabupaten ")
    if r.to_target:
        line = (
            f"{name}: kurang {angka(r.to_target)} peserta lagi untuk mencapai target "
            f"{angka(r.target_workers)}"
        )
    else:
        line = f"{name}: target {angka(r.target_workers)} peserta telah tercapai"
    if r.workforce:
        rest = max(r.workforce - r.covered, 0)
        line += (
            f"; kurang {angka(rest)} lagi untuk melindungi seluruh {angka(r.workforce)} "
            "pekerja rentan (100%)"
            if rest
            else "; seluruh pekerja rentan telah terlindungi"
        )
    return line


def _tr(cells: tuple[str, ...], tag: str = "td", cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>"


def monitoring_html(m: Monitoring) -> str:
    """The A4 (landscape) page, in Indonesian: a row per regency and the totals."""
    when = (
        f"Periode <b>{indonesian_month(m.period)}</b>"
        if m.period
        else f"Tahun anggaran <b>{m.year}</b>"
    )
    covered = (
        f"peserta yang iurannya dibayar untuk {indonesian_month(m.period)}"
        if m.period
        else "peserta terdaftar (seluruhnya)"
    )
    money = f"bulan {indonesian_month(m.period)}" if m.period else f"tahun {m.year}"
    rows = "\n".join(_tr(_cells(r)) for r in m.rows)
    as_of = (
        f" Data sampai dengan {escape(indonesian_date(m.as_of.astimezone(JAKARTA).date()))} "
        f"pukul {m.as_of.astimezone(JAKARTA):%H.%M} WIB."
        if m.as_of
        else ""
    )
    notes = "".join(f"<li>{escape(line)}</li>" for r in [*m.rows, m.totals] if (line := kalimat(r)))
    return f"""<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8">
<title>Monitoring perlindungan pekerja rentan {escape(m.province_name)} {m.year}</title>
<style>
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font-family: sans-serif; font-size: 8.5pt; }}
h1 {{ font-size: 13pt; margin: 0 0 2mm; }}
table {{ border-collapse: collapse; width: 100%; margin: 3mm 0; }}
th, td {{ border: 1px solid #444; padding: 1.5px 3px; }}
th {{ background: #eee; }}
td:nth-child(n+3) {{ text-align: right; }}
tr.total td {{ font-weight: bold; border-top: 2px solid #000; }}
tr {{ page-break-inside: avoid; }}
</style></head><body>
<h1>Monitoring Perlindungan Jaminan Sosial Ketenagakerjaan Pekerja Rentan</h1>
<p>Provinsi <b>{escape(m.province_name)}</b> ({escape(m.province)}) &middot; {when}<br>
Peserta terlindungi: {escape(covered)}. Iuran dan manfaat: {escape(money)}.
Anggaran: program tahun {m.year}. Daftar tunggu: saat ini.</p>
<table>
<thead>{_tr(HEAD, "th")}</thead>
<tbody>
{rows}
{_tr(_cells(m.totals), cls="total")}
</tbody></table>
{f"<p><b>Terhadap target</b></p><ul>{notes}</ul>" if notes else ""}
<p>Dicetak {escape(indonesian_date(m.generated_at.date()))}.{as_of}</p>
</body></html>
"""
