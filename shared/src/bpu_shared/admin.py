"""``bpu-admin``, the operator's command line: create every topic, list and replay dead letters.

It reads the broker connection from the same env vars as the services (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``); it needs no API key. The work is done by
``bpu_shared.topics`` and ``bpu_shared.deadletters``; this module parses, prints and exits.

    bpu-admin create-topics [--replication-factor N]
    bpu-admin dlq list <topic>.dlq [--limit N]
    bpu-admin dlq replay <topic>.dlq (--offset O [--offset O ...] | --all)
    bpu-admin import FILE --programme ID [--errors PATH]
    bpu-admin targets load FILE

``import`` talks to registration over HTTP instead: ``REGISTRATION_URL`` (default the embedded
stack's ``http://127.0.0.1:8001``) with the key in ``BPU_API_KEY`` or ``--api-key``;
``targets load`` talks to reporting the same way (``REPORTING_URL``, default
``http://127.0.0.1:8004``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

    imports = commands.add_parser(
        "import",
        help="enrol the workers of a CSV or XLSX file in a programme, with a progress bar",
        description="Upload FILE to registration's POST /imports, follow the job with a "
        "progress bar, print the summary and save the error report (the rejected rows as sent, "
        "with their reasons: fix them and import that file again). Registration is at "
        "REGISTRATION_URL (default http://127.0.0.1:8001); the key is BPU_API_KEY or --api-key. "
        "Exit code 0 when the job is done (rows may have been rejected), 1 when the file is "
        "refused or the job failed.",
    )
    imports.add_argument("file", type=Path, help="the CSV or XLSX file, as the template says")
    imports.add_argument("--programme", required=True, help="the programme id to enrol into")
    imports.add_argument("--url", help="overrides REGISTRATION_URL")
    imports.add_argument("--api-key", help="overrides BPU_API_KEY")
    imports.add_argument(
        "--errors",
        type=Path,
        help="where to save the error report (default: FILE's name + -errors.csv beside it)",
    )
    imports.add_argument(
        "--poll", type=float, default=0.5, help="seconds between two looks at the job"
    )
    targets = commands.add_parser("targets", help="coverage targets and the workforce")
    targets_commands = targets.add_subparsers(
        dest="targets_command", required=True, metavar="COMMAND"
    )
    load = targets_commands.add_parser(
        "load",
        help="save the targets of a CSV file in reporting",
        description="Upload FILE (region,year,workforce,target_percent,target_workers,source) to "
        "reporting's POST /targets with an operator key: every valid row is saved, each "
        "refused row is printed with its line and column. Reporting is at REPORTING_URL "
        "(default http://127.0.0.1:8004); the key is BPU_API_KEY or --api-key. Exit code 0 "
        "when every row was saved, 1 when a row or the file was refused.",
    )
    load.add_argument("file", type=Path, help="the targets CSV (deploy/targets/*.csv)")
    load.add_argument("--url", help="overrides REPORTING_URL")
    load.add_argument("--api-key", help="overrides BPU_API_KEY")
    return parser


async def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code. ``main`` is the console script around it."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "import":
            return await _run_import(args)
        if args.command == "targets":
            return await _run_targets_load(args)
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


# -- import: registration over HTTP (the standard library's client; no other dependency) -------

DEFAULT_REGISTRATION_URL = "http://127.0.0.1:8001"
FINISHED = ("done", "failed")


class Registration:
    """Registration's HTTP API with one key; each call blocks (run it in a thread)."""

    def __init__(self, url: str, key: str, service: str = "registration") -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.service = service

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as answer:
            return answer.code, answer.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AdminError(f"cannot reach {self.service} at {self.url}: {reason}") from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = self.call(method, path, **kwargs)
        if status >= 400:
            raise AdminError(_problem(status, body, self.service))
        return json.loads(body)


def _problem(status: int, body: bytes, service: str = "registration") -> str:
    """An error answer in words: the problem's detail and each field it names."""
    try:
        problem = json.loads(body)
    except ValueError:
        return f"{service} answered {status}: {body[:200].decode(errors='replace')}"
    detail = str(problem.get("detail") or problem.get("title") or status)
    fields = [
        f"{e.get('field')}: {e.get('message')}"
        for e in problem.get("errors") or []
        if e.get("message") != detail
    ]
    return f"{service} refused it ({status}): {detail}" + "".join(f"\n  {f}" for f in fields)


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    name = urllib.parse.quote(filename, safe=" ._-()")
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


