"""Which region level a dashboard asks about, how the counts break down below it, and what
each fact adds to the counters of its regions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bpu_reporting.domain import (
    COUNTRY,
    RegionView,
    breakdown,
    claim_contributions,
    claim_step_contributions,
    counter_id,
    counter_key,
    enrolment_end_contributions,
    invoice_contributions,
    lapse_contributions,
    month_counter_id,
    month_of,
    payment_contributions,
    region_view,
    waiting_left_contributions,
    waitlisted_contributions,
    worker_contributions,
)
from bpu_reporting.handlers.coverage import coverage_figures, in_arrears
from bpu_shared.errors import InvalidInput
from bpu_shared.http import status_of
from bpu_shared.month import Month

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
        (
            "17.04.01.2001",
            {"workers": 1},
            {"region": "17.04.01.2001", "parent": "17.04.01", "level": 4},
        ),
        ("17.04.01", {"workers": 1}, {"region": "17.04.01", "parent": "17.04", "level": 3}),
        ("17.04", {"workers": 1}, {"region": "17.04", "parent": "17", "level": 2}),
        ("17", {"workers": 1}, {"region": "17", "parent": "ID", "level": 1}),
        ("ID", {"workers": 1}, {"region": "", "parent": None, "level": 0}),
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


#: A claim paid on the evening of 31 January in UTC: 1 February in Jakarta.
PAID_AT = "2026-01-31T18:30:00+00:00"


def all_time(contributions: list) -> list:
    """The all-time counters of a fact's contributions (the month counters hold a ``|``)."""
    return [c for c in contributions if "|" not in c[0]]


def test_a_paid_claim_adds_its_amount_down_to_the_district_all_time_and_in_its_month() -> None:
    fact = {
        "district_code": "17.04.01",
        "regency_code": "17.04",
        "amount_rupiah": 42_000_000,
        "kind": "death",
        "paid_at": PAID_AT,
    }
    added = {
        "claims_paid": 1,
        "benefits_paid_rupiah": 42_000_000,
        "benefits_paid_kind_death_rupiah": 42_000_000,
    }
    assert claim_contributions(fact) == [
        ("17.04.01", added, {"region": "17.04.01", "parent": "17.04", "level": 3}),
        (
            "17.04.01|2026-02",
            added,
            {"parent": "17.04|2026-02", "level": 3, "region": "17.04.01", "period": "2026-02"},
        ),
        ("17.04", added, {"region": "17.04", "parent": "17", "level": 2}),
        (
            "17.04|2026-02",
            added,
            {"parent": "17|2026-02", "level": 2, "region": "17.04", "period": "2026-02"},
        ),
        ("17", added, {"region": "17", "parent": "ID", "level": 1}),
        (
            "17|2026-02",
            added,
            {"parent": "ID|2026-02", "level": 1, "region": "17", "period": "2026-02"},
        ),
        ("ID", added, {"region": "", "parent": None, "level": 0}),
        ("ID|2026-02", added, {"parent": None, "level": 0, "region": "", "period": "2026-02"}),
    ]


