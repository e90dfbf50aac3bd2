"""Rupiah as a person reads it: ``Rp16.212.268.800`` and the amount in words, the way an
Indonesian treasury officer writes them (lokal-id's ``format_rupiah`` and ``terbilang``)."""

from __future__ import annotations

import lokal


def rupiah(amount: int) -> str:
    """``16212268800`` → ``"Rp16.212.268.800"`` (dots between thousands, no sen)."""
    return str(lokal.format_rupiah(amount))


def in_words(amount: int) -> str:
    """``16800`` → ``"Enam belas ribu delapan ratus rupiah"``."""
    return str(lokal.terbilang(amount, currency=True, case="sentence"))
