"""Event contracts: the envelope, every event, and the catalogue of topics."""

from bpu_shared.events.auth import (
    ApiKeyIssued,
    ApiKeyIssuedPayload,
    ApiKeyRevoked,
    ApiKeyRevokedPayload,
)
from bpu_shared.events.billing import (
    ContributionInvoiced,
    ContributionInvoicedPayload,
    ContributionPaid,
    ContributionPaidPayload,
    CoverageLapsed,
    CoverageLapsedPayload,
    CoverPaid,
    CoverPaidPayload,
    DistrictTotal,
    PaymentReceived,
    PaymentReceivedPayload,
)
from bpu_shared.events.claims import ClaimPaid, ClaimPaidPayload
from bpu_shared.events.envelope import Event, Month, Payload, RegionCode, Rupiah
from bpu_shared.events.registration import (
    BenefitProgramme,
    EndReason,
    EnrolmentAccepted,
    EnrolmentAcceptedPayload,
    EnrolmentEnded,
    EnrolmentEndedPayload,
    EnrolmentOutcome,
    EnrolmentRejected,
    EnrolmentRejectedPayload,
    EnrolmentRequested,
    EnrolmentRequestedPayload,
    FundingSource,
    Occupation,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeFields,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    ProgrammeStatus,
    ProgrammeTerms,
    Reason,
    SponsorKind,
    SponsorRegistered,
    SponsorRegisteredPayload,
    WaitingListEntryPayload,
    WaitingListLeft,
    WaitingListLeftPayload,
    WaitingListReason,
    WorkerChanged,
    WorkerChangedPayload,
    WorkerFacts,
    WorkerRegistered,
    WorkerRegisteredPayload,
    WorkerWaitlisted,
)

#: Every event class, in catalogue order.
ALL_EVENTS: tuple[type[Event], ...] = (
    SponsorRegistered,
    ProgrammeOpened,
    ProgrammeChanged,
    ProgrammeClosed,
    WorkerRegistered,
    WorkerChanged,
    EnrolmentEnded,
    WorkerWaitlisted,
    WaitingListLeft,
    EnrolmentRequested,
    EnrolmentAccepted,
    EnrolmentRejected,
    ContributionInvoiced,
    PaymentReceived,
    ContributionPaid,
    CoverPaid,
    CoverageLapsed,
    ClaimPaid,
    ApiKeyIssued,
    ApiKeyRevoked,
)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX


def all_topics() -> dict[str, int]:
    """Every topic the platform uses, with its partition count: event topics and their DLQs."""
    topics: dict[str, int] = {}
    for event in ALL_EVENTS:
        topics[event.TOPIC] = event.PARTITIONS
        topics[dlq_topic(event.TOPIC)] = 1
    return topics


__all__ = [
    "ALL_EVENTS",
    "DLQ_SUFFIX",
    "ApiKeyIssued",
    "ApiKeyIssuedPayload",
    "ApiKeyRevoked",
    "ApiKeyRevokedPayload",
    "BenefitProgramme",
    "ClaimPaid",
    "ClaimPaidPayload",
    "ContributionInvoiced",
    "ContributionInvoicedPayload",
    "ContributionPaid",
    "ContributionPaidPayload",
    "CoverPaid",
    "CoverPaidPayload",
    "CoverageLapsed",
    "CoverageLapsedPayload",
    "DistrictTotal",
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
    "Event",
    "FundingSource",
    "Month",
    "Occupation",
    "Payload",
    "PaymentReceived",
    "PaymentReceivedPayload",
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
    "RegionCode",
    "Rupiah",
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
    "all_topics",
    "dlq_topic",
]
