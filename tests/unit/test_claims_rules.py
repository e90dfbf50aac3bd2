"""Claims' rules as data: the benefit table file (rows with sources, errors naming the row and
field, versions by date), the numbered refusal reasons and eligibility, the benefit handlers and
``/benefits`` routes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpu_claims.api.benefits import router as benefits_router
from bpu_claims.domain import (
    BenefitKind,
    BenefitTable,
    BenefitTableError,
    Child,
    ClaimFacts,
    CoverView,
    Disability,
    JkkFacts,
    MonthStatus,
    Reason,
    Refusal,
    RuleKind,
    check_eligibility,
    jkm_lines,
    months_between,
    refuses_claim,
)
from bpu_claims.domain.formulas import total
from bpu_claims.handlers import COMMAND_HANDLERS
from bpu_claims.handlers.benefits import (
    GetBenefits,
    ListBenefits,
    benefits_in_force,
    list_benefits,
)
from bpu_shared.auth import ADMIN, Principal, Role, current_principal
from bpu_shared.clock import FixedClock
from bpu_shared.effective import NotInForce
from bpu_shared.errors import InvalidInput
from bpu_shared.events import BenefitProgramme
from bpu_shared.http import install_error_handlers
from bpu_shared.month import Month
from bpu_shared.service_layer.bus import Deps, MessageBus

JKK, JKM = BenefitProgramme.JKK, BenefitProgramme.JKM
TABLE = BenefitTable.load()
RULES = TABLE.in_force(date(2025, 6, 1))
SHIPPED = json.loads(
    (Path(__file__).parents[2] / "services/claims/src/bpu_claims/data/benefits.json").read_text()
)


# -- the table as data ---------------------------------------------------------------------------


def test_every_row_names_its_source_and_every_kind_is_in_force_today() -> None:
    assert {r.kind for r in TABLE.rows()} == set(RuleKind)
    assert all(r.source.strip() for r in TABLE.rows())
    assert {r.id for r in RULES.rows()} == {
        "JKK-MEDICAL-2019",
        "JKK-TRANSPORT-2019",
        "JKK-STMB-2019",
        "JKK-DISABILITY-2019",
        "JKK-DEATH-2019",
        "JKM-DEATH-2019",
        "JKM-EARLY-DEATH-2021",
        "SCHOLARSHIP-2019",
        "JKK-EXPIRY-2019",
        "COVER-2015",
    }


def test_the_shipped_figures() -> None:
    assert RULES.medical.cap is None
    assert {m.value: c for m, c in RULES.transport.caps.items()} == {
        "land": 5_000_000,
        "sea": 2_000_000,
        "air": 10_000_000,
    }
    assert (RULES.jkm_death.lump_sum, RULES.jkm_death.periodic, RULES.jkm_death.funeral) == (
        20_000_000,
        12_000_000,
        10_000_000,
    )
    assert RULES.scholarship.per_child() == 87_000_000
    assert RULES.claim_expiry.jkk_years == 5
    assert RULES.cover.arrears_count_as_covered is False


def test_the_reduced_jkm_benefit_is_a_configurable_row_citing_its_unconfirmed_source() -> None:
    early = RULES.jkm_early_death
    assert (early.months_below, early.lump_sum, early.funeral) == (3, 8_000_000, 2_000_000)
    assert "branch head" in early.source and "not found" in early.source


def _doc_with(index: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(SHIPPED))
    for key, value in changes.items():
        if value is ...:
            del doc["rows"][index][key]
        else:
            doc["rows"][index][key] = value
    return doc


def _index(row_id: str) -> int:
    return next(i for i, r in enumerate(SHIPPED["rows"]) if r["id"] == row_id)


@pytest.mark.parametrize(
    ("row_id", "changes", "field", "words"),
    [
        ("JKM-DEATH-2019", {"lump_sum": -1}, "lump_sum", "whole number from 0"),
        ("JKM-DEATH-2019", {"lump_sum": 1.5}, "lump_sum", "whole number"),
        ("JKM-DEATH-2019", {"funeral": ...}, "funeral", "missing"),
        ("JKM-DEATH-2019", {"source": ""}, "source", "text"),
        ("JKM-DEATH-2019", {"kind": "jkm_bonus"}, "kind", "unknown kind"),
        ("JKM-DEATH-2019", {"effective_from": "2019-13-01"}, "effective_from", "YYYY-MM-DD"),
        ("JKM-DEATH-2019", {"effective_to": "2019-01-01"}, "effective_to", "before"),
        ("JKK-TRANSPORT-2019", {"caps": {"land": 5, "sea": 2}}, "caps.air", "missing"),
        (
            "JKK-TRANSPORT-2019",
            {"caps": {"land": 5, "sea": 2, "air": 1, "rail": 1}},
            "caps",
            "rail",
        ),
        ("JKK-STMB-2019", {"full_percent": 101}, "full_percent", "0 to 100"),
        ("SCHOLARSHIP-2019", {"levels": []}, "levels", "once, in that order"),
        ("COVER-2015", {"arrears_count_as_covered": "no"}, "arrears_count_as_covered", "true"),
        ("JKK-MEDICAL-2019", {"cap": ...}, "cap", "missing"),
    ],
)
def test_a_broken_row_is_named_with_its_field(
    row_id: str, changes: dict[str, Any], field: str, words: str
) -> None:
    index = _index(row_id)
    with pytest.raises(BenefitTableError) as raised:
        BenefitTable.from_document(_doc_with(index, **changes))
    assert raised.value.field == f"rows[{index}] ({row_id}): {field}"
    assert words in raised.value.detail


def test_a_scholarship_level_out_of_order_is_named() -> None:
    index = _index("SCHOLARSHIP-2019")
    levels = SHIPPED["rows"][index]["levels"]
    doc = _doc_with(index, levels=[levels[1], levels[0], *levels[2:]])
    with pytest.raises(BenefitTableError) as raised:
        BenefitTable.from_document(doc)
    assert raised.value.field == f"rows[{index}] (SCHOLARSHIP-2019): levels[0].level"


def test_a_table_with_two_rows_of_a_kind_starting_the_same_day_is_refused() -> None:
    doc = json.loads(json.dumps(SHIPPED))
    doc["rows"].append({**doc["rows"][_index("JKM-DEATH-2019")], "id": "JKM-DEATH-COPY"})
    with pytest.raises(BenefitTableError, match="which one applies would be unclear"):
        BenefitTable.from_document(doc)
    doc["rows"][-1]["id"] = "JKM-DEATH-2019"
    with pytest.raises(BenefitTableError, match="used twice"):
        BenefitTable.from_document(doc)


def test_a_file_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "benefits.json"
    path.write_text("{not json")
    with pytest.raises(BenefitTableError) as raised:
        BenefitTable.load(path)
    assert raised.value.field == "benefits_file"
    path.write_text('{"rows": 3}')
    with pytest.raises(BenefitTableError, match="list of rows"):
        BenefitTable.load(path)
    with pytest.raises(BenefitTableError, match="cannot read"):
        BenefitTable.load(tmp_path / "missing.json")


def test_no_rules_before_the_first_rows() -> None:
    with pytest.raises(NotInForce) as raised:
        TABLE.in_force(date(2019, 12, 1))
    assert raised.value.field == "on"
    # The reduced JKM benefit starts in 2021: before it, the table serves no day.
    with pytest.raises(NotInForce, match="jkm_early_death"):
        TABLE.in_force(date(2020, 6, 1))


def test_a_new_row_changes_the_amounts_from_its_date_and_the_old_row_keeps_its_days() -> None:
    new = replace(
        RULES.jkm_death, id="JKM-DEATH-2027", effective_from=date(2027, 1, 1), lump_sum=25_000_000
    )
    later_early = replace(
        RULES.jkm_early_death, id="JKM-EARLY-2027", effective_from=date(2027, 1, 1), months_below=6
    )
    table = BenefitTable.of([*reversed(TABLE.all_rows), new, later_early])
    before, after = table.in_force(date(2026, 12, 31)), table.in_force(date(2027, 1, 1))
    assert total(jkm_lines(4, before)) == 42_000_000
    assert total(jkm_lines(4, after)) == 10_000_000  # early for 6 months now
    assert total(jkm_lines(6, after)) == 47_000_000
    assert [r.id for r in table.rows() if r.kind is RuleKind.JKM_DEATH] == [
        "JKM-DEATH-2019",
        "JKM-DEATH-2027",
    ]


def test_a_row_with_an_end_stops_on_its_last_day() -> None:
    ended = replace(RULES.cover, effective_to=date(2026, 12, 31))
    later = replace(
        RULES.cover, id="COVER-2027", effective_from=date(2027, 1, 1), arrears_count_as_covered=True
    )
    rows = [r for r in TABLE.all_rows if r.kind is not RuleKind.COVER]
    table = BenefitTable.of([*rows, ended, later])
    assert table.in_force(date(2026, 12, 31)).cover.arrears_count_as_covered is False
    assert table.in_force(date(2027, 1, 1)).cover.arrears_count_as_covered is True
    with pytest.raises(NotInForce, match="cover"):
        BenefitTable.of([*rows, ended]).in_force(date(2027, 1, 1))


# -- numbered reasons ----------------------------------------------------------------------------


def test_reasons_are_numbered_with_a_code_a_text_and_a_source() -> None:
    assert [r.code for r in Reason] == [f"R{n:02d}" for n in range(1, len(Reason) + 1)]
    assert all(r.text and r.source for r in Reason)
    assert len({r.text for r in Reason}) == len(Reason)
    assert Reason.NOT_ENROLLED.code == "R01"
    assert Reason.JKK_EXPIRED.code == "R04"
    assert Reason.JKM_SCHOLARSHIP_TOO_EARLY.code == "R06"
    assert Reason.CHILD_NOT_ELIGIBLE.code == "R07"


TODAY = date(2026, 6, 1)


def cover(**changes: Any) -> CoverView:
    base = CoverView(
        benefits=frozenset({JKK, JKM}),
        first_month=Month(2022, 1),
        last_month=None,
        declared_income=1_000_000,
        membership_start=date(2022, 1, 1),
        month_status=MonthStatus.PAID,
        contribution_months=48,
    )
    return replace(base, **changes)


def codes(found: list[Refusal]) -> list[str]:
    return [r.code for r in found]


def test_a_covered_claim_has_no_refusal() -> None:
    jkm = ClaimFacts(JKM, date(2026, 5, 10), children=[Child(date(2010, 1, 1), "junior_high")])
    assert check_eligibility(jkm, cover(), TODAY, RULES) == []
    jkk = ClaimFacts(JKK, date(2026, 5, 10), jkk=JkkFacts(medical_billed=3_000_000))
    assert check_eligibility(jkk, cover(), TODAY, RULES) == []


@pytest.mark.parametrize(
    ("view", "code"),
    [
        (None, "R01"),
        (cover(first_month=Month(2026, 6), membership_start=date(2026, 6, 1)), "R01"),
        (cover(last_month=Month(2026, 4)), "R01"),
        (cover(month_status=MonthStatus.NOT_ENROLLED), "R01"),
        (cover(month_status=MonthStatus.UNPAID_PAST_WINDOW), "R02"),
        (cover(month_status=MonthStatus.LAPSED), "R03"),
        (cover(benefits=frozenset({JKK})), "R05"),
        (cover(month_status=MonthStatus.ARREARS), "R09"),
        (cover(month_status=MonthStatus.NOT_INVOICED), "R09"),
    ],
)
def test_cover_on_the_incident_date(view: CoverView | None, code: str) -> None:
    found = check_eligibility(ClaimFacts(JKM, date(2026, 5, 10)), view, TODAY, RULES)
    assert codes(found) == [code]
    assert refuses_claim(found)


def test_arrears_count_when_the_table_says_so() -> None:
    rules = replace(RULES, cover=replace(RULES.cover, arrears_count_as_covered=True))
    claim = ClaimFacts(JKM, date(2026, 5, 10))
    assert check_eligibility(claim, cover(month_status=MonthStatus.ARREARS), TODAY, rules) == []
    lapsed = cover(month_status=MonthStatus.LAPSED)
    assert codes(check_eligibility(claim, lapsed, TODAY, rules)) == ["R03"]


def test_jkk_claims_expire_five_years_after_the_accident() -> None:
    accident = date(2021, 3, 15)
    on_time = ClaimFacts(JKK, accident, JkkFacts(medical_billed=1), filed_on=date(2026, 3, 15))
    late = replace(on_time, filed_on=date(2026, 3, 16))
    since_2019 = cover(first_month=Month(2019, 1), membership_start=date(2019, 1, 1))
    assert check_eligibility(on_time, since_2019, TODAY, RULES) == []
    (refusal,) = check_eligibility(late, since_2019, TODAY, RULES)
    assert (refusal.code, refusal.field) == ("R04", "incident_date")
    assert "2026-03-15" in refusal.detail
    # Filed in time, assessed later: the filing day counts. Not filed yet: today does.
    assert check_eligibility(on_time, since_2019, date(2030, 1, 1), RULES) == []
    unfiled = replace(on_time, filed_on=None)
    assert codes(check_eligibility(unfiled, since_2019, date(2026, 3, 16), RULES)) == ["R04"]
    # JKM has no such limit here.
    old_death = ClaimFacts(JKM, accident, filed_on=date(2030, 1, 1))
    assert check_eligibility(old_death, since_2019, date(2030, 1, 1), RULES) == []


@pytest.mark.parametrize("programme", ["JHT", "JKP"])
def test_a_claim_is_under_jkk_or_jkm(programme: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_eligibility(ClaimFacts(programme, date(2026, 5, 10)), cover(), TODAY, RULES)
    assert raised.value.field == "programme"


def test_an_incident_in_the_future() -> None:
    found = check_eligibility(ClaimFacts(JKM, date(2026, 6, 2)), cover(), TODAY, RULES)
    assert codes(found) == ["R08"]


def test_a_jkm_scholarship_needs_three_years_of_contributions() -> None:
    claim = ClaimFacts(JKM, date(2026, 5, 10), children=[Child(date(2012, 1, 1), "primary")])
    (refusal,) = check_eligibility(claim, cover(contribution_months=35), TODAY, RULES)
    assert (refusal.code, refusal.benefit) == ("R06", BenefitKind.SCHOLARSHIP)
    assert not refuses_claim([refusal])  # the death benefit is still paid
    assert check_eligibility(claim, cover(contribution_months=36), TODAY, RULES) == []


def test_children_23_or_older_married_or_working_and_beyond_two() -> None:
    incident = date(2026, 5, 10)
    children = [
        Child(date(2003, 5, 10), "university"),  # 23 on the incident day
        Child(date(2008, 1, 1), "senior_high", married=True),
        Child(date(2012, 1, 1), "primary"),
        Child(date(2014, 1, 1), "primary", working=True),
        Child(date(2016, 1, 1), "primary"),
        Child(date(2018, 1, 1), "kindergarten"),  # the fourth who may: beyond two
    ]
    claim = ClaimFacts(JKK, incident, JkkFacts(died=True), children=children)
    found = check_eligibility(claim, cover(), TODAY, RULES)
    assert [(r.code, r.field) for r in found] == [
        ("R07", "children[0]"),
        ("R07", "children[1]"),
        ("R07", "children[3]"),
        ("R10", "children[5]"),
    ]
    assert "23 or older" in found[0].detail and found[1].detail == "married"
    assert not refuses_claim(found)
    assert check_eligibility(replace(claim, children=children[2:3]), cover(), TODAY, RULES) == []


def test_every_reason_that_applies_is_returned() -> None:
    claim = ClaimFacts(
        JKK,
        date(2020, 1, 10),
        JkkFacts(died=True),
        children=[Child(date(1990, 1, 1), "university")],
        filed_on=date(2026, 5, 1),
    )
    view = cover(benefits=frozenset({JKM}), month_status=MonthStatus.LAPSED)
    view = replace(view, first_month=Month(2019, 1), membership_start=date(2019, 1, 1))
    assert codes(check_eligibility(claim, view, TODAY, RULES)) == ["R04", "R05", "R03", "R07"]


def test_benefits_the_programme_does_not_pay() -> None:
    jkm_with_care = ClaimFacts(JKM, date(2026, 5, 10), JkkFacts(medical_billed=1_000_000))
    (refusal,) = check_eligibility(jkm_with_care, cover(), TODAY, RULES)
    assert (refusal.code, refusal.benefit) == ("R11", BenefitKind.MEDICAL)
    lump_under_jkk = ClaimFacts(JKK, date(2026, 5, 10), asked=frozenset({BenefitKind.LUMP_SUM}))
    assert codes(check_eligibility(lump_under_jkk, cover(), TODAY, RULES)) == ["R11"]
    # A JKK scholarship needs a death or a total disability.
    injured = ClaimFacts(
        JKK,
        date(2026, 5, 10),
        JkkFacts(disability=Disability.PARTIAL, disability_percent=10),
        children=[Child(date(2012, 1, 1), "primary")],
    )
    (refusal,) = check_eligibility(injured, cover(), TODAY, RULES)
    assert (refusal.code, refusal.benefit, refusal.field) == (
        "R11",
        BenefitKind.SCHOLARSHIP,
        "children",
    )
    disabled = replace(injured, jkk=JkkFacts(disability=Disability.TOTAL))
    assert check_eligibility(disabled, cover(), TODAY, RULES) == []


def test_an_early_death_is_no_refusal_but_the_reduced_benefit() -> None:
    view = cover(
        first_month=Month(2026, 4), membership_start=date(2026, 4, 1), contribution_months=2
    )
    claim = ClaimFacts(JKM, date(2026, 5, 20))
    assert check_eligibility(claim, view, TODAY, RULES) == []
    months = months_between(view.membership_start, claim.incident)
    assert months == 1
    assert total(jkm_lines(months, RULES)) == 10_000_000


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2026, 1, 1), date(2026, 1, 31), 0),
        (date(2026, 1, 1), date(2026, 2, 1), 1),
        (date(2026, 1, 31), date(2026, 2, 28), 0),
        (date(2026, 1, 15), date(2026, 4, 15), 3),
        (date(2026, 1, 15), date(2026, 4, 14), 2),
        (date(2026, 5, 1), date(2026, 4, 1), 0),
    ],
)
def test_months_of_membership(start: date, end: date, months: int) -> None:
    assert months_between(start, end) == months


# -- handlers and routes -------------------------------------------------------------------------

DASHBOARD = Principal("k-dash", Role.DASHBOARD)
OPERATOR = Principal("k-op", Role.OPERATOR)
SPONSOR = Principal("k-sp", Role.SPONSOR, "17.04")


def deps(today: date = date(2026, 11, 23), benefits_file: Path | None = None) -> Deps[Any, Any]:
    clock = FixedClock(datetime(today.year, today.month, today.day, 3, tzinfo=UTC))
    return Deps(None, None, clock, SimpleNamespace(benefits_file=benefits_file))  # type: ignore[arg-type]


async def test_the_table_is_read_by_operator_sponsor_dashboard_and_admin() -> None:
    for who in (OPERATOR, SPONSOR, DASHBOARD, ADMIN):
        rows = await list_benefits(ListBenefits(), who, deps())
        assert {r.kind for r in rows} == set(RuleKind)
        found = await benefits_in_force(GetBenefits(), who, deps(date(2026, 5, 2)))
        assert found.rules.day == date(2026, 5, 2)
        assert (found.jkm_death, found.jkm_early_death) == (42_000_000, 10_000_000)
        assert found.jkk_death_at_lowest_income == 70_000_000
        assert found.scholarship_per_child == 87_000_000


async def test_a_table_file_from_the_settings(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(SHIPPED))
    doc["table_version"] = "test"
    doc["rows"][_index("JKM-DEATH-2019")]["lump_sum"] = 30_000_000
    path = tmp_path / "benefits.json"
    path.write_text(json.dumps(doc))
    found = await benefits_in_force(GetBenefits(), OPERATOR, deps(benefits_file=path))
    assert (found.rules.table_version, found.jkm_death) == ("test", 52_000_000)


def test_the_handlers_are_in_the_service_table() -> None:
    assert COMMAND_HANDLERS[ListBenefits] is list_benefits
    assert COMMAND_HANDLERS[GetBenefits] is benefits_in_force


@pytest.fixture
async def client() -> Any:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(benefits_router)
    app.state.bus = MessageBus(deps(date(2026, 5, 2)), COMMAND_HANDLERS, {})
    app.dependency_overrides[current_principal] = lambda: DASHBOARD
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://claims") as http:
        yield http


async def test_get_benefits_lists_every_row(client: httpx.AsyncClient) -> None:
    answer = await client.get("/benefits")
    assert answer.status_code == 200, answer.text
    rows = {row["id"]: row for row in answer.json()}
    assert rows["JKM-DEATH-2019"]["figures"] == {
        "lump_sum": 20_000_000,
        "periodic": 12_000_000,
        "funeral": 10_000_000,
    }
    assert rows["JKK-TRANSPORT-2019"]["figures"]["caps"]["air"] == 10_000_000
    assert rows["SCHOLARSHIP-2019"]["figures"]["per_child"] == 87_000_000
    assert rows["JKM-EARLY-DEATH-2021"]["effective_from"] == "2021-01-01"
    assert all(row["source"] for row in rows.values())


async def test_get_benefits_in_force(client: httpx.AsyncClient) -> None:
    answer = await client.get("/benefits/in-force?on=2025-06-01")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["on"] == "2025-06-01"
    assert (body["jkm_death"], body["jkm_early_death"]) == (42_000_000, 10_000_000)
    assert body["jkk_death_at_lowest_income"] == 70_000_000
    assert {r["kind"] for r in body["rows"]} == {k.value for k in RuleKind}
    assert body["reasons"][0] == {
        "code": "R01",
        "text": Reason.NOT_ENROLLED.text,
        "source": Reason.NOT_ENROLLED.source,
    }
    today = (await client.get("/benefits/in-force")).json()
    assert today["on"] == "2026-05-02"
    too_early = await client.get("/benefits/in-force?on=2010-01-01")
    assert too_early.status_code == 422
    assert too_early.json()["errors"][0]["field"] == "on"
