"""Reporting's rebuild: how fast ``bpu_reporting.rebuild`` replays a topic into the projections,
beside the live service projecting the same events in the same run (the reference).

Produces N ``WorkerRegistered`` events (``projection.build_events``: villages of Kaur, Paser and
Kota Bengkulu) under a topic prefix of the run's own, starts the reporting service in this
process and waits until it has applied and counted them all (the live projection: its consumer
group, batches of ``CONSUMER_MAX_RECORDS``, its tallies). Then, the service still running, runs
the rebuild (its progress bar as an operator sees it): the tallies' leases taken, the
projections dropped, the topics replayed from offset 0 through the same handlers in batches of
``--batch`` and counted. Prints the replay rate (records read to applied), the whole rebuild's
time (the lease wait, ``LEASE_TTL_SECONDS`` + 0.5 s, included) and the live figures, and checks
that the country's counter is N again.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import (
    console,
    embedded_infra,
    progress,
    rate,
    running,
    settings_for,
    show,
    unique_prefix,
    watched,
)
from projection import build_events, counted, produce, wait_consumed

from bpu_reporting.app import ReportingSettings, build_app
from bpu_reporting.domain import COUNTRY
from bpu_reporting.rebuild import rebuild
from bpu_shared.events import WorkerRegistered
from bpu_shared.topics import create_topics, plan_topics


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        prefix = unique_prefix()
        settings = settings_for(ReportingSettings, infra, prefix)
        async with watched(infra):
            await create_topics(settings, plan_topics(prefix=prefix))
            records = build_events(args.events)
            n = len(records)
            with progress() as bar:
                await produce(infra, prefix + WorkerRegistered.TOPIC, records, bar, "producing")
            started = time.perf_counter()
            async with running(build_app, settings) as svc:
                with progress() as bar:
                    first, _ = await wait_consumed(
                        svc.runtime.group_id, n, started, bar, "live: applying", args.timeout
                    )
                with console.status("live: the tally counts"):
                    live_done = await counted(svc, n, started, args.timeout)

                began = time.perf_counter()
                summary = await rebuild(settings, console=console, batch_size=args.batch)
                whole = time.perf_counter() - began
                console.print(summary.line())
                country = await svc.repository.counters.find_one({"_id": COUNTRY}) or {}
                facts = await svc.repository.workers.coll.count_documents({})
            show(
                f"rebuild of {n:,} WorkerRegistered events, the service running",
                [
                    ("live: first batch applied → all counted", f"{live_done - first:.2f} s"),
                    ("live: events/s, first batch → all counted", rate(n, live_done - first)),
                    (
                        "rebuild: replay (read → applied, facts recorded)",
                        f"{summary.seconds:.2f} s",
                    ),
                    ("rebuild: replay events/s", rate(summary.events, summary.seconds)),
                    ("rebuild: whole (leases, drop, replay, count)", f"{whole:.2f} s"),
                    ("rebuild: events/s over the whole", rate(n, whole)),
                    ("country counter after", f"{country.get('workers', 0):,} (expected {n:,})"),
                    ("covered_workers after", f"{facts:,}"),
                ],
            )
            if country.get("workers", 0) != n or facts != n:
                raise SystemExit(
                    f"the rebuild counted {country.get('workers', 0):,} workers from {facts:,} "
                    f"facts; {n:,} were published"
                )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=50_000, help="WorkerRegistered events")
    parser.add_argument("--batch", type=int, default=5_000, help="events per handler call")
    parser.add_argument("--timeout", type=float, default=600, help="give up waiting after (s)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