def test_a_paid_claim_adds_to_its_programmes_and_kinds_counters_too() -> None:
    jkm = {
        "district_code": "17.04.01",
        "benefit": "JKM",
        "amount_rupiah": 42_000_000,
        "kind": "death",
        "amount_by_kind": {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000},
        "month": "2026-03",
    }
    added = {
        "claims_paid": 1,
        "benefits_paid_rupiah": 42_000_000,
        "claims_paid_jkm": 1,
        "benefits_paid_jkm_rupiah": 42_000_000,
        "benefits_paid_kind_lump_sum_rupiah": 20_000_000,
        "benefits_paid_kind_periodic_rupiah": 12_000_000,
        "benefits_paid_kind_funeral_rupiah": 10_000_000,
    }
    assert all_time(claim_contributions(jkm)) == [
        ("17.04.01", added, {"region": "17.04.01", "parent": "17.04", "level": 3}),
        ("17.04", added, {"region": "17.04", "parent": "17", "level": 2}),
        ("17", added, {"region": "17", "parent": "ID", "level": 1}),
        ("ID", added, {"region": "", "parent": None, "level": 0}),
    ]
    assert claim_contributions(jkm)[1][0] == "17.04.01|2026-03"
    jkk = {**jkm, "benefit": "JKK", "amount_rupiah": 70_000_000, "amount_by_kind": {}}
    assert claim_contributions(jkk)[0][1] == {
        "claims_paid": 1,
        "benefits_paid_rupiah": 70_000_000,
        "claims_paid_jkk": 1,
        "benefits_paid_jkk_rupiah": 70_000_000,
        "benefits_paid_kind_death_rupiah": 70_000_000,
    }
    instalment = {
        **jkm,
        "amount_rupiah": 1_500_000,
        "instalment": 2,
        "amount_by_kind": {"scholarship": 1_500_000},
    }
    assert claim_contributions(instalment)[-1][1] == {
        "claims_paid": 0,
        "benefits_paid_rupiah": 1_500_000,
        "claims_paid_jkm": 0,
        "benefits_paid_jkm_rupiah": 1_500_000,
        "benefits_paid_kind_scholarship_rupiah": 1_500_000,
    }


def test_a_scholarship_instalment_adds_its_amount_but_not_another_claim() -> None:
    fact = {
        "district_code": "17.04.01",
        "amount_rupiah": 1_500_000,
        "instalment": 1,
        "kind": "scholarship",
        "month": "2027-01",
    }
    assert claim_contributions(fact)[0] == (
        "17.04.01",
        {
            "claims_paid": 0,
            "benefits_paid_rupiah": 1_500_000,
            "benefits_paid_kind_scholarship_rupiah": 1_500_000,
        },
        {"region": "17.04.01", "parent": "17.04", "level": 3},
    )
    benefits = claim_contributions({**fact, "instalment": None, "amount_rupiah": 42_000_000})
    assert benefits[0][1]["claims_paid"] == 1


def test_the_month_of_an_event_is_the_month_in_jakarta() -> None:
    assert month_of(PAID_AT) == "2026-02"
    assert month_of(datetime(2026, 1, 31, 16, 59, tzinfo=UTC)) == "2026-01"
    assert month_of("2026-01-31T23:59:00+07:00") == "2026-01"


@pytest.mark.parametrize("step", ["filed", "approved", "rejected"])
def test_a_claim_step_counts_once_in_its_district_and_up_in_all_and_its_programme(
    step: str,
) -> None:
    fact = {
        "district_code": "17.04.01",
        "benefit": "JKK",
        "step": step,
        "month": "2026-03",
        "amount_rupiah": 9_000_000 if step == "approved" else 0,
    }
    added = {f"claims_{step}": 1, f"claims_{step}_jkk": 1}
    if step == "approved":
        added["benefits_approved_rupiah"] = 9_000_000
    got = claim_step_contributions(fact)
    assert [c[0] for c in got] == [
        "17.04.01",
        "17.04.01|2026-03",
        "17.04",
        "17.04|2026-03",
        "17",
        "17|2026-03",
        "ID",
        "ID|2026-03",
    ]
    assert all(inc == added for _, inc, _ in got)


#: Kaur's month of contributions, as billing's invoice says it: three of its districts.
KAUR_INVOICE = {
    "region_code": "17.04",
    "period": "2026-03",
    "by_district": [
        {"district": "17.04.02", "workers": 2, "amount_rupiah": 33_600},
        {"district": "17.04.01", "workers": 5, "amount_rupiah": 84_000},
        {"district": "17.04.15", "workers": 1, "amount_rupiah": 16_800},
    ],
}


def totals_of(contributions: list) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for cid, inc, _ in contributions:
        target = out.setdefault(cid, {})
        for name, amount in inc.items():
            target[name] = target.get(name, 0) + amount
    return out


