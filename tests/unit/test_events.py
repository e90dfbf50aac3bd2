"""Event contracts: topic names, keys, the envelope, the wire format, and the published schemas."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from bpu_shared.events import (
    ALL_EVENTS,
    ApiKeyIssued,
    ApiKeyIssuedPayload,
    ApiKeyRevoked,
    ApiKeyRevokedPayload,
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
    ContributionInvoiced,
    ContributionInvoicedPayload,
    ContributionPaid,
    ContributionPaidPayload,
    CoverageLapsed,
    CoverageLapsedPayload,
    CoverPaid,
    CoverPaidPayload,
    DistrictTotal,
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
    Event,
    FundingSource,
    Payload,
    PaymentReceived,
    PaymentReceivedPayload,
    ProgrammeChanged,
    ProgrammeChangedPayload,
    ProgrammeClosed,
    ProgrammeClosedPayload,
    ProgrammeOpened,
    ProgrammeOpenedPayload,
    Reason,
    RefusalReason,
    SponsorKind,
    SponsorRegistered,
    SponsorRegisteredPayload,
    WaitingListEntryPayload,
    WaitingListLeft,
    WaitingListLeftPayload,
    WaitingListReason,
    WorkerChanged,
    WorkerChangedPayload,
    WorkerRegistered,
    WorkerRegisteredPayload,
    WorkerWaitlisted,
    all_topics,
    dlq_topic,
)
from bpu_shared.events.schemas import documents

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events"
REGENERATE = "uv run python -m bpu_shared.events.schemas docs/events"

TOPIC = re.compile(r"^(?P<context>[a-z]+)\.(?P<event>[a-z]+(?:-[a-z]+)*)\.v(?P<major>[1-9][0-9]*)$")
AT = datetime(2024, 12, 2, 8, 30, tzinfo=UTC)

#: What every claims event says of its claim (the version differs per step).
CLAIM: dict[str, Any] = {
    "claim_id": "CL-1",
    "worker_id": "WK-1",
    "programme_id": "PG-1",
    "benefit": BenefitProgramme.JKM,
    "incident_date": date(2024, 12, 3),
    "province_code": "17",
    "regency_code": "17.04",
    "district_code": "17.04.01",
}

SAMPLE_PAYLOADS: dict[type[Event], Payload] = {
    SponsorRegistered: SponsorRegisteredPayload(
        sponsor_id="SP-1", name="Pemkab Kaur", kind=SponsorKind.REGENCY, region_code="17.04"
    ),
    ProgrammeOpened: ProgrammeOpenedPayload(
        programme_id="PG-1",
        sponsor_id="SP-1",
        name="Kaur 2024",
        region_code="17.04",
        budget_year=2024,
        budget_rupiah=1_437_408_000,
        quota=7_130,
        benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
        start_month="2024-01",
        end_month="2024-12",
        min_age=15,
        max_age=64,
    ),
    WorkerRegistered: WorkerRegisteredPayload(
        worker_id="WK-1",
        sponsor_id="SP-1",
        programme_id="PG-1",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        village_code="17.04.01.2001",
        occupation="farmer",
        gender="P",
        declared_monthly_income=1_000_000,
        benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
        cover_start="2024-12",
        registered_at=AT,
    ),
    ProgrammeChanged: ProgrammeChangedPayload(
        programme_id="PG-1",
        sponsor_id="SP-1",
        name="Kaur 2024",
        region_code="17.04",
        budget_year=2024,
        budget_rupiah=1_437_408_000,
        quota=7_130,
        benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
        start_month="2024-01",
        end_month="2024-12",
        min_age=15,
        max_age=64,
        changed=["quota"],
    ),
    ProgrammeClosed: ProgrammeClosedPayload(
        programme_id="PG-1",
        sponsor_id="SP-1",
        name="Kaur 2024",
        region_code="17.04",
        budget_year=2024,
        budget_rupiah=1_437_408_000,
        quota=7_130,
        benefits=[BenefitProgramme.JKK, BenefitProgramme.JKM],
        start_month="2024-01",
        end_month="2024-12",
        min_age=15,
        max_age=64,
        closed_on=date(2024, 12, 2),
    ),
    WorkerChanged: WorkerChangedPayload(
        worker_id="WK-1",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        village_code="17.04.01.2001",
        occupation="farmer",
        gender="P",
        declared_monthly_income=1_000_000,
        changed=["declared_monthly_income"],
        effective_month="2024-12",
    ),
    EnrolmentEnded: EnrolmentEndedPayload(
        worker_id="WK-1",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        village_code="17.04.01.2001",
        occupation="farmer",
        gender="P",
        declared_monthly_income=1_000_000,
        enrolment_id="EN-1",
        sponsor_id="SP-1",
        programme_id="PG-1",
        cover_start="2024-01",
        cover_end="2024-12",
        reason=EndReason.DEATH,
        effective_on=date(2024, 12, 2),
    ),
    WorkerWaitlisted: WaitingListEntryPayload(
        entry_id="WL-1",
        programme_id="PG-1",
        sponsor_id="SP-1",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        village_code="17.04.01.2001",
        occupation="farmer",
        priority=1,
        requested_on=date(2024, 11, 4),
    ),
    WaitingListLeft: WaitingListLeftPayload(
        entry_id="WL-1",
        programme_id="PG-1",
        sponsor_id="SP-1",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        village_code="17.04.01.2001",
        occupation="farmer",
        priority=1,
        requested_on=date(2024, 11, 4),
        reason=WaitingListReason.ENROLLED,
        worker_id="WK-1",
    ),
    EnrolmentRequested: EnrolmentRequestedPayload(
        request_id="RQ-1",
        programme_id="PG-1",
        nik="1704014107900001",
        name="Siti Aminah",
        occupation="farmer",
        domicile_code="17.04.01.2001",
    ),
    EnrolmentAccepted: EnrolmentAcceptedPayload(
        request_id="RQ-1",
        programme_id="PG-1",
        outcome=EnrolmentOutcome.ENROLLED,
        worker_id="WK-1",
        enrolment_id="EN-1",
        card_number="00000000018",
        cover_start="2026-03",
        cover_end="2026-12",
    ),
    EnrolmentRejected: EnrolmentRejectedPayload(
        request_id="RQ-1",
        programme_id="PG-1",
        reasons=[Reason(field="nik", reason="not a valid NIK: must be 16 digits")],
    ),
    ContributionInvoiced: ContributionInvoicedPayload(
        invoice_id="IN-1",
        sponsor_id="SP-1",
        programme_id="PG-1",
        region_code="17.04",
        period="2024-12",
        worker_count=7_130,
        amount_by_benefit={BenefitProgramme.JKK: 71_300_000, BenefitProgramme.JKM: 48_484_000},
        amount_rupiah=119_784_000,
        due_date=date(2024, 12, 16),
        by_district={"17.04.01": DistrictTotal(workers=480, amount_rupiah=8_064_000)},
        funding_source=FundingSource.APBD_REGENCY,
    ),
    PaymentReceived: PaymentReceivedPayload(
        reference="SP2D-0042/2024",
        amount_rupiah=119_784_000,
        paid_at=AT,
        invoice_id="IN-1",
    ),
    ContributionPaid: ContributionPaidPayload(
        payment_id="PY-1",
        reference="SP2D-0042/2024",
        invoice_id="IN-1",
        sponsor_id="SP-1",
        programme_id="PG-1",
        region_code="17.04",
        period="2024-12",
        amount_rupiah=119_784_000,
        invoice_amount_rupiah=119_784_000,
        invoice_paid_rupiah=119_784_000,
        paid_in_full=True,
        workers_covered=7_130,
        worker_count=7_130,
        paid_at=AT,
    ),
    CoverPaid: CoverPaidPayload(
        invoice_id="IN-1",
        programme_id="PG-1",
        sponsor_id="SP-1",
        period="2024-12",
        worker_ids=["WK-1", "WK-2"],
    ),
    CoverageLapsed: CoverageLapsedPayload(
        programme_id="PG-1",
        sponsor_id="SP-1",
        region_code="17.04",
        lapsed_from="2025-01",
        unpaid_periods=["2025-01", "2025-02", "2025-03", "2025-04"],
        worker_count=7_130,
    ),
    ClaimFiled: ClaimFiledPayload(
        **CLAIM, version=1, filed_by="0123456789abcdef", filed_at=AT, heirs=2, children=1
    ),
    ClaimAssessed: ClaimAssessedPayload(
        **CLAIM,
        version=2,
        assessed_by="0123456789abcdef",
        assessed_at=AT,
        amount_rupiah=42_000_000,
        amount_by_kind={"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000},
    ),
    ClaimApproved: ClaimApprovedPayload(
        **CLAIM,
        version=3,
        approved_by="fedcba9876543210",
        approved_at=AT,
        amount_rupiah=42_000_000,
        amount_by_kind={"lump_sum": 20_000_000, "periodic": 12_000_000, "funeral": 10_000_000},
    ),
    ClaimRejected: ClaimRejectedPayload(
        **CLAIM,
        version=2,
        rejected_by="0123456789abcdef",
        rejected_at=AT,
        reasons=[RefusalReason(code="R02", text="the month was not paid within the window")],
    ),
    ClaimPaid: ClaimPaidPayload(
        claim_id="CL-1",
        worker_id="WK-1",
        programme_id="PG-1",
        benefit=BenefitProgramme.JKM,
        kind="death",
        province_code="17",
        regency_code="17.04",
        district_code="17.04.01",
        amount_rupiah=42_000_000,
        paid_at=AT,
    ),
    ApiKeyIssued: ApiKeyIssuedPayload(
        key_id="0123456789abcdef",
        key_hash="a" * 64,
        role="sponsor",
        region_scope="17.04",
        label="Kaur officer",
        issued_at=AT,
    ),
    ApiKeyRevoked: ApiKeyRevokedPayload(key_id="0123456789abcdef", revoked_at=AT),
}

EXPECTED_KEYS = {
    SponsorRegistered: "SP-1",
    ProgrammeOpened: "PG-1",
    WorkerRegistered: "WK-1",
    ProgrammeChanged: "PG-1",
    ProgrammeClosed: "PG-1",
    WorkerChanged: "WK-1",
    EnrolmentEnded: "WK-1",
    WorkerWaitlisted: "WL-1",
    WaitingListLeft: "WL-1",
    EnrolmentRequested: "RQ-1",
    EnrolmentAccepted: "RQ-1",
    EnrolmentRejected: "RQ-1",
    ContributionInvoiced: "IN-1",
    PaymentReceived: "SP2D-0042/2024",
    ContributionPaid: "IN-1",
    CoverPaid: "IN-1",
    CoverageLapsed: "PG-1",
    ClaimFiled: "CL-1",
    ClaimAssessed: "CL-1",
    ClaimApproved: "CL-1",
    ClaimRejected: "CL-1",
    ClaimPaid: "CL-1",
    ApiKeyIssued: "0123456789abcdef",
    ApiKeyRevoked: "0123456789abcdef",
}


def payload_type(event: type[Event]) -> type[Payload]:
    return event.model_fields["payload"].annotation  # type: ignore[return-value]


def sample(event: type[Event], **envelope: Any) -> Event:
    return event.create(SAMPLE_PAYLOADS[event], producer="test", **envelope)


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_the_samples_cover_every_event() -> None:
    assert set(SAMPLE_PAYLOADS) == set(ALL_EVENTS)
    assert len(ALL_EVENTS) == len(set(ALL_EVENTS)) == 24


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_topic_is_context_event_major(event: type[Event]) -> None:
    match = TOPIC.fullmatch(event.TOPIC)
    assert match, f"{event.__name__}.TOPIC {event.TOPIC!r} is not <context>.<event>.v<major>"
    assert match["context"] == event.__module__.rsplit(".", 1)[1]
    assert match["event"] == kebab(event.__name__)


def test_topics_are_unique() -> None:
    topics = [e.TOPIC for e in ALL_EVENTS]
    assert len(set(topics)) == len(topics)


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_partitions_and_key_field(event: type[Event]) -> None:
    assert isinstance(event.PARTITIONS, int)
    assert event.PARTITIONS >= 1
    payload = payload_type(event)
    assert payload.KEY_FIELD in payload.model_fields
    assert sample(event).key == EXPECTED_KEYS[event]


def test_all_topics_lists_every_topic_and_its_dead_letters() -> None:
    expected = {e.TOPIC: e.PARTITIONS for e in ALL_EVENTS} | {
        f"{e.TOPIC}.dlq": 1 for e in ALL_EVENTS
    }
    assert all_topics() == expected
    assert len(all_topics()) == 48
    assert dlq_topic("registration.worker-registered.v1") == (
        "registration.worker-registered.v1.dlq"
    )
    assert all_topics()["registration.worker-registered.v1"] == 12


def test_create_fills_the_envelope() -> None:
    before = datetime.now(UTC)
    event = WorkerRegistered.create(
        SAMPLE_PAYLOADS[WorkerRegistered],
        producer="registration",
        correlation_id="req-1",
        causation_id="cmd-1",
    )
    after = datetime.now(UTC)
    assert isinstance(event.event_id, UUID)
    assert event.event_type == "WorkerRegistered"
    assert event.schema_version == 1
    assert event.producer == "registration"
    assert event.correlation_id == "req-1"
    assert event.causation_id == "cmd-1"
    assert event.occurred_at.tzinfo is not None
    assert before <= event.occurred_at <= after
    assert event.payload == SAMPLE_PAYLOADS[WorkerRegistered]


def test_create_keeps_a_given_time_and_leaves_optional_ids_empty() -> None:
    event = ClaimPaid.create(SAMPLE_PAYLOADS[ClaimPaid], producer="claims", occurred_at=AT)
    assert event.occurred_at == AT
    assert event.correlation_id is None
    assert event.causation_id is None


def test_every_event_gets_its_own_id() -> None:
    assert sample(SponsorRegistered).event_id != sample(SponsorRegistered).event_id


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_wire_round_trip(event: type[Event]) -> None:
    original = sample(event, correlation_id="c-1", causation_id="e-0")
    wire = original.to_wire()
    assert isinstance(wire, bytes)
    assert event.from_wire(wire) == original
    assert event.from_wire(wire.decode()) == original
    assert event.from_wire(json.loads(wire)) == original


def test_the_wire_format_is_plain_json() -> None:
    event = sample(ContributionInvoiced, occurred_at=AT)
    data = json.loads(event.to_wire())
    assert data["event_id"] == str(event.event_id)
    assert data["event_type"] == "ContributionInvoiced"
    assert data["occurred_at"] == "2024-12-02T08:30:00Z"
    assert data["payload"]["amount_rupiah"] == 119_784_000
    assert data["payload"]["amount_by_benefit"] == {"JKK": 71_300_000, "JKM": 48_484_000}
    assert data["payload"]["due_date"] == "2024-12-16"


def test_unknown_fields_are_ignored_on_read() -> None:
    original = sample(WorkerRegistered)
    data = json.loads(original.to_wire())
    data["partition_hint"] = 3
    data["payload"]["disability_status"] = "none"
    read = WorkerRegistered.from_wire(json.dumps(data))
    assert read == original
    assert not hasattr(read.payload, "disability_status")


def test_a_newer_minor_version_is_read() -> None:
    data = json.loads(sample(SponsorRegistered).to_wire())
    data["schema_version"] = 2
    assert SponsorRegistered.from_wire(data).schema_version == 2


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_a_missing_payload_field_is_named(event: type[Event]) -> None:
    data = json.loads(sample(event).to_wire())
    key_field = payload_type(event).KEY_FIELD
    del data["payload"][key_field]
    with pytest.raises(ValidationError) as exc:
        event.from_wire(json.dumps(data))
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [
        (("payload", key_field), "missing")
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region_code", "17.4"),
        ("period", "2024-13"),
        ("amount_rupiah", -1),
        ("worker_count", -1),
    ],
)
def test_invalid_payload_values_are_named(field: str, value: object) -> None:
    data = json.loads(sample(ContributionInvoiced).to_wire())
    data["payload"][field] = value
    with pytest.raises(ValidationError) as exc:
        ContributionInvoiced.from_wire(data)
    assert [e["loc"] for e in exc.value.errors()] == [("payload", field)]


def test_a_naive_time_is_refused() -> None:
    data = json.loads(sample(SponsorRegistered).to_wire())
    data["occurred_at"] = "2024-12-02T08:30:00"
    with pytest.raises(ValidationError) as exc:
        SponsorRegistered.from_wire(data)
    assert [e["loc"] for e in exc.value.errors()] == [("occurred_at",)]


def test_times_in_other_zones_compare_equal() -> None:
    wib = timezone(timedelta(hours=7))
    event = sample(ApiKeyRevoked, occurred_at=AT.astimezone(wib))
    assert ApiKeyRevoked.from_wire(event.to_wire()).occurred_at == AT


#: Words of a field name that could carry a NIK, a name, a phone number or a birth date.
PERSONAL_WORDS = {
    "nik",
    "ktp",
    "name",
    "nama",
    "phone",
    "telp",
    "hp",
    "birth",
    "lahir",
    "dob",
    "age",
}


def personal(field: str) -> bool:
    return bool(PERSONAL_WORDS & set(field.lower().split("_")))


def test_worker_registered_carries_no_personal_data() -> None:
    fields = set(WorkerRegisteredPayload.model_fields) | set(Event.model_fields)
    assert sorted(f for f in fields if personal(f)) == []
    # The check would see them: the names registration keeps to itself.
    for name in ("nik", "full_name", "phone_number", "birth_date", "date_of_birth", "age"):
        assert personal(name), name


def test_worker_registered_drops_personal_data_a_producer_adds() -> None:
    data = json.loads(sample(WorkerRegistered).to_wire())
    data["payload"] |= {"nik": "1704014107900001", "name": "Siti", "phone": "0812"}
    wire = WorkerRegistered.from_wire(data).to_wire().decode()
    assert "1704014107900001" not in wire
    assert "Siti" not in wire


def test_published_schemas_match_the_models() -> None:
    expected = documents()
    committed = {p.name: p.read_text() for p in sorted(DOCS.iterdir()) if p.is_file()}
    stale = sorted(
        name for name in expected.keys() & committed.keys() if expected[name] != committed[name]
    )
    missing = sorted(expected.keys() - committed.keys())
    extra = sorted(committed.keys() - expected.keys())
    assert committed == expected, (
        f"docs/events is out of date with the event models (changed: {stale}, missing: {missing}, "
        f"no longer generated, delete them: {extra}); run `{REGENERATE}` and commit the result"
    )


def test_the_index_describes_every_topic() -> None:
    index = json.loads(documents()["index.json"])
    assert [row["topic"] for row in index] == [e.TOPIC for e in ALL_EVENTS]
    [worker] = [row for row in index if row["event_type"] == "WorkerRegistered"]
    assert worker == {
        "event_type": "WorkerRegistered",
        "topic": "registration.worker-registered.v1",
        "dead_letter_topic": "registration.worker-registered.v1.dlq",
        "partitions": 12,
        "key": "worker_id",
        "description": (WorkerRegistered.__doc__ or "").strip(),
        "schema": "registration.worker-registered.v1.json",
    }


def test_each_schema_names_its_topic_and_requires_the_key() -> None:
    docs = documents()
    for event in ALL_EVENTS:
        schema = json.loads(docs[f"{event.TOPIC}.json"])
        assert schema["$id"] == f"{event.TOPIC}.json"
        assert schema["x-topic"] == event.TOPIC
        payload = payload_type(event)
        payload_schema = schema["$defs"][payload.__name__]
        assert payload.KEY_FIELD in payload_schema["required"], event.__name__


def test_an_event_under_another_name_is_not_accepted():
    event = sample(WorkerRegistered)
    wire = json.loads(event.to_wire())
    wire["event_type"] = "WorkerExited"
    with pytest.raises(ValidationError, match="this topic carries WorkerRegistered"):
        WorkerRegistered.from_wire(json.dumps(wire))
