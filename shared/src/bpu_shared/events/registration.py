"""Events of the registration context: sponsors, their programmes, and workers."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from bpu_shared.events.envelope import Event, Month, Payload, RegionCode, Rupiah


class BenefitProgramme(StrEnum):
    """JKK = work-accident insurance, JKM = death insurance, JHT = old-age savings."""

    JKK = "JKK"
    JKM = "JKM"
    JHT = "JHT"


class SponsorKind(StrEnum):
    """Who pays: a regency or city (Pemkab/Pemkot), a province (Pemprov), a village budget
    (APBDes), or a donor/CSR programme."""

    REGENCY = "regency"
    CITY = "city"
    PROVINCE = "province"
    VILLAGE = "village"
    DONOR = "donor"


class FundingSource(StrEnum):
    """Whose budget pays: a regency's or city's APBD, a province's APBD, a village budget
    (APBDes), or a donor. Billing's discounts depend on it (PP 50/2025 excludes APBD/APBN)."""

    APBD_REGENCY = "apbd_regency"
    APBD_PROVINCE = "apbd_province"
    APBDES = "apbdes"
    DONOR = "donor"


class Occupation(StrEnum):
    """What a non-wage worker does; billing's sector discounts and reporting use it."""

    FARMER = "farmer"  # petani
    FARM_LABOURER = "farm_labourer"  # buruh tani
    FISHER = "fisher"  # nelayan
    MOTORCYCLE_TAXI_RIDER = "motorcycle_taxi_rider"  # tukang ojek
    PEDICAB_DRIVER = "pedicab_driver"  # tukang becak
    PORTER = "porter"  # kuli
    TRADER = "trader"  # pedagang
    SMALL_BUSINESS = "small_business"  # UMKM
    HONORARY_TEACHER = "honorary_teacher"  # guru honorer
    RELIGIOUS_WORKER = "religious_worker"
    RT_RW_OFFICER = "rt_rw_officer"
    PLANTATION_WORKER = "plantation_worker"  # pekebun
    SOCIAL_WORKER = "social_worker"
    OTHER = "other"


class ProgrammeStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EndReason(StrEnum):
    """Why an enrolment ended."""

    DEATH = "death"
    MOVED_AWAY = "moved_away"
    PROGRAMME_ENDED = "programme_ended"
    WITHDRAWN = "withdrawn"
    MOVED_PROGRAMME = "moved_programme"


class SponsorRegisteredPayload(Payload):
    KEY_FIELD: ClassVar[str] = "sponsor_id"

    sponsor_id: str
    name: str
    kind: SponsorKind
    region_code: RegionCode = Field(description="The region the sponsor governs or funds")


class SponsorRegistered(Event[SponsorRegisteredPayload]):
    """A sponsor (pemberi iuran) was registered."""

    TOPIC: ClassVar[str] = "registration.sponsor-registered.v1"
    PARTITIONS: ClassVar[int] = 3


class ProgrammeTerms(Payload):
    """What a sponsor decides for a programme. Defined once: the API's request and answer,
    the domain's ``Programme``, the store and ``ProgrammeOpened`` all use these fields."""

    KEY_FIELD: ClassVar[str] = "programme_id"

    name: str = Field(min_length=2, max_length=200, examples=["Perlindungan Pekerja Rentan 2026"])
    region_code: RegionCode = Field(
        examples=["17.04"], description="The sponsor's region, or a narrower one"
    )
    budget_year: int = Field(ge=2015, le=2100, examples=[2026])
    budget_rupiah: Rupiah = Field(examples=[1_437_408_000])
    quota: int = Field(ge=1, le=100_000_000, examples=[7130])
    benefits: list[BenefitProgramme] = Field(
        default_factory=lambda: [BenefitProgramme.JKK, BenefitProgramme.JKM],
        min_length=2,
        description="JKK and JKM are mandatory; JHT is optional",
    )
    start_month: Month = Field(examples=["2026-01"])
    end_month: Month = Field(examples=["2026-12"])
    min_age: int = Field(15, ge=1, le=120, description="Youngest age the programme takes")
    max_age: int = Field(64, ge=1, le=120, description="Oldest age the programme takes")
    occupations: list[Occupation] = Field(
        default_factory=list, description="Occupations the programme takes; empty: every one"
    )
    funding_source: FundingSource = Field(
        FundingSource.APBD_REGENCY,
        description="Whose budget pays (billing's discounts depend on it)",
    )


class ProgrammeFields(ProgrammeTerms):
    """A programme as it exists: its terms, its id, its sponsor and whether it is open."""

    programme_id: str
    sponsor_id: str
    status: ProgrammeStatus = ProgrammeStatus.OPEN


class ProgrammeOpenedPayload(ProgrammeFields):
    pass


class ProgrammeChangedPayload(ProgrammeFields):
    """The programme after the change, whole, and which fields changed."""

    changed: list[str]