def test_an_invoice_adds_each_district_and_their_sum_above_all_time_and_in_its_period() -> None:
    got = invoice_contributions(KAUR_INVOICE)
    ids = [c[0] for c in got]
    assert len(ids) == len(set(ids)), "each counter once per fact"
    # Parts before their whole: every district before the regency, the country last.
    assert ids[:6] == [
        "17.04.01",
        "17.04.01|2026-03",
        "17.04.02",
        "17.04.02|2026-03",
        "17.04.15",
        "17.04.15|2026-03",
    ]
    assert ids[6:] == ["17.04", "17.04|2026-03", "17", "17|2026-03", "ID", "ID|2026-03"]
    totals = totals_of(got)
    assert totals["17.04.01|2026-03"] == {
        "contributions_invoiced_rupiah": 84_000,
        "worker_months_invoiced": 5,
    }
    whole = {
        "contributions_invoiced_rupiah": 134_400,
        "worker_months_invoiced": 8,
        "invoices": 1,
    }
    for region in ("17.04", "17", "ID"):
        assert totals[region] == totals[f"{region}|2026-03"] == whole
    fields = dict((cid, f) for cid, _, f in got)
    assert fields["17.04.15|2026-03"]["parent"] == "17.04|2026-03"
    assert fields["17.04.15"]["parent"] == "17.04"


def test_a_payment_adds_the_workers_it_covered_per_district_and_its_amount_at_the_region() -> None:
    fact = {**KAUR_INVOICE, "amount_rupiah": 140_000}  # a little more than the lines covered
    totals = totals_of(payment_contributions(fact))
    assert totals["17.04.02"] == {"contributions_paid_rupiah": 33_600, "workers_covered": 2}
    assert (
        totals["17.04"]
        == totals["17|2026-03"]
        == {
            "contributions_paid_rupiah": 134_400,
            "workers_covered": 8,
            "payments_applied_rupiah": 140_000,
        }
    )


def test_a_lapse_counts_the_programme_and_its_workers_at_its_region_from_its_first_month() -> None:
    fact = {"region_code": "17.04", "lapsed_from": "2026-04", "worker_count": 7_130}
    got = lapse_contributions(fact)
    assert [c[0] for c in got] == ["17.04", "17.04|2026-04", "17", "17|2026-04", "ID", "ID|2026-04"]
    assert all(inc == {"programmes_lapsed": 1, "workers_lapsed": 7_130} for _, inc, _ in got)


def test_a_month_counter_id_names_the_region_and_the_month() -> None:
    assert month_counter_id("17.04", "2026-03") == "17.04|2026-03"
    assert month_counter_id("", "2026-03") == "ID|2026-03"


def test_the_country_counter_has_its_own_id() -> None:
    assert counter_id("") == COUNTRY == "ID"
    assert counter_id("17.04") == "17.04"


# -- slices, the month of registration, the worker and waiting-list figures -----------------------

KAUR_WORKER = {
    "village_code": "17.04.01.2001",
    "programme_id": "PG-1",
    "occupation": "farmer",
    "registered_at": "2026-03-31T18:00:00+00:00",  # 1 April in Jakarta
}


def test_a_worker_counts_in_the_month_registered_in_jakarta_and_in_its_slices() -> None:
    ids = [cid for cid, _, _ in worker_contributions(KAUR_WORKER)]
    assert ids[:6] == [
        "17.04.01.2001",
        "17.04.01.2001|2026-04",
        "17.04.01.2001|programme=PG-1",
        "17.04.01.2001|2026-04|programme=PG-1",
        "17.04.01",
        "17.04.01|2026-04",
    ]
    # Occupations are kept down to the district, programmes down to the village.
    assert "17.04.01.2001|occupation=farmer" not in ids
    assert "17.04.01|2026-04|occupation=farmer" in ids
    assert ids[-6:] == [
        "ID",
        "ID|2026-04",
        "ID|programme=PG-1",
        "ID|2026-04|programme=PG-1",
        "ID|occupation=farmer",
        "ID|2026-04|occupation=farmer",
    ]
    assert len(ids) == 5 * 4 + 4 * 2  # 5 levels x (all, month) x (whole, programme) + occupation
    fields = {cid: f for cid, _, f in worker_contributions(KAUR_WORKER)}
    assert fields["17.04|2026-04|occupation=farmer"] == {
        "region": "17.04",
        "parent": "17|2026-04|occupation=farmer",
        "level": 2,
        "period": "2026-04",
        "dim": "occupation",
        "value": "farmer",
    }
    assert fields["ID|programme=PG-1"]["parent"] is None


