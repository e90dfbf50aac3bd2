"""Dashboard reads under load: ``wrk`` (50 connections, 2 threads) fires reporting's read
queries at the running service over a projection of 1,000,000 workers, and prints requests per
second and p50/p90/p99 latency per query, beside ``GET /health`` (no store, no key) measured the
same way in the same run: the service's ceiling on this machine.

Starts the embedded broker and store and the reporting service in this process, records
``--workers`` worker facts through the consumer's path (``add_covered_workers``, batches of
``--batch``) spread over Bengkulu's ten regencies and their villages, waits until the tally has
counted them, issues a ``dashboard`` key, serves the app with uvicorn on a free port and points
``wrk`` (Debian's package: ``make system-deps``) at it. Each query is one URL for ``--seconds``
after ``--warmup`` seconds not timed; a last run cycles through every query (a Lua script) for
``--mixed-seconds``.

The goal (issue 9): p99 under 50 ms for any single-region query.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
import time
from pathlib import Path

import uvicorn
from _common import (
    console,
    embedded_infra,
    rate,
    running,
    settings_for,
    show,
    unique_prefix,
    watched,
)
from coverage_query import fill, tallied
from rich.table import Table

from bpu_devstack.servers import free_port
from bpu_reporting.app import ReportingSettings, build_app
from bpu_shared.service import freeze_heap

#: The single-region queries a dashboard makes, each timed on its own.
QUERIES = {
    "coverage, country (provinces)": "/coverage",
    "coverage, province 17 (regencies)": "/coverage?region=17",
    "coverage, regency 17.04 (districts)": "/coverage?region=17.04",
    "coverage, district 17.04.01 (villages)": "/coverage?region=17.04.01",
    "coverage, 17.04 in 2026-11": "/coverage?region=17.04&period=2026-11",
    "contributions, 17.04 in 2026-11": "/contributions?region=17.04&period=2026-11",
    "benefits, province 17": "/benefits?region=17",
}
REFERENCE = ("GET /health (no store, no key): the ceiling", "/health")

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_script(paths: list[str], key: str, folder: Path) -> Path:
    """A Lua script for wrk: each request the next path, with the key."""
    listed = ", ".join(f'"{p}"' for p in paths)
    script = folder / "queries.lua"
    script.write_text(
        f"local paths = {{{listed}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        f'  return wrk.format("GET", paths[i], {{["Authorization"] = "Bearer {key}"}})\n'
        "end\n"
    )
    return script


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, and the 50/90/99th percentile latencies in ms, from ``wrk --latency``;
    non-2xx/3xx answers and socket errors too (any is a failed run)."""
    figures: dict[str, float] = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    }
    for p in ("50", "90", "99"):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()  # type: ignore[union-attr]
        figures[f"p{p}"] = float(value) * _UNITS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["bad"] = float(bad.group(1)) if bad else 0.0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    figures["errors"] = float(sum(int(n) for n in errors.groups())) if errors else 0.0
    return figures


async def wrk(
    url: str, script: Path | None, key: str, seconds: int, connections: int
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        command += ["-s", str(script)]
    else:
        command += ["-H", f"Authorization: Bearer {key}"]
    proc = await asyncio.create_subprocess_exec(
        *command, url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()  # the service answers on this loop meanwhile
    text = out.decode()
    if proc.returncode:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{text}")
    return parse_wrk(text)


async def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make system-deps` (apt-get install wrk)")
    with embedded_infra() as infra, tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(ReportingSettings, infra, unique_prefix())
        async with watched(infra), running(build_app, settings) as svc:
            _, applying, recording = await fill(svc, args.workers, args.batch)
            counting = await tallied(svc, args.workers)
            show(
                f"{args.workers:,} workers projected (batches of {args.batch:,})",
                [
                    ("recorded", f"{sum(applying):.1f} s, {rate(args.workers, sum(applying))}"),
                    (
                        "first batch recorded → all counted by the tally",
                        f"{recording + counting:.1f} s, {rate(args.workers, recording + counting)}",
                    ),
                ],
            )
            issued = await svc.client.post(
                "/admin/api-keys", json={"role": "dashboard", "label": "bench"}
            )
            issued.raise_for_status()
            key = issued.json()["key"]
            # The key reaches the service's own key table through ApiKeyIssued.
            for _ in range(300):
                check = await svc.client.get(
                    "/coverage", headers={"Authorization": f"Bearer {key}"}
                )
                if check.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            check.raise_for_status()
            assert check.json()["registered_workers"] == args.workers, check.json()

            await freeze_heap()  # as bpu-reporting does once started (bpu_shared.service.serve)
            port = free_port()
            server = uvicorn.Server(
                uvicorn.Config(
                    svc.app,
                    host="127.0.0.1",
                    port=port,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                )
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            table = Table(
                title=f"wrk, {args.connections} connections, 2 threads, "
                f"{args.workers:,} workers projected",
                title_justify="left",
            )
            for column in (
                "query",
                "seconds",
                "requests/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "failed",
            ):
                table.add_column(column, justify="right")
            runs = [(REFERENCE[0], REFERENCE[1], None, args.seconds)]
            runs += [(name, path, None, args.seconds) for name, path in QUERIES.items()]
            paths = list(QUERIES.values())
            runs.append(
                (
                    f"all {len(paths)} queries in turn",
                    paths[0],
                    wrk_script(paths, key, Path(tmp)),
                    args.mixed_seconds,
                )
            )
            try:
                for name, path, script, seconds in runs:
                    # Not timed: the first answers of a query are built, not kept, and the
                    # connections are opened.
                    await wrk(base + path, script, key, args.warmup, args.connections)
                    began = time.perf_counter()
                    console.print(f"wrk: {name} for {seconds} s")
                    f = await wrk(base + path, script, key, seconds, args.connections)
                    table.add_row(
                        name,
                        f"{time.perf_counter() - began:.0f}",
                        f"{f['rps']:,.0f}",
                        f"{f['p50']:.1f}",
                        f"{f['p90']:.1f}",
                        f"{f['p99']:.1f}",
                        f"{f['bad'] + f['errors']:.0f}",
                    )
            finally:
                server.should_exit = True
                await serving
            console.print(table)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=1_000_000, help="workers projected")
    parser.add_argument("--batch", type=int, default=5_000, help="facts per consumer batch")
    parser.add_argument("--connections", type=int, default=50, help="wrk's concurrent clients")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per single query")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of each, not timed")
    parser.add_argument("--mixed-seconds", type=int, default=30, help="seconds of the mix")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
