"""Example producer for a regional social registry: sends enrolment requests to registration
(``registration.enrolment-requested.v1``) and prints each answer by request id.

It needs only Python 3.11+ and aiokafka (``pip install aiokafka``); inside this repository
``uv run python examples/enrolment_producer.py …`` has both. It reads the broker settings from
the same environment variables as the services:

    KAFKA_BOOTSTRAP_SERVERS   default 127.0.0.1:9092 (the embedded stack of ``make up``)
    KAFKA_TOPIC_PREFIX        default empty; put before every topic name
    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM      PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512
    KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD

One request from arguments:

    python examples/enrolment_producer.py --programme PG-… --nik 1704014107900001 \\
        --name "Siti Aminah" --occupation farmer --domicile 17.04.01.2001

Many from a CSV file with the header ``request_id,programme_id,nik,name,phone,occupation,
domicile_code,declared_monthly_income,cover_start,priority,requested_on`` (only ``nik``,
``name``, ``occupation`` and ``domicile_code`` are required; ``--programme`` fills an empty
``programme_id``; an empty ``request_id`` gets a new one):

    python examples/enrolment_producer.py --csv requests.csv --programme PG-…

The answers come on ``registration.enrolment-accepted.v1`` and ``…-rejected.v1``, keyed by the
request id. A request id is answered once: sending it again changes nothing and publishes no
new answer, so ``--from-beginning`` looks for answers given before this run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import ssl
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REQUESTED = "registration.enrolment-requested.v1"
ACCEPTED = "registration.enrolment-accepted.v1"
REJECTED = "registration.enrolment-rejected.v1"

#: The payload fields of a request, as docs/events/registration.enrolment-requested.v1.json
#: lists them; the CSV header uses the same names.
FIELDS = (
    "request_id",
    "programme_id",
    "nik",
    "name",
    "phone",
    "occupation",
    "domicile_code",
    "declared_monthly_income",
    "cover_start",
    "priority",
    "requested_on",
)
WHOLE_NUMBERS = ("declared_monthly_income", "priority")


def kafka_options() -> dict[str, Any]:
    """aiokafka's connection arguments from the environment, as the services read them."""
    options: dict[str, Any] = {
        "bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        "security_protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
    }
    if options["security_protocol"].startswith("SASL_"):
        options.update(
            sasl_mechanism=os.environ.get("KAFKA_SASL_MECHANISM", "PLAIN"),
            sasl_plain_username=os.environ["KAFKA_SASL_USERNAME"],
            sasl_plain_password=os.environ["KAFKA_SASL_PASSWORD"],
        )
    if options["security_protocol"] == "SASL_SSL":
        options["ssl_context"] = ssl.create_default_context()
    return options


def payload_of(row: dict[str, str], programme_id: str | None) -> dict[str, Any]:
    """A request payload from text fields: empty ones left out (the defaults apply), whole
    numbers as numbers, a new request id when none is given."""
    payload: dict[str, Any] = {}
    for name in FIELDS:
        value = (row.get(name) or "").strip()
        if value:
            payload[name] = int(value) if name in WHOLE_NUMBERS else value
    if programme_id and "programme_id" not in payload:
        payload["programme_id"] = programme_id
    payload.setdefault("request_id", f"RQ-{uuid.uuid4()}")
    return payload


def envelope(payload: dict[str, Any], producer: str) -> dict[str, Any]:
    """The event as it goes on the wire: the envelope every event of the platform has."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "EnrolmentRequested",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": producer,
        "correlation_id": payload["request_id"],
        "causation_id": None,
        "payload": payload,
    }


def describe(answer: dict[str, Any]) -> str:
    """One line about an answer."""
    p = answer["payload"]
    if "reasons" in p:
        why = "; ".join(f"{r['field'] or '-'}: {r['reason']}" for r in p["reasons"])
        return f"{p['request_id']}  rejected  {why}"
    if p["outcome"] == "waiting":
        return f"{p['request_id']}  waiting  entry {p['waiting_list_entry']}"
    return (
        f"{p['request_id']}  {p['outcome']}  worker {p['worker_id']}  card {p['card_number']}  "
        f"months {p.get('cover_start')}–{p.get('cover_end')}"
    )


async def answer_reader(prefix: str, from_beginning: bool) -> AIOKafkaConsumer:
    """A consumer of both answer topics without a group (it commits nothing), positioned
    before anything this run sends can be answered."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka_options())
    await consumer.start()
    partitions = [
        TopicPartition(topic, p)
        for topic in (prefix + ACCEPTED, prefix + REJECTED)
        for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
    ]
    consumer.assign(partitions)
    if from_beginning:
        await consumer.seek_to_beginning(*partitions)
    else:
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # fix the positions now, before the requests go out
            await consumer.position(tp)
    return consumer


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refresh the metadata
    found = consumer.partitions_for_topic(topic)
    if not found:
        sys.exit(f"topic {topic} does not exist: is registration running with this prefix?")
    return set(found)


async def run(
    payloads: list[dict[str, Any]], prefix: str, producer_name: str, timeout: float, old: bool
) -> int:
    wanted = {p["request_id"] for p in payloads}
    if len(wanted) != len(payloads):
        sys.exit("two requests share a request_id: each request needs its own")
    answers = await answer_reader(prefix, old)
    try:
        producer = AIOKafkaProducer(acks="all", **kafka_options())
        await producer.start()
        try:
            sent = [
                await producer.send(
                    prefix + REQUESTED,
                    json.dumps(envelope(p, producer_name)).encode(),
                    key=p["request_id"].encode(),
                )
                for p in payloads
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        print(f"sent {len(payloads)} request(s) to {prefix + REQUESTED}; waiting for answers")
        return await print_answers(answers, wanted, timeout)
    finally:
        await answers.stop()


async def print_answers(consumer: AIOKafkaConsumer, ids: set[str], timeout: float) -> int:
    """Print every answer to these request ids as it comes, until each has one (a request id
    sent before with another body may have two: the first answer, and the conflict); 0 when
    all were answered, 1 otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    wanted = set(ids)
    while wanted and loop.time() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                answer = json.loads(record.value)
                request_id = answer["payload"]["request_id"]
                if request_id in ids:
                    wanted.discard(request_id)
                    print(describe(answer), flush=True)
    for request_id in sorted(wanted):
        print(
            f"{request_id}  no answer within {timeout:.0f}s (sent before? try --from-beginning; "
            "malformed? see the .dlq topic)"
        )
    return 1 if wanted else 0


def read_csv(path: str) -> Iterable[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        yield from csv.DictReader(file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", help="requests, one per row, with a header")
    parser.add_argument("--programme", help="programme_id of every request that has none")
    parser.add_argument("--producer", default="example-registry", help="who is sending")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    parser.add_argument("--from-beginning", action="store_true", help="also earlier answers")
    one = parser.add_argument_group("one request from arguments")
    for name in FIELDS:
        if name != "programme_id":
            flag = "--domicile" if name == "domicile_code" else "--" + name.replace("_", "-")
            one.add_argument(flag, dest=name)
    args = parser.parse_args(argv)
    if args.csv:
        rows = list(read_csv(args.csv))
    elif args.nik:
        rows = [{name: getattr(args, name) or "" for name in FIELDS if name != "programme_id"}]
    else:
        parser.error("give --csv FILE, or one request's --nik, --name, --occupation, --domicile")
    payloads = [payload_of(row, args.programme) for row in rows]
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    return asyncio.run(run(payloads, prefix, args.producer, args.timeout, args.from_beginning))


if __name__ == "__main__":
    sys.exit(main())
