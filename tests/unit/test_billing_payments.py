"""Payment application rules: partial, exact, over, ahead and duplicate payments; credit; the
lines a paid amount covers; statement rows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpu_billing.domain.cover import allocate
from bpu_billing.domain.payments import (
    STATEMENT_HEADER,
    apply_payment,
    credit_id,
    differing_field,
    district_totals,
    payment_id,
    spread,
    statement_rows,
)
from bpu_billing.store.invoices import Line

PASER_MONTH = 32_268 * 16_800  # Rp542,102,400


def test_partial_payment_leaves_the_rest_owed() -> None:
    step = apply_payment(200_000_000, PASER_MONTH, 0)
    assert (step.applied, step.remainder, step.paid_after, step.paid_in_full) == (
        200_000_000,
        0,
        200_000_000,
        False,
    )
    rest = apply_payment(PASER_MONTH - 200_000_000, PASER_MONTH, step.paid_after)
    assert rest.paid_in_full and rest.remainder == 0 and rest.paid_after == PASER_MONTH


def test_exact_payment_pays_in_full() -> None:
    step = apply_payment(PASER_MONTH, PASER_MONTH, 0)
    assert step.applied == PASER_MONTH and step.remainder == 0 and step.paid_in_full


def test_overpayment_leaves_a_remainder_for_credit() -> None:
    step = apply_payment(PASER_MONTH + 16_800, PASER_MONTH, 0)
    assert step.applied == PASER_MONTH and step.remainder == 16_800 and step.paid_in_full


def test_a_paid_invoice_takes_nothing_more() -> None:
    step = apply_payment(1_000, PASER_MONTH, PASER_MONTH)
    assert step.applied == 0 and step.remainder == 1_000 and step.paid_in_full


def test_twelve_months_ahead_spread_over_the_invoices_oldest_first() -> None:
    given_, left = spread(12 * PASER_MONTH, [PASER_MONTH] * 3)
    assert given_ == [PASER_MONTH] * 3 and left == 9 * PASER_MONTH
    given_, left = spread(PASER_MONTH + 5, [PASER_MONTH - 10, PASER_MONTH])
    assert given_ == [PASER_MONTH - 10, 15] and left == 0


def test_the_same_reference_is_the_same_payment_id() -> None:
    assert payment_id("BPD-2022-10-001") == payment_id("BPD-2022-10-001")
    assert payment_id("BPD-2022-10-001") != payment_id("BPD-2022-10-002")
    assert payment_id("x").startswith("PAY-")
    assert credit_id("INV-2022-11-PG-1-0", 1) == "CREDIT-INV-2022-11-PG-1-0-1"


def test_a_reference_sent_again_differs_in_the_field_named() -> None:
    recorded = {"amount_rupiah": 100, "requested_invoice_id": "INV-A", "programme_id": "PG"}
    same = {"amount_rupiah": 100, "invoice_id": "INV-A", "programme_id": None}
    assert differing_field(recorded, **same) is None
    assert differing_field(recorded, **{**same, "amount_rupiah": 101}) == "amount_rupiah"
    assert differing_field(recorded, **{**same, "invoice_id": "INV-B"}) == "invoice_id"
    ahead = {"amount_rupiah": 100, "requested_invoice_id": None, "programme_id": "PG"}
    assert differing_field(ahead, amount_rupiah=100, invoice_id=None, programme_id="PG") is None
    assert (
        differing_field(ahead, amount_rupiah=100, invoice_id=None, programme_id="PG2")
        == "programme_id"
    )


def _line(i: int, amount: int = 16_800, district: str = "64.01.01") -> Line:
    return Line(
        enrolment_id=f"E{i:05d}",
        worker_id=f"W{i:05d}",
        district_code=district,
        village_code=district + ".2001",
        occupation="farmer",
        income=1_000_000,
        amounts={"JKK": 10_000, "JKM": 6_800} if amount == 16_800 else {"JKK": amount},
        amount=amount,
    )


def test_statement_rows_list_every_line_with_its_benefits() -> None:
    invoice = {"_id": "INV-2022-10-PG-0", "period": "2022-10", "programme_id": "PG"}
    rows = list(statement_rows(invoice, [_line(1), _line(2, district="64.01.02")]))
    assert len(STATEMENT_HEADER) == len(rows[0])
    assert rows[0] == (
        "INV-2022-10-PG-0",
        "2022-10",
        "PG",
        "W00001",
        "64.01.01",
        "64.01.01.2001",
        10_000,
        6_800,
        0,
        16_800,
    )
    totals = district_totals(
        [
            {"by_district": {"64.01.01": {"workers": 2, "amount_rupiah": 33_600}}},
            {"by_district": {"64.01.01": {"workers": 1, "amount_rupiah": 16_800}}},
        ]
    )
    assert totals["64.01.01"].workers == 3 and totals["64.01.01"].amount_rupiah == 50_400


# -- properties ------------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**12)


@given(amount=amounts, invoice=amounts, before=amounts)
def test_never_more_applied_than_paid_or_owed(amount: int, invoice: int, before: int) -> None:
    step = apply_payment(amount, invoice, before)
    assert 0 <= step.applied <= amount
    assert step.applied <= max(invoice - before, 0)
    assert step.applied + step.remainder == amount
    assert step.paid_in_full == (step.paid_after >= invoice)


@given(
    invoices=st.lists(
        st.lists(st.integers(min_value=1, max_value=500_000), min_size=1, max_size=30),
        min_size=1,
        max_size=6,
    ),
    payments=st.lists(
        st.tuples(st.integers(min_value=0, max_value=8), st.integers(0, 5_000_000)),
        max_size=12,
    ),
)
def test_credit_plus_applied_is_paid_and_lines_covered_never_exceed_the_paid(
    invoices: list[list[int]], payments: list[tuple[int, int]]
) -> None:
    """Payments to invoices (an index past the last is a payment for the programme): what
    is applied plus the credit held always equals what was paid, and the lines covered on each
    invoice cost no more than its paid amount."""
    paid = [0] * len(invoices)
    totals = [sum(lines) for lines in invoices]
    credit = 0
    received = 0
    for target, amount in payments:
        received += amount
        if target < len(invoices):
            step = apply_payment(amount, totals[target], paid[target])
            paid[target] = step.paid_after
            credit += step.remainder
        else:
            credit += amount
        # credit goes to the open invoices, oldest first
        given_, credit = spread(credit, [t - p for t, p in zip(totals, paid, strict=True)])
        paid = [p + g for p, g in zip(paid, given_, strict=True)]
        assert sum(paid) + credit == received
        for lines, p in zip(invoices, paid, strict=True):
            covered = allocate(p, lines)
            assert sum(lines[:covered]) <= p
            assert covered == len(lines) or sum(lines[: covered + 1]) > p
            assert p <= sum(lines)


def test_the_printable_statement_writes_rupiah_and_dates_the_indonesian_way() -> None:
    from datetime import date

    from bpu_billing.handlers.statements import Statement, render_html, tanggal
    from bpu_shared.month import Month

    assert tanggal("2022-12-15") == "15 Desember 2022"
    invoice = {
        "_id": "INV-2022-12-PG-1-0",
        "programme_id": "PG-1",
        "period": "2022-12",
        "worker_count": 32_268,
        "amount_rupiah": PASER_MONTH,
        "paid_rupiah": 42_102_400,
        "due_date": "2022-12-15",
        "by_district": {"64.01.01": {"workers": 32_268, "amount_rupiah": PASER_MONTH}},
    }
    page = render_html(
        Statement("SP-1", Month(2022, 12), [invoice], date(2022, 12, 1), {"PG-1": "Paser <2022>"})
    )
    assert "Rp542.102.400" in page and "Rp42.102.400" in page
    assert "Rp500.000.000" in page and "Lima ratus juta rupiah" in page
    assert "32.268" in page and "Batu Sopang" in page and "15 Desember 2022" in page
    assert "Paser &lt;2022&gt;" in page  # names are escaped


# -- handlers on a fake repository ---------------------------------------------------------------


class FakeRoster:
    """What the cover and budget handlers read: a programme, its enrolments and invoices, each
    invoice paid up to ``lines_paid`` lines."""

    def __init__(self, workers: int, paid: dict[str, int]) -> None:
        self.programme = {
            "_id": "PG-1",
            "sponsor_id": "SP-1",
            "region_code": "64.01",
            "budget_year": 2022,
            "budget_rupiah": 12 * workers * 16_800,
            "funding_source": "apbd_regency",
            "start_month": "2022-10",
            "end_month": "2023-12",
        }
        self.enrolments = [
            {
                "_id": f"E{i:05d}",
                "worker_id": f"W{i:05d}",
                "programme_id": "PG-1",
                "first_month": "2022-10",
                "last_month": None,
                "district_code": "64.01.01",
                "village_code": "64.01.01.2001",
                "benefits": ["JKK", "JKM"],
                "occupation": "farmer",
                "income": 1_000_000,
            }
            for i in range(workers)
        ]
        self.invoices = [
            {
                "_id": f"INV-{period}-PG-1-0",
                "period": period,
                "amount_rupiah": workers * 16_800,
                "paid_rupiah": lines * 16_800,
                "lines_paid": lines,
                "paid_in_full": lines == workers,
                "worker_count": workers,
            }
            for period, lines in paid.items()
        ]

    async def enrolments_of_worker(self, worker_id: str) -> list[dict]:
        return [e for e in self.enrolments if e["worker_id"] == worker_id]

    async def programme_doc(self, programme_id: str) -> dict | None:
        return self.programme if programme_id == "PG-1" else None

    async def invoices_of(self, programme_id: str) -> list[dict]:
        return self.invoices

    async def line_of(self, invoice: str, enrolment_id: str) -> tuple[int, Line] | None:
        index = int(enrolment_id[1:])
        return (index, _line(index)) if index < len(self.enrolments) else None

    async def roster_as(self, programme_id: str, period: object, convert: Any) -> list[Any]:
        return [convert(e) for e in self.enrolments]

    async def changes_of(self, worker_ids: object = None, up_to: object = None) -> dict:
        return {}


def _deps(repo: FakeRoster, today: str):
    from datetime import datetime

    from bpu_shared.clock import JAKARTA, FixedClock
    from bpu_shared.service_layer.bus import Deps

    return Deps(repo, None, FixedClock(datetime.fromisoformat(today).replace(tzinfo=JAKARTA)), None)


async def test_cover_of_a_worker_paid_in_arrears_lapsed_or_not_enrolled() -> None:
    from datetime import date

    from bpu_billing.handlers.cover import GetCoverage, coverage_of
    from bpu_shared.auth import ADMIN, Principal, Role
    from bpu_shared.errors import NotFound

    # October paid in full, November for the first 2 of 4 workers, December not at all.
    repo = FakeRoster(4, {"2022-10": 4, "2022-11": 2, "2022-12": 0})
    deps = _deps(repo, "2022-12-20")
    ask = lambda worker, on: coverage_of(GetCoverage(worker, date.fromisoformat(on)), ADMIN, deps)  # noqa: E731
    assert (await ask("W00003", "2022-10-31")).status == "paid"
    first, last = await ask("W00000", "2022-11-10"), await ask("W00003", "2022-11-10")
    assert first.covered and first.status == "paid"
    assert not last.covered and last.status == "arrears" and last.payable_until == date(2023, 2, 15)
    december = await ask("W00001", "2022-12-10")
    assert december.status == "arrears" and december.invoice_id == "INV-2022-12-PG-1-0"
    assert (await ask("W00001", "2023-01-10")).status == "not_invoiced"
    assert (await ask("W00001", "2022-09-30")).status == "not_enrolled"
    assert (await ask("W09999", "2022-10-10")).status == "not_enrolled"
    # On 2023-03-16, November's unpaid lines are past their window.
    deps.clock = _deps(repo, "2023-03-16").clock
    assert (await ask("W00003", "2022-11-10")).status == "lapsed"
    # A sponsor elsewhere does not learn the worker exists.
    kaur = Principal("k", Role.SPONSOR, "17.04")
    with pytest.raises(NotFound):
        await coverage_of(GetCoverage("W00001", date(2022, 10, 1)), kaur, deps)


async def test_budget_remaining_and_the_months_it_buys() -> None:
    from bpu_billing.handlers.budget import GetBudget, programme_budget
    from bpu_shared.auth import ADMIN

    repo = FakeRoster(1_000, {"2022-10": 1_000, "2022-11": 0})
    answer = await programme_budget(GetBudget("PG-1"), ADMIN, _deps(repo, "2022-11-20"))
    month = 1_000 * 16_800
    assert (answer.budget_rupiah, answer.invoiced_rupiah, answer.paid_rupiah) == (
        12 * month,
        2 * month,
        month,
    )
    assert answer.remaining_rupiah == 10 * month and answer.monthly_cost_rupiah == month
    assert answer.months_remaining == 10 and answer.enrolled_workers == 1_000
    assert not answer.over_budget