class ProgrammeChanged(Event[ProgrammeChangedPayload]):
    """A sponsor changed a programme's terms (before it started), its quota or its budget."""

    TOPIC: ClassVar[str] = "registration.programme-changed.v1"
    PARTITIONS: ClassVar[int] = 3


class ProgrammeClosedPayload(ProgrammeFields):
    """The programme as closed: ``end_month`` is its last covered month."""

    closed_on: date


class ProgrammeClosed(Event[ProgrammeClosedPayload]):
    """A programme was closed: no more enrolments; its enrolments end with its last month."""

    TOPIC: ClassVar[str] = "registration.programme-closed.v1"
    PARTITIONS: ClassVar[int] = 3


class ProgrammeOpened(Event[ProgrammeOpenedPayload]):
    """A sponsor opened a programme: a budget year, budget, quota, benefits and months."""

    TOPIC: ClassVar[str] = "registration.programme-opened.v1"
    PARTITIONS: ClassVar[int] = 3


class WorkerFacts(Payload):
    """What every worker event carries: the worker id, where they live now, what they do and
    what they declared. Never the NIK, name, birth date or phone: those stay in registration."""

    KEY_FIELD: ClassVar[str] = "worker_id"

    worker_id: str
    province_code: RegionCode
    regency_code: RegionCode
    district_code: RegionCode
    village_code: RegionCode = Field(description="Current domicile (desa/kelurahan)")
    occupation: str
    gender: str = Field(pattern="^[LP]$", description="L = male, P = female")
    declared_monthly_income: Rupiah


class WorkerRegisteredPayload(WorkerFacts):
    sponsor_id: str
    programme_id: str
    benefits: list[BenefitProgramme]
    cover_start: Month = Field(description="First month the programme pays for")
    registered_at: AwareDatetime
    enrolment_id: str | None = Field(None, description="This enrolment (a worker may have several)")
    cover_end: Month | None = Field(None, description="Last month the programme pays for")
    waiting_list_entry: str | None = Field(
        None, description="The waiting-list entry this enrolment took a seat for, if any"
    )


class WorkerRegistered(Event[WorkerRegisteredPayload]):
    """A worker was enrolled in a sponsor programme for the months ``cover_start`` to
    ``cover_end`` (one event per enrolment; a worker carried over to next year's programme has
    a second one)."""

    TOPIC: ClassVar[str] = "registration.worker-registered.v1"
    PARTITIONS: ClassVar[int] = 12


class WorkerChangedPayload(WorkerFacts):
    changed: list[str] = Field(
        description="What changed: domicile_code, phone, declared_monthly_income, occupation"
    )
    effective_month: Month = Field(description="First month the change applies to")


class WorkerChanged(Event[WorkerChangedPayload]):
    """A worker's domicile, phone, occupation or declared income changed (the new values; the
    phone itself stays in registration)."""

    TOPIC: ClassVar[str] = "registration.worker-changed.v1"
    PARTITIONS: ClassVar[int] = 12


class EnrolmentEndedPayload(WorkerFacts):
    enrolment_id: str
    sponsor_id: str
    programme_id: str
    cover_start: Month
    cover_end: Month = Field(description="Last month the programme pays for, now")
    reason: EndReason
    effective_on: date


class EnrolmentEnded(Event[EnrolmentEndedPayload]):
    """An enrolment ended (death, moved away, programme ended, withdrawn, moved to another
    programme): the programme pays up to ``cover_end``."""

    TOPIC: ClassVar[str] = "registration.enrolment-ended.v1"
    PARTITIONS: ClassVar[int] = 12


class WaitingListEntryPayload(Payload):
    """A waiting-list entry, without personal data: where the worker lives, what they do, and
    their place in the order (priority, then date of request)."""

    KEY_FIELD: ClassVar[str] = "entry_id"

    entry_id: str
    programme_id: str
    sponsor_id: str
    province_code: RegionCode
    regency_code: RegionCode
    district_code: RegionCode
    village_code: RegionCode
    occupation: str
    priority: int | None = Field(None, description="Sponsor's priority; lower is served first")
    requested_on: date


class WorkerWaitlisted(Event[WaitingListEntryPayload]):
    """An eligible worker waits for a seat: the programme's quota was full."""

    TOPIC: ClassVar[str] = "registration.worker-waitlisted.v1"
    PARTITIONS: ClassVar[int] = 6


class WaitingListReason(StrEnum):
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"
    PROGRAMME_CLOSED = "programme_closed"


class WaitingListLeftPayload(WaitingListEntryPayload):
    reason: WaitingListReason
    worker_id: str | None = Field(None, description="The worker enrolled, when enrolled")
    detail: str | None = Field(None, description="Why it was refused, when refused")


