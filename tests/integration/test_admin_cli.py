"""``bpu-admin`` against a running broker: creating topics, listing and replaying dead letters;
and against a running registration: importing a file of workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bpu_devstack.samples import sample_rows, write_csv
from bpu_shared import admin
from bpu_shared.deadletters import REPLAY_LINES_UP_TO, dead_letter_headers
from bpu_shared.events import all_topics
from tests.e2e.procs import ServiceProcess
from tests.harness import ADMIN_KEY

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kafka_admin(infra) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
def cli(infra, capsys):
    """Runs ``bpu-admin`` in-process against the test broker; returns (exit code, out, err)."""

    async def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await admin.run(["--bootstrap-servers", infra.kafka_bootstrap_servers, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


async def partition_counts(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in await client.describe_topics(names)}


# --- create-topics ----------------------------------------------------------------------------


async def test_create_topics_creates_every_catalogue_topic_and_is_idempotent(cli, kafka_admin):
    catalogue = all_topics()
    existed = set(await kafka_admin.list_topics()) & set(catalogue)

    code, out, _ = await cli("create-topics")

    assert code == 0, out
    lines = out.splitlines()
    for name in catalogue:
        status = "exists" if name in existed else "created"
        assert any(line.split()[:2] == [status, name] for line in lines), (name, out)
    assert set(catalogue) <= set(await kafka_admin.list_topics())
    counts = await partition_counts(kafka_admin, list(catalogue))
    for name, partitions in catalogue.items():
        if name not in existed:
            assert counts[name] == partitions, name

    code, out, _ = await cli("create-topics")
    assert code == 0
    assert all(line.startswith("exists ") for line in out.splitlines()[:-1]), out
    assert f"{len(catalogue)} topics: 0 created, {len(catalogue)} existed already" in out


async def test_create_topics_puts_the_topic_prefix_before_every_name(
    cli, kafka_admin, unique, monkeypatch
):
    # The catalogue's own names are shared by every test on this broker; under a prefix of this
    # test's own, every topic is new here, so every partition count is checked.
    prefix = f"t{unique}."
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", prefix)
    expected = {prefix + name: partitions for name, partitions in all_topics().items()}

    code, out, _ = await cli("create-topics")
    again_code, again, _ = await cli("create-topics")

    assert code == 0, out
    assert [line.split()[:2] for line in out.splitlines()[:-1]] == [
        ["created", name] for name in expected
    ]
    assert await partition_counts(kafka_admin, list(expected)) == expected
    assert again_code == 0
    assert [line.split()[:2] for line in again.splitlines()[:-1]] == [
        ["exists", name] for name in expected
    ]


# --- dead letters -----------------------------------------------------------------------------


def dlq_headers(topic: str, partition: int, offset: int, error: str) -> list[tuple[str, bytes]]:
    """The headers the consumers give the dead letter of this record, consumed by ``billing``."""
    failed = ConsumerRecord(
        topic,
        partition,
        offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=None,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        headers=[
            ("correlation-id", f"corr-{offset}".encode()),
            ("content-type", b"application/json"),
        ],
    )
    failed_at = datetime(2025, 3, 1, 8, tzinfo=timezone(timedelta(hours=7)))
    headers = dead_letter_headers(failed, error, "billing", failed_at=failed_at)
    return [(name, value.encode()) for name, value in headers.items()]


@pytest.fixture
async def dead_letters(infra, kafka_admin, unique):
    """An original topic with 3 partitions and its DLQ holding ``count`` dead letters."""

    async def fill(count: int) -> tuple[str, str]:
        original = f"t{unique}.worker-registered.v1"
        dlq = original + ".dlq"
        await kafka_admin.create_topics([NewTopic(original, 3, 1), NewTopic(dlq, 1, 1)])
        producer = AIOKafkaProducer(
            bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=False
        )
        await producer.start()
        try:
            for i in range(count):
                await producer.send(
                    dlq,
                    f'{{"event_id": "e-{i}", "payload": {{"worker_id": "w-{i}"}}}}'.encode(),
                    key=f"w-{i}".encode(),
                    headers=dlq_headers(original, i % 3, 100 + i, f"ValueError: bad region {i}"),
                )
            await producer.flush()
        finally:
            await producer.stop()
        return original, dlq

    return fill


async def read_all(infra, topic: str, expected: int) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        async with asyncio.timeout(15):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
        # Anything more would be a duplicate publication.
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def test_dlq_list_prints_one_line_per_dead_letter(cli, dead_letters):
    _, dlq = await dead_letters(3)

    code, out, _ = await cli("dlq", "list", dlq)

    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 4
    first = lines[0]
    assert first.startswith("offset=0 ")
    assert "key=w-0" in first
    assert f"original={dlq.removesuffix('.dlq')}[0]@100" in first
    assert "group=billing" in first
    assert "failed_at=2025-03-01T08:00:00+07:00" in first
    assert "error='ValueError: bad region 0'" in first
    assert 'value={"event_id": "e-0"' in first
    assert lines[2].startswith("offset=2 ") and "key=w-2" in lines[2]
    assert lines[3] == f"3 dead letters in {dlq}"

    code, out, _ = await cli("dlq", "list", dlq, "--limit", "1")
    assert code == 0
    assert out.splitlines()[1:] == [f"3 dead letters in {dlq}; showed 1 (use --limit to see more)"]


async def test_dlq_replay_one_offset_restores_key_value_and_headers(infra, cli, dead_letters):
    original, dlq = await dead_letters(3)

    code, out, _ = await cli("dlq", "replay", dlq, "--offset", "1")

    assert code == 0, out
    assert f"-> {original}[1]@0" in out
    [record] = await read_all(infra, original, expected=1)
    assert record.partition == 1  # the partition it failed on
    assert record.key == b"w-1"
    assert record.value == b'{"event_id": "e-1", "payload": {"worker_id": "w-1"}}'
    assert list(record.headers) == [
        ("correlation-id", b"corr-101"),
        ("content-type", b"application/json"),
    ]


async def test_dlq_replay_all_with_progress(infra, cli, dead_letters):
    count = REPLAY_LINES_UP_TO + 5
    original, dlq = await dead_letters(count)

    code, out, _ = await cli("dlq", "replay", dlq, "--all")

    assert code == 0, out
    assert f"replayed {count}/{count}" in out
    assert f"done: {count} replayed to {original} ({count})" in out
    records = await read_all(infra, original, expected=count)
    assert sorted(r.key for r in records) == sorted(f"w-{i}".encode() for i in range(count))
    assert all(not k.startswith("x-dlq-") for r in records for k, _ in r.headers)
    assert len(await read_all(infra, dlq, expected=count)) == count  # dead letters stay


async def test_dlq_errors_are_clear_and_publish_nothing(
    infra, cli, dead_letters, kafka_admin, monkeypatch
):
    original, dlq = await dead_letters(2)

    code, _, err = await cli("dlq", "replay", dlq, "--offset", "1", "--offset", "7")
    assert code == 1
    assert f"offset 7 not found in {dlq}: holds offsets 0 to 1" in err

    missing = dlq.replace("worker", "nobody")
    code, _, err = await cli("dlq", "list", missing)
    assert code == 1
    assert f"topic {missing} does not exist" in err
    assert missing not in await kafka_admin.list_topics()  # asking did not create it

    code, _, err = await cli("dlq", "list", original)
    assert code == 1
    assert "not a dead-letter topic" in err

    prefix, unprefixed = dlq.split(".", 1)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", prefix + ".")
    code, _, err = await cli("dlq", "list", unprefixed)
    assert code == 1
    assert f"did you mean {dlq}?" in err

    assert await read_all(infra, original, expected=0) == []


async def test_unreachable_broker_is_a_clear_error(capsys):
    code = await admin.run(["--bootstrap-servers", "127.0.0.1:1", "create-topics"])
    assert code == 1
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in capsys.readouterr().err


# --- import -----------------------------------------------------------------------------------


@pytest.fixture
async def registration_process(infra, unique, tmp_path) -> AsyncIterator[ServiceProcess]:
    """Registration as operators run it (its own process, on a port), for the HTTP commands."""
    service = ServiceProcess(infra, f"t{unique}.", "registration", tmp_path)
    try:
        await asyncio.to_thread(service.wait_ready)
        yield service
    finally:
        service.stop()


async def kaur_programme(service: ServiceProcess) -> str:
    async with service.client() as client:
        sponsor = await client.post(
            "/sponsors", json={"name": "Pemkab Kaur", "kind": "regency", "region_code": "17.04"}
        )
        programme = await client.post(
            "/programmes",
            json={
                "sponsor_id": sponsor.json()["sponsor_id"],
                "name": "Pekerja Rentan Kaur 2026",
                "budget_year": 2026,
                "budget_rupiah": 16_800 * 12 * 500,
                "quota": 500,
                "start_month": "2026-01",
                "end_month": "2026-12",
            },
        )
    assert programme.status_code == 201, programme.text
    return str(programme.json()["programme_id"])


@pytest.mark.timeout(120)
async def test_import_uploads_follows_the_job_and_saves_the_error_report(
    cli, registration_process, tmp_path, monkeypatch
):
    service = registration_process
    pid = await kaur_programme(service)
    sample = sample_rows("17.04", 300, bad_share=0.05, seed=4)
    path = tmp_path / "peserta kaur.csv"
    write_csv(sample.rows, path, excel=True)
    monkeypatch.setenv("REGISTRATION_URL", service.url)
    monkeypatch.setenv("BPU_API_KEY", ADMIN_KEY)

    code, out, err = await cli("import", str(path), "--programme", pid, "--poll", "0.2")

    assert code == 0, (out, err)
    good, bad = 300 - len(sample.bad), len(sample.bad)
    assert "300 rows queued" in out
    assert f"done: 300 of 300 rows: {good} enrolled, 0 already enrolled, {bad} rejected" in out
    report = tmp_path / "peserta kaur-errors.csv"
    assert f"error report: {report} ({bad} rows to fix and import again)" in out
    lines = report.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("row;column;reason;nik;name")
    assert sorted(int(line.split(";")[0]) for line in lines[1:]) == sorted(
        sample.sheet_row(i) for i in sample.bad
    )

    code, out, _ = await cli(
        "import", str(path), "--programme", pid, "--errors", str(tmp_path / "e.csv")
    )
    assert code == 0
    assert f"this file was imported into {pid} before" in out
    assert f"{good} enrolled" in out and (tmp_path / "e.csv").exists()


async def test_import_errors_are_clear_and_enrol_no_one(
    cli, registration_process, tmp_path, monkeypatch
):
    service = registration_process
    empty = tmp_path / "kosong.csv"
    empty.write_bytes(b"")
    monkeypatch.delenv("BPU_API_KEY", raising=False)
    monkeypatch.setenv("REGISTRATION_URL", service.url)

    code, _, err = await cli("import", str(empty), "--programme", "PG-x")
    assert code == 1 and "no API key: give --api-key or set BPU_API_KEY" in err

    code, _, err = await cli("import", str(empty), "--programme", "PG-x", "--api-key", ADMIN_KEY)
    assert code == 1 and "registration refused it (422): programme 'PG-x' does not exist" in err

    pid = await kaur_programme(service)
    code, _, err = await cli("import", str(empty), "--programme", pid, "--api-key", ADMIN_KEY)
    assert code == 1 and "registration refused it (422): 'kosong.csv' is empty" in err
    async with service.client() as client:
        assert (await client.get("/imports", params={"programme_id": pid})).json() == []

    code, _, err = await cli(
        "import", str(tmp_path / "missing.csv"), "--programme", "PG-x", "--api-key", ADMIN_KEY
    )
    assert code == 1 and "cannot read" in err and "missing.csv" in err

    code, _, err = await cli(
        "import", str(empty), "--programme", "PG-x", "--api-key", "bpu_0_not-a-key"
    )
    assert code == 1 and "(401)" in err

    code, _, err = await cli(
        "import",
        str(empty),
        "--programme",
        "PG-x",
        "--api-key",
        ADMIN_KEY,
        "--url",
        "http://127.0.0.1:1",
    )
    assert code == 1 and "cannot reach registration at http://127.0.0.1:1" in err
