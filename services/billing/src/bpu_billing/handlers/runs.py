"""The monthly billing run: for a period, one programme or all, an invoice per programme with a
line per worker enrolled that month, issued once.

A run is a job: ``StartRun`` queues it (a run of the same period and programme queued or
running answers that one) and the runner (``RunRunner``, one replica at a time through a
lease) bills its programmes one after another, recording each programme finished in one guarded
write, so a run left half done by a stopped process is finished by the next holder. The
``MonthlyRun`` loop starts a run for every programme on the 1st of each month (Asia/Jakarta).

Billing one programme-month (``bill_programme``) is exactly once in effect: lines only for
enrolments no issued invoice of the programme-month holds (the month's invoice is sequence 0; a
late enrolment goes on a supplementary one, 1, 2…); the invoice is drafted, its line blocks are
written, then it is issued in ONE write: state "issued", its totals and its
``ContributionInvoiced`` in its outbox. An attempt that stops while drafting leaves a draft,
never published; the next attempt takes the draft's sequence and writes its blocks again.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bpu_billing.domain.cover import due_date
from bpu_billing.domain.invoicing import Change, Entry, Price, Terms, bill, over_budget
from bpu_billing.domain.rates import RateTable
from bpu_billing.handlers.base import SYSTEM, WRITERS, Billing
from bpu_billing.handlers.rates import rate_table
from bpu_billing.store import BillingRepository
from bpu_billing.store.invoices import DRAFTING, invoice_id, line_doc_blocks
from bpu_billing.store.runs import DONE, FAILED
from bpu_shared.auth import Principal
from bpu_shared.clock import Clock, SystemClock
from bpu_shared.errors import NotFound
from bpu_shared.events import (
    BenefitProgramme,
    ContributionInvoiced,
    ContributionInvoicedPayload,
    DistrictTotal,
    FundingSource,
)
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop, LeaseLost
from bpu_shared.month import Month
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import Deps
from bpu_shared.store import TRANSIENT_STORE_ERRORS

log = logging.getLogger(__name__)

Fault = Callable[[str], Awaitable[None]]


async def _no_fault(point: str) -> None:
    return None


# -- commands and queries ----------------------------------------------------------------------


@dataclass(frozen=True)
class StartRun:
    period: Month
    programme_id: str | None = None


@dataclass(frozen=True)
class GetRun:
    run_id: str


@dataclass(frozen=True)
class ListRuns:
    period: Month | None = None


@dataclass(frozen=True)
class RunStarted:
    """The run the request queued (``created``), or the one queued or running already."""

    run: dict[str, Any]
    created: bool


async def start_run(cmd: StartRun, principal: Principal, deps: Billing) -> RunStarted:
    principal.require_role(*WRITERS)
    if (
        cmd.programme_id is not None
        and await deps.repository.programme_doc(cmd.programme_id) is None
    ):
        raise NotFound("programme", cmd.programme_id, field="programme_id")
    run, created = await deps.repository.new_run(
        cmd.period, cmd.programme_id, principal.key_id, deps.clock.now()
    )
    return RunStarted(run, created)


async def get_run(q: GetRun, principal: Principal, deps: Billing) -> dict[str, Any]:
    principal.require_role(*WRITERS)
    run = await deps.repository.billing_run(q.run_id)
    if run is None:
        raise NotFound("billing run", q.run_id)
    return run


async def list_runs(q: ListRuns, principal: Principal, deps: Billing) -> list[dict[str, Any]]:
    principal.require_role(*WRITERS)
    return await deps.repository.billing_runs(q.period)


# -- pricing -----------------------------------------------------------------------------------


def pricer(table: RateTable, period: Month, funding_source: FundingSource) -> Price:
    """The price of a worker-month of ``period`` for one funding source, answered once per
    (income, benefits, occupation): a million lines come from a handful of distinct ones."""
    cache: dict[tuple[int, frozenset[str], str], dict[str, int]] = {}

    def price(income: int, benefits: frozenset[str], occupation: str) -> dict[str, int]:
        key = (income, benefits, occupation)
        found = cache.get(key)
        if found is None:
            asked = frozenset(BenefitProgramme(b) for b in benefits)
            amounts = table.price(period, income, asked, funding_source, occupation)
            found = cache[key] = {str(b): int(v) for b, v in amounts.items()}
        return found

    return price


def terms_of(doc: Mapping[str, Any]) -> Terms:
    closed = doc.get("closed_on")
    return Terms(
        programme_id=doc["_id"],
        start_month=Month.parse(doc["start_month"]),
        end_month=Month.parse(doc["end_month"]),
        benefits=frozenset(doc.get("benefits") or ("JKK", "JKM")),
        closed_on=date.fromisoformat(closed) if closed and doc.get("status") == "closed" else None,
    )


class EntryOf:
    """Roster documents as the domain's entries (months and benefit sets made once per
    distinct value)."""

    def __init__(self) -> None:
        self.months: dict[str, Month] = {}
        self.benefits: dict[tuple[str, ...], frozenset[str]] = {}

    def month(self, text: str) -> Month:
        found = self.months.get(text)
        if found is None:
            found = self.months[text] = Month.parse(text)
        return found

    def __call__(self, d: dict[str, Any]) -> Entry:
        benefits = d.get("benefits")
        chosen = None
        if benefits:
            key = tuple(benefits)
            chosen = self.benefits.get(key)
            if chosen is None:
                chosen = self.benefits[key] = frozenset(key)
        last = d.get("last_month")
        return Entry(
            d["_id"],
            d["worker_id"],
            self.month(d["first_month"]),
            self.month(last) if last else None,
            chosen,
            int(d["income"]),
            d["district_code"],
            d["village_code"],
            d["occupation"],
            d.get("as_of", ""),
        )


def changes_by_worker(found: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[Change]]:
    return {
        worker: [
            Change(
                Month.parse(c["effective_month"]),
                c["as_of"],
                int(c["income"]),
                c["district_code"],
                c["village_code"],
                c["occupation"],
            )
            for c in changes
        ]
        for worker, changes in found.items()
    }


# -- billing one programme-month ---------------------------------------------------------------


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: a run makes a million small objects that live until
    it ends, and the collector would walk them again and again (a third of a run's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Billed:
    """What billing a programme-month did: lines written on the invoice it issued (if any)."""

    invoice_id: str | None = None
    lines: int = 0
    supplementary: bool = False

    @property
    def invoices(self) -> int:
        return 1 if self.invoice_id is not None else 0


async def bill_programme(
    deps: Billing,
    programme_id: str,
    period: Month,
    run_id: str | None = None,
    after_write: Fault = _no_fault,
) -> Billed:
    """Bill ``programme_id`` for ``period``: the lines no issued invoice holds yet, on a new
    invoice issued once (nothing when there are none)."""
    with collector_paused():
        return await _bill_programme(deps, programme_id, period, run_id, after_write)


async def _bill_programme(
    deps: Billing, programme_id: str, period: Month, run_id: str | None, after_write: Fault
) -> Billed:
    repo: BillingRepository = deps.repository
    doc = await repo.programme_doc(programme_id)
    if doc is None:
        return Billed()
    terms = terms_of(doc)
    if not terms.covers(period):
        return Billed()
    issued, billed_enrolments, billed_workers = await repo.billed_in(programme_id, period)
    draft = await repo.draft_of(programme_id, period)
    if draft is not None:
        sequence = int(draft["sequence"])
    else:
        sequence = max((int(i["sequence"]) for i in issued), default=-1) + 1
    entries = await repo.roster_as(programme_id, period, EntryOf())
    changes = changes_by_worker(await repo.changes_of(up_to=period))
    funding = FundingSource(doc.get("funding_source") or FundingSource.APBD_REGENCY)
    await after_write("roster-read")
    result = bill(
        terms,
        period,
        entries,
        pricer(rate_table(deps), period, funding),
        billed_enrolments=billed_enrolments,
        billed_workers=billed_workers,
        changes=changes,
    )
    await after_write("priced")
    invoice = invoice_id(period, programme_id, sequence)
    if not result.lines:
        if draft is not None:  # its lines were billed meanwhile, or left the roster
            await repo.drop_draft(invoice)
        return Billed()
    blocks = line_doc_blocks(invoice, result.lines)
    del entries
    workers = result.worker_count
    result.lines.clear()  # encoded in the blocks now
    await after_write("encoded")
    due = due_date(period)
    await repo.save_draft(
        {
            "_id": invoice,
            "programme_id": programme_id,
            "sponsor_id": doc["sponsor_id"],
            "region_code": doc["region_code"],
            "funding_source": str(funding),
            "period": str(period),
            "sequence": sequence,
            "supplementary": sequence > 0,
            "state": DRAFTING,
            "run_id": run_id,
            "blocks": len(blocks),
        }
    )
    await after_write("drafted")
    await repo.write_blocks(blocks)
    await after_write("blocks-written")
    budget = doc.get("budget_rupiah")
    to_date = await repo.invoiced_to_date(programme_id) + result.amount_rupiah
    flagged = over_budget(budget, to_date - result.amount_rupiah, result.amount_rupiah)
    by_district = {
        code: {"workers": t["workers"], "amount_rupiah": t["amount_rupiah"]}
        for code, t in sorted(result.by_district.items())
    }
    event = ContributionInvoiced.create(
        ContributionInvoicedPayload(
            invoice_id=invoice,
            sponsor_id=doc["sponsor_id"],
            programme_id=programme_id,
            region_code=doc["region_code"],
            period=period,
            worker_count=workers,
            amount_by_benefit={BenefitProgramme(b): v for b, v in result.amount_by_benefit.items()},
            amount_rupiah=result.amount_rupiah,
            due_date=due,
            sequence=sequence,
            supplementary=sequence > 0,
            by_district={c: DistrictTotal(**t) for c, t in by_district.items()},
            funding_source=funding,
            credit_applied_rupiah=0,
            over_budget=flagged,
            budget_rupiah=budget,
            invoiced_to_date_rupiah=to_date,
        ),
        producer="billing",
    )
    issued_doc = await repo.issue(
        invoice,
        {
            "worker_count": workers,
            "amount_rupiah": result.amount_rupiah,
            "amount_by_benefit": dict(sorted(result.amount_by_benefit.items())),
            "by_district": by_district,
            "due_date": due.isoformat(),
            "issued_at": deps.clock.now().isoformat(),
            "over_budget": flagged,
            "budget_rupiah": budget,
            "invoiced_to_date_rupiah": to_date,
            "blocks": len(blocks),
            "paid_rupiah": 0,
            "paid_in_full": False,
            "lines_paid": 0,
            "payments": [],
            "credit_applied_rupiah": 0,
        },
        event,
    )
    await after_write("issued")
    if issued_doc is None:
        return Billed()  # issued by another attempt meanwhile
    return Billed(invoice, workers, sequence > 0)


# -- the background jobs -----------------------------------------------------------------------


class RunRunner(LeasedLoop):
    """Runs the queued runs, oldest first, one replica at a time (a lease): woken when a run
    is queued, and every ``interval`` seconds for a run a stopped process left half done."""

    def __init__(self, deps: Billing, lease: Lease, interval: float) -> None:
        super().__init__("billing-runs", lease, interval)
        self.deps = deps
        #: Called after each step of a programme's billing (``bill_programme``'s points);
        #: tests make it raise to crash there, the benchmark times the steps.
        self.after_write: Fault = _no_fault

    async def ensure_indexes(self) -> None:
        """The repository makes the runs' indexes."""

    async def run_pass(self) -> None:
        tried: set[str] = set()
        while True:
            waiting = [r for r in await self.deps.repository.open_runs() if r["_id"] not in tried]
            if not waiting:
                return
            tried.add(waiting[0]["_id"])
            await self.execute(waiting[0])

    async def execute(self, run: dict[str, Any]) -> None:
        repo: BillingRepository = self.deps.repository
        period = Month.parse(run["period"])
        programmes = [run["programme_id"]] if run["programme_id"] else await repo.programme_ids()
        started = await repo.start_run(run["_id"], programmes, self.deps.clock.now())
        if started is None:
            return
        failed = False
        for programme_id in started["programmes"]:
            if programme_id in started["done"]:
                continue
            if not self.lease.held and not await self.lease.acquire():
                raise LeaseLost(self.lease.name)
            try:
                billed = await bill_programme(
                    self.deps, programme_id, period, run["_id"], self.after_write
                )
            except TRANSIENT_STORE_ERRORS:
                raise  # the run stays running; the next pass goes on from here
            except Exception as exc:
                log.exception("billing run %s: programme %s failed", run["_id"], programme_id)
                failed = True
                await repo.programme_failed(run["_id"], f"{programme_id}: {exc}")
                continue
            await repo.programme_billed(
                run["_id"],
                programme_id,
                billed.lines,
                billed.invoices,
                1 if billed.supplementary else 0,
            )
        await repo.finish_run(run["_id"], FAILED if failed else DONE, self.deps.clock.now())


