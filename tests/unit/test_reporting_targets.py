"""Targets and the workforce, and the monitoring table, with fakes: a target from a share of
the workforce, from people, or both (Bengkulu's 70% = 80,418 people); a targets file whose bad
rows are named by row and column and lose none of the good ones; the target block ("31,000
more and Paser reaches 100%"); the monitoring rows, totals, CSV and print page from a fake
repository's counters, programmes and targets, and what a sponsor key sees of them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_reporting.handlers import COMMAND_HANDLERS
from bpu_reporting.handlers.monitoring import COLUMNS, GetMonitoring, monitoring
from bpu_reporting.handlers.targets import GetTargets, SetTarget, UploadTargets
from bpu_reporting.monitoring_page import monitoring_csv, monitoring_html
from bpu_reporting.targets import make_target, parse_targets_csv, target_figures
from bpu_shared.auth import Principal, Role
from bpu_shared.clock import FixedClock
from bpu_shared.errors import Forbidden, InvalidInput
from bpu_shared.month import Month
from tests.reporting_events import KAUR_MONTH

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 3, 20, 3, tzinfo=UTC)
OPERATOR = Principal("op", Role.OPERATOR)
DASHBOARD = Principal("dash", Role.DASHBOARD)
KAUR_KEY = Principal("kaur", Role.SPONSOR, "17.04")


def target(region: str = "17", **given: Any) -> Any:
    return make_target(
        region,
        given.pop("year", 2026),
        workforce=given.get("workforce"),
        target_percent=given.get("target_percent"),
        target_workers=given.get("target_workers"),
        source="test",
        set_by="op",
        set_at=WHEN,
    )


# -- a target from what a person gives --------------------------------------------------------


def test_a_share_of_the_workforce_people_alone_or_people_and_their_share():
    share = target(workforce=114_883, target_percent=70)
    assert (share.target_workers, share.target_percent) == (80_418, 70)
    people = target("17.04", target_workers=7_130)
    assert (people.workforce, people.target_percent) == (None, None)
    # Bengkulu's 70% = 80,418 people: the workforce they are 70% of.
    bengkulu = target(target_workers=80_418, target_percent=70.0)
    assert bengkulu.workforce == 114_883
    both = target(workforce=114_883, target_workers=80_418)
    assert both.target_percent == 70.0
    assert target(workforce=114_883, target_percent=70, target_workers=80_418).workforce == 114_883
    assert share.doc()["set_at"] == WHEN.isoformat()


@pytest.mark.parametrize(
    ("region", "given", "field"),
    [
        ("99.99", {"target_workers": 10}, "region"),
        ("17", {"target_workers": 10, "year": 2014}, "year"),
        ("17", {"workforce": 100, "target_percent": 101}, "target_percent"),
        ("17", {"workforce": 100, "target_percent": 0}, "target_percent"),
        ("17", {"workforce": 0, "target_percent": 50}, "workforce"),
        ("17", {"target_percent": 70}, "workforce"),
        ("17", {"workforce": 100}, "target_percent"),
        ("17", {"workforce": 100, "target_workers": 101}, "target_workers"),
        (
            "17",
            {"workforce": 114_883, "target_percent": 70, "target_workers": 70_000},
            "target_workers",
        ),
    ],
)
def test_a_target_that_cannot_be_names_the_field(region, given, field):
    with pytest.raises(InvalidInput) as refused:
        target(region, **given)
    assert refused.value.field == field


# -- a targets file ---------------------------------------------------------------------------


def test_the_sample_file_holds_bengkulu_and_kaur_as_domain_gives_them():
    text = (ROOT / "deploy/targets/bengkulu-2026.csv").read_text()
    saved, errors = parse_targets_csv(text, set_by="file:bengkulu-2026.csv", set_at=WHEN)
    assert errors == []
    by_region = {t.region: t for t in saved}
    assert sorted(by_region) == ["17", "17.04"]
    assert (by_region["17"].target_workers, by_region["17"].target_percent) == (80_418, 70.0)
    assert by_region["17"].workforce == 114_883
    assert by_region["17.04"].target_workers == 7_130
    assert all("DOMAIN.md" in t.source for t in saved)


def test_bad_rows_are_named_by_row_and_column_and_the_good_ones_are_kept():
    text = (
        "\ufeffregion,year,workforce,target_percent,target_workers,source\n"
        "17,2026,114.883,70,,grouped with a dot\n"  # row 2: fine
        "17.04,2026,,,7130,Kaur\n"  # row 3: fine
        "17.99,2026,,,10,no such regency\n"  # row 4
        "17.08,20x6,,,10,bad year\n"  # row 5
        "\n"
        '17.08,2026,"3,000","66,5",,decimal comma\n'  # row 7: fine
        "17.05,2026,1000,,2000,more than the workforce\n"  # row 8
        "17.04,2026,,,7200,Kaur again\n"  # row 9 wins over row 3
    )
    saved, errors = parse_targets_csv(text, set_by="op", set_at=WHEN)
    assert [(t.region, t.target_workers) for t in saved] == [
        ("17", 80_418),
        ("17.04", 7_200),
        ("17.08", 1_995),
    ]
    assert [(e.row, e.column) for e in errors] == [
        (4, "region"),
        (5, "year"),
        (8, "target_workers"),
        (3, "region"),
    ]
    assert str(errors[1]) == "row 5: year: '20x6' is not a whole number"
    assert "again on row 9" in errors[3].message


def test_a_file_without_region_and_year_columns_is_refused_whole():
    with pytest.raises(InvalidInput) as refused:
        parse_targets_csv("kode,tahun\n17,2026\n", set_by="op", set_at=WHEN)
    assert refused.value.field == "file"
    assert "region, year" in refused.value.detail


# -- the target block -------------------------------------------------------------------------


def test_paser_needs_31_thousand_more_to_reach_100_percent():
    paser = target("64.01", workforce=63_268, target_percent=70).doc()
    block = target_figures(paser, 32_268)
    assert block is not None
    assert (block.target_workers, block.to_target, block.to_workforce) == (44_288, 12_020, 31_000)
    assert (block.covered_pct_of_target, block.covered_pct_of_workforce) == (72.9, 51.0)
    assert block.sentence == (
        "12,020 more and Paser reaches its target of 44,288 (70% of its workforce); "
        "31,000 more and it reaches 100%"
    )


def test_a_target_reached_a_workforce_covered_and_no_target():
    kaur = target("17.04", target_workers=7_130).doc()
    reached = target_figures(kaur, 7_200)
    assert reached is not None
    assert (reached.to_target, reached.to_workforce, reached.covered_pct_of_workforce) == (
        0,
        None,
        None,
    )
    assert reached.sentence == "Kaur has reached its target of 7,130"
    whole = target_figures(target("17.04", workforce=8_000, target_workers=7_130).doc(), 9_000)
    assert whole is not None
    assert (whole.to_target, whole.to_workforce) == (0, 0)
    assert whole.sentence.endswith("Kaur covers its whole workforce of 8,000")
    assert target_figures(None, 5) is None


# -- the handlers with a fake repository ------------------------------------------------------


class FakeReporting:
    """Counters of Bengkulu (all time, and March and April 2026), its programmes and
    targets, answered as the store answers them."""

    def __init__(self) -> None:
        self.counters: dict[str | None, tuple[dict[str, int], dict[str, dict[str, int]]]] = {
            None: (
                {"workers": 7_172, "waitlisted": 12, "waiting_left": 2},
                {
                    "17.04": {"workers": 7_130, "waitlisted": 10, "waiting_left": 2},
                    "17.08": {"workers": 42, "waitlisted": 2},
                },
            ),
            "2026-03": (
                {
                    "workers_covered": 7_172,
                    "contributions_invoiced_rupiah": KAUR_MONTH + 705_600,
                    "contributions_paid_rupiah": KAUR_MONTH + 705_600,
                    "benefits_paid_rupiah": 43_500_000,
                },
                {
                    "17.04": {
                        "workers_covered": 7_130,
                        "contributions_invoiced_rupiah": KAUR_MONTH,
                        "contributions_paid_rupiah": KAUR_MONTH,
                        "benefits_paid_rupiah": 43_500_000,
                    },
                    "17.08": {
                        "workers_covered": 42,
                        "contributions_invoiced_rupiah": 705_600,
                        "contributions_paid_rupiah": 705_600,
                    },
                },
            ),
            "2026-04": (
                {"contributions_invoiced_rupiah": 705_600},
                {"17.08": {"contributions_invoiced_rupiah": 705_600}},
            ),
        }
        self.programme_docs = [
            {
                "programme_id": "PG-K",
                "region_code": "17.04",
                "budget_rupiah": 1_437_408_000,
                "name": "Kaur 2026",
                "budget_year": 2026,
            },
            {
                "programme_id": "PG-P",
                "region_code": "17",
                "budget_rupiah": 2_000_000_000,
                "name": "Provinsi 2026",
                "budget_year": 2026,
            },
        ]
        self.saved: list[dict[str, Any]] = []
        self.target_docs = {
            "17": target(workforce=114_883, target_percent=70).doc(),
            "17.04": target("17.04", target_workers=7_130).doc(),
        }

    async def figures(self, code: str, period: str | None = None):
        assert code == "17"
        own, children = self.counters.get(period, ({}, {}))
        return dict(own), {c: dict(f) for c, f in children.items()}

    async def figures_many(self, codes, period=None, slice=None, months=None):
        """Keyed ``code|YYYY-MM``, as the store answers ``months``; zeros where nothing
        counted."""
        assert period is None and slice is None and months is not None
        out = {}
        for month in months:
            own, children = self.counters.get(month, ({}, {}))
            for code in codes:
                out[f"{code}|{month}"] = dict(own if code == "17" else children.get(code, {}))
        return out

    async def last_applied(self):
        return {"t": {"event_id": "e", "occurred_at": WHEN, "applied_at": WHEN}}

    async def programmes(self, sponsor_id=None, region_prefix=None, year=None):
        assert (region_prefix, year) == ("17", 2026)
        return list(self.programme_docs)

    async def targets(self, codes, year):
        return {c: self.target_docs[c] for c in codes if c in self.target_docs and year == 2026}

    async def targets_within(self, region_prefix, year):
        return [t for t in self.target_docs.values() if t["region"].startswith(region_prefix or "")]

    async def save_targets(self, docs):
        self.saved.extend(docs)
        return len(docs)


def deps() -> Any:
    return SimpleNamespace(repository=FakeReporting(), clock=FixedClock(WHEN), settings=None)


async def test_a_month_one_row_per_regency_and_the_provinces_totals():
    found = await monitoring(GetMonitoring("17", 2026, Month(2026, 3)), DASHBOARD, deps())
    assert [r.region for r in found.rows] == [f"17.0{i}" for i in range(1, 10)] + ["17.71"]
    rows = {r.region: r for r in found.rows}
    kaur = rows["17.04"]
    assert (kaur.name, kaur.budgeted, kaur.budget_rupiah, kaur.programmes) == (
        "Kabupaten Kaur",
        True,
        1_437_408_000,
        1,
    )
    assert (kaur.covered, kaur.target_workers, kaur.covered_pct_of_target, kaur.to_target) == (
        7_130,
        7_130,
        100.0,
        0,
    )
    assert (kaur.contributions_invoiced_rupiah, kaur.contributions_paid_rupiah) == (
        KAUR_MONTH,
        KAUR_MONTH,
    )
    assert (kaur.benefits_paid_rupiah, kaur.waiting) == (43_500_000, 8)
    seluma = rows["17.05"]
    assert (seluma.budgeted, seluma.covered, seluma.target_workers) == (False, 0, None)
    totals = found.totals
    assert (totals.region, totals.name) == ("17", "Jumlah Bengkulu")
    assert totals.budget_rupiah == 1_437_408_000 + 2_000_000_000  # the province's own too
    assert (totals.covered, totals.target_workers, totals.to_target) == (7_172, 80_418, 73_246)
    assert totals.waiting == 10
    assert totals.contributions_invoiced_rupiah == sum(
        r.contributions_invoiced_rupiah for r in found.rows
    )
    assert found.programme_names == {"17.04": ["Kaur 2026"]}
    assert found.as_of == WHEN


async def test_a_year_counts_registered_workers_and_the_years_money():
    found = await monitoring(GetMonitoring("17", 2026), DASHBOARD, deps())
    rows = {r.region: r for r in found.rows}
    assert rows["17.04"].covered == 7_130  # enrolled now (none ended)
    assert rows["17.08"].contributions_invoiced_rupiah == 2 * 705_600  # March and April
    assert found.totals.contributions_paid_rupiah == KAUR_MONTH + 705_600
    assert found.covered_means == "workers enrolled now (registered less ended)"


async def test_a_sponsor_key_sees_its_regency_and_totals_of_it_only():
    found = await monitoring(GetMonitoring(None, 2026), KAUR_KEY, deps())
    assert [r.region for r in found.rows] == ["17.04"]
    assert found.totals.budget_rupiah == 1_437_408_000  # not the province's programme
    assert found.totals.target_workers is None
    assert found.totals.covered == 7_130
    elsewhere = Principal("paser", Role.SPONSOR, "64.01")
    with pytest.raises(Forbidden):
        await monitoring(GetMonitoring("17", 2026), elsewhere, deps())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (GetMonitoring("17.04", 2026), "province"),
        (GetMonitoring(None, 2026), "province"),
        (GetMonitoring("17", 2026, Month(2025, 3)), "period"),
        (GetMonitoring("99", 2026), "province"),
    ],
)
async def test_a_question_monitoring_cannot_answer_names_the_field(query, field):
    with pytest.raises(InvalidInput) as refused:
        await monitoring(query, DASHBOARD, deps())
    assert refused.value.field == field


async def test_the_csv_rows_are_the_json_rows_and_the_page_is_in_indonesian():
    found = await monitoring(GetMonitoring("17", 2026, Month(2026, 3)), DASHBOARD, deps())
    rows = list(csv.DictReader(io.StringIO(monitoring_csv(found))))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 11  # ten regencies and the totals
    kaur = rows[3]
    assert (kaur["region"], kaur["budgeted"], kaur["covered"], kaur["target_workers"]) == (
        "17.04",
        "true",
        "7130",
        "7130",
    )
    assert rows[4]["target_workers"] == ""
    assert rows[-1]["name"] == "Jumlah Bengkulu"
    page = monitoring_html(found)
    for text in (
        "Monitoring Perlindungan",
        "Provinsi <b>Bengkulu</b>",
        "Periode <b>Maret 2026</b>",
        "Kabupaten Kaur",
        "Rp119.784.000",
        "Rp1.437.408.000",
        "7.130",
        "100,0%",
        "size: A4 landscape",
        'class="total"',
        "Dicetak 20 Maret 2026. Data sampai dengan 20 Maret 2026 pukul 10.00 WIB.",
        "<li>Kaur: target 7.130 peserta telah tercapai</li>",
        "<li>Bengkulu: kurang 73.246 peserta lagi untuk mencapai target 80.418; kurang 107.711 "
        "lagi untuk melindungi seluruh 114.883 pekerja rentan (100%)</li>",
    ):
        assert text in page, text


async def test_targets_are_set_by_an_operator_and_read_in_a_sponsors_region():
    d = deps()
    handlers = COMMAND_HANDLERS
    put = SetTarget("17.08", 2026, 3_000, 66.5, None, "Kepahiang")
    saved = await handlers[SetTarget](put, OPERATOR, d)
    assert (saved.target_workers, saved.set_by) == (1_995, "op")
    assert d.repository.saved == [saved.doc()]
    with pytest.raises(Forbidden):
        await handlers[SetTarget](put, DASHBOARD, d)
    loaded = await handlers[UploadTargets](
        UploadTargets("region,year,target_workers\n17.04,2026,7130\n17.99,2026,5\n"), OPERATOR, d
    )
    assert (len(loaded.saved), [str(e) for e in loaded.errors]) == (
        1,
        ["row 3: region: region code '17.99' is not in the Kemendagri region list"],
    )
    assert loaded.summary() == "1 targets saved, 1 rows refused"
    mine = await handlers[GetTargets](GetTargets(None, 2026), KAUR_KEY, d)
    assert [t.region for t in mine] == ["17.04"]
    with pytest.raises(Forbidden):
        await handlers[GetTargets](GetTargets("17", None), KAUR_KEY, d)
