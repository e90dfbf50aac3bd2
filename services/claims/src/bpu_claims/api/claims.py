"""``/claims``: file, change facts, assess, approve, pay, find, and a claim's history. Routes
only translate: parse, call a handler, answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from bpu_claims.domain import JkkFacts
from bpu_claims.handlers.claims import (
    ApproveClaim,
    AssessClaim,
    ChangeFacts,
    ClaimChild,
    ClaimPage,
    ClaimState,
    FileClaim,
    Filed,
    GetClaim,
    Heir,
    ListClaims,
    PayClaim,
    PaymentResult,
    history_of,
)
from bpu_shared.auth import Anyone
from bpu_shared.events import BenefitProgramme
from bpu_shared.http import problem_responses
from bpu_shared.month import PATTERN, Month
from bpu_shared.regions import RegionCode

router = APIRouter(tags=["claims"])


# -- bodies -------------------------------------------------------------------------------------


class JkkFactsIn(BaseModel):
    """What happened in a work accident (JKK)."""

    place: Literal["at_work", "commuting"] = Field(
        description="At work, or on the way to or from it"
    )
    medical_billed: int = Field(0, ge=0, description="Medical costs billed, Rupiah")
    transport_mode: Literal["land", "sea", "air"] | None = None
    transport_cost: int = Field(0, ge=0, description="Transport of the injured, Rupiah")
    days_unable: int = Field(0, ge=0, le=36_500, description="Days unable to work")
    disability: Literal["none", "partial", "total"] = "none"
    disability_percent: int = Field(0, ge=0, le=100, description="The disability table's %")
    died: bool = False

    def facts(self) -> JkkFacts:
        return JkkFacts(**self.model_dump())


class HeirIn(BaseModel):
    """An heir (ahli waris). Personal data: kept in the claim, never in events or logs."""

    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=50, examples=["spouse", "child", "parent"])
    bank_account: str = Field(
        min_length=4, max_length=50, description="Bank and account number the benefit goes to"
    )


class ChildIn(BaseModel):
    """A child for the scholarship."""

    birth_date: date
    level: Literal["kindergarten", "primary", "junior_high", "senior_high", "university"]
    married: bool = False
    working: bool = False


class ClaimIn(BaseModel):
    worker_id: str = Field(min_length=1, max_length=100)
    benefit: Literal["JKK", "JKM"] = Field(description="JKK work accident, JKM death not from work")
    incident_date: date = Field(description="The accident, or the death for JKM")
    jkk: JkkFactsIn | None = Field(None, description="A JKK claim's facts")
    date_of_death: date | None = Field(None, description="For JKM, or a JKK death")
    heirs: list[HeirIn] = Field(default_factory=list, max_length=20)
    children: list[ChildIn] = Field(default_factory=list, max_length=20)
    request_id: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        examples=["kaur-2024-12-0042"],
        description="The client's idempotency key, to retry safely: the same key from the same "
        "API key again answers 200 with the claim filed the first time; the same key with "
        "another body answers 409 naming request_id. Without it every filing is a new claim.",
    )


class FactsIn(BaseModel):
    """New facts; what is left out stays as it was."""

    version: int | None = Field(None, ge=1, description="The version read; refused if stale")
    jkk: JkkFactsIn | None = None
    date_of_death: date | None = None
    heirs: list[HeirIn] | None = Field(None, max_length=20)
    children: list[ChildIn] | None = Field(None, max_length=20)


class PaymentIn(BaseModel):
    reference: str = Field(
        min_length=1,
        max_length=100,
        description="The bank transfer's reference: the same reference twice for the same "
        "claim and instalment is one payment; a reference that paid another claim or "
        "instalment answers 409 naming reference",
    )
    instalment: int | None = Field(
        None, ge=1, description="A scholarship instalment (1 the first); none: the benefits"
    )
    paid_at: AwareDatetime | None = None


# -- answers ------------------------------------------------------------------------------------


class Line(BaseModel):
    kind: str
    amount: int
    basis: str


class ReasonOut(BaseModel):
    code: str = Field(examples=["R02"])
    text: str
    detail: str
    benefit: str | None = Field(description="The benefit refused; none: the whole claim")
    field: str | None


class InstalmentOut(BaseModel):
    number: int
    year: int
    child: int
    level: str
    amount: int
    due_on: date


class AssessmentOut(BaseModel):
    at: datetime
    reasons: list[ReasonOut]
    lines: list[Line]
    amount_rupiah: int = 0
    amount_by_kind: dict[str, int] = Field(default_factory=dict)
    instalments: list[InstalmentOut] = Field(default_factory=list)
    scholarship_rupiah: int = 0
    declared_income: int | None = None
    month_status: str | None = None
    membership_months: int | None = None


class PaymentOut(BaseModel):
    payment_id: str
    reference: str
    amount_rupiah: int
    amount_by_kind: dict[str, int]
    instalment: int | None
    paid_at: datetime
    recorded_by: str


class ClaimSummary(BaseModel):
    claim_id: str
    worker_id: str
    programme_id: str
    benefit: str
    incident_date: date
    province_code: str
    regency_code: str
    district_code: str
    village_code: str | None = None
    state: str
    version: int
    filed_by: str
    filed_at: datetime
    assessed_by: str | None = None
    approved_by: str | None = None
    paid_rupiah: int = 0

    @classmethod
    def fields_of(cls, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: doc.get(k) for k in cls.model_fields if k != "claim_id"},
            "claim_id": doc["_id"],
            "paid_rupiah": doc.get("paid_rupiah", 0),
        }

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ClaimSummary:
        return cls(**cls.fields_of(doc))


class ClaimOut(ClaimSummary):
    facts: dict[str, Any]
    heirs: list[HeirIn]
    children: list[ChildIn]
    assessment: AssessmentOut | None = None
    payments: list[PaymentOut]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ClaimOut:
        return cls(
            **ClaimSummary.fields_of(doc),
            facts=doc.get("facts", {}),
            heirs=doc.get("heirs", []),
            children=doc.get("children", []),
            assessment=doc.get("assessment"),
            payments=[
                PaymentOut(**p)
                for p in sorted(doc.get("payments", {}).values(), key=lambda p: str(p["paid_at"]))
            ],
        )


class ClaimList(BaseModel):
    claims: list[ClaimSummary]
    total: int
    offset: int
    limit: int


class Step(BaseModel):
    version: int
    step: str = Field(description="filed, facts_changed, assessed, rejected, approved, paid")
    by: str = Field(description="The API key id of who did it")
    role: str
    at: datetime
    state: str = Field(description="The claim's state after the step")
    amount_rupiah: int | None = None
    reasons: list[str] | None = None
    instalment: int | None = None
    changed: list[str] | None = None


class PaidOut(BaseModel):
    claim: ClaimOut
    payment: PaymentOut


def _child(c: ChildIn) -> ClaimChild:
    return ClaimChild(**c.model_dump())


def _heir(h: HeirIn) -> Heir:
    return Heir(**h.model_dump())


# -- routes -------------------------------------------------------------------------------------


@router.post(
    "/claims",
    response_model=ClaimOut,
    status_code=201,
    responses={
        200: {"description": "The same request_id again: the claim it filed"},
        **problem_responses(401, 403, 409, 422),
    },
)
async def file_claim(body: ClaimIn, request: Request, response: Response, who: Anyone) -> ClaimOut:
    """File a JKK or JKM claim for a worker (operator, or a sponsor in its region): the facts
    its benefits need, the heirs and children for a death. It is then assessed. With a
    ``request_id`` a retry is safe: 200 with the claim filed the first time (409 if the body
    differs)."""
    filed: Filed = await request.app.state.bus.handle(
        FileClaim(
            worker_id=body.worker_id,
            benefit=BenefitProgramme(body.benefit),
            incident_date=body.incident_date,
            jkk=body.jkk.facts() if body.jkk else None,
            date_of_death=body.date_of_death,
            heirs=[_heir(h) for h in body.heirs],
            children=[_child(c) for c in body.children],
            request_id=body.request_id,
        ),
        who,
    )
    if not filed.created:
        response.status_code = 200
    response.headers["Location"] = f"/claims/{filed.claim['_id']}"
    return ClaimOut.of(filed.claim)


@router.get("/claims", response_model=ClaimList, responses=problem_responses(401, 403, 422))
async def list_claims(
    request: Request,
    who: Anyone,
    state: ClaimState | None = None,
    benefit: Literal["JKK", "JKM"] | None = None,
    region: Annotated[
        RegionCode | None, Query(description="Region-code prefix: 17, 17.04, 17.04.01")
    ] = None,
    period_from: Annotated[
        str | None, Query(pattern=PATTERN, description="Incident month from, YYYY-MM")
    ] = None,
    period_to: Annotated[
        str | None, Query(pattern=PATTERN, description="Incident month to, YYYY-MM")
    ] = None,
    worker_id: str | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ClaimList:
    """Claims, newest filed first; a sponsor key sees only its region's."""
    page: ClaimPage = await request.app.state.bus.handle(
        ListClaims(
            state=state,
            benefit=BenefitProgramme(benefit) if benefit else None,
            region=region,
            period_from=Month.parse(period_from) if period_from else None,
            period_to=Month.parse(period_to) if period_to else None,
            worker_id=worker_id,
            offset=offset,
            limit=limit,
        ),
        who,
    )
    return ClaimList(
        claims=[ClaimSummary.of(d) for d in page.claims],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
    )