class WaitingListLeft(Event[WaitingListLeftPayload]):
    """A worker left a waiting list: enrolled in a freed seat, withdrawn, refused on a later
    check, or the programme closed."""

    TOPIC: ClassVar[str] = "registration.waiting-list-left.v1"
    PARTITIONS: ClassVar[int] = 6


class EnrolmentRequestedPayload(Payload):
    """One worker a regional social registry asks to enrol: the same fields as
    ``POST /workers``, and the registry's own request id (it is the idempotency key)."""

    KEY_FIELD: ClassVar[str] = "request_id"

    request_id: str = Field(
        min_length=1,
        max_length=100,
        description="The registry's id of this request, also the Kafka key: one request id is "
        "applied once and answered once",
    )
    programme_id: str = Field(description="The sponsor programme to enrol the worker in")
    nik: str = Field(description="16-digit NIK")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=20)
    occupation: str = Field(description="One of the occupations of POST /workers (farmer, …)")
    domicile_code: str = Field(description="Current domicile village (desa/kelurahan) code")
    declared_monthly_income: Rupiah = 1_000_000
    cover_start: Month | None = Field(
        None, description="First month of cover; default this month or the programme's start"
    )
    priority: int | None = Field(None, ge=1, description="Waiting-list priority; lower first")
    requested_on: date | None = None


class EnrolmentRequested(Event[EnrolmentRequestedPayload]):
    """Published by an integrating system (a regional social registry) to enrol one worker.
    Contains personal data: only registration consumes it."""

    TOPIC: ClassVar[str] = "registration.enrolment-requested.v1"
    PARTITIONS: ClassVar[int] = 6


class EnrolmentOutcome(StrEnum):
    """``enrolled``: this request made the enrolment; ``already_enrolled``: the worker was
    enrolled in the programme before (by another request or the API); ``waiting``: eligible,
    but the quota is full, so the worker waits on the programme's waiting list."""

    ENROLLED = "enrolled"
    ALREADY_ENROLLED = "already_enrolled"
    WAITING = "waiting"


class EnrolmentAcceptedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "request_id"

    request_id: str
    programme_id: str
    outcome: EnrolmentOutcome
    worker_id: str | None = Field(None, description="The worker, when enrolled")
    enrolment_id: str | None = Field(None, description="The enrolment, when enrolled")
    card_number: str | None = Field(None, description="Participant card number, when enrolled")
    waiting_list_entry: str | None = Field(None, description="The waiting-list entry, when waiting")
    cover_start: Month | None = Field(None, description="First month paid for, when enrolled")
    cover_end: Month | None = Field(None, description="Last month paid for, when enrolled")


class EnrolmentAccepted(Event[EnrolmentAcceptedPayload]):
    """The answer to an ``EnrolmentRequested``: enrolled, already enrolled, or waiting."""

    TOPIC: ClassVar[str] = "registration.enrolment-accepted.v1"
    PARTITIONS: ClassVar[int] = 6


class Reason(Payload):
    KEY_FIELD: ClassVar[str] = "field"

    field: str | None = Field(description="The field that failed, if one did")
    reason: str


class EnrolmentRejectedPayload(Payload):
    KEY_FIELD: ClassVar[str] = "request_id"

    request_id: str
    programme_id: str
    reasons: list[Reason] = Field(
        description="Every problem found, each naming the field as POST /workers names it"
    )


class EnrolmentRejected(Event[EnrolmentRejectedPayload]):
    """The answer to an ``EnrolmentRequested`` that cannot be enrolled, with every reason."""

    TOPIC: ClassVar[str] = "registration.enrolment-rejected.v1"
    PARTITIONS: ClassVar[int] = 6


__all__ = [
    "BenefitProgramme",
    "EndReason",
    "EnrolmentAccepted",
    "EnrolmentAcceptedPayload",
    "EnrolmentEnded",
    "EnrolmentEndedPayload",
    "EnrolmentOutcome",
    "EnrolmentRejected",
    "EnrolmentRejectedPayload",
    "EnrolmentRequested",
    "EnrolmentRequestedPayload",
    "FundingSource",
    "Occupation",
    "ProgrammeChanged",
    "ProgrammeChangedPayload",
    "ProgrammeClosed",
    "ProgrammeClosedPayload",
    "ProgrammeFields",
    "ProgrammeOpened",
    "ProgrammeOpenedPayload",
    "ProgrammeStatus",
    "ProgrammeTerms",
    "Reason",
    "SponsorKind",
    "SponsorRegistered",
    "SponsorRegisteredPayload",
    "WaitingListEntryPayload",
    "WaitingListLeft",
    "WaitingListLeftPayload",
    "WaitingListReason",
    "WorkerChanged",
    "WorkerChangedPayload",
    "WorkerFacts",
    "WorkerRegistered",
    "WorkerRegisteredPayload",
    "WorkerWaitlisted",
]
