"""Enrolment by event: a regional social registry publishes ``EnrolmentRequested`` (one worker,
with the registry's own request id) and gets back ``EnrolmentAccepted`` (enrolled, already
enrolled, or waiting) or ``EnrolmentRejected`` (every reason), keyed by the request id.

Each request is checked as ``POST /workers`` checks its body: the same request model
(``EnrolWorker``), the same domain rules (``Applicant.check``, the programme looked up as
``load_programme`` does, ``Worker.plan`` inside ``enrol_many``). A batch is enrolled with one
``enrol_many`` per programme, so a burst of thousands costs a few round trips per batch, and
whoever finds no seat waits on the programme's waiting list.

The request id is the idempotency key. Its answer is one document (``enrolment_requests``,
``_id`` = request id) carrying the outcome and the answer event, written after the enrolment;
so the same request again (redelivered, or published twice at other offsets) finds its answer
and does nothing. A crash between the enrolment and the answer leaves an enrolment marked with
the request id and no answer: the request comes again, ``enrol_many`` finds that enrolment
(``created`` False), and the mark says this request made it, so the answer is ``enrolled``,
not ``already_enrolled``. A different body under an answered request id is rejected once per
body, naming the conflict, and changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypeAlias

from pydantic import ValidationError

from bpu_registration.domain import Applicant, Programme
from bpu_registration.events import PRODUCER
from bpu_registration.handlers.base import Registration, load_programme
from bpu_registration.handlers.waiting_list import put_on_waiting_list
from bpu_registration.handlers.workers import (
    Candidate,
    Enrolled,
    EnrolWorker,
    NoSeat,
    Rejected,
    enrol_many,
)
from bpu_registration.store.requests import REJECTED, RequestAnswer
from bpu_shared.auth import Principal, Role
from bpu_shared.errors import DomainError, NotFound
from bpu_shared.events import (
    EnrolmentAccepted,
    EnrolmentAcceptedPayload,
    EnrolmentOutcome,
    EnrolmentRejected,
    EnrolmentRejectedPayload,
    EnrolmentRequested,
    Reason,
)

#: Who an enrolment request acts as, in a worker's history. A registry is not an API key with
#: a region: it may ask for any programme, and ``Worker.plan`` refuses a domicile outside the
#: programme's region, as for every other caller.
REGISTRY = Principal(key_id="enrolment-requests", role=Role.OPERATOR)

Answer: TypeAlias = tuple[RequestAnswer, EnrolmentAccepted | EnrolmentRejected]


# -- rules -------------------------------------------------------------------------------------


def fingerprint(request: EnrolmentRequested) -> str:
    """What identifies a request's body: the payload as parsed (fields a newer producer adds,
    which this version ignores, and the envelope do not count), hashed."""
    return hashlib.sha256(request.payload.model_dump_json().encode()).hexdigest()


def body_of(request: EnrolmentRequested) -> tuple[EnrolWorker | None, list[Reason]]:
    """The request as ``POST /workers`` reads its body, or every field that body would be
    refused for (the 422's ``errors``)."""
    fields = request.payload.model_dump(mode="json", exclude={"request_id"})
    try:
        return EnrolWorker.model_validate(fields), []
    except ValidationError as invalid:
        return None, [
            Reason(field=".".join(str(p) for p in err["loc"]) or None, reason=err["msg"])
            for err in invalid.errors()
        ]


def accepted_outcome(enrolled: Enrolled, request_id: str) -> EnrolmentOutcome:
    """``enrolled`` when this request made the enrolment, even if its answer was lost in a
    crash and it comes again; ``already_enrolled`` when someone else had made it."""
    if enrolled.created or enrolled.enrolment.request_id == request_id:
        return EnrolmentOutcome.ENROLLED
    return EnrolmentOutcome.ALREADY_ENROLLED


def conflict_reason(first: RequestAnswer) -> Reason:
    return Reason(
        field="request_id",
        reason=f"request {first.request_id!r} was answered already ({first.outcome}) for a "
        "different body; that answer stands and this body is not applied: send a changed "
        "request under a new request_id",
    )


# -- the handler -------------------------------------------------------------------------------


async def answer_enrolment_requests(
    requests: Sequence[EnrolmentRequested], deps: Registration
) -> None:
    """Answer every request of the batch once: the new ones are checked and enrolled (or put
    on the waiting list) and their answers stored; one answered already is skipped, or, with
    a different body, rejected as a conflict."""
    repo = deps.repository
    answered = await repo.answered_requests(list({r.payload.request_id for r in requests}))
    new: dict[str, EnrolmentRequested] = {}
    conflicting: list[EnrolmentRequested] = []
    for r in requests:
        rid = r.payload.request_id
        first = answered.get(rid)
        if first is None and rid not in new:
            new[rid] = r
        elif fingerprint(r) != (first.fingerprint if first else fingerprint(new[rid])):
            conflicting.append(r)
    await repo.answer_requests(await _decide(list(new.values()), deps))
    for r in conflicting:
        first = await repo.enrolment_request(r.payload.request_id)
        assert first is not None, "answered above or before"
        rejection = _rejected(r, [conflict_reason(first)], deps)
        await repo.answer_conflict(first.request_id, fingerprint(r), rejection[1])


async def _decide(requests: Sequence[EnrolmentRequested], deps: Registration) -> list[Answer]:
    """One answer per request, in the order given: refused by the checks, or enrolled with
    the others of its programme."""
    programmes = await _programmes({r.payload.programme_id for r in requests}, deps)
    answers: dict[str, Answer] = {}
    by_programme: dict[str, list[tuple[EnrolmentRequested, Candidate]]] = {}
    for ref, r in enumerate(requests):
        checked = _check(r, ref, programmes.get(r.payload.programme_id), deps)
        if isinstance(checked, Candidate):
            by_programme.setdefault(r.payload.programme_id, []).append((r, checked))
        else:
            answers[r.payload.request_id] = _rejected(r, checked, deps)
    for programme_id, batch in by_programme.items():
        programme = programmes[programme_id]
        assert isinstance(programme, Programme)
        answers.update(await _enrol(programme, batch, deps))
    return [answers[r.payload.request_id] for r in requests]


async def _programmes(ids: set[str], deps: Registration) -> dict[str, Programme | NotFound]:
    found: dict[str, Programme | NotFound] = {}
    for programme_id in ids:
        try:
            found[programme_id], _ = await load_programme(
                deps, REGISTRY, programme_id, field="programme_id"
            )
        except NotFound as missing:
            found[programme_id] = missing
    return found


def _check(
    r: EnrolmentRequested, ref: int, programme: Programme | NotFound | None, deps: Registration
) -> Candidate | list[Reason]:
    """The request as a candidate of ``enrol_many``, or every reason it is refused for: its
    body's fields, the programme, and the person's fields. The programme's own rules (region,
    occupations, months, ages, one payer) are ``Worker.plan``'s, checked in ``enrol_many``
    once the person is valid (they read the person's fields)."""
    body, reasons = body_of(r)
    if not isinstance(programme, Programme):
        missing = programme or NotFound("programme", r.payload.programme_id, "programme_id")
        reasons.append(Reason(field=missing.field, reason=missing.detail))
    given = body if body is not None else r.payload
    applicant, problems = person_of(
        {
            "nik": given.nik,
            "name": given.name,
            "phone": given.phone,
            "occupation": given.occupation,
            "village_code": given.domicile_code,
            "declared_monthly_income": given.declared_monthly_income,
        },
        refused={reason.field for reason in reasons},
        min_declared_income=deps.settings.min_declared_income,
    )
    reasons += problems
    if reasons or body is None or applicant is None:
        return reasons
    return Candidate(
        ref,
        applicant,
        cover_start=body.cover_start,
        priority=body.priority,
        requested_on=body.requested_on,
        request_id=r.payload.request_id,
    )


#: Values ``Applicant.check`` accepts, standing in for a field it refused (or the body did).
_PASSING: dict[str, Any] = {
    "nik": "1704014107900001",
    "name": "-",
    "phone": None,
    "occupation": "other",
    "village_code": "17.04.01.2001",
}
#: ``Applicant.check``'s argument for each field its errors name.
_ARGUMENT = {"domicile_code": "village_code"}


def person_of(
    values: dict[str, Any], refused: set[str | None], min_declared_income: int
) -> tuple[Applicant | None, list[Reason]]:
    """The person ``Applicant.check`` makes of ``values``, or every field it refuses, not only
    the first: each of its rules reads one field, so a refused field is set aside (a passing
    value stands in for it) and the check runs again. Fields in ``refused`` (the body's) are
    set aside from the start and not named twice."""
    args = dict(values)
    passing = {**_PASSING, "declared_monthly_income": min_declared_income}
    aside = {_ARGUMENT.get(f or "", f or "") for f in refused} & passing.keys()
    reasons: list[Reason] = []
    for _attempt in range(len(passing) + 1):
        try:
            applicant = Applicant.check(
                **{**args, **{name: passing[name] for name in aside}},
                min_declared_income=min_declared_income,
            )
        except DomainError as bad:
            reasons.append(Reason(field=bad.field, reason=bad.detail))
            name = _ARGUMENT.get(bad.field or "", bad.field or "")
            if name not in passing or name in aside:
                break  # nothing left to set aside
            aside.add(name)
            continue
        return (None if aside else applicant), reasons
    return None, reasons


async def _enrol(
    programme: Programme,
    batch: Sequence[tuple[EnrolmentRequested, Candidate]],
    deps: Registration,
) -> dict[str, Answer]:
    """Enrol one programme's candidates; those without a seat go on its waiting list. Two
    requests for one NIK go in successive rounds, so the second sees what the first did (the
    enrolment it made, or its waiting-list entry), as two ``POST /workers`` in a row would."""
    answers: dict[str, Answer] = {}
    for round_ in _rounds(batch):
        requests = [r for r, _ in round_]
        outcomes = await enrol_many(programme, [c for _, c in round_], REGISTRY, deps)
        waiting: list[tuple[EnrolmentRequested, Candidate]] = []
        for r, outcome in zip(requests, outcomes, strict=True):
            rid = r.payload.request_id
            if isinstance(outcome, Enrolled):
                e, worker = outcome.enrolment, outcome.worker
                answers[rid] = _accepted(
                    r,
                    accepted_outcome(outcome, rid),
                    deps,
                    worker_id=worker.worker_id,
                    enrolment_id=e.enrolment_id,
                    card_number=worker.card_number,
                    cover_start=e.first_month,
                    cover_end=e.last_month,
                )
            elif isinstance(outcome, Rejected):
                answers[rid] = _rejected(
                    r, [Reason(field=outcome.field, reason=outcome.reason)], deps
                )
            else:
                assert isinstance(outcome, NoSeat)
                waiting.append((r, outcome.candidate))
        if waiting:
            entries = await put_on_waiting_list(programme, [c for _, c in waiting], REGISTRY, deps)
            for (r, _), entry in zip(waiting, entries, strict=True):
                answers[r.payload.request_id] = _accepted(
                    r, EnrolmentOutcome.WAITING, deps, waiting_list_entry=entry.entry_id
                )
    return answers


def _rounds(
    batch: Sequence[tuple[EnrolmentRequested, Candidate]],
) -> list[list[tuple[EnrolmentRequested, Candidate]]]:
    """The batch split so that no round holds one NIK twice (the k-th request for a NIK goes
    in round k); almost always one round."""
    rounds: list[list[tuple[EnrolmentRequested, Candidate]]] = []
    seen: dict[str, int] = {}
    for item in batch:
        nik = item[1].applicant.identity.nik
        k = seen[nik] = seen.get(nik, -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(item)
    return rounds


# -- answers -----------------------------------------------------------------------------------


def _accepted(
    r: EnrolmentRequested, outcome: EnrolmentOutcome, deps: Registration, **made: object
) -> Answer:
    p = r.payload
    payload = EnrolmentAcceptedPayload.model_validate(
        {"request_id": p.request_id, "programme_id": p.programme_id, "outcome": outcome, **made}
    )
    event = EnrolmentAccepted.create(
        payload,
        producer=PRODUCER,
        correlation_id=_correlation(r),
        causation_id=str(r.event_id),
        occurred_at=deps.clock.now(),
    )
    answer = RequestAnswer(
        request_id=p.request_id,
        fingerprint=fingerprint(r),
        programme_id=p.programme_id,
        outcome=outcome.value,
        event_id=str(r.event_id),
        producer=r.producer,
        answered_at=event.occurred_at,
        worker_id=payload.worker_id,
        enrolment_id=payload.enrolment_id,
        card_number=payload.card_number,
        waiting_list_entry=payload.waiting_list_entry,
    )
    return answer, event


def _rejected(r: EnrolmentRequested, reasons: list[Reason], deps: Registration) -> Answer:
    p = r.payload
    event = EnrolmentRejected.create(
        EnrolmentRejectedPayload(
            request_id=p.request_id, programme_id=p.programme_id, reasons=reasons
        ),
        producer=PRODUCER,
        correlation_id=_correlation(r),
        causation_id=str(r.event_id),
        occurred_at=deps.clock.now(),
    )
    answer = RequestAnswer(
        request_id=p.request_id,
        fingerprint=fingerprint(r),
        programme_id=p.programme_id,
        outcome=REJECTED,
        event_id=str(r.event_id),
        producer=r.producer,
        answered_at=event.occurred_at,
        reasons=tuple((x.field, x.reason) for x in reasons),
    )
    return answer, event


def _correlation(r: EnrolmentRequested) -> str:
    """An answer is caused by its request event (``causation_id``) within the registry's
    correlation id, or the request id when it gave none."""
    return r.correlation_id or r.payload.request_id
