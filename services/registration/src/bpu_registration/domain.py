"""Registration rules: sponsors, their programmes, the workers they enrol and each worker's
enrolments over time. Pure: no I/O.

Peserta BPU = non-wage worker; pemberi iuran = sponsor; NIK = the 16-digit national id.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from lokal import parse_nik, parse_phone
from lokal.wilayah import wilayah_name

from bpu_shared.age import age_on
from bpu_shared.errors import Conflict, InvalidInput
from bpu_shared.events import (
    BenefitProgramme,
    EndReason,
    FundingSource,
    Occupation,
    ProgrammeFields,
    ProgrammeStatus,
    ProgrammeTerms,
    SponsorKind,
)
from bpu_shared.month import Month
from bpu_shared.regions import check_region, within

__all__ = ["Occupation"]  # re-exported: it is part of the enrolment request

#: JKK (work accident) and JKM (death) are mandatory for non-wage workers; JHT is optional.
MANDATORY_BENEFITS = frozenset({BenefitProgramme.JKK, BenefitProgramme.JKM})


def new_id(prefix: str) -> str:
    """Random ids: an id derived from a NIK could be reversed by trying every NIK."""
    return f"{prefix}-{secrets.token_hex(8)}"


# -- sponsors ----------------------------------------------------------------------------------

_SPONSOR_LEVEL = {
    SponsorKind.PROVINCE: 1,
    SponsorKind.REGENCY: 2,
    SponsorKind.CITY: 2,
    SponsorKind.VILLAGE: 4,
}


@dataclass(frozen=True)
class Sponsor:
    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: str
    region_name: str

    @classmethod
    def register(cls, name: str, kind: SponsorKind, region_code: str) -> Sponsor:
        region_name = check_region(region_code, "region_code", _SPONSOR_LEVEL.get(kind))
        if kind in (SponsorKind.REGENCY, SponsorKind.CITY):
            # Kemendagri: 01–69 are regencies (kabupaten), 71–99 cities (kota).
            is_city = int(region_code.split(".")[1]) >= 71
            if is_city != (kind is SponsorKind.CITY):
                raise InvalidInput(
                    "kind",
                    f"{region_code} is a {'city' if is_city else 'regency'}, not a {kind.value}",
                )
        return cls(new_id("SP"), name, kind, region_code, region_name)

    @property
    def funding_source(self) -> FundingSource:
        """Whose budget a programme of this sponsor spends unless it says otherwise."""
        return _FUNDING[self.kind]


_FUNDING = {
    SponsorKind.PROVINCE: FundingSource.APBD_PROVINCE,
    SponsorKind.REGENCY: FundingSource.APBD_REGENCY,
    SponsorKind.CITY: FundingSource.APBD_REGENCY,
    SponsorKind.VILLAGE: FundingSource.APBDES,
    SponsorKind.DONOR: FundingSource.DONOR,
}


# -- programmes --------------------------------------------------------------------------------


def fields_of(model: ProgrammeTerms) -> dict[str, Any]:
    """The model's fields as they are (``model_dump`` would turn a ``Month`` into a dict)."""
    return {name: getattr(model, name) for name in type(model).model_fields}


#: What may change once a programme has started: the money and the seats, not the cover.
CHANGEABLE_WHILE_RUNNING = frozenset({"name", "budget_rupiah", "quota"})


