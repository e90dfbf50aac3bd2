"""Which region level a dashboard asks about, how the counts break down below it, and what
each fact adds to the counters of its regions."""

from __future__ import annotations

import pytest

from bpu_reporting.domain import (
    COUNTRY,
    RegionView,
    breakdown,
    claim_contributions,
    counter_id,
    region_view,
    worker_contributions,
)
from bpu_shared.errors import InvalidInput
from bpu_shared.http import status_of

BENGKULU_REGENCIES = [
    ("17.01", "Kabupaten Bengkulu Selatan"),
    ("17.02", "Kabupaten Rejang Lebong"),
    ("17.03", "Kabupaten Bengkulu Utara"),
    ("17.04", "Kabupaten Kaur"),
    ("17.05", "Kabupaten Seluma"),
    ("17.06", "Kabupaten Mukomuko"),
    ("17.07", "Kabupaten Lebong"),
    ("17.08", "Kabupaten Kepahiang"),
    ("17.09", "Kabupaten Bengkulu Tengah"),
    ("17.71", "Kota Bengkulu"),
]


@pytest.mark.parametrize(
    ("code", "name", "level", "match", "by", "by_level", "children"),
    [
        ("", "Indonesia", 0, None, "province_code", "province", 38),
        ("17", "Bengkulu", 1, "province_code", "regency_code", "regency", 10),
        ("17.04", "Kabupaten Kaur, Bengkulu", 2, "regency_code", "district_code", "district", 15),
        (
            "17.04.01",
            "Kinal, Kabupaten Kaur, Bengkulu",
            3,
            "district_code",
            "village_code",
            "village",
            14,
        ),
        (
            "17.04.01.2001",
            "Gedung Wani, Kinal, Kabupaten Kaur, Bengkulu",
            4,
            "village_code",
            None,
            None,
            0,
        ),
    ],
)
def test_region_view_levels(
    code: str,
    name: str,
    level: int,
    match: str | None,
    by: str | None,
    by_level: str | None,
    children: int,
) -> None:
    view = region_view(code)
    assert view == RegionView(code, name, level)
    assert view.match_field == match
    assert view.breakdown_field == by
    assert view.breakdown_level == by_level
    assert len(view.children()) == children


def test_none_is_the_whole_country() -> None:
    assert region_view(None) == RegionView("", "Indonesia", 0)


def test_bengkulu_has_its_10_regencies_and_cities() -> None:
    assert sorted(region_view("17").children().items()) == BENGKULU_REGENCIES


def test_kaur_has_15_districts() -> None:
    children = region_view("17.04").children()
    assert sorted(children) == [f"17.04.{n:02d}" for n in range(1, 16)]
    assert children["17.04.01"] == "Kinal"
    assert children["17.04.15"] == "Padang Guci Hulu"


def test_the_country_breaks_down_into_provinces() -> None:
    children = region_view("").children()
    assert children["17"] == "Bengkulu"
    assert children["64"] == "Kalimantan Timur"
    assert all("." not in code for code in children)


