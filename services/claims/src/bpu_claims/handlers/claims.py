"""A claim from filing to payment: filed → assessed (eligibility and benefit lines from the
domain; a refusal → rejected with numbered reasons) → approved by a second officer (four eyes)
→ paid (``ClaimPaid``; each scholarship instalment its own payment). Facts may change before
payment, and the claim is then assessed again. Each step is one write guarded by the version
the claim was read at, carrying the step's event and the step in the claim's history.

Heirs' names and bank accounts, and children's birth dates, are personal data: they stay in the
claim's document and its API, never in events or logs."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bpu_claims.domain import (
    BenefitKind,
    BenefitLine,
    BenefitTable,
    Child,
    ClaimFacts,
    Instalment,
    JkkFacts,
    Refusal,
    check_eligibility,
    jkk_lines,
    jkm_lines,
    months_between,
    refuses_claim,
    scholarship_schedule,
)
from bpu_claims.handlers.base import CLAIM_READERS, FILERS, OFFICERS, Claims
from bpu_claims.handlers.benefits import benefit_table
from bpu_claims.handlers.cover import WorkerCover, cover_of
from bpu_shared.auth import Principal
from bpu_shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from bpu_shared.events import (
    BenefitProgramme,
    ClaimApproved,
    ClaimApprovedPayload,
    ClaimAssessed,
    ClaimAssessedPayload,
    ClaimFiled,
    ClaimFiledPayload,
    ClaimPaid,
    ClaimPaidPayload,
    ClaimRejected,
    ClaimRejectedPayload,
    RefusalReason,
)
from bpu_shared.month import Month

log = logging.getLogger(__name__)

PRODUCER = "claims"


class ClaimState(StrEnum):
    FILED = "filed"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


#: From which states each step may be taken. A rejected claim may be assessed again (a payment
#: that arrived since counts then); a paid one is closed.
ASSESSABLE = (ClaimState.FILED, ClaimState.ASSESSED, ClaimState.APPROVED, ClaimState.REJECTED)
CHANGEABLE = ASSESSABLE


# -- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heir:
    name: str
    relation: str
    bank_account: str


@dataclass(frozen=True)
class ClaimChild:
    birth_date: date
    level: str
    married: bool = False
    working: bool = False


@dataclass(frozen=True)
class FileClaim:
    worker_id: str
    benefit: BenefitProgramme
    incident_date: date
    jkk: JkkFacts | None = None
    date_of_death: date | None = None
    heirs: Sequence[Heir] = ()
    children: Sequence[ClaimChild] = ()
    #: The client's idempotency key: filing again with it (a retry) answers the claim filed
    #: the first time; with another body, a conflict. None: every filing is a new claim.
    request_id: str | None = None


@dataclass(frozen=True)
class Filed:
    claim: dict[str, Any]
    created: bool = True  # False: a retry answered with the claim its request_id filed


@dataclass(frozen=True)
class ChangeFacts:
    """New facts for a claim not paid yet; it must be assessed again."""

    claim_id: str
    version: int | None = None  # the version the caller read, if it wants a guard
    jkk: JkkFacts | None = None
    date_of_death: date | None = None
    heirs: Sequence[Heir] | None = None
    children: Sequence[ClaimChild] | None = None


@dataclass(frozen=True)
class AssessClaim:
    claim_id: str


@dataclass(frozen=True)
class ApproveClaim:
    claim_id: str


@dataclass(frozen=True)
class PayClaim:
    claim_id: str
    reference: str
    instalment: int | None = None  # a scholarship instalment (1 the first); None the benefits
    paid_at: datetime | None = None


@dataclass(frozen=True)
class GetClaim:
    claim_id: str


@dataclass(frozen=True)
class ListClaims:
    state: ClaimState | None = None
    benefit: BenefitProgramme | None = None
    region: str | None = None
    period_from: Month | None = None
    period_to: Month | None = None
    worker_id: str | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class ClaimPage:
    claims: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class PaymentResult:
    claim: dict[str, Any]
    payment: dict[str, Any]
    created: bool = field(default=True)


# -- helpers ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _window(deps: Claims) -> int:
    """Billing's arrears window (DOMAIN.md: arrears may be paid up to 3 months after), as the
    service's settings give it (``ClaimsSettings.arrears_window_months``)."""
    return int(deps.settings.arrears_window_months)


