"""The benefit formulas and the scholarship schedule, by property where inputs vary: every line
non-negative, caps respected, the day rule of temporary inability, the disability and death
multiples, JKM Rp42m exactly, a work-accident death at Rp1m income Rp70m before the scholarship
and at most Rp244m with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_claims.domain import (
    BenefitKind,
    BenefitLine,
    BenefitTable,
    Child,
    Disability,
    JkkFacts,
    Place,
    SchoolLevel,
    TransportMode,
    jkk_lines,
    jkm_lines,
    scholarship_schedule,
)
from bpu_claims.domain.formulas import temporary_inability, total
from bpu_claims.domain.scholarship import anniversary, child_schedule
from bpu_shared.age import age_on
from bpu_shared.errors import InvalidInput

RULES = BenefitTable.load().in_force(date(2025, 6, 1))
CAPS = {TransportMode.LAND: 5_000_000, TransportMode.SEA: 2_000_000, TransportMode.AIR: 10_000_000}
LOWEST = 1_000_000

incomes = st.integers(0, 50_000_000)
rupiah = st.integers(0, 2_000_000_000)
facts = st.builds(
    JkkFacts,
    place=st.sampled_from(Place),
    medical_billed=rupiah,
    transport_mode=st.none() | st.sampled_from(TransportMode),
    transport_cost=st.integers(0, 50_000_000),
    days_unable=st.integers(0, 3_000),
    disability=st.sampled_from(Disability),
    disability_percent=st.integers(1, 100),
    died=st.booleans(),
).map(lambda f: f if f.transport_mode is not None else replace(f, transport_cost=0))


def by_kind(lines: list[BenefitLine]) -> dict[BenefitKind, int]:
    return {line.kind: line.amount for line in lines}


# -- JKK -----------------------------------------------------------------------------------------


@given(facts, incomes)
def test_every_line_is_positive_whole_rupiah_once_per_kind_with_caps(
    f: JkkFacts, income: int
) -> None:
    lines = jkk_lines(f, income, RULES)
    assert all(type(line.amount) is int and line.amount > 0 for line in lines)
    assert all(line.basis for line in lines)
    assert max(Counter(line.kind for line in lines).values(), default=1) == 1
    amounts = by_kind(lines)
    assert amounts.get(BenefitKind.MEDICAL, 0) == f.medical_billed  # as billed, no cap
    if f.transport_mode is None:
        assert BenefitKind.TRANSPORT not in amounts
    else:
        expected = min(f.transport_cost, CAPS[TransportMode(f.transport_mode)])
        assert amounts.get(BenefitKind.TRANSPORT, 0) == expected
    assert amounts.get(BenefitKind.TEMPORARY_INABILITY, 0) == temporary_inability(
        f.days_unable, income, RULES
    )
    assert BenefitKind.LUMP_SUM not in amounts and BenefitKind.SCHOLARSHIP not in amounts


@given(facts, incomes)
def test_disability_and_death(f: JkkFacts, income: int) -> None:
    amounts = by_kind(jkk_lines(f, income, RULES))
    if f.died:
        assert amounts.get(BenefitKind.DEATH, 0) == 48 * income
        assert amounts[BenefitKind.FUNERAL] == 10_000_000
        assert amounts[BenefitKind.PERIODIC] == 12_000_000
        assert BenefitKind.DISABILITY not in amounts  # the death benefit replaces it
    elif f.disability == Disability.PARTIAL:
        assert amounts.get(BenefitKind.DISABILITY, 0) == f.disability_percent * 80 * income // 100
        assert BenefitKind.PERIODIC not in amounts
    elif f.disability == Disability.TOTAL:
        assert amounts.get(BenefitKind.DISABILITY, 0) == 56 * income
        assert amounts[BenefitKind.PERIODIC] == 12_000_000
    else:
        assert not {BenefitKind.DISABILITY, BenefitKind.PERIODIC, BenefitKind.DEATH} & set(amounts)


def test_a_work_accident_death_at_the_lowest_income_is_70_million() -> None:
    lines = jkk_lines(JkkFacts(died=True), LOWEST, RULES)
    assert by_kind(lines) == {
        BenefitKind.DEATH: 48_000_000,
        BenefitKind.FUNERAL: 10_000_000,
        BenefitKind.PERIODIC: 12_000_000,
    }
    assert total(lines) == 70_000_000


def test_commuting_is_paid_as_at_work() -> None:
    at_work = JkkFacts(Place.AT_WORK, 2_000_000, TransportMode.SEA, 3_000_000, 45)
    commuting = replace(at_work, place=Place.COMMUTING)
    assert by_kind(jkk_lines(at_work, LOWEST, RULES)) == by_kind(
        jkk_lines(commuting, LOWEST, RULES)
    )
    assert by_kind(jkk_lines(at_work, LOWEST, RULES)) == {
        BenefitKind.MEDICAL: 2_000_000,
        BenefitKind.TRANSPORT: 2_000_000,  # the sea cap
        BenefitKind.TEMPORARY_INABILITY: 1_500_000,  # 45 days: 1.5 months
    }


# -- temporary inability: days into months -------------------------------------------------------


@given(st.integers(0, 12), incomes)
def test_whole_months_in_the_first_year_are_whole_incomes(months: int, income: int) -> None:
    assert temporary_inability(30 * months, income, RULES) == months * income


@given(st.integers(0, 100), incomes)
def test_after_12_months_each_month_is_half_an_income(later: int, income: int) -> None:
    assert temporary_inability(360 + 30 * later, income, RULES) == 12 * income + later * income // 2


@given(st.integers(0, 3_000), incomes)
def test_a_day_is_a_thirtieth_rounded_down_once(days: int, income: int) -> None:
    paid = temporary_inability(days, income, RULES)
    exact_times_60 = income * (2 * min(days, 360) + max(days - 360, 0))
    assert paid == exact_times_60 // 60
    assert paid <= income * days // 30  # never more than 100% of every day
    assert temporary_inability(days + 1, income, RULES) >= paid


@pytest.mark.parametrize(
    ("days", "paid"),
    [(0, 0), (1, 33_333), (15, 500_000), (359, 11_966_666), (361, 12_016_666), (390, 12_500_000)],
)
def test_temporary_inability_at_the_lowest_income(days: int, paid: int) -> None:
    assert temporary_inability(days, LOWEST, RULES) == paid


# -- JKM -----------------------------------------------------------------------------------------


@given(st.integers(3, 1_000))
def test_jkm_death_is_42_million_exactly(months: int) -> None:
    lines = jkm_lines(months, RULES)
    assert by_kind(lines) == {
        BenefitKind.LUMP_SUM: 20_000_000,
        BenefitKind.PERIODIC: 12_000_000,
        BenefitKind.FUNERAL: 10_000_000,
    }
    assert total(lines) == 42_000_000


@pytest.mark.parametrize("months", [0, 1, 2])
def test_jkm_death_in_the_first_3_months_is_the_reduced_10_million(months: int) -> None:
    lines = jkm_lines(months, RULES)
    assert by_kind(lines) == {BenefitKind.LUMP_SUM: 8_000_000, BenefitKind.FUNERAL: 2_000_000}
    assert "JKM-EARLY-DEATH-2021" in lines[0].basis


# -- wrong facts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "income", "field"),
    [
        (JkkFacts(medical_billed=-1), LOWEST, "medical_billed"),
        (JkkFacts(days_unable=-1), LOWEST, "days_unable"),
        (JkkFacts(transport_mode=TransportMode.LAND, transport_cost=-5), LOWEST, "transport_cost"),
        (JkkFacts(transport_cost=100), LOWEST, "transport_mode"),
        (JkkFacts(transport_mode="rail", transport_cost=100), LOWEST, "transport_mode"),
        (JkkFacts(place="home"), LOWEST, "place"),
        (JkkFacts(disability="some"), LOWEST, "disability"),
        (
            JkkFacts(disability=Disability.PARTIAL, disability_percent=0),
            LOWEST,
            "disability_percent",
        ),
        (
            JkkFacts(disability=Disability.PARTIAL, disability_percent=101),
            LOWEST,
            "disability_percent",
        ),
        (JkkFacts(), -1, "income"),
    ],
)
def test_wrong_facts_name_their_field(f: JkkFacts, income: int, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        jkk_lines(f, income, RULES)
    assert raised.value.field == field


def test_negative_membership_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        jkm_lines(-1, RULES)
    assert raised.value.field == "months_of_membership"


# -- the scholarship -----------------------------------------------------------------------------

YEARLY = {
    SchoolLevel.KINDERGARTEN: (1_500_000, 2),
    SchoolLevel.PRIMARY: (1_500_000, 6),
    SchoolLevel.JUNIOR_HIGH: (2_000_000, 3),
    SchoolLevel.SENIOR_HIGH: (3_000_000, 3),
    SchoolLevel.UNIVERSITY: (12_000_000, 5),
}
INCIDENT = date(2026, 5, 10)


def test_a_young_child_through_university_receives_87_million() -> None:
    child = Child(date(2022, 3, 1), SchoolLevel.KINDERGARTEN)
    schedule = scholarship_schedule([child], INCIDENT, RULES, "JKK", 0)
    assert sum(i.amount for i in schedule) == 87_000_000
    assert len(schedule) == 19
    assert [i.year for i in schedule] == list(range(2026, 2045))
    assert [i.level for i in schedule][:3] == [SchoolLevel.KINDERGARTEN] * 2 + [SchoolLevel.PRIMARY]


def test_a_work_accident_death_with_two_children_is_at_most_244_million() -> None:
    children = [
        Child(date(2022, 3, 1), SchoolLevel.KINDERGARTEN),
        Child(date(2021, 7, 1), SchoolLevel.KINDERGARTEN, year_in_level=1),
        Child(date(2020, 1, 1), SchoolLevel.KINDERGARTEN),  # a third: none
    ]
    schedule = scholarship_schedule(children, INCIDENT, RULES, "JKK", 0)
    assert {i.child for i in schedule} == {0, 1}
    assert sum(i.amount for i in schedule) == 174_000_000
    death = total(jkk_lines(JkkFacts(died=True), LOWEST, RULES))
    assert death + sum(i.amount for i in schedule) == 244_000_000


def test_a_child_in_junior_high_gets_the_remaining_years_then_senior_high_and_university() -> None:
    child = Child(date(2013, 9, 1), SchoolLevel.JUNIOR_HIGH, year_in_level=2)
    schedule = scholarship_schedule([child], INCIDENT, RULES, "JKM", 36)
    assert [(i.year, i.level.value, i.amount) for i in schedule] == [
        (2026, "junior_high", 2_000_000),
        (2027, "junior_high", 2_000_000),
        (2028, "senior_high", 3_000_000),
        (2029, "senior_high", 3_000_000),
        (2030, "senior_high", 3_000_000),
        (2031, "university", 12_000_000),
        (2032, "university", 12_000_000),
        (2033, "university", 12_000_000),
        (2034, "university", 12_000_000),
        (2035, "university", 12_000_000),
    ]
    assert schedule[0].due_on == INCIDENT and schedule[1].due_on == date(2027, 5, 10)


def test_instalments_stop_when_the_child_turns_23() -> None:
    child = Child(date(2006, 1, 1), SchoolLevel.UNIVERSITY)  # 20 on the incident day
    schedule = scholarship_schedule([child], INCIDENT, RULES, "JKK", 0)
    assert [i.year for i in schedule] == [2026, 2027, 2028]  # 23 on 2029-01-01
    old = Child(date(2003, 5, 10), SchoolLevel.UNIVERSITY)  # 23 on the incident day
    assert scholarship_schedule([old], INCIDENT, RULES, "JKK", 0) == []


def test_married_or_working_children_and_jkm_before_3_years_get_nothing() -> None:
    child = Child(date(2012, 1, 1), SchoolLevel.PRIMARY)
    assert scholarship_schedule([replace(child, married=True)], INCIDENT, RULES, "JKK", 0) == []
    assert scholarship_schedule([replace(child, working=True)], INCIDENT, RULES, "JKK", 0) == []
    assert scholarship_schedule([child], INCIDENT, RULES, "JKM", 35) == []
    assert scholarship_schedule([child], INCIDENT, RULES, "JKM", 36) != []


def test_a_wrong_level_or_year_names_the_child() -> None:
    with pytest.raises(InvalidInput) as raised:
        scholarship_schedule([Child(date(2012, 1, 1), "college")], INCIDENT, RULES, "JKK", 0)
    assert raised.value.field == "children[0].level"
    too_far = Child(date(2012, 1, 1), SchoolLevel.JUNIOR_HIGH, year_in_level=4)
    with pytest.raises(InvalidInput) as raised:
        scholarship_schedule([too_far], INCIDENT, RULES, "JKK", 0)
    assert raised.value.field == "children[0].year_in_level"


def test_a_29_february_incident_falls_on_28_february_in_other_years() -> None:
    assert anniversary(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert anniversary(date(2024, 2, 29), 4) == date(2028, 2, 29)


levels = st.sampled_from(SchoolLevel)
children = st.builds(
    lambda birth, level, year, married, working: Child(
        birth, level, married, working, min(year, YEARLY[level][1])
    ),
    st.dates(date(1995, 1, 1), date(2026, 5, 10)),
    levels,
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
)


@given(
    st.lists(children, max_size=5),
    st.dates(date(2020, 1, 1), date(2040, 12, 31)),
    st.sampled_from(["JKK", "JKM"]),
    st.integers(0, 120),
)
def test_the_schedule_holds_for_any_children(
    kids: list[Child], incident: date, programme: str, months: int
) -> None:
    schedule = scholarship_schedule(kids, incident, RULES, programme, months)
    assert sum(i.amount for i in schedule) <= 174_000_000
    assert len({i.child for i in schedule}) <= 2
    if programme == "JKM" and months < 36:
        assert schedule == []
    for index in {i.child for i in schedule}:
        kid = kids[index]
        own = [i for i in schedule if i.child == index]
        assert not kid.married and not kid.working
        assert sum(i.amount for i in own) <= 87_000_000
        assert own[0].level == kid.level and own[0].due_on == incident
        assert [i.year for i in own] == list(range(incident.year, incident.year + len(own)))
        order = list(SchoolLevel)
        assert [order.index(i.level) for i in own] == sorted(order.index(i.level) for i in own)
        assert all(i.amount == YEARLY[i.level][0] for i in own)
        assert all(age_on(kid.birth_date, i.due_on) < 23 for i in own)
        # A child who stops early stops only because it turns 23.
        full = child_schedule(
            index, replace(kid, birth_date=incident - timedelta(days=1)), incident, RULES
        )
        if len(own) < len(full):
            after = anniversary(incident, len(own))
            assert age_on(kid.birth_date, after) >= 23
    assert [(i.due_on, i.child) for i in schedule] == sorted((i.due_on, i.child) for i in schedule)


@given(st.lists(children, max_size=4))
def test_a_work_accident_death_at_1m_with_any_children_is_at_most_244_million(
    kids: list[Child],
) -> None:
    death = total(jkk_lines(JkkFacts(died=True), LOWEST, RULES))
    schedule = scholarship_schedule(kids, INCIDENT, RULES, "JKK", 0)
    assert death == 70_000_000
    assert death + sum(i.amount for i in schedule) <= 244_000_000