def test_every_counter_comes_before_its_parent_so_parts_are_written_before_wholes() -> None:
    """The tally writes counters in the order a fact names them: each counter's parent (its
    whole) must come later, in every slice and month."""
    for contributions in (
        worker_contributions(KAUR_WORKER),
        enrolment_end_contributions({**KAUR_WORKER, "effective_on": "2026-05-31"}),
        claim_contributions(
            {
                "district_code": "17.04.01",
                "programme_id": "PG-1",
                "amount_rupiah": 5,
                "month": "2026-03",
            }
        ),
    ):
        position = {cid: i for i, (cid, _, _) in enumerate(contributions)}
        for cid, _, fields in contributions:
            if fields["parent"] is not None:
                assert position[fields["parent"]] > position[cid], cid


def test_enrolments_ended_and_the_waiting_list_count_in_their_months() -> None:
    ended = enrolment_end_contributions({**KAUR_WORKER, "effective_on": "2026-05-31"})
    assert ended[1] == (
        "17.04.01.2001|2026-05",
        {"enrolments_ended": 1},
        {"region": "17.04.01.2001", "parent": "17.04.01|2026-05", "level": 4, "period": "2026-05"},
    )
    entry = {**KAUR_WORKER, "requested_on": "2026-03-20"}
    assert waitlisted_contributions(entry)[1][:2] == ("17.04.01.2001|2026-03", {"waitlisted": 1})
    left = waiting_left_contributions({**entry, "left_at": datetime(2026, 4, 30, 18, tzinfo=UTC)})
    assert left[1][:2] == ("17.04.01.2001|2026-05", {"waiting_left": 1})  # 1 May in Jakarta


def test_billing_facts_count_in_their_programme_never_an_occupation() -> None:
    invoice = {
        "region_code": "17.04",
        "programme_id": "PG-1",
        "period": "2026-03",
        "occupation": "farmer",
        "by_district": [{"district": "17.04.01", "workers": 2, "amount_rupiah": 33_600}],
    }
    ids = [cid for cid, _, _ in invoice_contributions(invoice)]
    assert "17.04.01|2026-03|programme=PG-1" in ids
    assert not [cid for cid in ids if "occupation" in cid]


def test_a_counter_key_names_region_month_and_slice() -> None:
    assert counter_key("17.04", "2026-03", ("programme", "PG-1")) == "17.04|2026-03|programme=PG-1"
    assert counter_key("", None, ("occupation", "fisher")) == "ID|occupation=fisher"
    assert counter_key("17") == "17"


@pytest.mark.parametrize(
    ("today", "arrears"),
    [(date(2026, 3, 16), 0), (date(2026, 3, 17), 30)],  # due Monday 16 March (15th a Sunday)
)
def test_in_arrears_once_the_months_due_date_has_passed(today: date, arrears: int) -> None:
    march = {"worker_months_invoiced": 100, "workers_covered": 70}
    assert in_arrears(march, Month(2026, 3), today) == arrears


def test_coverage_figures_all_time_and_of_a_month() -> None:
    all_time = {"workers": 30, "enrolments_ended": 3, "waitlisted": 5, "waiting_left": 2}
    march = {"workers": 10, "worker_months_invoiced": 27, "workers_covered": 20}
    now = coverage_figures(all_time, march, Month(2026, 3), date(2026, 4, 2))
    assert (now["registered"], now["enrolled"], now["waiting"]) == (30, 27, 3)
    assert (now["covered"], now["in_arrears"]) == (20, 7)
    month = coverage_figures(all_time, march, Month(2026, 3), date(2026, 3, 2), flows=march)
    assert (month["registered"], month["enrolled"], month["in_arrears"]) == (10, 27, 0)