class Programme(ProgrammeFields):
    """A sponsor's budgeted cover: a year, a budget, a quota, benefits, months, age limits,
    occupations and the funding source (the fields are ``ProgrammeFields``, shared with the
    API and the events)."""

    @classmethod
    def open(cls, sponsor: Sponsor, terms: ProgrammeTerms | dict[str, Any]) -> Programme:
        """A new programme of ``sponsor``; ``terms`` may leave ``region_code`` empty for the
        sponsor's own region and ``funding_source`` for the sponsor's budget."""
        values = fields_of(terms) if isinstance(terms, ProgrammeTerms) else dict(terms)
        values["region_code"] = values.get("region_code") or sponsor.region_code
        values["funding_source"] = values.get("funding_source") or sponsor.funding_source
        for name, field in ProgrammeTerms.model_fields.items():  # the defaults left out
            if name not in values and not field.is_required():
                values[name] = field.get_default(call_default_factory=True)
        checked = _checked_terms(values, sponsor.region_code)
        return cls.model_validate(
            {**checked, "programme_id": new_id("PG"), "sponsor_id": sponsor.sponsor_id}
        )

    def started(self, today: date) -> bool:
        return Month.of(today) >= self.start_month

    def change(
        self, sponsor: Sponsor, changes: dict[str, Any], today: date, enrolled: int
    ) -> tuple[Programme, list[str]]:
        """The programme with ``changes`` applied, and the names of the fields that changed.
        Before its first month anything may change; after, only the name, budget and quota;
        the quota never below the workers enrolled; a closed programme not at all."""
        if self.status is ProgrammeStatus.CLOSED:
            raise ProgrammeClosedError(self)
        current = fields_of(self)
        changed = [k for k, v in changes.items() if k in current and current[k] != v]
        if self.started(today):
            frozen = sorted(set(changed) - CHANGEABLE_WHILE_RUNNING)
            if frozen:
                raise InvalidInput(
                    frozen[0],
                    f"programme {self.programme_id} started in {self.start_month}; after its "
                    f"start only {', '.join(sorted(CHANGEABLE_WHILE_RUNNING))} may change",
                )
        if "quota" in changed and changes["quota"] < enrolled:
            raise InvalidInput(
                "quota", f"{enrolled} workers are enrolled; the quota cannot go below that"
            )
        values = {**current, **{k: changes[k] for k in changed}}
        checked = _checked_terms(values, sponsor.region_code)
        return type(self).model_validate(checked), changed

    def close(self, last_month: Month | None, today: date) -> Programme:
        """The programme closed: it takes no one new and pays up to ``last_month`` (its own
        end month by default; never before the month it is closed in)."""
        if self.status is ProgrammeStatus.CLOSED:
            raise ProgrammeClosedError(self)
        last = last_month or self.end_month
        if last > self.end_month:
            raise InvalidInput(
                "last_month", f"{last} is after the programme's end month {self.end_month}"
            )
        floor = max(Month.of(today), self.start_month)
        if last < floor:
            raise InvalidInput(
                "last_month",
                f"{last} is before {floor}: a programme closes from this month or its first",
            )
        return self.model_copy(update={"end_month": last, "status": ProgrammeStatus.CLOSED})

    def covers(self, month: Month) -> bool:
        return self.start_month <= month <= self.end_month

    def takes(self, occupation: Occupation) -> bool:
        return not self.occupations or occupation in self.occupations


def _checked_terms(values: dict[str, Any], sponsor_region: str) -> dict[str, Any]:
    region = values["region_code"]
    check_region(region, "region_code")
    if not within(region, sponsor_region):
        raise InvalidInput(
            "region_code", f"{region} is outside the sponsor's region {sponsor_region}"
        )
    chosen = list(dict.fromkeys(BenefitProgramme(b) for b in values["benefits"]))
    missing = MANDATORY_BENEFITS - set(chosen)
    if missing:
        raise InvalidInput(
            "benefits", f"JKK and JKM are mandatory; missing {', '.join(sorted(missing))}"
        )
    start, end = values["start_month"], values["end_month"]
    if end < start:
        raise InvalidInput("end_month", f"{end} is before start_month {start}")
    year = values["budget_year"]
    if start.year != year or end.year != year:
        raise InvalidInput(
            "start_month" if start.year != year else "end_month",
            f"months must fall in the budget year {year}",
        )
    if not 0 < values["min_age"] <= values["max_age"]:
        raise InvalidInput("max_age", f"age range {values['min_age']}–{values['max_age']} is empty")
    occupations = list(dict.fromkeys(Occupation(o) for o in values.get("occupations") or []))
    return {**values, "benefits": chosen, "occupations": occupations}