class MonthlyRun(LeasedLoop):
    """Starts a run of every programme for the month, on its first ``days`` days (the 1st by
    default, Asia/Jakarta by the clock given), when none was asked for that month yet."""

    def __init__(self, deps: Billing, lease: Lease, interval: float, days: int = 1) -> None:
        super().__init__("billing-monthly", lease, interval)
        self.deps = deps
        self.days = days

    async def ensure_indexes(self) -> None:
        """Nothing of its own."""

    async def run_pass(self) -> None:
        today = self.deps.clock.today()
        if today.day > self.days:
            return
        period = Month.of(today)
        repo: BillingRepository = self.deps.repository
        if await repo.has_run(period, None):
            return
        run, created = await repo.new_run(period, None, SYSTEM.key_id, self.deps.clock.now())
        if created:
            log.info("billing run %s started for %s", run["_id"], period)


def run_jobs(
    runtime: Runtime,
    repository: BillingRepository,
    *,
    interval: float = 5.0,
    monthly_interval: float = 60.0,
    monthly_days: int = 1,
    clock: Clock | None = None,
) -> list[RunRunner | MonthlyRun]:
    """The runner and the monthly loop, for ``service_app(background=...)``; the repository
    wakes the runner when a run is queued."""
    deps: Billing = Deps(repository, runtime.relay, clock or SystemClock(), runtime.settings)
    runner = RunRunner(deps, runtime.lease("billing-runs"), interval)
    repository.run_runner = runner
    monthly = MonthlyRun(deps, runtime.lease("billing-monthly"), monthly_interval, monthly_days)
    return [runner, monthly]
