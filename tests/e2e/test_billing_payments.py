"""Payments through the running billing service on the real broker and store: the same
reference twice (API and event) is one payment; the same PaymentReceived published twice at
different offsets and a crash between the invoice write and the block writes publish
ContributionPaid and each worker's CoverPaid once; an overpayment is credited to the next
invoice when it is issued, once however often its ContributionInvoiced is delivered; a payment
twelve months ahead; a crash after each of a payment's writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bpu_billing.domain.cover import due_date
from bpu_billing.handlers.payments import PaymentSweep, RecordPayment, record_payment, sweep
from bpu_billing.store import BillingRepository
from bpu_billing.store.invoices import INVOICE_LINES, INVOICES, Line, invoice_id, line_blocks
from bpu_devstack.inprocess import Running
from bpu_shared.auth import ADMIN
from bpu_shared.events import (
    ContributionInvoiced,
    ContributionInvoicedPayload,
    ContributionPaid,
    CoverPaid,
    DistrictTotal,
    Event,
    PaymentReceived,
    PaymentReceivedPayload,
)
from bpu_shared.month import Month
from tests.e2e.billing_helpers import (
    MONTHLY,
    WOKEN_BY_THE_TEST,
    all_published,
    billing_fixtures,
    pay,
    produce,
    programme,
    published,
)
from tests.harness import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


prefix, clock, billing = billing_fixtures("p", **WOKEN_BY_THE_TEST)


# -- invoices issued as the billing run issues them ----------------------------------------------


async def issue_invoice(
    billing: Running,
    programme: Mapping[str, Any],
    enrolments: Sequence[Mapping[str, Any]],
    period: str,
    sequence: int = 0,
    *,
    announce: bool = True,
) -> dict[str, Any]:
    """An issued invoice of ``period`` with a line per enrolment (JKK Rp10,000 + JKM Rp6,800),
    in the layout of store/invoices.py, issued with its ContributionInvoiced as a run does
    (``announce`` False: without it, so billing's consumer leaves it alone)."""
    month = Month.parse(period)
    ident = invoice_id(month, programme["_id"], sequence)
    lines = [
        Line(
            enrolment_id=e["_id"],
            worker_id=e["worker_id"],
            district_code=e["district_code"],
            village_code=e["village_code"],
            occupation=e["occupation"],
            income=e["income"],
            amounts={"JKK": 10_000, "JKM": 6_800},
            amount=MONTHLY,
        )
        for e in sorted(enrolments, key=lambda e: e["_id"])
    ]
    blocks = line_blocks(ident, lines)
    await billing.repository.db[INVOICE_LINES].insert_many(blocks)
    by_district: dict[str, dict[str, int]] = {}
    for line in lines:
        d = by_district.setdefault(line.district_code, {"workers": 0, "amount_rupiah": 0})
        d["workers"] += 1
        d["amount_rupiah"] += line.amount
    amount = sum(line.amount for line in lines)
    doc = {
        "_id": ident,
        "programme_id": programme["_id"],
        "sponsor_id": programme["sponsor_id"],
        "region_code": programme["region_code"],
        "funding_source": programme["funding_source"],
        "period": period,
        "sequence": sequence,
        "supplementary": sequence > 0,
        "state": "issued",
        "run_id": "test",
        "worker_count": len(lines),
        "amount_rupiah": amount,
        "amount_by_benefit": {"JKK": 10_000 * len(lines), "JKM": 6_800 * len(lines)},
        "by_district": by_district,
        "due_date": due_date(month).isoformat(),
        "issued_at": datetime(month.year, month.month, 1, tzinfo=UTC).isoformat(),
        "over_budget": False,
        "budget_rupiah": programme["budget_rupiah"],
        "invoiced_to_date_rupiah": amount,
        "blocks": len(blocks),
        "paid_rupiah": 0,
        "paid_in_full": False,
        "lines_paid": 0,
        "payments": [],
        "credit_applied_rupiah": 0,
    }
    event = ContributionInvoiced.create(
        ContributionInvoicedPayload(
            invoice_id=ident,
            sponsor_id=programme["sponsor_id"],
            programme_id=programme["_id"],
            region_code=programme["region_code"],
            period=month,
            worker_count=len(lines),
            amount_by_benefit=doc["amount_by_benefit"],
            amount_rupiah=amount,
            due_date=due_date(month),
            sequence=sequence,
            by_district={k: DistrictTotal(**v) for k, v in by_district.items()},
        ),
        producer="billing",
    )
    await billing.repository.uow.insert(INVOICES, doc, [event] if announce else [])
    return doc


# -- reading what billing published --------------------------------------------------------------


async def of_invoice(infra, prefix: str, event_type: type[Event], invoice: str) -> list[dict]:
    return [
        e["payload"]
        for e in await published(infra, prefix, event_type)
        if e["payload"]["invoice_id"] == invoice
    ]


async def invoice_doc(billing: Running, ident: str) -> dict[str, Any]:
    found = await billing.repository.invoice_for_payment(ident)
    assert found is not None
    return found


async def blocks_paid(billing: Running, ident: str) -> list[int]:
    return [b["paid_lines"] for b in await billing.repository.blocks_of(ident)]


# -- the tests -----------------------------------------------------------------------------------


async def test_the_same_reference_by_api_and_by_event_is_one_payment(billing, infra, prefix):
    prog, enrolled = await programme(billing, 100)
    invoice = await issue_invoice(billing, prog, enrolled, "2022-10")
    amount = invoice["amount_rupiah"]  # Rp1,680,000
    first = await pay(billing, invoice_id=invoice["_id"], amount_rupiah=amount, reference="R-1")
    assert first["state"] == "applied"
    assert first["applications"] == [{"invoice_id": invoice["_id"], "amount_rupiah": amount}]
    again = await pay(
        billing, expect=200, invoice_id=invoice["_id"], amount_rupiah=amount, reference="R-1"
    )
    assert again["payment_id"] == first["payment_id"]
    # The same reference with another amount or invoice is refused, naming the field.
    other = await billing.client.post(
        "/payments",
        json={
            "reference": "R-1",
            "invoice_id": invoice["_id"],
            "amount_rupiah": amount + 1,
            "paid_at": "2022-10-14T10:00:00+08:00",
        },
    )
    assert other.status_code == 409 and "amount" in other.text
    unknown = await billing.client.post(
        "/payments",
        json={
            "reference": "R-2",
            "invoice_id": "INV-nope",
            "amount_rupiah": 1,
            "paid_at": "2022-10-14T10:00:00+08:00",
        },
    )
    assert unknown.status_code == 422 and "invoice_id" in unknown.text

    # The bank reports the same payment as an event: still one payment.
    await produce(infra, prefix, [payment_received("R-1", amount, invoice["_id"])])
    await eventually(lambda: consumed_payments(billing), lambda n: n >= 1, timeout=20)
    await all_published(billing)
    paid = await of_invoice(infra, prefix, ContributionPaid, invoice["_id"])
    assert len(paid) == 1 and paid[0]["paid_in_full"] and paid[0]["workers_covered"] == 100
    covered = await of_invoice(infra, prefix, CoverPaid, invoice["_id"])
    assert sorted(w for e in covered for w in e["worker_ids"]) == sorted(
        e["worker_id"] for e in enrolled
    )
    listed = await billing.client.get("/payments", params={"invoice_id": invoice["_id"]})
    assert [p["reference"] for p in listed.json()] == ["R-1"]
    one = await billing.client.get(f"/payments/{first['payment_id']}")
    assert one.status_code == 200 and one.json()["amount_rupiah"] == amount


def payment_received(
    reference: str, amount: int, invoice: str | None = None, programme: str | None = None
) -> PaymentReceived:
    return PaymentReceived.create(
        PaymentReceivedPayload(
            reference=reference,
            amount_rupiah=amount,
            paid_at=datetime(2022, 10, 14, 3, tzinfo=UTC),
            invoice_id=invoice,
            programme_id=programme,
            payer="BPD Kaltimtara",
        ),
        producer="bank",
    )


async def consumed(billing: Running, event_type: type[Event]) -> float:
    """How many events of the topic billing's consumer has handled so far."""
    from bpu_shared.metrics import EVENTS_CONSUMED

    return float(EVENTS_CONSUMED.labels(event_type.TOPIC, billing.runtime.group_id)._value.get())


def consumed_payments(billing: Running):
    return consumed(billing, PaymentReceived)


async def test_published_twice_and_a_crash_between_invoice_and_blocks_announce_each_once(
    billing, infra, prefix
):
    prog, enrolled = await programme(billing, 12_000)  # three blocks of lines
    invoice = await issue_invoice(billing, prog, enrolled, "2022-10")
    amount = invoice["amount_rupiah"]

    # Half of it by event, published twice with another payment between (other offsets).
    half = payment_received("EV-HALF", amount // 2, invoice["_id"])
    before = await consumed_payments(billing)
    await produce(
        infra, prefix, [half, payment_received("EV-REST", 0 + 16_800, invoice["_id"]), half]
    )
    await eventually(lambda: consumed_payments(billing), lambda n: n >= before + 3, timeout=30)
    doc = await invoice_doc(billing, invoice["_id"])
    assert doc["paid_rupiah"] == amount // 2 + 16_800
    assert doc["lines_paid"] == 6_001
    assert await blocks_paid(billing, invoice["_id"]) == [5_000, 1_001, 0]

    # The rest through the API, crashing after the invoice's write, before any block's.
    repo = billing.repository
    real = repo.settle_block

    async def crash(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("process killed")

    repo.settle_block = crash
    rest = amount - doc["paid_rupiah"]
    with pytest.raises(ConnectionError):
        await pay(billing, invoice_id=invoice["_id"], amount_rupiah=rest, reference="API-REST")
    repo.settle_block = real
    doc = await invoice_doc(billing, invoice["_id"])
    assert doc["paid_in_full"] and doc["lines_paid"] == 12_000
    assert await blocks_paid(billing, invoice["_id"]) == [5_000, 1_001, 0]
    # The payment sent again finishes it.
    again = await pay(
        billing, expect=200, invoice_id=invoice["_id"], amount_rupiah=rest, reference="API-REST"
    )
    assert again["state"] == "applied" and again["credited_rupiah"] == 0
    assert await blocks_paid(billing, invoice["_id"]) == [5_000, 5_000, 2_000]

    await all_published(billing)
    paid = await of_invoice(infra, prefix, ContributionPaid, invoice["_id"])
    assert sorted(p["reference"] for p in paid) == ["API-REST", "EV-HALF", "EV-REST"]
    assert sum(p["amount_rupiah"] for p in paid) == amount
    workers = [
        w
        for e in await of_invoice(infra, prefix, CoverPaid, invoice["_id"])
        for w in e["worker_ids"]
    ]
    assert len(workers) == 12_000 and len(set(workers)) == 12_000


async def test_a_crash_left_to_the_sweep_is_finished_once(billing, infra, prefix):
    prog, enrolled = await programme(billing, 6_000)
    invoice = await issue_invoice(billing, prog, enrolled, "2022-10")
    repo = billing.repository
    real = repo.settle_block
    calls = 0

    async def crash_on_second(*args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("process killed")
        return await real(*args, **kwargs)

    repo.settle_block = crash_on_second
    with pytest.raises(ConnectionError):
        await pay(billing, invoice_id=invoice["_id"], amount_rupiah=invoice["amount_rupiah"])
    repo.settle_block = real
    assert await blocks_paid(billing, invoice["_id"]) == [5_000, 0]
    [sweep] = [j for j in billing.runtime.background if isinstance(j, PaymentSweep)]
    sweep.wake()
    await eventually(lambda: blocks_paid(billing, invoice["_id"]), lambda b: b == [5_000, 1_000])

    async def states() -> list[str]:
        listed = await billing.client.get("/payments", params={"programme_id": prog["_id"]})
        return [p["state"] for p in listed.json()]

    await eventually(states, lambda s: s == ["applied"])  # marked after its blocks
    await all_published(billing)
    workers = [
        w
        for e in await of_invoice(infra, prefix, CoverPaid, invoice["_id"])
        for w in e["worker_ids"]
    ]
    assert len(workers) == 6_000 and len(set(workers)) == 6_000
    assert len(await of_invoice(infra, prefix, ContributionPaid, invoice["_id"])) == 1


async def test_an_overpayment_is_credited_to_the_next_invoice(billing, infra, prefix):
    prog, enrolled = await programme(billing, 1_000)
    october = await issue_invoice(billing, prog, enrolled, "2022-10")
    month = october["amount_rupiah"]  # Rp16,800,000
    over = await pay(billing, invoice_id=october["_id"], amount_rupiah=month + 5_000_000)
    assert over["credited_rupiah"] == 5_000_000
    assert (await repo_programme(billing, prog["_id"]))["credit_rupiah"] == 5_000_000
    # November is issued: billing hears its own ContributionInvoiced and applies the credit.
    november = await issue_invoice(billing, prog, enrolled, "2022-11")
    doc, _ = await eventually(
        lambda: invoice_doc(billing, november["_id"]), lambda d: d["paid_rupiah"] > 0
    )
    assert doc["paid_rupiah"] == 5_000_000 and not doc["paid_in_full"]
    assert doc["credit_applied_rupiah"] == 5_000_000
    assert doc["lines_paid"] == 5_000_000 // MONTHLY  # 297 workers covered
    assert (await repo_programme(billing, prog["_id"]))["credit_rupiah"] == 0
    listed = (await billing.client.get("/payments", params={"invoice_id": november["_id"]})).json()
    assert [(p["kind"], p["amount_rupiah"]) for p in listed] == [("credit", 5_000_000)]

    # Both invoices' ContributionInvoiced delivered again, November's twice at other offsets:
    # the credit was applied once and stays so.
    await all_published(billing)
    again = {
        ident: ContributionInvoiced.from_wire(e)
        for e in await published(infra, prefix, ContributionInvoiced)
        if (ident := e["payload"]["invoice_id"]) in (october["_id"], november["_id"])
    }
    before = await consumed(billing, ContributionInvoiced)
    await produce(
        infra, prefix, [again[november["_id"]], again[october["_id"]], again[november["_id"]]]
    )
    await eventually(
        lambda: consumed(billing, ContributionInvoiced), lambda n: n >= before + 3, timeout=30
    )
    doc = await invoice_doc(billing, november["_id"])
    assert (doc["paid_rupiah"], doc["credit_applied_rupiah"]) == (5_000_000, 5_000_000)
    assert doc["lines_paid"] == 5_000_000 // MONTHLY
    assert (await repo_programme(billing, prog["_id"]))["credit_rupiah"] == 0
    listed = (await billing.client.get("/payments", params={"programme_id": prog["_id"]})).json()
    assert sorted((p["kind"], p["amount_rupiah"]) for p in listed) == [
        ("credit", 5_000_000),
        ("payment", month + 5_000_000),
    ]


async def test_a_payment_twelve_months_ahead(billing, infra, prefix):
    prog, enrolled = await programme(billing, 500, start="2023-01", end="2023-12")
    month = 500 * MONTHLY  # Rp8,400,000
    ahead = await pay(billing, programme_id=prog["_id"], amount_rupiah=12 * month)
    assert ahead["applications"] == [] and ahead["credited_rupiah"] == 12 * month
    january = await issue_invoice(billing, prog, enrolled, "2023-01")
    february = await issue_invoice(billing, prog, enrolled, "2023-02")
    for inv in (january, february):
        await eventually(lambda i=inv: invoice_doc(billing, i["_id"]), lambda d: d["paid_in_full"])
    await eventually(
        lambda: repo_programme(billing, prog["_id"]), lambda p: p["credit_rupiah"] == 10 * month
    )
    # Sent again as an event: nothing changes.
    before = await consumed_payments(billing)
    await produce(
        infra, prefix, [payment_received(ahead["reference"], 12 * month, programme=prog["_id"])]
    )
    await eventually(lambda: consumed_payments(billing), lambda n: n >= before + 1, timeout=20)
    assert (await repo_programme(billing, prog["_id"]))["credit_rupiah"] == 10 * month
    await all_published(billing)
    for inv in (january, february):
        workers = [
            w
            for e in await of_invoice(infra, prefix, CoverPaid, inv["_id"])
            for w in e["worker_ids"]
        ]
        assert len(workers) == 500 == len(set(workers))


async def repo_programme(billing: Running, programme_id: str) -> dict[str, Any]:
    found = await billing.repository.programme_for_payment(programme_id)
    assert found is not None
    return found


# -- a crash after every write --------------------------------------------------------------------

#: The repository's writes a payment makes, in the order it makes them.
WRITES = (
    "insert_payment",
    "apply_to_invoice",
    "credit_programme",
    "settle_block",
    "mark_applied",
    "take_credit",
)


class Crash(Exception):
    """The process died here."""


def crashing_after(repo: BillingRepository, n: int) -> None:
    """Make ``repo`` die right after its ``n``-th write (the write is done)."""
    done = 0
    for name in WRITES:
        real = getattr(repo, name)

        async def write(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            nonlocal done
            result = await _real(*args, **kwargs)
            done += 1
            if done == n:
                raise Crash(f"killed after write {n} ({_name})")
            return result

        setattr(repo, name, write)


async def test_a_crash_after_any_write_is_finished_once(billing, infra, prefix, clock):
    """An overpayment of October with November issued: the payment, October's write, the
    credit, October's block, the payment marked, the credit taken for November, the credit's
    payment, November's write, its block, the credit marked — ten writes. Killed after each
    one, then finished by the same payment sent again or by the sweep: the same end, and every
    event once."""
    cases = []
    for n in range(1, 11):
        for finish in ("again", "sweep"):
            prog, enrolled = await programme(billing, 10)
            october = await issue_invoice(billing, prog, enrolled, "2022-10", announce=False)
            november = await issue_invoice(billing, prog, enrolled, "2022-11", announce=False)
            month = october["amount_rupiah"]  # Rp168,000
            command = RecordPayment(
                reference=f"CRASH-{n}-{finish}-{prog['_id']}",
                amount_rupiah=month + month // 2,
                paid_at=datetime(2022, 10, 14, 3, tzinfo=UTC),
                invoice_id=october["_id"],
            )
            doomed = BillingRepository(billing.runtime)
            crashing_after(doomed, n)
            deps = billing.app.state.bus.deps
            with pytest.raises(Crash):
                await record_payment(command, ADMIN, replace(deps, repository=doomed))
            if finish == "again":
                await record_payment(command, ADMIN, deps)
            else:
                await sweep(deps)
            oct_doc = await invoice_doc(billing, october["_id"])
            nov_doc = await invoice_doc(billing, november["_id"])
            case = f"crash after write {n}, finished by {finish}"
            assert (oct_doc["paid_rupiah"], oct_doc["lines_paid"]) == (month, 10), case
            assert (nov_doc["paid_rupiah"], nov_doc["lines_paid"]) == (month // 2, 5), case
            assert nov_doc["credit_applied_rupiah"] == month // 2, case
            assert await blocks_paid(billing, october["_id"]) == [10], case
            assert await blocks_paid(billing, november["_id"]) == [5], case
            assert (await repo_programme(billing, prog["_id"]))["credit_rupiah"] == 0, case
            cases.append((case, october["_id"], november["_id"]))

    await all_published(billing)
    paid = await published(infra, prefix, ContributionPaid)
    covered = await published(infra, prefix, CoverPaid)
    for case, *invoices in cases:
        for invoice, workers in zip(invoices, (10, 5), strict=True):
            events = [e["payload"] for e in paid if e["payload"]["invoice_id"] == invoice]
            assert len(events) == 1, case
            ids = [
                w
                for e in covered
                if e["payload"]["invoice_id"] == invoice
                for w in e["payload"]["worker_ids"]
            ]
            assert len(ids) == workers == len(set(ids)), case