class QuotaExhausted(Conflict):
    """Every seat of the programme's quota is taken."""

    def __init__(self, programme: Programme) -> None:
        super().__init__(
            f"programme {programme.programme_id} has filled its quota of {programme.quota}",
            field="programme_id",
        )


class ProgrammeClosedError(Conflict):
    """A closed programme takes no one and changes no more."""

    def __init__(self, programme: Programme) -> None:
        super().__init__(
            f"programme {programme.programme_id} is closed (its last month is "
            f"{programme.end_month})",
            field="programme_id",
        )


class AlreadyFunded(Conflict):
    """One NIK is funded by at most one sponsor programme for any month."""

    def __init__(self, other: Enrolment, first: Month, last: Month) -> None:
        super().__init__(
            f"this NIK is already funded by programme {other.programme_id} of sponsor "
            f"{other.sponsor_id} for {other.first_month}–{other.last_month}; the months "
            f"{first}–{last} overlap, and one programme pays for a worker in any month",
            field="nik",
            programme_id=other.programme_id,
            sponsor_id=other.sponsor_id,
            overlap={"from": str(first), "to": str(last)},
        )
        self.other = other


class NotEnrolled(Conflict):
    def __init__(self, worker_id: str, what: str) -> None:
        super().__init__(f"worker {worker_id} {what}", field="enrolment_id")


# -- workers -----------------------------------------------------------------------------------

_NIK_MESSAGES = {
    "format": "must be 16 digits",
    "province": "digits 1–2 are not a known province code",
    "birth_date": "digits 7–12 are not a valid birth date DDMMYY (women add 40 to the day)",
    "serial": "the serial (digits 13–16) cannot be 0000",
}


@dataclass(frozen=True)
class Identity:
    """What the NIK says: where it was issued, the birth date and the gender."""

    nik: str
    birth_date: date
    gender: str  # L = male, P = female
    issued_in: str  # district code of first issue; never changes when the person moves


def parse_identity(nik: str, field_name: str = "nik") -> Identity:
    info = parse_nik(nik, lookup_wilayah=wilayah_name)
    if not info.valid or info.nik is None or info.birth_date is None:
        detail = "; ".join(
            f"{_NIK_MESSAGES.get(issue.code, issue.code)} ({issue.message})"
            for issue in info.errors
        )
        raise InvalidInput(field_name, f"not a valid NIK: {detail or 'rejected'}")
    return Identity(
        nik=info.nik,
        birth_date=date.fromisoformat(info.birth_date),
        gender=info.gender or "",
        issued_in=info.district_code or "",
    )


def card_number(serial: int) -> str:
    """The participant card number of ``serial``: 10 digits and a Luhn check digit, so a
    mistyped digit or two swapped neighbours are caught before a lookup."""
    if not 0 < serial < 10**10:
        raise ValueError(f"card serial {serial} is outside 1–9,999,999,999")
    body = f"{serial:010d}"
    return body + str((10 - _luhn_sum(body + "0")) % 10)


def valid_card_number(text: str) -> bool:
    return (
        len(text) == 11
        and text.isascii()
        and text.isdigit()
        and text[:10] != "0000000000"  # serials start at 1
        and _luhn_sum(text) % 10 == 0
    )


def _luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total


def mask_nik(nik: str) -> str:
    return f"{nik[:4]}********{nik[-4:]}"


def check_phone(phone: str | None) -> str | None:
    """An Indonesian phone number in its E.164 form (``+6281234567890``), or None."""
    if phone is None or not phone.strip():
        return None
    info = parse_phone(phone)
    if not info.valid or info.e164 is None:
        detail = "; ".join(issue.message for issue in info.errors) or "rejected"
        raise InvalidInput(
            "phone", f"{phone!r} is not an Indonesian phone number (08…, 62… or +62…): {detail}"
        )
    return info.e164


class EnrolmentStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class Enrolment:
    """A programme paying for a worker over a run of months (``first_month``–``last_month``)."""

    enrolment_id: str
    programme_id: str
    sponsor_id: str
    benefits: tuple[BenefitProgramme, ...]
    first_month: Month
    last_month: Month
    enrolled_at: datetime
    status: EnrolmentStatus = EnrolmentStatus.ACTIVE
    end_reason: EndReason | None = None
    ended_on: date | None = None
    waiting_list_entry: str | None = None
    request_id: str | None = None  # the enrolment request (event) that made it, if any

    def overlap(self, first: Month, last: Month) -> tuple[Month, Month] | None:
        lo, hi = max(first, self.first_month), min(last, self.last_month)
        return (lo, hi) if lo <= hi else None

    def months(self) -> list[Month]:
        out, month = [], self.first_month
        while month <= self.last_month:
            out.append(month)
            month = month.plus(1)
        return out


@dataclass(frozen=True)
class Applicant:
    """What an enrolment request says about a person, every field checked: the NIK (with
    lokal-id), the phone, the domicile village, the declared income. Programme rules come
    after, in ``Worker.plan``."""

    identity: Identity
    name: str
    phone: str | None
    occupation: Occupation
    village_code: str  # current domicile (desa/kelurahan), apart from the NIK's region
    declared_monthly_income: int

    @classmethod
    def check(
        cls,
        *,
        nik: str,
        name: str,
        phone: str | None,
        occupation: Occupation | str,
        village_code: str,
        declared_monthly_income: int,
        min_declared_income: int,
    ) -> Applicant:
        identity = parse_identity(nik)
        if not name or not name.strip():
            raise InvalidInput("name", "the name is empty")
        try:
            job = Occupation(occupation)
        except ValueError:
            raise InvalidInput(
                "occupation",
                f"{occupation!r} is not one of {', '.join(o.value for o in Occupation)}",
            ) from None
        check_region(village_code, "domicile_code", 4)
        if declared_monthly_income < min_declared_income:
            raise InvalidInput(
                "declared_monthly_income",
                f"the lowest declared income is Rp{min_declared_income:,}".replace(",", "."),
            )
        return cls(
            identity=identity,
            name=" ".join(name.split()),
            phone=check_phone(phone),
            occupation=job,
            village_code=village_code,
            declared_monthly_income=declared_monthly_income,
        )