@pytest.mark.parametrize("code", ["17.99", "99", "17.04.99", "17.04.01.2999", "17.4"])
def test_an_unknown_code_is_invalid_input_on_region(code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        region_view(code)
    assert exc.value.field == "region"
    assert exc.value.detail == f"region code {code!r} is not in the Kemendagri region list"
    assert status_of(exc.value) == 422


def test_breakdown_lists_every_child_with_zeros() -> None:
    rows = breakdown(region_view("17"), {"17.04": 7_130, "17.08": 1_984})
    assert rows == [
        (code, name, {"17.04": 7_130, "17.08": 1_984}.get(code, 0))
        for code, name in BENGKULU_REGENCIES
    ]
    assert rows[3] == ("17.04", "Kabupaten Kaur", 7_130)
    assert rows[0] == ("17.01", "Kabupaten Bengkulu Selatan", 0)


def test_breakdown_with_no_counts_is_all_zeros() -> None:
    rows = breakdown(region_view("17.04"), {})
    assert len(rows) == 15
    assert [n for _, _, n in rows] == [0] * 15
    assert [code for code, _, _ in rows] == [f"17.04.{n:02d}" for n in range(1, 16)]


def test_breakdown_appends_codes_not_in_the_region_list() -> None:
    rows = breakdown(region_view("17"), {"17.72": 3, "17.04": 5, "17.10": 2})
    assert len(rows) == 12
    assert rows[:10] == [
        (code, name, 5 if code == "17.04" else 0) for code, name in BENGKULU_REGENCIES
    ]
    assert rows[10:] == [
        ("17.10", "(not in the region list)", 2),
        ("17.72", "(not in the region list)", 3),
    ]


def test_a_village_has_no_children_so_every_count_is_unlisted() -> None:
    village = region_view("17.04.01.2001")
    assert breakdown(village, {}) == []
    assert breakdown(village, {"17.04.01.2001": 4}) == [
        ("17.04.01.2001", "(not in the region list)", 4)
    ]


# -- the counters each fact adds to --------------------------------------------------------------


def test_a_worker_counts_once_in_each_level_up_to_the_country_each_with_its_parent() -> None:
    # The village first, the country last: the tally writes counters in this order, parts
    # before their whole.
    fact = {"village_code": "17.04.01.2001", "district_code": "17.04.01", "regency_code": "17.04"}
    assert worker_contributions(fact) == [
        ("17.04.01.2001", {"workers": 1}, {"parent": "17.04.01", "level": 4}),
        ("17.04.01", {"workers": 1}, {"parent": "17.04", "level": 3}),
        ("17.04", {"workers": 1}, {"parent": "17", "level": 2}),
        ("17", {"workers": 1}, {"parent": "ID", "level": 1}),
        ("ID", {"workers": 1}, {"parent": None, "level": 0}),
    ]


@pytest.mark.parametrize(
    ("code", "level"), [("", 0), ("17", 1), ("17.04", 2), ("17.04.01", 3), ("17.04.01.2001", 4)]
)
def test_each_counter_is_the_level_a_region_view_reads(code: str, level: int) -> None:
    # The dashboard reads the counter of its region and the counters whose parent that is, so
    # a counter's id and level must be what region_view gives for the same code.
    view = region_view(code)
    counters = {
        cid: fields for cid, _, fields in worker_contributions({"village_code": "17.04.01.2001"})
    }
    assert counters[counter_id(view.code)]["level"] == view.level == level
    children = {
        cid for cid, fields in counters.items() if fields["parent"] == counter_id(view.code)
    }
    assert children <= set(view.children())


def test_a_worker_in_paser_counts_in_paser_not_in_bengkulu() -> None:
    ids = [cid for cid, _, _ in worker_contributions({"village_code": "64.01.01.2009"})]
    assert ids == ["64.01.01.2009", "64.01.01", "64.01", "64", COUNTRY]


def test_a_paid_claim_adds_its_amount_down_to_the_district() -> None:
    fact = {"district_code": "17.04.01", "regency_code": "17.04", "amount_rupiah": 42_000_000}
    added = {"claims_paid": 1, "benefits_paid_rupiah": 42_000_000}
    assert claim_contributions(fact) == [
        ("17.04.01", added, {"parent": "17.04", "level": 3}),
        ("17.04", added, {"parent": "17", "level": 2}),
        ("17", added, {"parent": "ID", "level": 1}),
        ("ID", added, {"parent": None, "level": 0}),
    ]


def test_a_paid_claim_adds_to_its_programmes_counters_too() -> None:
    jkm = {"district_code": "17.04.01", "benefit": "JKM", "amount_rupiah": 42_000_000}
    added = {
        "claims_paid": 1,
        "benefits_paid_rupiah": 42_000_000,
        "claims_paid_jkm": 1,
        "benefits_paid_jkm_rupiah": 42_000_000,
    }
    assert claim_contributions(jkm) == [
        ("17.04.01", added, {"parent": "17.04", "level": 3}),
        ("17.04", added, {"parent": "17", "level": 2}),
        ("17", added, {"parent": "ID", "level": 1}),
        ("ID", added, {"parent": None, "level": 0}),
    ]
    jkk = {**jkm, "benefit": "JKK", "amount_rupiah": 70_000_000}
    assert claim_contributions(jkk)[0][1] == {
        "claims_paid": 1,
        "benefits_paid_rupiah": 70_000_000,
        "claims_paid_jkk": 1,
        "benefits_paid_jkk_rupiah": 70_000_000,
    }
    instalment = {**jkm, "amount_rupiah": 1_500_000, "instalment": 2}
    assert claim_contributions(instalment)[-1][1] == {
        "claims_paid": 0,
        "benefits_paid_rupiah": 1_500_000,
        "claims_paid_jkm": 0,
        "benefits_paid_jkm_rupiah": 1_500_000,
    }


def test_a_scholarship_instalment_adds_its_amount_but_not_another_claim() -> None:
    fact = {"district_code": "17.04.01", "amount_rupiah": 1_500_000, "instalment": 1}
    assert claim_contributions(fact)[0] == (
        "17.04.01",
        {"claims_paid": 0, "benefits_paid_rupiah": 1_500_000},
        {"parent": "17.04", "level": 3},
    )
    benefits = claim_contributions({**fact, "instalment": None, "amount_rupiah": 42_000_000})
    assert benefits[0][1] == {"claims_paid": 1, "benefits_paid_rupiah": 42_000_000}


def test_the_country_counter_has_its_own_id() -> None:
    assert counter_id("") == COUNTRY == "ID"
    assert counter_id("17.04") == "17.04"