@router.get(
    "/claims/{claim_id}", response_model=ClaimOut, responses=problem_responses(401, 403, 404)
)
async def get_claim(claim_id: str, request: Request, who: Anyone) -> ClaimOut:
    return ClaimOut.of(await request.app.state.bus.handle(GetClaim(claim_id), who))


@router.get(
    "/claims/{claim_id}/history",
    response_model=list[Step],
    responses=problem_responses(401, 403, 404),
)
async def claim_history(claim_id: str, request: Request, who: Anyone) -> list[Step]:
    """Who did each step of the claim, when, and the state it left."""
    doc = await request.app.state.bus.handle(GetClaim(claim_id), who)
    return [Step(**s) for s in history_of(doc)]


@router.patch(
    "/claims/{claim_id}/facts",
    response_model=ClaimOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def change_facts(claim_id: str, body: FactsIn, request: Request, who: Anyone) -> ClaimOut:
    """New facts for a claim not paid yet (an approved one too): it goes back to filed and is
    assessed again."""
    doc = await request.app.state.bus.handle(
        ChangeFacts(
            claim_id=claim_id,
            version=body.version,
            jkk=body.jkk.facts() if body.jkk else None,
            date_of_death=body.date_of_death,
            heirs=[_heir(h) for h in body.heirs] if body.heirs is not None else None,
            children=[_child(c) for c in body.children] if body.children is not None else None,
        ),
        who,
    )
    return ClaimOut.of(doc)


@router.post(
    "/claims/{claim_id}/assessment",
    response_model=ClaimOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def assess_claim(claim_id: str, request: Request, who: Anyone) -> ClaimOut:
    """Check eligibility on the incident date and compute the benefits (an officer): assessed
    with its lines, or rejected with numbered reasons."""
    return ClaimOut.of(await request.app.state.bus.handle(AssessClaim(claim_id), who))


@router.post(
    "/claims/{claim_id}/approval",
    response_model=ClaimOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def approve_claim(claim_id: str, request: Request, who: Anyone) -> ClaimOut:
    """Approve an assessed claim: an officer other than who filed or assessed it (four eyes)."""
    return ClaimOut.of(await request.app.state.bus.handle(ApproveClaim(claim_id), who))


@router.post(
    "/claims/{claim_id}/payments",
    response_model=PaidOut,
    status_code=201,
    responses={
        200: {"description": "The same reference again: the payment recorded"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def pay_claim(
    claim_id: str, body: PaymentIn, request: Request, response: Response, who: Anyone
) -> PaidOut:
    """Record the transfer of an approved claim's benefits, or of one scholarship instalment,
    with its bank reference; publishes ClaimPaid. The same reference again answers the payment
    recorded (200)."""
    done: PaymentResult = await request.app.state.bus.handle(
        PayClaim(claim_id, body.reference, body.instalment, body.paid_at), who
    )
    if not done.created:
        response.status_code = 200
    return PaidOut(claim=ClaimOut.of(done.claim), payment=PaymentOut(**done.payment))