@dataclass(frozen=True)
class Worker:
    """A person (one NIK) and every enrolment they have had; ``version`` guards each change."""

    worker_id: str
    identity: Identity
    name: str
    phone: str | None
    occupation: Occupation
    village_code: str
    declared_monthly_income: int
    card_number: str
    registered_at: datetime
    enrolments: tuple[Enrolment, ...] = ()
    version: int = 0

    @property
    def district_code(self) -> str:
        return self.village_code.rsplit(".", 1)[0]

    @property
    def regency_code(self) -> str:
        return self.village_code.rsplit(".", 2)[0]

    @property
    def province_code(self) -> str:
        return self.village_code.split(".", 1)[0]

    @property
    def latest(self) -> Enrolment:
        return self.enrolments[-1]

    # The latest enrolment's terms, for callers that think of one enrolment at a time.
    @property
    def programme_id(self) -> str:
        return self.latest.programme_id

    @property
    def sponsor_id(self) -> str:
        return self.latest.sponsor_id

    @property
    def benefits(self) -> tuple[BenefitProgramme, ...]:
        return self.latest.benefits

    @property
    def cover_start(self) -> Month:
        return self.latest.first_month

    @property
    def status(self) -> EnrolmentStatus:
        return self.latest.status if self.enrolments else EnrolmentStatus.ENDED

    def enrolment(self, enrolment_id: str) -> Enrolment:
        for e in self.enrolments:
            if e.enrolment_id == enrolment_id:
                return e
        raise NotEnrolled(self.worker_id, f"has no enrolment {enrolment_id}")

    def active_in(self, programme_id: str) -> Enrolment | None:
        for e in self.enrolments:
            if e.programme_id == programme_id and e.status is EnrolmentStatus.ACTIVE:
                return e
        return None

    def funded_on(self, month: Month) -> Enrolment | None:
        for e in self.enrolments:
            if e.first_month <= month <= e.last_month:
                return e
        return None

    def months(self) -> list[str]:
        """Every month some programme pays for, as ``YYYY-MM`` (the store's search key)."""
        return sorted({str(m) for e in self.enrolments for m in e.months()})

    @classmethod
    def new(cls, applicant: Applicant, card_number: str, now: datetime) -> Worker:
        return cls(
            worker_id=new_id("WK"),
            identity=applicant.identity,
            name=applicant.name,
            phone=applicant.phone,
            occupation=applicant.occupation,
            village_code=applicant.village_code,
            declared_monthly_income=applicant.declared_monthly_income,
            card_number=card_number,
            registered_at=now,
        )

    def plan(
        self,
        programme: Programme,
        cover_start: Month | None,
        now: datetime,
        *,
        applicant: Applicant | None = None,
        waiting_list_entry: str | None = None,
        request_id: str | None = None,
    ) -> Enrolment:
        """The enrolment ``programme`` would make for this worker from ``cover_start``, or
        the active one it has made already (the same request again). Checks the programme's
        region, occupations, months and ages against ``applicant`` (the request's data) or the
        worker's own, and that no other programme pays for any of the months."""
        existing = self.active_in(programme.programme_id)
        if existing is not None:
            return existing
        who = applicant or Applicant(
            self.identity,
            self.name,
            self.phone,
            self.occupation,
            self.village_code,
            self.declared_monthly_income,
        )
        start = check_eligible(programme, who, cover_start, now)
        for other in self.enrolments:
            overlap = other.overlap(start, programme.end_month)
            if overlap is not None:
                raise AlreadyFunded(other, *overlap)
        return Enrolment(
            enrolment_id=new_id("EN"),
            programme_id=programme.programme_id,
            sponsor_id=programme.sponsor_id,
            benefits=tuple(programme.benefits),
            first_month=start,
            last_month=programme.end_month,
            enrolled_at=now,
            waiting_list_entry=waiting_list_entry,
            request_id=request_id,
        )

    def enrolled(self, enrolment: Enrolment, applicant: Applicant | None = None) -> Worker:
        """The worker with ``enrolment`` added; a new enrolment brings the request's current
        domicile, phone, occupation and income with it."""
        changes: dict[str, Any] = {"enrolments": (*self.enrolments, enrolment)}
        if applicant is not None and self.enrolments:
            changes.update(
                name=applicant.name,
                phone=applicant.phone or self.phone,
                occupation=applicant.occupation,
                village_code=applicant.village_code,
                declared_monthly_income=applicant.declared_monthly_income,
            )
        return dataclasses.replace(self, **changes)

    def end(
        self, enrolment_id: str, reason: EndReason, on: date, last: Month | None = None
    ) -> tuple[Worker, Enrolment]:
        """End an active enrolment on ``on``: the programme pays up to that month, or up to
        ``last`` when given (a closed programme's last month). An end before the first month
        leaves the first month as the last, never an empty run."""
        enrolment = self.enrolment(enrolment_id)
        if enrolment.status is not EnrolmentStatus.ACTIVE:
            raise NotEnrolled(self.worker_id, f"enrolment {enrolment_id} has ended already")
        last = min(enrolment.last_month, max(last or Month.of(on), enrolment.first_month))
        ended = dataclasses.replace(
            enrolment,
            last_month=last,
            status=EnrolmentStatus.ENDED,
            end_reason=reason,
            ended_on=on,
        )
        return self._with(ended), ended

    def _with(self, enrolment: Enrolment) -> Worker:
        return dataclasses.replace(
            self,
            enrolments=tuple(
                enrolment if e.enrolment_id == enrolment.enrolment_id else e
                for e in self.enrolments
            ),
        )

    def move(
        self, to: Programme, from_month: Month, now: datetime
    ) -> tuple[Worker, Enrolment, Enrolment]:
        """Move the worker's active enrolment to programme ``to`` from ``from_month``: the old
        one pays up to the month before, the new one from ``from_month``."""
        current = next(
            (e for e in reversed(self.enrolments) if e.status is EnrolmentStatus.ACTIVE), None
        )
        if current is None:
            raise NotEnrolled(self.worker_id, "has no active enrolment to move")
        if current.programme_id == to.programme_id:
            raise InvalidInput("programme_id", f"the worker is enrolled in {to.programme_id}")
        if from_month <= current.first_month:
            raise InvalidInput(
                "from_month",
                f"{from_month} is not after the current enrolment's first month "
                f"{current.first_month}",
            )
        ended = dataclasses.replace(
            current,
            last_month=min(current.last_month, from_month.plus(-1)),
            status=EnrolmentStatus.ENDED,
            end_reason=EndReason.MOVED_PROGRAMME,
            ended_on=from_month.first_day(),
        )
        moved = self._with(ended)
        started = moved.plan(to, from_month, now)
        return moved.enrolled(started), ended, started

    def change(self, paying: Sequence[Programme] = (), **changes: Any) -> tuple[Worker, list[str]]:
        """The worker with new ``domicile_code``/``phone``/``declared_monthly_income``/
        ``occupation`` values (each checked), and the names of those that changed. A new
        domicile must lie inside the region of every programme ``paying`` for the worker now:
        a worker who moves away ends that enrolment (moved_away) first."""
        values: dict[str, Any] = {}
        if changes.get("domicile_code") is not None:
            village = changes["domicile_code"]
            check_region(village, "domicile_code", 4)
            for programme in paying:
                if not within(village, programme.region_code):
                    raise InvalidInput(
                        "domicile_code",
                        f"{village} is outside the region {programme.region_code} of programme "
                        f"{programme.programme_id}, which pays for this worker; end that "
                        "enrolment (reason moved_away) first",
                    )
            values["village_code"] = village
        if "phone" in changes:
            values["phone"] = check_phone(changes["phone"])
        if changes.get("occupation") is not None:
            values["occupation"] = Occupation(changes["occupation"])
        if changes.get("declared_monthly_income") is not None:
            values["declared_monthly_income"] = changes["declared_monthly_income"]
        names = {"village_code": "domicile_code"}
        changed = [names.get(k, k) for k, v in values.items() if getattr(self, k) != v]
        return dataclasses.replace(self, **values), changed

    @classmethod
    def enrol(
        cls,
        programme: Programme,
        *,
        nik: str,
        name: str,
        phone: str | None,
        occupation: Occupation,
        village_code: str,
        declared_monthly_income: int,
        min_declared_income: int,
        cover_start: Month | None,
        now: datetime,
        card_number: str = "",
    ) -> Worker:
        """A new person's first enrolment (a NIK the store does not know yet)."""
        applicant = Applicant.check(
            nik=nik,
            name=name,
            phone=phone,
            occupation=occupation,
            village_code=village_code,
            declared_monthly_income=declared_monthly_income,
            min_declared_income=min_declared_income,
        )
        worker = cls.new(applicant, card_number, now)
        return worker.enrolled(worker.plan(programme, cover_start, now, applicant=applicant))


