"""The rebuild through the real broker and store, while the service runs: every kind of event
reporting projects is published and projected live; the rebuild drops the projections and
replays the topics from the start while one more invoice is published and a record that is
not an event waits on a topic; afterwards every projection equals the live one plus that
invoice, exactly, and GET /freshness shows no lag and the invoice as the last event applied.
During the rebuild /freshness says it is running."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bpu_devstack.inprocess import Running, running
from bpu_reporting.app import ReportingSettings
from bpu_reporting.app import build_app as build_reporting
from bpu_reporting.rebuild import projected_topics, rebuild
from bpu_shared.events import ContributionInvoiced, Event
from bpu_shared.month import Month
from tests.e2e.procs import BIN, service_env
from tests.e2e.reporting_helpers import projected
from tests.e2e.test_exactly_once import produce, topics_for
from tests.harness import eventually, settings_for
from tests.integration.test_reporting_rebuild import projections, replay_events
from tests.reporting_events import expected_counters, invoiced

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"rb{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def settings(infra, prefix) -> ReportingSettings:
    return settings_for(ReportingSettings, infra, prefix)


@pytest.fixture(scope="module")
async def reporting(infra, prefix, settings) -> AsyncIterator[Running]:
    await topics_for(infra, prefix)
    async with running(build_reporting, settings) as svc:
        yield svc


async def publish_raw(infra, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"x")
    finally:
        await producer.stop()


def plus(
    snapshot: dict[str, list[dict[str, Any]]], counters: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """The snapshot's counters with ``counters`` added (the counted fields of one event)."""
    docs = {doc["_id"]: dict(doc) for doc in snapshot["coverage_counters"]}
    for cid, fields in counters.items():
        doc = docs[cid]  # the extra invoice's regions and month were counted before
        for name, amount in fields.items():
            doc[name] = doc.get(name, 0) + amount
    return [docs[cid] for cid in sorted(docs)]


@pytest.fixture(scope="module")
async def delivered(infra, prefix, reporting) -> list[Event]:
    """Every kind of event reporting projects, and a record that is not an event, published
    once and projected live."""
    events = replay_events()
    await publish_raw(infra, prefix + ContributionInvoiced.TOPIC, b'{"not": "an event"}')
    await produce(infra, prefix, events)
    await projected(infra, prefix, reporting, events)
    return events


async def test_the_rebuild_equals_the_live_projections_plus_what_came_during_it(
    infra, prefix, settings, reporting, delivered
):
    events = delivered
    repository = reporting.repository
    db = reporting.runtime.db
    live = await projections(db, repository)
    assert live["coverage_counters"], "the live service projected the events"

    # Published once the rebuild read the ends it replays to: the live consumers record it,
    # the rebuild does not replay it, and it must be counted once all the same.
    extra = invoiced("INV-KAUR-04", "17.04", Month(2026, 3), {"17.04.03": 3, "17.04.07": 1})
    during: dict[str, Any] = {}

    async def after_ends() -> None:
        await produce(infra, prefix, [extra])
        during.update((await reporting.client.get("/freshness")).json()["rebuild"])

    summary = await rebuild(settings, after_ends=after_ends, batch_size=7)
    assert during.get("running") is True, during
    assert during["running"] is True and during["phase"] == "replaying"
    assert (summary.events, summary.applied) == (len(events) + 1, len(events))
    assert (summary.skipped, summary.failed) == (1, 0)
    assert summary.topics == len(projected_topics())

    await projected(infra, prefix, reporting, [*events, extra])
    rebuilt = await projections(db, repository)
    assert rebuilt["coverage_counters"] == plus(live, expected_counters([extra]))
    invoices = {doc["_id"] for doc in rebuilt["invoiced_contributions"]}
    assert invoices == {doc["_id"] for doc in live["invoiced_contributions"]} | {"INV-KAUR-04"}
    for name, docs in live.items():
        if name not in ("coverage_counters", "invoiced_contributions", "projection_state"):
            assert rebuilt[name] == docs, name

    async def fresh() -> dict[str, Any]:
        return (await reporting.client.get("/freshness")).json()

    # The lag read during the rebuild (the invoice not consumed yet) serves for 2 s.
    body, _ = await eventually(fresh, lambda b: b["lag"] == 0, timeout=10)
    assert body["rebuild"]["running"] is False and body["rebuild"]["outcome"] == "done"
    assert body["lag"] == 0 and body["lag_error"] is None and body["counting"] is False
    topics = {t["topic"]: t for t in body["topics"]}
    assert set(topics) == set(projected_topics())
    assert all(t["lag"] == 0 for t in topics.values())
    assert topics[ContributionInvoiced.TOPIC]["last_event_id"] == str(extra.event_id)
    assert body["as_of"] is not None


async def test_the_operators_command_rebuilds_the_same_projections(
    infra, prefix, reporting, delivered
):
    """``bpu-reporting-rebuild`` as an operator runs it, its settings from the environment,
    beside the running service: the projections it leaves are the ones it found."""
    db = reporting.runtime.db
    before = await projections(db, reporting.repository)
    command = await asyncio.create_subprocess_exec(
        str(BIN / "bpu-reporting-rebuild"),
        env=service_env(infra, prefix, "reporting", 0),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(command.communicate(), 60)
    text = out.decode()
    assert command.returncode == 0, text
    replayed = len(delivered) + 2  # the invoice of the test before, and the record skipped
    assert f"{replayed:,} events replayed" in text and "1 skipped as invalid, 0 failed" in text
    await projected(infra, prefix, reporting, delivered)
    after = await projections(db, reporting.repository)
    assert after == before


async def test_freshness_answers_a_dashboard_and_a_sponsor_key_and_nobody_else(reporting):
    for body in (
        {"role": "dashboard", "label": "wall"},
        {"role": "sponsor", "region_scope": "17.04", "label": "Kaur"},
    ):
        issued = await reporting.client.post("/admin/api-keys", json=body)
        assert issued.status_code == 201, issued.text
        key = issued.json()["key"]
        answer = await reporting.client.get(
            "/freshness", headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200, answer.text
        assert {t["topic"] for t in answer.json()["topics"]} == set(projected_topics())
    anonymous = await reporting.client.get("/freshness", headers={"Authorization": ""})
    assert anonymous.status_code == 401
