"""The invoicing rules (pure): which worker-months a programme bills for a period, priced at
the facts in force, the totals, and supplementary invoices holding only what no issued invoice
holds."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bpu_billing.domain.invoicing import Bill, Change, Entry, Terms, bill, over_budget
from bpu_billing.domain.rates import RateTable
from bpu_shared.events import BenefitProgramme, FundingSource
from bpu_shared.month import Month

OCT, NOV, DEC = Month(2022, 10), Month(2022, 11), Month(2022, 12)
PASER = Terms("PG-paser", OCT, DEC, frozenset({"JKK", "JKM"}))
TABLE = RateTable.load()


def price(income: int, benefits: frozenset[str], occupation: str) -> dict[str, int]:
    amounts = TABLE.price(
        OCT,
        income,
        frozenset(BenefitProgramme(b) for b in benefits),
        FundingSource.APBD_REGENCY,
        occupation,
    )
    return {str(b): v for b, v in amounts.items()}


def entry(i: int, first: Month = OCT, last: Month | None = None, **over: object) -> Entry:
    fields: dict[str, object] = {
        "enrolment_id": f"EN-{i:05d}",
        "worker_id": f"WK-{i:05d}",
        "first_month": first,
        "last_month": last,
        "benefits": None,
        "income": 1_000_000,
        "district_code": f"64.01.0{i % 3 + 1}",
        "village_code": f"64.01.0{i % 3 + 1}.2001",
        "occupation": "farmer",
        "as_of": "2022-09-01T00:00:00.000000+00:00",
    }
    fields.update(over)
    return Entry(**fields)  # type: ignore[arg-type]


def test_paser_at_the_lowest_income_bills_16800_a_worker_month():
    result = bill(PASER, OCT, [entry(i) for i in range(300)], price)
    assert result.worker_count == 300
    assert result.amount_rupiah == 300 * 16_800
    assert result.amount_by_benefit == {"JKK": 300 * 10_000, "JKM": 300 * 6_800}
    assert sum(d["amount_rupiah"] for d in result.by_district.values()) == result.amount_rupiah
    assert sum(d["workers"] for d in result.by_district.values()) == 300


def test_lines_are_in_enrolment_id_order():
    result = bill(PASER, OCT, [entry(i) for i in (5, 2, 9, 1)], price)
    assert [line["enrolment_id"] for line in result.lines] == [
        "EN-00001",
        "EN-00002",
        "EN-00005",
        "EN-00009",
    ]


def test_a_programme_bills_only_the_months_it_covers():
    entries = [entry(1)]
    assert bill(PASER, Month(2022, 9), entries, price).lines == []
    assert bill(PASER, Month(2023, 1), entries, price).lines == []
    closed = Terms("PG-paser", OCT, DEC, PASER.benefits, closed_on=date(2022, 10, 20))
    assert bill(closed, OCT, entries, price).worker_count == 1
    assert bill(closed, NOV, entries, price).lines == []


def test_an_enrolment_is_billed_for_its_months_only():
    late = entry(1, first=NOV)
    ended = entry(2, last=OCT)
    assert [line["worker_id"] for line in bill(PASER, OCT, [late, ended], price).lines] == [
        "WK-00002"
    ]
    assert [line["worker_id"] for line in bill(PASER, NOV, [late, ended], price).lines] == [
        "WK-00001"
    ]


def test_a_month_is_priced_at_the_income_and_district_in_force_then():
    change = Change(
        NOV, "2022-10-10T00:00:00.000000+00:00", 3_000_000, "64.01.09", "64.01.09.2001", "fisher"
    )
    changes = {"WK-00001": [change]}
    october = bill(PASER, OCT, [entry(1)], price, changes=changes).lines[0]
    november = bill(PASER, NOV, [entry(1)], price, changes=changes).lines[0]
    assert (october["income"], october["district_code"]) == (1_000_000, "64.01.02")
    assert (november["income"], november["district_code"]) == (3_000_000, "64.01.09")
    assert november["amount"] == sum(price(3_000_000, PASER.benefits, "fisher").values())
    assert november["amount"] > october["amount"]


def test_a_registration_after_a_change_stands_for_its_own_months():
    """A worker re-enrolled after a change registers with the newer facts."""
    old = Change(
        OCT, "2022-09-05T00:00:00.000000+00:00", 2_000_000, "64.01.01", "64.01.01.2001", "farmer"
    )
    newer = entry(1, first=NOV, as_of="2022-10-20T00:00:00.000000+00:00", income=1_500_000)
    line = bill(PASER, NOV, [newer], price, changes={"WK-00001": [old]}).lines[0]
    assert line["income"] == 1_500_000


def test_late_enrolments_go_on_a_supplementary_invoice_alone():
    first = bill(PASER, OCT, [entry(i) for i in range(10)], price)
    billed = {line["enrolment_id"] for line in first.lines}
    workers = {line["worker_id"] for line in first.lines}
    again = bill(
        PASER,
        OCT,
        [entry(i) for i in range(12)],
        price,
        billed_enrolments=billed,
        billed_workers=workers,
    )
    assert [line["enrolment_id"] for line in again.lines] == ["EN-00010", "EN-00011"]
    nothing = bill(
        PASER,
        OCT,
        [entry(i) for i in range(12)],
        price,
        billed_enrolments=billed | {"EN-00010", "EN-00011"},
        billed_workers=workers | {"WK-00010", "WK-00011"},
    )
    assert nothing.lines == []


def test_a_worker_with_two_enrolments_in_a_month_is_billed_once():
    two = [entry(1), entry(2, worker_id="WK-00001")]
    assert bill(PASER, OCT, two, price).worker_count == 1


def test_over_budget_counts_the_invoices_before_and_this_one():
    assert not over_budget(100, 50, 50)
    assert over_budget(100, 50, 51)
    assert not over_budget(None, 10**12, 1)


# -- properties --------------------------------------------------------------------------------

months = st.integers(min_value=0, max_value=8).map(lambda n: Month(2022, 7).plus(n))
incomes = st.sampled_from([1_000_000, 1_500_000, 2_600_000, 4_000_000, 12_000_000])


@st.composite
def rosters(draw: st.DrawFn) -> list[Entry]:
    count = draw(st.integers(min_value=0, max_value=25))
    entries = []
    for i in range(count):
        first = draw(months)
        last = draw(st.one_of(st.none(), months.filter(lambda m, f=first: m >= f)))
        worker = draw(st.integers(min_value=0, max_value=max(count - 1, 0)))
        entries.append(
            entry(
                i,
                first=first,
                last=last,
                worker_id=f"WK-{worker:05d}",
                income=draw(incomes),
                benefits=draw(st.sampled_from([None, frozenset({"JKK", "JKM", "JHT"})])),
            )
        )
    return entries


def lines_of(result: Bill) -> list[tuple[str, str]]:
    return [(line["enrolment_id"], line["worker_id"]) for line in result.lines]


@settings(max_examples=50, deadline=None)
@given(rosters(), months)
def test_totals_equal_the_sum_of_the_lines(entries, period):
    result = bill(PASER, period, entries, price)
    assert result.amount_rupiah == sum(line["amount"] for line in result.lines)
    for line in result.lines:
        assert line["amount"] == sum(line["amounts"].values())
    assert sum(result.amount_by_benefit.values()) == result.amount_rupiah
    assert sum(d["amount_rupiah"] for d in result.by_district.values()) == result.amount_rupiah
    assert sum(d["workers"] for d in result.by_district.values()) == result.worker_count


@settings(max_examples=50, deadline=None)
@given(rosters(), months)
def test_months_outside_the_programme_or_the_enrolment_are_never_billed(entries, period):
    by_id = {e.enrolment_id: e for e in entries}
    result = bill(PASER, period, entries, price)
    if not PASER.start_month <= period <= PASER.end_month:
        assert result.lines == []
    for enrolment_id, _ in lines_of(result):
        e = by_id[enrolment_id]
        assert e.first_month <= period
        assert e.last_month is None or period <= e.last_month


@settings(max_examples=50, deadline=None)
@given(rosters(), months, st.lists(st.integers(min_value=1, max_value=40), max_size=4))
def test_no_worker_month_is_billed_twice_across_base_and_supplementary(entries, period, cuts):
    """The roster grows in steps (late enrolments); each run bills what no issued invoice
    holds: every worker enrolled that month ends on exactly one invoice."""
    billed_e: set[str] = set()
    billed_w: set[str] = set()
    invoices: list[Bill] = []
    for cut in [*sorted(cuts), len(entries)]:
        result = bill(
            PASER,
            period,
            entries[:cut],
            price,
            billed_enrolments=billed_e,
            billed_workers=billed_w,
        )
        if result.lines:
            invoices.append(result)
        billed_e |= {e for e, _ in lines_of(result)}
        billed_w |= {w for _, w in lines_of(result)}
    workers = [w for invoice in invoices for _, w in lines_of(invoice)]
    assert len(workers) == len(set(workers))
    due = {
        e.worker_id
        for e in entries
        if PASER.covers(period) and e.billed_in(period, PASER.end_month)
    }
    assert set(workers) == due
