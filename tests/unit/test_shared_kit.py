"""The shared kit: NIK masking and the human form of logs, roles and API keys, problem details."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from bpu_shared.auth import (
    IssueApiKey,
    Principal,
    Role,
    _key_id,
    hash_key,
    new_key,
)
from bpu_shared.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from bpu_shared.http import Day, problem_body, status_of
from bpu_shared.logging import (
    JsonFormatter,
    LogLine,
    MaskingFormatter,
    correlation_id,
    mask_niks,
)

NIK = "1704014107900001"
MASKED = "1704********0001"

# -- mask_niks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NIK, MASKED),
        (f"nik={NIK}", f"nik={MASKED}"),
        (f"{NIK},{NIK}", f"{MASKED},{MASKED}"),
        (f"a{NIK}b", f"a{MASKED}b"),
        (f'{{"nik": "{NIK}"}}', f'{{"nik": "{MASKED}"}}'),
        ("6401013009060001 and 1704011708850123", "6401********0001 and 1704********0123"),
        ("170401410790000", "170401410790000"),  # 15 digits
        ("17040141079000012", "17040141079000012"),  # 17 digits
        ("12345678901234567890", "12345678901234567890"),
        ("no digits here", "no digits here"),
        ("", ""),
    ],
)
def test_mask_niks(text: str, expected: str) -> None:
    assert mask_niks(text) == expected


# -- JsonFormatter -----------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("registration"))
    logger = logging.getLogger("test_shared_kit.json")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.handlers[:] = []


def only_line(stream: io.StringIO) -> dict[str, object]:
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_a_log_line_is_one_json_object(log_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_lines
    logger.warning("enrolled %d workers", 3)
    entry = only_line(stream)
    assert entry["service"] == "registration"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "test_shared_kit.json"
    assert entry["msg"] == "enrolled 3 workers"
    assert "correlation_id" not in entry
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(entry["ts"]))


def test_the_correlation_id_is_carried(log_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_lines
    token = correlation_id.set("req-42")
    try:
        logger.info("hello")
    finally:
        correlation_id.reset(token)
    assert only_line(stream)["correlation_id"] == "req-42"


def test_niks_are_masked_in_the_message(log_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_lines
    logger.info("worker %s enrolled", NIK)
    text = stream.getvalue()
    assert NIK not in text
    assert only_line(stream)["msg"] == f"worker {MASKED} enrolled"


def test_niks_are_masked_in_extra_fields(log_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_lines
    logger.info("rejected", extra={"nik": NIK, "row": {"nik": NIK, "line": 12}, "count": 3})
    assert NIK not in stream.getvalue()
    entry = only_line(stream)
    assert entry["nik"] == MASKED
    assert entry["row"] == {"nik": MASKED, "line": 12}
    assert entry["count"] == 3


def test_a_nik_logged_as_an_integer_is_masked_and_the_line_stays_json(
    log_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_lines
    logger.info("rejected", extra={"nik": int(NIK)})
    assert NIK not in stream.getvalue()
    assert only_line(stream)["nik"] == MASKED


def test_niks_are_masked_in_exception_text(log_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_lines
    try:
        raise ValueError(f"duplicate NIK {NIK}")
    except ValueError:
        logger.exception("enrolment failed")
    assert NIK not in stream.getvalue()
    entry = only_line(stream)
    assert entry["level"] == "ERROR"
    assert entry["msg"] == "enrolment failed"
    exc = str(entry["exc"])
    assert exc.startswith("Traceback (most recent call last):")
    assert exc.endswith(f"ValueError: duplicate NIK {MASKED}")


# -- the human form ----------------------------------------------------------------------------

# 2026-03-02 05:03:04.123 UTC, which is 12:03:04.123 in Jakarta.
CREATED = 1772427784.123456


@pytest.fixture
def jakarta_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Jakarta")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


def record(
    msg: str, *args: object, level: int = logging.INFO, **extra: object
) -> logging.LogRecord:
    rec = logging.LogRecord("bpu_registration.api", level, __file__, 1, msg, args, None)
    rec.created = CREATED
    rec.__dict__.update(extra)
    return rec


def test_the_human_form_reads_time_service_level_message_cid(jakarta_time: None) -> None:
    formatter = MaskingFormatter("registration")
    assert formatter.format(record("worker %s enrolled", NIK)) == (
        f"12:03:04.123 registration INFO  worker {MASKED} enrolled"
    )
    token = correlation_id.set("ab12cd34")
    try:
        line = MaskingFormatter("claims").format(record("slow", level=logging.WARNING))
    finally:
        correlation_id.reset(token)
    assert line == "12:03:04.123 claims       WARNING slow  cid=ab12cd34"


def test_the_human_form_shows_extra_fields_and_the_traceback_masked(jakarta_time: None) -> None:
    rec = record("row refused", row=12, file="kaur 2026.csv", nik=int(NIK))
    try:
        raise ValueError(f"duplicate NIK {NIK}")
    except ValueError:
        rec.exc_info = sys.exc_info()
    first, *trace = MaskingFormatter("registration").format(rec).splitlines()
    assert first == (
        f'12:03:04.123 registration INFO  row refused  row=12 file="kaur 2026.csv" nik={MASKED}'
    )
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == f"ValueError: duplicate NIK {MASKED}"


def test_a_json_line_rendered_reads_as_the_human_form_of_the_same_record(
    jakarta_time: None,
) -> None:
    """What bpu-dev shows of a service's JSON line is what the service itself would print with
    LOG_JSON=false."""
    rec = record("worker %s enrolled", NIK, row=12, scope={"region": "17.04"})
    try:
        raise KeyError("quota")
    except KeyError:
        rec.exc_info = sys.exc_info()
    token = correlation_id.set("req-7")
    try:
        as_json = JsonFormatter("registration").format(rec)
        as_text = MaskingFormatter("registration").format(rec)
    finally:
        correlation_id.reset(token)
    rendered = LogLine.from_json(as_json)
    assert rendered is not None
    assert rendered.human() == as_text
    assert as_text.startswith(
        f'12:03:04.123 registration INFO  worker {MASKED} enrolled  row=12 scope={{"region": '
        '"17.04"}  cid=req-7\nTraceback'
    )


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",
        "tansu broker 0.6.0",
        "{not json",
        '{"ts": "2026-03-02T05:03:04.123+00:00", "level": "INFO"}',
        '{"ts": "yesterday", "level": "INFO", "service": "billing", "msg": "x"}',
        '["a", "list"]',
    ],
)
def test_only_our_json_lines_are_rendered(line: str) -> None:
    assert LogLine.from_json(line) is None


def test_a_nik_in_a_rendered_line_is_masked_even_if_the_writer_did_not(jakarta_time: None) -> None:
    line = f'{{"ts": "2026-03-02T05:03:04.123+00:00", "level": "ERROR", "service": "billing", "msg": "nik {NIK}"}}'
    rendered = LogLine.from_json(line)
    assert rendered is not None
    assert rendered.human() == f"12:03:04.123 billing      ERROR nik {MASKED}"


# -- Principal ---------------------------------------------------------------------------------

KAUR_OFFICER = Principal("k1", Role.SPONSOR, "17.04")


@pytest.mark.parametrize(
    ("region", "allowed"),
    [
        ("17.04", True),
        ("17.04.01", True),
        ("17.04.01.2001", True),
        ("17.08", False),
        ("17", False),
        ("17.041", False),
        ("17.0", False),
        ("", False),
        ("64.01", False),
    ],
)
def test_a_sponsor_sees_its_region_and_below(region: str, allowed: bool) -> None:
    assert KAUR_OFFICER.can_access(region) is allowed


def test_require_region_forbids_outside_the_scope() -> None:
    KAUR_OFFICER.require_region("17.04.01")
    with pytest.raises(Forbidden) as exc:
        KAUR_OFFICER.require_region("17.08")
    assert status_of(exc.value) == 403
    assert exc.value.detail == "a sponsor key scoped to 17.04 cannot act on 17.08"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.DASHBOARD])
@pytest.mark.parametrize("region", ["17", "17.04", "17.08", "64.01.01.2009", ""])
def test_other_roles_see_every_region(role: Role, region: str) -> None:
    assert Principal("k", role).can_access(region) is True


def test_a_sponsor_without_a_scope_sees_nothing() -> None:
    unscoped = Principal("k", Role.SPONSOR)
    assert unscoped.can_access("17") is False
    assert unscoped.can_access("17.04") is False


# -- IssueApiKey, hash_key, new_key ---------------------------------------------------------------


def test_issue_a_sponsor_key_with_a_scope() -> None:
    body = IssueApiKey(role=Role.SPONSOR, region_scope="17.04", label="Kaur officer")
    assert (body.role, body.region_scope, body.label) == (Role.SPONSOR, "17.04", "Kaur officer")


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.DASHBOARD])
def test_issue_other_keys_without_a_scope(role: Role) -> None:
    assert IssueApiKey(role=role, label="office").region_scope is None


def validation_messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple, str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in exc.value.errors()]


def test_a_sponsor_key_needs_a_scope() -> None:
    with pytest.raises(ValidationError) as exc:
        IssueApiKey(role=Role.SPONSOR, label="Kaur officer")
    assert validation_messages(exc) == [
        ((), "Value error, region_scope is required for a sponsor key")
    ]


def test_an_admin_key_cannot_be_issued() -> None:
    with pytest.raises(ValidationError) as exc:
        IssueApiKey(role=Role.ADMIN, label="root")
    assert validation_messages(exc) == [
        ((), "Value error, admin keys are not issued; the admin key comes from ADMIN_API_KEY")
    ]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"role": "sponsor", "region_scope": "17.4", "label": "x"}, ("region_scope",)),
        ({"role": "sponsor", "region_scope": "17.04", "label": ""}, ("label",)),
        ({"role": "sponsor", "region_scope": "17.04", "label": "x" * 201}, ("label",)),
        ({"role": "root", "label": "x"}, ("role",)),
    ],
)
def test_issue_key_fields_are_validated(body: dict[str, str], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        IssueApiKey.model_validate(body)
    assert [tuple(e["loc"]) for e in exc.value.errors()] == [loc]


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_key("abd") != hash_key("abc")


def test_new_key_format() -> None:
    key_id, key = new_key()
    assert re.fullmatch(r"[0-9a-f]{16}", key_id)
    assert re.fullmatch(rf"bpu_{key_id}_[A-Za-z0-9_-]{{43}}", key)
    assert _key_id(key) == key_id
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(key))


def test_new_keys_differ() -> None:
    assert new_key() != new_key()


@pytest.mark.parametrize("key", ["", "bpu", "bpu_abc", "xyz_abc_def", "Bearer bpu"])
def test_a_key_of_another_shape_has_no_id(key: str) -> None:
    assert _key_id(key) is None


# -- problem details ---------------------------------------------------------------------------


def test_invalid_input_names_the_field() -> None:
    error = InvalidInput("nik", "must be 16 digits")
    assert str(error) == "nik: must be 16 digits"
    assert problem_body(error) == {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": "must be 16 digits",
        "errors": [{"field": "nik", "message": "must be 16 digits"}],
    }


def test_the_instance_is_included_when_given() -> None:
    body = problem_body(InvalidInput("row 12: nik", "must be 16 digits"), "/workers/import")
    assert body["instance"] == "/workers/import"
    assert body["errors"] == [{"field": "row 12: nik", "message": "must be 16 digits"}]


def test_not_found_in_a_path_is_404_and_in_a_body_422() -> None:
    in_path = NotFound("programme", "PG-1")
    assert problem_body(in_path) == {
        "type": "about:blank",
        "title": "Not found",
        "status": 404,
        "detail": "programme 'PG-1' does not exist",
    }
    in_body = NotFound("programme", "PG-1", field="programme_id")
    assert status_of(in_body) == 422
    assert problem_body(in_body)["errors"] == [
        {"field": "programme_id", "message": "programme 'PG-1' does not exist"}
    ]


def test_conflict_forbidden_and_unauthorized() -> None:
    assert problem_body(Conflict("already enrolled", field="nik")) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "already enrolled",
        "errors": [{"field": "nik", "message": "already enrolled"}],
    }
    assert problem_body(Forbidden("no")) == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "no",
    }
    assert str(Forbidden("no")) == "no"
    assert problem_body(Unauthorized("the API key is not valid"))["status"] == 401


def test_extra_members_are_added_to_the_body() -> None:
    assert problem_body(Conflict("quota reached", quota=7_130)) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "quota reached",
        "quota": 7_130,
    }


@pytest.mark.parametrize(
    "written",
    ["1704014107900001", "17.04.01.410790.0001", "170401 410790 0001", "17-04-01-410790-0001"],
)
def test_a_nik_written_in_groups_is_masked_too(written):
    assert mask_niks(f"NIK {written}, ok") == "NIK 1704********0001, ok"


def test_a_region_scope_on_a_key_that_is_not_a_sponsors_is_refused():
    with pytest.raises(ValidationError, match="limits sponsor keys only"):
        IssueApiKey(role=Role.DASHBOARD, region_scope="17.04", label="Kaur dashboard")


# -- a day in a query string ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "status"),
    [("2026-01-15", 200), ("-1.0153e-147", 422), ("1700000000", 422), ("15-01-2026", 422)],
)
async def test_a_day_in_a_query_is_written_yyyy_mm_dd_and_nothing_else(sent: str, status: int):
    """Pydantic's lax mode reads a number as a Unix time (``-1.0153e-147`` as 1970-01-01);
    a day asked for must be written as a day."""
    app = FastAPI()

    @app.get("/on")
    async def on(day: Day) -> str:
        return day.isoformat()

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/on", params={"day": sent})
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == sent