def check_eligible(
    programme: Programme, applicant: Applicant, cover_start: Month | None, now: datetime
) -> Month:
    """The first month ``programme`` would pay for ``applicant``, after checking its status,
    region, occupations, months and ages."""
    if programme.status is ProgrammeStatus.CLOSED:
        raise ProgrammeClosedError(programme)
    if not within(applicant.village_code, programme.region_code):
        raise InvalidInput(
            "domicile_code",
            f"{applicant.village_code} is outside the programme's region {programme.region_code}",
        )
    if not programme.takes(applicant.occupation):
        raise InvalidInput(
            "occupation",
            f"programme {programme.programme_id} takes "
            f"{', '.join(o.value for o in programme.occupations)}, not {applicant.occupation.value}",
        )
    start = cover_start or max(Month.of(now.date()), programme.start_month)
    if not programme.covers(start):
        raise InvalidInput(
            "cover_start",
            f"{start} is outside the programme's months {programme.start_month}–{programme.end_month}",
        )
    age = age_on(applicant.identity.birth_date, start.first_day())
    if not programme.min_age <= age <= programme.max_age:
        raise InvalidInput(
            "nik",
            f"the worker is {age} on {start.first_day()}; the programme takes ages "
            f"{programme.min_age}–{programme.max_age}",
        )
    return start