async def _run_import(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    key = args.api_key or os.environ.get("BPU_API_KEY")
    if not key:
        raise AdminError("no API key: give --api-key or set BPU_API_KEY")
    url = args.url or os.environ.get("REGISTRATION_URL") or DEFAULT_REGISTRATION_URL
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise AdminError(f"cannot read {args.file}: {error.strerror or error}") from None
    api = Registration(url, key)
    body, content_type = _multipart({"programme_id": args.programme}, args.file.name, data)
    status, answer = await asyncio.to_thread(
        api.call, "POST", "/imports", body, content_type=content_type
    )
    if status >= 400:
        raise AdminError(_problem(status, answer))
    job = json.loads(answer)
    if status == 200:
        _say(f"this file was imported into {args.programme} before: job {job['import_id']}")
    else:
        _say(f"import {job['import_id']}: {job['rows_total']:,} rows queued")
    console = Console(highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("enrolling", total=job["rows_total"] or None, counts="")
        while True:
            bar.update(
                task,
                completed=job["rows_done"],
                total=max(job["rows_total"], job["rows_done"]) or None,
                counts=f"{job['accepted']:,} enrolled, {job['rejected']:,} rejected, "
                f"{job['waiting']:,} waiting",
            )
            if job["state"] in FINISHED:
                break
            await asyncio.sleep(args.poll)
            job = await asyncio.to_thread(api.json, "GET", f"/imports/{job['import_id']}")
    seconds = time.monotonic() - started
    _say(
        f"import {job['import_id']} {job['state']}: {job['rows_done']:,} of "
        f"{job['rows_total']:,} rows: {job['accepted']:,} enrolled, "
        f"{job['already_enrolled']:,} already enrolled, {job['rejected']:,} rejected, "
        f"{job['waiting']:,} waiting for a seat" + (f" ({seconds:.1f} s)" if status != 200 else "")
    )
    if job["rejected"]:
        path = args.errors or args.file.with_name(f"{args.file.stem}-errors.csv")
        code, report = await asyncio.to_thread(api.call, "GET", job["errors_url"])
        if code >= 400:
            raise AdminError(_problem(code, report))
        path.write_bytes(report)
        _say(f"error report: {path} ({job['rejected']:,} rows to fix and import again)")
    if job["state"] == "failed":
        raise AdminError(f"import {job['import_id']} failed: {job.get('error')}")
    return 0


# -- targets load: reporting over HTTP -----------------------------------------------------------

DEFAULT_REPORTING_URL = "http://127.0.0.1:8004"


async def _run_targets_load(args: argparse.Namespace) -> int:
    key = args.api_key or os.environ.get("BPU_API_KEY")
    if not key:
        raise AdminError("no API key: give --api-key or set BPU_API_KEY")
    url = args.url or os.environ.get("REPORTING_URL") or DEFAULT_REPORTING_URL
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise AdminError(f"cannot read {args.file}: {error.strerror or error}") from None
    api = Registration(url, key, service="reporting")
    body, content_type = _multipart({}, args.file.name, data)
    status, answer = await asyncio.to_thread(
        api.call, "POST", "/targets", body, content_type=content_type
    )
    if status >= 400:
        raise AdminError(_problem(status, answer, "reporting"))
    loaded = json.loads(answer)
    for t in loaded["targets"]:
        of = f" of {t['workforce']:,}" if t["workforce"] else ""
        share = f" ({t['target_percent']:g}%{of})" if t["target_percent"] else ""
        _say(f"  {t['region']} {t['year']}: {t['target_workers']:,} workers{share}")
    for refused in loaded["errors"]:
        _say(f"  row {refused['row']}: {refused['column']}: {refused['message']}")
    _say(f"{args.file.name}: {loaded['saved']:,} targets saved, {loaded['refused']:,} rows refused")
    return 1 if loaded["refused"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print("bpu-admin: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
