"""Reporting's projections of billing's and claims' events against the real store: invoices,
payments, lapses, claim steps and claim payments, each delivered twice (again at other
offsets, in other batches, in another order) and across a tally killed between two of its
writes, count once in every region, all time and per month; a region's month reads as two
lookups whose child rows add up to it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bpu_reporting.domain import (
    claim_contributions,
    claim_step_contributions,
    invoice_contributions,
    lapse_contributions,
    payment_contributions,
)
from bpu_reporting.handlers import (
    EVENT_HANDLERS,
    claim_step_facts,
    invoice_facts,
    lapse_facts,
    paid_claim_key,
    payment_facts,
)
from bpu_reporting.store import ReportingRepository
from bpu_shared.clock import FixedClock
from bpu_shared.events import (
    BenefitProgramme,
    ClaimApproved,
    ClaimApprovedPayload,
    ClaimFiled,
    ClaimFiledPayload,
    ClaimPaid,
    ClaimPaidPayload,
    ClaimRejected,
    ClaimRejectedPayload,
    ContributionInvoiced,
    ContributionInvoicedPayload,
    ContributionPaid,
    ContributionPaidPayload,
    CoverageLapsed,
    CoverageLapsedPayload,
    DistrictTotal,
    Event,
    RefusalReason,
)
from bpu_shared.messaging.exactly_once import Tally, inbox_of
from bpu_shared.messaging.lease import Lease
from bpu_shared.month import Month

JKK, JKM = BenefitProgramme.JKK, BenefitProgramme.JKM
KAUR_DISTRICTS = [f"17.04.{d:02d}" for d in range(1, 16)]
#: A worker's month of JKK and JKM, in Rupiah.
MONTHLY = 16_800


def kaur_workers() -> dict[str, int]:
    """Kaur's 7,130 workers over its 15 districts: 476 in each of the first five, 475 in
    the others."""
    base = {code: 475 for code in KAUR_DISTRICTS}  # 7,125
    for code in KAUR_DISTRICTS[:5]:
        base[code] += 1
    assert sum(base.values()) == 7_130
    return base


def districts(counts: dict[str, int]) -> dict[str, DistrictTotal]:
    return {c: DistrictTotal(workers=n, amount_rupiah=n * MONTHLY) for c, n in counts.items() if n}


def invoiced(invoice_id: str, region: str, period: Month, counts: dict[str, int]) -> Event:
    total = sum(counts.values())
    return ContributionInvoiced.create(
        ContributionInvoicedPayload(
            invoice_id=invoice_id,
            sponsor_id=f"SP-{region}",
            programme_id=f"PG-{region}",
            region_code=region,
            period=period,
            worker_count=total,
            amount_by_benefit={JKK: total * 10_000, JKM: total * 6_800},
            amount_rupiah=total * MONTHLY,
            due_date=date(period.year, period.month, 15),
            by_district=districts(counts),
        ),
        producer="billing",
    )


def paid(
    payment_id: str,
    invoice_id: str,
    region: str,
    period: Month,
    amount: int,
    covered: dict[str, int],
) -> Event:
    return ContributionPaid.create(
        ContributionPaidPayload(
            payment_id=payment_id,
            reference=f"REF-{payment_id}",
            invoice_id=invoice_id,
            sponsor_id=f"SP-{region}",
            programme_id=f"PG-{region}",
            region_code=region,
            period=period,
            amount_rupiah=amount,
            invoice_amount_rupiah=0,
            invoice_paid_rupiah=amount,
            paid_in_full=False,
            workers_covered=sum(covered.values()),
            worker_count=0,
            by_district=districts(covered),
            paid_at=datetime(2026, 3, 14, 3, 0, tzinfo=UTC),
        ),
        producer="billing",
    )


MARCH, APRIL = Month(2026, 3), Month(2026, 4)


def billing_events() -> list[Event]:
    """Kaur invoiced for March and paid in two payments (the first part-way through a
    worker's line); Kepahiang invoiced for March and April, April never paid and lapsed."""
    kaur = kaur_workers()
    first = dict(list(kaur.items())[:6])
    rest = dict(list(kaur.items())[6:])
    first_amount = sum(first.values()) * MONTHLY + 7_000  # 7,000 on a line not paid in full
    kepahiang = {"17.08.01": 40, "17.08.02": 2}
    return [
        invoiced("INV-KAUR-03", "17.04", MARCH, kaur),
        invoiced("INV-KPH-03", "17.08", MARCH, kepahiang),
        paid("PAY-1", "INV-KAUR-03", "17.04", MARCH, first_amount, first),
        paid("PAY-2", "INV-KAUR-03", "17.04", MARCH, 119_784_000 - first_amount, rest),
        paid("PAY-3", "INV-KPH-03", "17.08", MARCH, 42 * MONTHLY, kepahiang),
        invoiced("INV-KPH-04", "17.08", APRIL, kepahiang),
        CoverageLapsed.create(
            CoverageLapsedPayload(
                programme_id="PG-17.08",
                sponsor_id="SP-17.08",
                region_code="17.08",
                lapsed_from=APRIL,
                unpaid_periods=[APRIL],
                worker_count=42,
            ),
            producer="billing",
        ),
    ]


def claim_fields(claim_id: str, district: str, benefit: BenefitProgramme) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "worker_id": f"WK-{claim_id}",
        "programme_id": "PG-17.04",
        "benefit": benefit,
        "incident_date": date(2026, 2, 20),
        "province_code": "17",
        "regency_code": district[:5],
        "district_code": district,
        "version": 1,
    }


