"""``bpu-admin``, the operator's command line: create every topic, list and replay dead letters.

It reads the broker connection from the same env vars as the services (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``); it needs no API key. The work is done by
``bpu_shared.topics`` and ``bpu_shared.deadletters``; this module parses, prints and exits.

    bpu-admin create-topics [--replication-factor N]
    bpu-admin dlq list <topic>.dlq [--limit N]
    bpu-admin dlq replay <topic>.dlq (--offset O [--offset O ...] | --all)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from bpu_shared.deadletters import Position, list_dead_letters, replay_dead_letters
from bpu_shared.kafka_clients import AdminError
from bpu_shared.settings import KafkaSettings
from bpu_shared.topics import create_topics, plan_topics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpu-admin",
        description="Operator commands: create the Kafka topics, list and replay dead letters. "
        "The broker comes from KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL and "
        "KAFKA_SASL_MECHANISM/USERNAME/PASSWORD, as for the services.",
    )
    parser.add_argument(
        "--bootstrap-servers", help="overrides KAFKA_BOOTSTRAP_SERVERS (host:port[,host:port])"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create-topics",
        help="create every topic of the event catalogue with its partition count",
        description="Create every topic the platform uses (dead-letter topics included) with "
        "its partition count, each name preceded by KAFKA_TOPIC_PREFIX if set. Topics that "
        "exist already are left as they are.",
    )
    create.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition (1 for a single broker; 3 for a production cluster)",
    )

    dlq = commands.add_parser("dlq", help="list or replay the dead letters of a topic")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")

    listing = dlq_commands.add_parser(
        "list", help="print the dead letters of a .dlq topic, oldest first (reads only)"
    )
    listing.add_argument(
        "topic", help="a dead-letter topic, <topic>.dlq, named as on the broker (with any prefix)"
    )
    listing.add_argument(
        "--limit", type=int, default=100, help="print at most this many (default 100)"
    )

    replay = dlq_commands.add_parser(
        "replay",
        help="publish dead letters back to their original topic",
        description="Publish dead letters back to their original topic with their original "
        "key, value and headers. They stay in the dead-letter topic.",
    )
    replay.add_argument(
        "topic", help="a dead-letter topic, <topic>.dlq, named as on the broker (with any prefix)"
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--offset",
        action="append",
        metavar="[PARTITION:]OFFSET",
        help="a dead letter to replay, as `dlq list` shows it; repeat for more",
    )
    which.add_argument("--all", action="store_true", help="replay every dead letter of the topic")
    return parser


async def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code. ``main`` is the console script around it."""
    args = build_parser().parse_args(argv)
    try:
        settings = KafkaSettings()
        if args.bootstrap_servers:
            settings = settings.model_copy(
                update={"kafka_bootstrap_servers": args.bootstrap_servers}
            )
        if args.command == "create-topics":
            return await _run_create_topics(settings, args.replication_factor)
        if args.dlq_command == "list":
            if args.limit < 0:
                raise AdminError(f"--limit must be 0 or more, not {args.limit}")
            async for line in list_dead_letters(settings, args.topic, args.limit):
                _say(line)
            return 0
        positions = None if args.all else [Position.parse(text) for text in args.offset]
        async for line in replay_dead_letters(settings, args.topic, positions):
            _say(line)
        return 0
    except (AdminError, ValueError) as error:
        print(f"bpu-admin: error: {error}", file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"bpu-admin: error: Kafka refused: {error!r}", file=sys.stderr)
        return 1


async def _run_create_topics(settings: KafkaSettings, replication_factor: int) -> int:
    plan = plan_topics(replication_factor, prefix=settings.kafka_topic_prefix)
    outcomes = await create_topics(settings, plan)
    for outcome in outcomes:
        _say(outcome.line())
    counts = {status: sum(o.status == status for o in outcomes) for status in ("created", "exists")}
    failed = [o for o in outcomes if o.status == "failed"]
    _say(
        f"{len(outcomes)} topics: {counts['created']} created, {counts['exists']} existed already"
        + (f", {len(failed)} failed" if failed else "")
    )
    if failed:
        raise AdminError(f"could not create {', '.join(o.name for o in failed)}")
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print("bpu-admin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