async def load_claim(deps: Claims, principal: Principal, claim_id: str) -> dict[str, Any]:
    """The claim; "not found" also outside a sponsor's region (a key must not learn what lies
    elsewhere)."""
    doc = await deps.repository.claim(claim_id)
    if doc is None or not principal.can_access(doc["district_code"]):
        raise NotFound("claim", claim_id)
    return doc


def _facts_doc(jkk: JkkFacts | None, date_of_death: date | None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if jkk is not None:
        facts["jkk"] = {
            k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(jkk).items()
        }
    if date_of_death is not None:
        facts["date_of_death"] = date_of_death.isoformat()
    return facts


def _children_doc(children: Sequence[ClaimChild]) -> list[dict[str, Any]]:
    return [{**asdict(c), "birth_date": c.birth_date.isoformat()} for c in children]


def _check_facts(
    benefit: BenefitProgramme,
    incident: date,
    jkk: JkkFacts | None,
    date_of_death: date | None,
    heirs: Sequence[Heir],
    today: date,
) -> None:
    """What a claim must say for its programme (the domain judges the rest)."""
    if benefit is BenefitProgramme.JHT:
        raise InvalidInput("benefit", "claims are for JKK (work accident) or JKM (death)")
    if benefit is BenefitProgramme.JKK and jkk is None:
        raise InvalidInput("jkk", "a JKK claim says what happened (place, costs, days, …)")
    if benefit is BenefitProgramme.JKM and date_of_death is None:
        raise InvalidInput("date_of_death", "a JKM claim gives the date of death")
    died = benefit is BenefitProgramme.JKM or (jkk is not None and jkk.died)
    if died and not heirs:
        raise InvalidInput("heirs", "a death claim names the heirs (name, relation, bank account)")
    if date_of_death is not None and (date_of_death < incident or date_of_death > today):
        raise InvalidInput(
            "date_of_death", f"must be from the incident date {incident} to today {today}"
        )


def _event_fields(doc: Mapping[str, Any], version: int) -> dict[str, Any]:
    return {
        "claim_id": doc["_id"],
        "worker_id": doc["worker_id"],
        "programme_id": doc["programme_id"],
        "benefit": doc["benefit"],
        "incident_date": doc["incident_date"],
        "province_code": doc["province_code"],
        "regency_code": doc["regency_code"],
        "district_code": doc["district_code"],
        "version": version,
    }


def _step(name: str, principal: Principal, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "step": name,
        "by": principal.key_id,
        "role": principal.role.value,
        "at": _iso(at),
        **extra,
    }


async def _save(
    deps: Claims,
    doc: Mapping[str, Any],
    changes: Mapping[str, Any],
    events: Sequence[Any],
    history: Mapping[str, Any],
    also: Mapping[str, Any] | None = None,
    expected: int | None = None,
) -> dict[str, Any]:
    version = int(doc["version"]) if expected is None else expected
    saved = await deps.repository.change_claim(
        doc["_id"], version, changes, events, history=history, also=also
    )
    if saved is None:
        raise Conflict(
            f"claim {doc['_id']} changed meanwhile (version {version} is no longer current); "
            "read it again",
            "version",
        )
    return saved


def _require_state(doc: Mapping[str, Any], allowed: Sequence[ClaimState], action: str) -> None:
    if doc["state"] not in allowed:
        raise Conflict(
            f"a {doc['state']} claim cannot be {action} (only "
            + ", ".join(s.value for s in allowed)
            + ")",
            "state",
        )


# -- filing and facts ---------------------------------------------------------------------------


def request_digest(cmd: FileClaim) -> str:
    """What a filing asked, as a digest: a retry with its ``request_id`` must ask the same."""
    body = {k: v for k, v in asdict(cmd).items() if k != "request_id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def claim_id_for(principal: Principal, request_id: str | None) -> str:
    """A new claim's id: random, or derived from the filer's key and its ``request_id`` (so a
    retry finds the claim it filed; another key's same ``request_id`` is another claim)."""
    if request_id is None:
        return f"CL-{secrets.token_hex(6).upper()}"
    seed = f"{principal.key_id}\n{request_id}".encode()
    return "CL-" + hashlib.sha256(seed).hexdigest()[:12].upper()


def _replayed(existing: Mapping[str, Any], request_id: str, digest: str) -> Filed:
    if (existing.get("request") or {}).get("digest") != digest:
        raise Conflict(
            f"request_id {request_id!r} filed claim {existing['_id']} with another body; "
            "a new claim takes a new request_id",
            "request_id",
        )
    return Filed(dict(existing), created=False)


async def file_claim(cmd: FileClaim, principal: Principal, deps: Claims) -> Filed:
    """A new claim, filed; with a ``request_id`` seen before from the same key, the claim it
    filed (the same body) or a conflict naming ``request_id`` (another body)."""
    principal.require_role(*FILERS)
    request_id = cmd.request_id.strip() if cmd.request_id is not None else None
    if request_id == "":
        raise InvalidInput("request_id", "an idempotency key is not empty")
    claim_id = claim_id_for(principal, request_id)
    digest = request_digest(cmd)
    if request_id is not None:
        existing = await deps.repository.claim(claim_id)
        if existing is not None:
            return _replayed(existing, request_id, digest)
    today, now = deps.clock.today(), deps.clock.now()
    _check_facts(cmd.benefit, cmd.incident_date, cmd.jkk, cmd.date_of_death, cmd.heirs, today)
    cover = await cover_of(
        deps.repository, cmd.worker_id, cmd.benefit, cmd.incident_date, today, _window(deps)
    )
    if cover is None or not principal.can_access(cover.regions["district_code"]):
        raise NotFound("worker", cmd.worker_id, field="worker_id")
    doc: dict[str, Any] = {
        "_id": claim_id,
        "worker_id": cmd.worker_id,
        "programme_id": cover.enrolment["programme_id"],
        "enrolment_id": cover.enrolment["_id"],
        "benefit": cmd.benefit.value,
        "incident_date": cmd.incident_date.isoformat(),
        "incident_month": str(Month.of(cmd.incident_date)),
        **cover.regions,
        "facts": _facts_doc(cmd.jkk, cmd.date_of_death),
        "heirs": [asdict(h) for h in cmd.heirs],
        "children": _children_doc(cmd.children),
        "state": ClaimState.FILED.value,
        "version": 1,
        "filed_by": principal.key_id,
        "filed_at": _iso(now),
        "history": {"v001": _step("filed", principal, now, state="filed")},
        "payments": {},
        "paid_rupiah": 0,
    }
    if request_id is not None:
        doc["request"] = {"id": request_id, "digest": digest}
    event = ClaimFiled.create(
        ClaimFiledPayload(
            **_event_fields(doc, 1),
            filed_by=principal.key_id,
            filed_at=now,
            heirs=len(cmd.heirs),
            children=len(cmd.children),
        ),
        producer=PRODUCER,
    )
    if not await deps.repository.add_claim(doc, [event]):
        # The same request_id filed meanwhile (two retries at once): answer what it filed.
        existing = await deps.repository.claim(claim_id)
        if existing is None or request_id is None:
            raise Conflict(f"claim {claim_id} exists already; file again", "claim_id")
        return _replayed(existing, request_id, digest)
    log.info("claim %s filed for worker %s (%s)", claim_id, cmd.worker_id, cmd.benefit.value)
    return Filed(doc)


async def change_facts(cmd: ChangeFacts, principal: Principal, deps: Claims) -> dict[str, Any]:
    """New facts for a claim not paid: it goes back to filed, to be assessed again."""
    principal.require_role(*FILERS)
    doc = await load_claim(deps, principal, cmd.claim_id)
    _require_state(doc, CHANGEABLE, "changed")
    if cmd.version is not None and cmd.version != doc["version"]:
        raise Conflict(
            f"claim {doc['_id']} is at version {doc['version']}, not {cmd.version}; read it again",
            "version",
        )
    benefit = BenefitProgramme(doc["benefit"])
    incident = date.fromisoformat(doc["incident_date"])
    old = doc.get("facts", {})
    jkk = cmd.jkk if cmd.jkk is not None else _jkk_of(doc)
    died = cmd.date_of_death or (
        date.fromisoformat(old["date_of_death"]) if old.get("date_of_death") else None
    )
    heirs = cmd.heirs if cmd.heirs is not None else [Heir(**h) for h in doc.get("heirs", [])]
    _check_facts(benefit, incident, jkk, died, heirs, deps.clock.today())
    changes: dict[str, Any] = {
        "facts": _facts_doc(jkk, died),
        "heirs": [asdict(h) for h in heirs],
        "state": ClaimState.FILED.value,
    }
    if cmd.children is not None:
        changes["children"] = _children_doc(cmd.children)
    now = deps.clock.now()
    changed = [
        name
        for name, given in (
            ("jkk", cmd.jkk),
            ("date_of_death", cmd.date_of_death),
            ("heirs", cmd.heirs),
            ("children", cmd.children),
        )
        if given is not None
    ]
    return await _save(
        deps,
        doc,
        changes,
        [],
        _step("facts_changed", principal, now, state="filed", changed=changed),
        expected=cmd.version,
    )


# -- assessment ---------------------------------------------------------------------------------


def _jkk_of(doc: Mapping[str, Any]) -> JkkFacts | None:
    raw = doc.get("facts", {}).get("jkk")
    return JkkFacts(**raw) if raw else None


def _children_of(doc: Mapping[str, Any]) -> list[Child]:
    return [
        Child(
            birth_date=date.fromisoformat(c["birth_date"]),
            level=c["level"],
            married=bool(c.get("married")),
            working=bool(c.get("working")),
        )
        for c in doc.get("children", [])
    ]


@dataclass(frozen=True)
class Assessment:
    """What the domain made of a claim: refusals, or the lines paid at once and the scholarship
    instalments (benefits refused one by one are left out, with their reasons)."""

    refusals: list[Refusal]
    lines: list[BenefitLine]
    instalments: list[Instalment]

    @property
    def rejected(self) -> bool:
        return refuses_claim(self.refusals)


def assess(
    doc: Mapping[str, Any], cover: WorkerCover | None, today: date, table: BenefitTable
) -> Assessment:
    """The claim's eligibility and benefits from its facts and the cover view. Pure."""
    benefit = BenefitProgramme(doc["benefit"])
    incident = date.fromisoformat(doc["incident_date"])
    rules = table.in_force(incident, "incident_date")
    jkk = _jkk_of(doc)
    children = _children_of(doc)
    facts = ClaimFacts(
        programme=benefit,
        incident=incident,
        jkk=jkk,
        children=children,
        filed_on=date.fromisoformat(doc["filed_at"][:10]),
    )
    view = cover.view if cover is not None else None
    refusals = check_eligibility(facts, view, today, rules)
    if refuses_claim(refusals) or view is None:
        return Assessment(refusals, [], [])
    refused = {r.benefit for r in refusals if r.benefit is not None}
    if benefit is BenefitProgramme.JKK and jkk is not None:
        lines = jkk_lines(jkk, view.declared_income, rules)
    else:
        lines = jkm_lines(months_between(view.membership_start, incident), rules)
    lines = [line for line in lines if line.kind not in refused]
    instalments: list[Instalment] = []
    if children and BenefitKind.SCHOLARSHIP not in refused:
        instalments = scholarship_schedule(
            children, incident, rules, benefit, view.contribution_months
        )
    return Assessment(refusals, lines, instalments)


def _reasons(refusals: Sequence[Refusal]) -> list[dict[str, Any]]:
    return [
        {
            "code": r.code,
            "text": r.reason.text,
            "detail": r.detail,
            "benefit": str(r.benefit) if r.benefit is not None else None,
            "field": r.field,
        }
        for r in refusals
    ]


async def assess_claim(cmd: AssessClaim, principal: Principal, deps: Claims) -> dict[str, Any]:
    """Eligibility and benefits, from the cover claims knows now: eligible → assessed with its
    lines; refused → rejected with its numbered reasons."""
    principal.require_role(*OFFICERS)
    doc = await load_claim(deps, principal, cmd.claim_id)
    _require_state(doc, ASSESSABLE, "assessed")
    today, now = deps.clock.today(), deps.clock.now()
    benefit = BenefitProgramme(doc["benefit"])
    incident = date.fromisoformat(doc["incident_date"])
    cover = await cover_of(
        deps.repository, doc["worker_id"], benefit, incident, today, _window(deps)
    )
    result = assess(doc, cover, today, benefit_table(deps))
    version = int(doc["version"]) + 1
    reasons = _reasons(result.refusals)
    if result.rejected:
        event: Any = ClaimRejected.create(
            ClaimRejectedPayload(
                **_event_fields(doc, version),
                rejected_by=principal.key_id,
                rejected_at=now,
                reasons=[RefusalReason(code=r.code, text=r.reason.text) for r in result.refusals],
            ),
            producer=PRODUCER,
        )
        changes: dict[str, Any] = {
            "state": ClaimState.REJECTED.value,
            "assessed_by": principal.key_id,
            "assessment": {"at": _iso(now), "reasons": reasons, "lines": [], "instalments": []},
        }
        step = _step(
            "rejected", principal, now, state="rejected", reasons=[r["code"] for r in reasons]
        )
        return await _save(deps, doc, changes, [event], step)
    by_kind: dict[str, int] = {}
    for line in result.lines:
        by_kind[str(line.kind)] = by_kind.get(str(line.kind), 0) + line.amount
    amount = sum(by_kind.values())
    scholarship = sum(i.amount for i in result.instalments)
    event = ClaimAssessed.create(
        ClaimAssessedPayload(
            **_event_fields(doc, version),
            assessed_by=principal.key_id,
            assessed_at=now,
            amount_rupiah=amount,
            amount_by_kind=by_kind,
            scholarship_rupiah=scholarship,
            instalments=len(result.instalments),
        ),
        producer=PRODUCER,
    )
    changes = {
        "state": ClaimState.ASSESSED.value,
        "assessed_by": principal.key_id,
        "approved_by": None,
        "assessment": {
            "at": _iso(now),
            "reasons": reasons,  # benefits refused one by one; the rest is paid
            "lines": [
                {"kind": str(line.kind), "amount": line.amount, "basis": line.basis}
                for line in result.lines
            ],
            "amount_rupiah": amount,
            "amount_by_kind": by_kind,
            "instalments": [
                {
                    "number": n,
                    "year": i.year,
                    "child": i.child,
                    "level": str(i.level),
                    "amount": i.amount,
                    "due_on": i.due_on.isoformat(),
                }
                for n, i in enumerate(result.instalments, start=1)
            ],
            "scholarship_rupiah": scholarship,
            "membership_months": (
                months_between(cover.view.membership_start, incident) if cover else None
            ),
            "declared_income": cover.view.declared_income if cover else None,
            "month_status": str(cover.view.month_status) if cover else None,
        },
    }
    step = _step("assessed", principal, now, state="assessed", amount_rupiah=amount)
    return await _save(deps, doc, changes, [event], step)


# -- approval and payment -----------------------------------------------------------------------


async def approve_claim(cmd: ApproveClaim, principal: Principal, deps: Claims) -> dict[str, Any]:
    """A second officer approves: never the one who filed or assessed the claim."""
    principal.require_role(*OFFICERS)
    doc = await load_claim(deps, principal, cmd.claim_id)
    _require_state(doc, (ClaimState.ASSESSED,), "approved")
    did = {"filed": doc.get("filed_by"), "assessed": doc.get("assessed_by")}
    own = [step for step, key in did.items() if key == principal.key_id]
    if own:
        raise Forbidden(
            "four-eyes rule: the officer who "
            + " and ".join(own)
            + f" claim {doc['_id']} cannot approve it; another officer's key must",
            field="approved_by",
        )
    now = deps.clock.now()
    version = int(doc["version"]) + 1
    assessment = doc["assessment"]
    event = ClaimApproved.create(
        ClaimApprovedPayload(
            **_event_fields(doc, version),
            approved_by=principal.key_id,
            approved_at=now,
            amount_rupiah=assessment["amount_rupiah"],
            amount_by_kind=assessment["amount_by_kind"],
        ),
        producer=PRODUCER,
    )
    changes = {"state": ClaimState.APPROVED.value, "approved_by": principal.key_id}
    step = _step("approved", principal, now, state="approved")
    return await _save(deps, doc, changes, [event], step)


def payment_id(reference: str) -> str:
    """A payment's id, from its bank reference (which may hold dots, so never a field name)."""
    return "PY-" + hashlib.sha256(reference.encode()).hexdigest()[:16].upper()


def _paid_kind(doc: Mapping[str, Any]) -> str:
    if doc["benefit"] == BenefitProgramme.JKM.value:
        return "death"
    jkk = doc.get("facts", {}).get("jkk") or {}
    if jkk.get("died"):
        return "death"
    if jkk.get("disability") in ("partial", "total"):
        return "disability"
    return "accident"


async def pay_claim(cmd: PayClaim, principal: Principal, deps: Claims) -> PaymentResult:
    """Record a payment with its bank reference (idempotent by reference): the approved claim's
    benefits, or one scholarship instalment of a paid claim; each publishes ``ClaimPaid``. A
    reference pays one claim and instalment only: the store reserves it (one insert, unique)
    before the claim's payment is written, and a crash between the two is healed by the retry
    with the same reference."""
    principal.require_role(*OFFICERS)
    reference = cmd.reference.strip()
    if not reference:
        raise InvalidInput("reference", "the bank reference of the transfer is required")
    doc = await load_claim(deps, principal, cmd.claim_id)
    pid = payment_id(reference)
    existing = doc.get("payments", {}).get(pid)
    if existing is not None:
        if existing.get("instalment") != cmd.instalment:
            raise Conflict(
                f"reference {reference!r} already paid "
                + (
                    f"instalment {existing['instalment']}"
                    if existing.get("instalment")
                    else "the claim's benefits"
                ),
                "reference",
            )
        return PaymentResult(doc, existing, created=False)
    now = deps.clock.now()
    paid_at = cmd.paid_at or now
    assessment = doc.get("assessment") or {}
    if cmd.instalment is None:
        _require_state(doc, (ClaimState.APPROVED,), "paid")
        amount = int(assessment["amount_rupiah"])
        by_kind = dict(assessment["amount_by_kind"])
        kind = _paid_kind(doc)
    else:
        _require_state(doc, (ClaimState.PAID,), "paid an instalment (its benefits come first)")
        schedule = {i["number"]: i for i in assessment.get("instalments", [])}
        instalment = schedule.get(cmd.instalment)
        if instalment is None:
            raise InvalidInput(
                "instalment",
                f"the claim has instalments 1 to {len(schedule)}, not {cmd.instalment}",
            )
        if str(cmd.instalment) in doc.get("instalments_paid", {}):
            raise Conflict(f"instalment {cmd.instalment} is paid already", "instalment")
        if date.fromisoformat(instalment["due_on"]) > deps.clock.today():
            raise Conflict(
                f"instalment {cmd.instalment} falls due on {instalment['due_on']}", "instalment"
            )
        amount = int(instalment["amount"])
        by_kind = {str(BenefitKind.SCHOLARSHIP): amount}
        kind = str(BenefitKind.SCHOLARSHIP)
    owner = await deps.repository.reserve_reference(pid, reference, doc["_id"], cmd.instalment)
    if owner["claim_id"] != doc["_id"] or owner.get("instalment") != cmd.instalment:
        paid = (
            f"instalment {owner['instalment']} of claim {owner['claim_id']}"
            if owner.get("instalment")
            else f"claim {owner['claim_id']}"
        )
        raise Conflict(
            f"bank reference {reference!r} is recorded for {paid}; one transfer pays one claim",
            "reference",
        )
    payment = {
        "payment_id": pid,
        "reference": reference,
        "amount_rupiah": amount,
        "amount_by_kind": by_kind,
        "instalment": cmd.instalment,
        "paid_at": _iso(paid_at),
        "recorded_by": principal.key_id,
    }
    event = ClaimPaid.create(
        ClaimPaidPayload(
            claim_id=doc["_id"],
            worker_id=doc["worker_id"],
            programme_id=doc["programme_id"],
            benefit=doc["benefit"],
            kind=kind,
            province_code=doc["province_code"],
            regency_code=doc["regency_code"],
            district_code=doc["district_code"],
            amount_rupiah=amount,
            paid_at=paid_at,
            amount_by_kind=by_kind,
            payment_id=pid,
            instalment=cmd.instalment,
        ),
        producer=PRODUCER,
    )
    state = ClaimState.PAID.value  # the benefits paid, or an instalment of a paid claim
    changes: dict[str, Any] = {"state": state, f"payments.{pid}": payment}
    if cmd.instalment is not None:
        changes[f"instalments_paid.{cmd.instalment}"] = pid
    step = _step(
        "paid", principal, now, state=state, amount_rupiah=amount, instalment=cmd.instalment
    )
    saved = await _save(deps, doc, changes, [event], step, also={"$inc": {"paid_rupiah": amount}})
    return PaymentResult(saved, payment)


# -- reading ------------------------------------------------------------------------------------


async def get_claim(q: GetClaim, principal: Principal, deps: Claims) -> dict[str, Any]:
    principal.require_role(*CLAIM_READERS)
    return await load_claim(deps, principal, q.claim_id)


async def list_claims(q: ListClaims, principal: Principal, deps: Claims) -> ClaimPage:
    principal.require_role(*CLAIM_READERS)
    region = principal.scope(q.region)  # a sponsor sees its own region, nothing outside it
    found, total = await deps.repository.find_claims(
        state=q.state.value if q.state else None,
        benefit=q.benefit.value if q.benefit else None,
        region=region,
        month_from=str(q.period_from) if q.period_from else None,
        month_to=str(q.period_to) if q.period_to else None,
        worker_id=q.worker_id,
        skip=q.offset,
        limit=q.limit,
    )
    return ClaimPage(found, total, q.offset, q.limit)


def history_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claim's steps, oldest first: who did each, when, and what came of it."""
    steps = doc.get("history", {})
    return [{"version": int(k[1:]), **steps[k]} for k in sorted(steps)]


CLAIM_COMMAND_HANDLERS: dict[type, Any] = {
    FileClaim: file_claim,
    ChangeFacts: change_facts,
    AssessClaim: assess_claim,
    ApproveClaim: approve_claim,
    PayClaim: pay_claim,
    GetClaim: get_claim,
    ListClaims: list_claims,
}
