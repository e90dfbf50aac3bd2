"""The billing run's hot path: ``RateTable.price`` called once per invoice line.

Times N calls (default 1,000,000) in the shapes a run meets, beside two references measured in
the same run: a bare loop of N ``dict.get`` calls on a tuple key (what a cache costs at least)
and ``InForce.price``, the rule itself without the table's caches.

- one programme's lines: the same month, benefits and funding source, incomes at the lowest
  bracket (every figure from the field), occupations mixed;
- a few distinct incomes across brackets, donor-funded (discounts looked up);
- N distinct incomes with JHT (every call computes: the worst case, no cache hit).

Pure CPU, no servers. Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from bpu_billing.domain import RateTable
from bpu_shared.events import BenefitProgramme, FundingSource, Occupation
from bpu_shared.month import Month

REGIONAL = frozenset({BenefitProgramme.JKK, BenefitProgramme.JKM})
WITH_JHT = frozenset(BenefitProgramme)


def timed(label: str, n: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    print(f"{label:<62} {seconds:7.3f} s  {n / seconds / 1e6:6.2f} M calls/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    n = parser.parse_args().calls
    rng = random.Random(parser.parse_args().seed)
    table = RateTable.load()
    month = Month(2026, 5)
    jobs = [o.value for o in Occupation]
    occupations = [rng.choice(jobs) for _ in range(n)]
    few = [rng.choice([1_000_000, 1_500_000, 2_200_000, 5_000_000]) for _ in range(n)]
    many = [rng.randrange(0, 30_000_000) for _ in range(n)]
    print(f"{n:,} calls each\n")

    cache = {(month, 1_000_000, REGIONAL, FundingSource.APBD_REGENCY, "farmer"): {}}
    key = (month, 1_000_000, REGIONAL, FundingSource.APBD_REGENCY, "farmer")

    def bare() -> None:
        get = cache.get
        for _ in range(n):
            get(key)

    def rule() -> None:
        view = table.for_month(month)
        for i in range(n // 10):
            view.price(few[i], REGIONAL, FundingSource.DONOR, occupations[i])

    def programme() -> None:
        price = table.price
        for i in range(n):
            price(month, 1_000_000, REGIONAL, FundingSource.APBD_REGENCY, occupations[i])

    def brackets() -> None:
        price = table.price
        for i in range(n):
            price(month, few[i], REGIONAL, FundingSource.DONOR, occupations[i])

    def distinct() -> None:
        price = table.price
        for i in range(n):
            price(month, many[i], WITH_JHT, FundingSource.APBD_REGENCY, "farmer")

    timed("reference: dict.get on a tuple key", n, bare)
    tenth = timed(f"reference: InForce.price, the rule uncached ({n // 10:,} calls)", n // 10, rule)
    print(f"{'  … scaled to ' + format(n, ',') + ' calls':<62} {tenth * 10:7.3f} s")
    timed("price: one programme, lowest income, occupations mixed", n, programme)
    timed("price: 4 incomes across brackets, donor-funded (discounts)", n, brackets)
    timed("price: every income distinct, with JHT (no cache hit)", n, distinct)


if __name__ == "__main__":
    main()