def claims_events() -> list[Event]:
    """A JKM death filed, approved and paid (lump sum, periodic, funeral) and its child's
    first scholarship instalment; a JKK accident filed, approved and paid (medical,
    transport); a JKK claim filed and rejected. Filed in February, decided in March (one
    approval on the evening of 31 March UTC: 1 April in Jakarta)."""
    feb, mar = datetime(2026, 2, 25, 2, 0, tzinfo=UTC), datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    evening = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
    death = {"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000}
    accident = {"medical": 3_000_000, "transport": 500_000}
    out: list[Event] = []
    for claim_id, district, benefit, by_kind, approved_at in (
        ("CL-1", "17.04.01", JKM, death, mar),
        ("CL-2", "17.04.02", JKK, accident, evening),
    ):
        f = claim_fields(claim_id, district, benefit)
        amount = sum(by_kind.values())
        out += [
            ClaimFiled.create(
                ClaimFiledPayload(**f, filed_by="k1", filed_at=feb), producer="claims"
            ),
            ClaimApproved.create(
                ClaimApprovedPayload(
                    **f,
                    approved_by="k2",
                    approved_at=approved_at,
                    amount_rupiah=amount,
                    amount_by_kind=by_kind,
                ),
                producer="claims",
            ),
            ClaimPaid.create(
                ClaimPaidPayload(
                    **{k: v for k, v in f.items() if k not in ("incident_date", "version")},
                    kind="death" if benefit == JKM else "medical",
                    amount_rupiah=amount,
                    paid_at=approved_at,
                    amount_by_kind=by_kind,
                    payment_id=f"CP-{claim_id}",
                ),
                producer="claims",
            ),
        ]
    f = claim_fields("CL-1", "17.04.01", JKM)
    out.append(
        ClaimPaid.create(
            ClaimPaidPayload(
                **{k: v for k, v in f.items() if k not in ("incident_date", "version")},
                kind="scholarship",
                amount_rupiah=1_500_000,
                paid_at=mar,
                amount_by_kind={"scholarship": 1_500_000},
                payment_id="CP-CL-1-1",
                instalment=1,
            ),
            producer="claims",
        )
    )
    f = claim_fields("CL-3", "17.08.01", JKK)
    out += [
        ClaimFiled.create(ClaimFiledPayload(**f, filed_by="k1", filed_at=feb), producer="claims"),
        ClaimRejected.create(
            ClaimRejectedPayload(
                **f,
                rejected_by="k2",
                rejected_at=mar,
                reasons=[RefusalReason(code="R02", text="no cover in the incident month")],
            ),
            producer="claims",
        ),
    ]
    return out


def all_events() -> list[Event]:
    return billing_events() + claims_events()


def repository_of(db, owner: str, *, ttl: float = 0.3) -> ReportingRepository:
    """The service's repository on the test's database, its tallies under ``owner``'s
    leases."""
    runtime = SimpleNamespace(
        db=db,
        uow=None,
        api_keys=None,
        lease=lambda name: Lease(db["leases"], name, owner, ttl=ttl),
    )
    return ReportingRepository(runtime)  # type: ignore[arg-type]


async def deliver(repository: ReportingRepository, events: Sequence[Event], size: int) -> None:
    """What the consumers do: each topic's events in batches of ``size``, through the
    service's own event handlers."""
    deps = SimpleNamespace(
        repository=repository, clock=FixedClock(datetime(2026, 4, 2, tzinfo=UTC))
    )
    by_type: dict[type, list[Event]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    for event_type, of_type in by_type.items():
        for start in range(0, len(of_type), size):
            for handler in EVENT_HANDLERS[event_type]:
                await handler(of_type[start : start + size], deps)


async def count_all(repository: ReportingRepository) -> None:
    for tally in repository.tallies:
        await tally.run_once()


def expected_counters(events: Sequence[Event]) -> dict[str, dict[str, int]]:
    """Every counter as one delivery of each fact makes it (the facts' contributions summed)."""
    facts: list[tuple[Any, dict[str, Any]]] = []
    of = lambda kind: [e for e in events if isinstance(e, kind)]  # noqa: E731
    facts += [(invoice_contributions, f) for f in invoice_facts(of(ContributionInvoiced)).values()]
    facts += [(payment_contributions, f) for f in payment_facts(of(ContributionPaid)).values()]
    facts += [(lapse_contributions, f) for f in lapse_facts(of(CoverageLapsed)).values()]
    steps = of(ClaimFiled) + of(ClaimApproved) + of(ClaimRejected)
    facts += [(claim_step_contributions, f) for f in claim_step_facts(steps).values()]
    paid_claims = {paid_claim_key(e): e for e in of(ClaimPaid)}
    for e in paid_claims.values():
        fact = e.payload.model_dump(mode="json")
        facts.append((claim_contributions, {**fact, "paid_at": e.payload.paid_at}))
    counters: dict[str, dict[str, int]] = {}
    for contributions, fact in facts:
        for counter_id, inc, _ in contributions(fact):
            target = counters.setdefault(counter_id, {})
            for name, amount in inc.items():
                target[name] = target.get(name, 0) + amount
    return counters


async def counters_in(db) -> dict[str, dict[str, int]]:
    """The counted fields of every counter (not the batch numbers and ids they keep)."""
    out: dict[str, dict[str, int]] = {}
    async for doc in db["coverage_counters"].find({}):
        out[doc["_id"]] = {
            k: v
            for k, v in doc.items()
            if isinstance(v, int) and not k.startswith("tally") and k != "level"
        }
    return out


def nonzero(counters: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        cid: {k: v for k, v in fields.items() if v}
        for cid, fields in counters.items()
        if any(fields.values())
    }


async def assert_counted_once(db) -> None:
    assert nonzero(await counters_in(db)) == nonzero(expected_counters(all_events()))
    for facts in (
        "claim_steps",
        "invoiced_contributions",
        "paid_contributions",
        "lapsed_programmes",
        "paid_claims",
    ):
        assert await inbox_of(db[facts]).count_documents({}) == 0
    assert await db["tally_batches"].count_documents({}) == 0


async def test_kaurs_month_reads_as_the_regions_total_and_its_15_districts(mongo_db):
    repository = repository_of(mongo_db, "a")
    await repository.ensure_indexes()
    await deliver(repository, all_events(), size=100)
    await count_all(repository)

    own, children = await repository.figures("17.04", "2026-03")
    assert own["contributions_invoiced_rupiah"] == 119_784_000
    assert own["contributions_paid_rupiah"] == 119_784_000
    assert own["payments_applied_rupiah"] == 119_784_000
    assert (own["worker_months_invoiced"], own["workers_covered"], own["invoices"]) == (
        7_130,
        7_130,
        1,
    )
    assert sorted(children) == KAUR_DISTRICTS
    assert sum(c["contributions_invoiced_rupiah"] for c in children.values()) == 119_784_000
    assert sum(c["contributions_paid_rupiah"] for c in children.values()) == 119_784_000
    assert sum(c["workers_covered"] for c in children.values()) == 7_130

    province, regencies = await repository.figures("17", "2026-03")
    assert province["contributions_invoiced_rupiah"] == 119_784_000 + 42 * MONTHLY
    assert regencies["17.04"] == own
    assert set(regencies) == {"17.04", "17.08"}
    april, _ = await repository.figures("17", "2026-04")
    assert (april["contributions_invoiced_rupiah"], april["contributions_paid_rupiah"]) == (
        42 * MONTHLY,
        0,
    )
    assert (april["programmes_lapsed"], april["workers_lapsed"]) == (1, 42)
    all_time, _ = await repository.figures("17")
    assert all_time["contributions_invoiced_rupiah"] == 119_784_000 + 2 * 42 * MONTHLY

    # Claims: filed in February, decided and paid in March (one approval on 1 April in
    # Jakarta), per programme and kind.
    feb, _ = await repository.figures("17", "2026-02")
    assert (feb["claims_filed"], feb["claims_filed_jkk"], feb["claims_filed_jkm"]) == (3, 2, 1)
    mar, regencies = await repository.figures("17", "2026-03")
    assert (mar["claims_approved"], mar["claims_rejected"], mar["claims_paid"]) == (1, 1, 1)
    assert mar["benefits_paid_rupiah"] == 43_500_000  # the JKM death and one instalment
    assert mar["benefits_paid_kind_scholarship_rupiah"] == 1_500_000
    assert mar["benefits_paid_kind_lump_sum_rupiah"] == 20_000_000
    assert regencies["17.08"]["claims_rejected_jkk"] == 1
    apr, _ = await repository.figures("17.04", "2026-04")
    assert (apr["claims_approved_jkk"], apr["benefits_paid_jkk_rupiah"]) == (1, 3_500_000)
    assert apr["benefits_paid_kind_transport_rupiah"] == 500_000
    everything, _ = await repository.figures("")
    assert everything["benefits_paid_rupiah"] == 47_000_000
    assert everything["claims_paid"] == 2
    await assert_counted_once(mongo_db)


async def test_every_event_again_at_other_offsets_and_batch_boundaries_counts_once(mongo_db):
    """Every event delivered, counted, then published again in another order and other
    consumer batches, some counted in between, with small tally batches: each counts once."""
    repository = repository_of(mongo_db, "a")
    for tally in repository.tallies:
        tally.batch_size = 2
    await repository.ensure_indexes()
    events = all_events()
    await deliver(repository, events, size=3)
    await count_all(repository)
    again = list(events)
    random.Random(9).shuffle(again)
    await deliver(repository, again[:7], size=2)
    await count_all(repository)
    await deliver(repository, again, size=5)  # some a third time
    await deliver(repository, events, size=1)
    await count_all(repository)
    await assert_counted_once(mongo_db)


class Crash(BaseException):
    """A process killed at this point: nothing after it runs, nothing catches it."""


TALLIES = [
    "contributions-invoiced",
    "contributions-paid",
    "coverage-lapsed",
    "claim-steps",
    "coverage-claims",
]


@pytest.mark.parametrize(
    ("name", "point"),
    [(name, point) for name in TALLIES for point in ("counted", "inbox-emptied")]
    + [("contributions-paid", "inserted")],  # every point of the kit: test_tally.py
)
async def test_a_tally_killed_between_two_writes_counts_each_fact_once(mongo_db, name, point):
    """The tally killed after inserting its facts, between two counter writes, or after
    counting all but before emptying its inbox; the events delivered again meanwhile; the next
    holder of the lease finishes the batch: every counter as one delivery makes it."""
    first = repository_of(mongo_db, "first")
    await first.ensure_indexes()
    await deliver(first, all_events(), size=4)
    for tally in first.tallies:
        if tally.tally_name != name:
            await tally.run_once()
    crashing: Tally = next(t for t in first.tallies if t.tally_name == name)
    crashing.counter_chunk = 2  # several counter writes per batch, to crash between them

    async def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    crashing.after_write = crash
    with pytest.raises(Crash):
        await crashing.run_once()

    second = repository_of(mongo_db, "second")
    await deliver(second, list(reversed(all_events())), size=3)
    await asyncio.sleep(0.4)  # the dead process's lease expires
    await count_all(second)
    await count_all(second)
    await assert_counted_once(mongo_db)
