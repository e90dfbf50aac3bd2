"""Billing's, claims' and registration's events for reporting's tests, and the counters one
delivery of each makes: Kaur's March of 7,130 workers over 15 districts invoiced and paid,
Kepahiang's months (April lapsed), claims filed, approved, rejected and paid in February and
March, and (``worker_events``) 30 enrolments registered in Kaur under two programmes and two
occupations, 3 of them ended, 5 waiting-list entries of which 2 left."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from bpu_reporting.domain import (
    claim_contributions,
    claim_step_contributions,
    enrolment_end_contributions,
    invoice_contributions,
    lapse_contributions,
    payment_contributions,
    waiting_left_contributions,
    waitlisted_contributions,
    worker_contributions,
)
from bpu_reporting.handlers import (
    claim_step_facts,
    covered_worker_facts,
    ended_enrolment_facts,
    invoice_facts,
    lapse_facts,
    paid_claim_key,
    payment_facts,
    waiting_left_facts,
    waitlisted_facts,
)
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
    EndReason,
    EnrolmentEnded,
    EnrolmentEndedPayload,
    Event,
    RefusalReason,
    WaitingListEntryPayload,
    WaitingListLeft,
    WaitingListLeftPayload,
    WaitingListReason,
    WorkerRegistered,
    WorkerRegisteredPayload,
    WorkerWaitlisted,
)
from bpu_shared.month import Month

JKK, JKM = BenefitProgramme.JKK, BenefitProgramme.JKM
KAUR_DISTRICTS = [f"17.04.{d:02d}" for d in range(1, 16)]
#: A worker's month of JKK and JKM, in Rupiah.
MONTHLY = 16_800
#: Kaur's March: 7,130 workers at Rp16,800 (JKK Rp10,000 + JKM Rp6,800).
KAUR_MONTH = 7_130 * MONTHLY


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


def claim_fields(
    claim_id: str = "CL-1",
    district: str = "17.04.01",
    benefit: BenefitProgramme = BenefitProgramme.JKK,
    version: int = 1,
) -> dict[str, Any]:
    """What every claim event carries, for a claim of ``benefit`` in ``district``."""
    return {
        "claim_id": claim_id,
        "worker_id": f"WK-{claim_id}",
        "programme_id": "PG-17.04",
        "benefit": benefit,
        "incident_date": date(2026, 2, 20),
        "province_code": "17",
        "regency_code": district[:5],
        "district_code": district,
        "version": version,
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


#: Kaur's programmes of the worker events: 24 enrolments in the first, 6 in the second.
KAUR_PROGRAMME, KAUR_SECOND = "PG-17.04", "PG-17.04-B"
WORKER_VILLAGES = ["17.04.01.2001", "17.04.01.2002", "17.04.02.2002"]
#: 31 March 18:00 UTC is 1 April in Jakarta: that enrolment counts in April.
REGISTERED_AT = [
    datetime(2026, 2, 10, 2, 0, tzinfo=UTC),
    datetime(2026, 3, 10, 2, 0, tzinfo=UTC),
    datetime(2026, 3, 31, 18, 0, tzinfo=UTC),
]


def _where(village: str) -> dict[str, str]:
    return {
        "province_code": village[:2],
        "regency_code": village[:5],
        "district_code": village[:8],
        "village_code": village,
    }


def worker_events() -> list[Event]:
    """30 enrolments in Kaur (workers WK-00…WK-29, one enrolment each): villages, months and
    occupations taken in turn (10 in each of February, March and April in Jakarta; 15 farmers,
    15 fishers), the first 24 under ``KAUR_PROGRAMME``, the last 6 under ``KAUR_SECOND``; the
    enrolments of WK-00, WK-01 and WK-02 ended on 31 March; five waiting-list entries in
    17.04.02.2002 asked for in March (farmers of ``KAUR_PROGRAMME``), two of which left in
    April (one enrolled, one withdrew)."""
    out: list[Event] = []
    for i in range(30):
        village = WORKER_VILLAGES[i % 3]
        programme = KAUR_PROGRAMME if i < 24 else KAUR_SECOND
        occupation = "farmer" if i % 2 == 0 else "fisher"
        facts = {
            "worker_id": f"WK-{i:02d}",
            **_where(village),
            "occupation": occupation,
            "gender": "P",
            "declared_monthly_income": 1_000_000,
        }
        out.append(
            WorkerRegistered.create(
                WorkerRegisteredPayload(
                    **facts,
                    sponsor_id="SP-17.04",
                    programme_id=programme,
                    benefits=[JKK, JKM],
                    cover_start=Month(2026, 3),
                    registered_at=REGISTERED_AT[(i // 10) % 3],
                    enrolment_id=f"EN-{i:02d}",
                ),
                producer="registration",
            )
        )
        if i < 3:
            out.append(
                EnrolmentEnded.create(
                    EnrolmentEndedPayload(
                        **facts,
                        enrolment_id=f"EN-{i:02d}",
                        sponsor_id="SP-17.04",
                        programme_id=programme,
                        cover_start=Month(2026, 3),
                        cover_end=Month(2026, 3),
                        reason=EndReason.MOVED_AWAY,
                        effective_on=date(2026, 3, 31),
                    ),
                    producer="registration",
                )
            )
    for n in range(5):
        entry = {
            "entry_id": f"WL-{n}",
            "programme_id": KAUR_PROGRAMME,
            "sponsor_id": "SP-17.04",
            **_where("17.04.02.2002"),
            "occupation": "farmer",
            "requested_on": date(2026, 3, 20 + n),
        }
        out.append(
            WorkerWaitlisted.create(WaitingListEntryPayload(**entry), producer="registration")
        )
        if n < 2:
            reason = WaitingListReason.ENROLLED if n == 0 else WaitingListReason.WITHDRAWN
            left = WaitingListLeft.create(
                WaitingListLeftPayload(**entry, reason=reason), producer="registration"
            )
            out.append(
                left.model_copy(update={"occurred_at": datetime(2026, 4, 2 + n, 3, tzinfo=UTC)})
            )
    return out


def expected_counters(events: Sequence[Event]) -> dict[str, dict[str, int]]:
    """Every counter as one delivery of each fact makes it (the facts' contributions summed)."""
    facts: list[tuple[Any, dict[str, Any]]] = []
    of = lambda kind: [e for e in events if isinstance(e, kind)]  # noqa: E731
    facts += [(invoice_contributions, f) for f in invoice_facts(of(ContributionInvoiced)).values()]
    facts += [(payment_contributions, f) for f in payment_facts(of(ContributionPaid)).values()]
    facts += [(lapse_contributions, f) for f in lapse_facts(of(CoverageLapsed)).values()]
    steps = of(ClaimFiled) + of(ClaimApproved) + of(ClaimRejected)
    facts += [(claim_step_contributions, f) for f in claim_step_facts(steps).values()]
    facts += [
        (worker_contributions, f) for f in covered_worker_facts(of(WorkerRegistered)).values()
    ]
    facts += [
        (enrolment_end_contributions, f) for f in ended_enrolment_facts(of(EnrolmentEnded)).values()
    ]
    facts += [
        (waitlisted_contributions, f) for f in waitlisted_facts(of(WorkerWaitlisted)).values()
    ]
    facts += [
        (waiting_left_contributions, f) for f in waiting_left_facts(of(WaitingListLeft)).values()
    ]
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