# -- the waiting list (daftar tunggu) ----------------------------------------------------------
# Eligible workers a full programme has no seat for wait in a published order: the sponsor's
# priority first (1 is served first; none comes after every priority), then the date of the
# request, then arrival.

#: The highest priority a sponsor may give; ``order_key`` writes it in fixed width.
MAX_PRIORITY = 10**18
#: Where an entry without a priority stands: after every priority a sponsor may give.
NO_PRIORITY = 10**19 - 1


class WaitingState(StrEnum):
    WAITING = "waiting"
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"
    PROGRAMME_CLOSED = "programme_closed"


@dataclass(frozen=True)
class WaitingEntry:
    """One worker waiting for a seat of a programme: the checked request (what enrolment needs
    later), its place in the order, who added it, and how it left the list."""

    entry_id: str
    programme_id: str
    sponsor_id: str
    nik: str
    name: str
    phone: str | None
    occupation: Occupation
    village_code: str
    declared_monthly_income: int
    cover_start: Month | None
    priority: int | None
    requested_on: date
    seq: int
    order: str
    added_by: str
    added_at: datetime
    state: WaitingState = WaitingState.WAITING
    left_at: datetime | None = None
    left_by: str | None = None
    worker_id: str | None = None
    detail: str | None = None

    @property
    def district_code(self) -> str:
        return self.village_code.rsplit(".", 1)[0]

    @property
    def regency_code(self) -> str:
        return self.village_code.rsplit(".", 2)[0]

    @property
    def province_code(self) -> str:
        return self.village_code.split(".", 1)[0]


def order_key(priority: int | None, requested_on: date, seq: int) -> str:
    """The entry's place in the order as one string that sorts as the rule says: priority
    (none last), then date of request, then arrival ``seq``. The store sorts and pages on it."""
    if priority is not None and not 1 <= priority <= MAX_PRIORITY:
        raise InvalidInput("priority", f"{priority} is outside 1–{MAX_PRIORITY:,} (1 is first)")
    rank = NO_PRIORITY if priority is None else priority
    return f"{rank:019d}.{requested_on.isoformat()}.{seq:012d}"


def cover_from(wish: Month | None, today: date) -> Month | None:
    """A seat is never back-dated: cover starts at the month wished for or this month,
    whichever is later (no wish: the enrolment's own default)."""
    return None if wish is None else max(wish, Month.of(today))


def enrolled_for(worker: Worker | None, entry_id: str) -> bool:
    """The worker holds an enrolment made for this entry (a fill that crashed before it
    closed the entry)."""
    return worker is not None and any(e.waiting_list_entry == entry_id for e in worker.enrolments)
