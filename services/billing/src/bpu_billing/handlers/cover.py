"""Cover: whether a worker is covered on a day, and why; and the lapse of a programme's cover.

A worker-month is covered when its invoice line is paid: the invoice's ``lines_paid`` counts
the lines, in line order, its paid amount covers in full (``cover.allocate``). The answer's
rules are ``cover.cover_on``'s (paid, arrears, lapsed, not enrolled, not invoiced); the arrears
window and whether a month in arrears counts as covered are the rate table's.

The lapse: more than the window's consecutive unpaid months past their due date end the
programme's cover. ``check_lapses`` sets ``lapsed_from`` on the programme once, with
``CoverageLapsed`` in the same write; ``LapseCheck`` runs it daily (a setting) on one replica,
and billing runs it after each invoice it issues.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bpu_billing.domain.cover import CoverStatus, MonthState, cover_on, lapse_from
from bpu_billing.handlers.base import READERS, Billing
from bpu_billing.handlers.rates import rate_table
from bpu_shared.auth import Principal
from bpu_shared.clock import Clock, SystemClock
from bpu_shared.errors import DomainError, NotFound
from bpu_shared.events import ContributionInvoiced, CoverageLapsed, CoverageLapsedPayload
from bpu_shared.messaging.lease import Lease
from bpu_shared.messaging.leased_loop import LeasedLoop
from bpu_shared.month import Month
from bpu_shared.service import Runtime
from bpu_shared.service_layer.bus import Deps

log = logging.getLogger(__name__)

#: The arrears window when the rate table has no arrears rule in force on the day.
DEFAULT_WINDOW = 3


def arrears_rule(deps: Billing, day: date) -> tuple[int, bool]:
    """The arrears window in months and whether a month in it counts as covered, on ``day``."""
    try:
        rule = rate_table(deps).arrears_on(day)
    except DomainError:
        return DEFAULT_WINDOW, False
    return rule.arrears_months, rule.arrears_count_as_covered


@dataclass(frozen=True)
class GetCoverage:
    worker_id: str
    on: date | None = None


@dataclass(frozen=True)
class Coverage:
    worker_id: str
    on: date
    status: CoverStatus
    covered: bool
    reason: str
    period: Month
    programme_id: str | None = None
    sponsor_id: str | None = None
    invoice_id: str | None = None
    payable_until: date | None = None
    lapsed_from: Month | None = None


def _month(text: str | None) -> Month | None:
    return Month.parse(text) if text else None


async def coverage_of(q: GetCoverage, principal: Principal, deps: Billing) -> Coverage:
    """Whether the worker is covered on ``q.on`` (today by default), as billing knows it now."""
    principal.require_role(*READERS)
    repo = deps.repository
    today = deps.clock.today()
    day = q.on or today
    period = Month.of(day)
    enrolments = await repo.enrolments_of_worker(q.worker_id)
    visible = [e for e in enrolments if principal.can_access(e.get("village_code") or "")]
    if enrolments and not visible:
        raise NotFound("worker", q.worker_id)
    for enrolment in visible:
        programme = await repo.programme_doc(enrolment["programme_id"]) or {}
        last = _month(enrolment.get("last_month")) or _month(programme.get("end_month"))
        first = Month.parse(enrolment["first_month"])
        if first <= period and (last is None or period <= last):
            return await _answer(q.worker_id, day, today, enrolment, programme, first, last, deps)
    return Coverage(
        q.worker_id,
        day,
        CoverStatus.NOT_ENROLLED,
        False,
        f"not enrolled in any programme in {period}",
        period,
    )


async def _answer(
    worker_id: str,
    day: date,
    today: date,
    enrolment: Mapping[str, Any],
    programme: Mapping[str, Any],
    first: Month,
    last: Month | None,
    deps: Billing,
) -> Coverage:
    repo = deps.repository
    months: dict[Month, MonthState] = {}
    invoices = await repo.invoices_of(enrolment["programme_id"])
    for invoice in invoices:
        month = Month.parse(invoice["period"])
        if month < first or (last is not None and month > last):
            continue
        found = await repo.line_of(invoice["_id"], enrolment["_id"])
        if found is None:
            continue
        index, _ = found
        months[month] = MonthState(
            invoiced=True,
            paid=index < int(invoice.get("lines_paid", 0)),
            invoice_id=invoice["_id"],
        )
    period = Month.of(day)
    months.setdefault(period, MonthState())
    window, arrears_covered = arrears_rule(deps, day)
    answer = cover_on(day, months, today, window, arrears_count_as_covered=arrears_covered)
    return Coverage(
        worker_id,
        day,
        answer.status,
        answer.covered,
        answer.reason,
        answer.period,
        enrolment["programme_id"],
        enrolment.get("sponsor_id") or programme.get("sponsor_id"),
        months[period].invoice_id,
        answer.payable_until,
        _month(programme.get("lapsed_from")),
    )


# -- the lapse -----------------------------------------------------------------------------------


async def check_lapses(deps: Billing, programme_ids: Sequence[str] | None = None) -> list[str]:
    """End the cover of every programme (or of ``programme_ids``) with more unpaid months past
    their due date in a row than the arrears window allows: ``lapsed_from`` set once, with
    ``CoverageLapsed``. The programmes that lapsed now."""
    repo = deps.repository
    today = deps.clock.today()
    window, _ = arrears_rule(deps, today)
    lapsed: list[str] = []
    for programme in await repo.programmes_not_lapsed(programme_ids):
        invoices = await repo.invoices_of(programme["_id"])
        start = lapse_from(
            [(Month.parse(i["period"]), bool(i.get("paid_in_full"))) for i in invoices],
            today,
            window,
        )
        if start is None:
            continue
        paid: dict[Month, bool] = {}
        count: dict[Month, int] = {}
        for invoice in invoices:
            month = Month.parse(invoice["period"])
            paid[month] = paid.get(month, True) and bool(invoice.get("paid_in_full"))
            count[month] = count.get(month, 0) + int(invoice.get("worker_count", 0))
        streak = [start]
        while paid.get(streak[-1].plus(1)) is False:
            streak.append(streak[-1].plus(1))
        event = CoverageLapsed.create(
            CoverageLapsedPayload(
                programme_id=programme["_id"],
                sponsor_id=programme.get("sponsor_id", ""),
                region_code=programme["region_code"],
                lapsed_from=start,
                unpaid_periods=streak,
                worker_count=count[streak[-1]],
            ),
            producer="billing",
        )
        if await repo.set_lapsed(programme["_id"], str(start), [event]):
            log.warning(
                "programme %s: cover lapsed from %s (%d months unpaid)",
                programme["_id"],
                start,
                len(streak),
            )
            lapsed.append(programme["_id"])
    return lapsed


async def check_lapses_after_invoices(
    events: Sequence[ContributionInvoiced], deps: Billing
) -> None:
    """A run issued invoices: look at their programmes' unpaid months now."""
    await check_lapses(deps, list(dict.fromkeys(e.payload.programme_id for e in events)))


class LapseCheck(LeasedLoop):
    """Every ``interval`` seconds (a day by default), one replica at a time."""

    def __init__(self, deps: Billing, lease: Lease, interval: float) -> None:
        super().__init__("coverage-lapse-check", lease, interval)
        self.deps = deps

    async def ensure_indexes(self) -> None:
        """Nothing of its own."""

    async def run_pass(self) -> None:
        await check_lapses(self.deps)


def cover_jobs(
    runtime: Runtime, repository: Any, interval: float, clock: Clock | None = None
) -> list[LapseCheck]:
    deps: Billing = Deps(repository, runtime.relay, clock or SystemClock(), runtime.settings)
    return [LapseCheck(deps, runtime.lease("coverage-lapse-check"), interval)]
