"""What the emulator's simulated world costs to compute, in the demo's order: a year of every
keyword for the nation, then each province, then each city (what the demo's answers ask of it).

    python bench/world.py            # median of 3 runs, each in a new world

Simulated data, no network. The nation's and provinces' answers are sums over every city, so the
first keyword-year asked at national level computes all 364 cities at once.
"""
from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

from aicity.emulator import build_state

LATEST = date(2026, 12, 6)


def one_run() -> tuple[float, int]:
    world = build_state(latest=LATEST, seed=2018, rate_limit="0").world
    start = LATEST - timedelta(days=364)
    codes = ([world.country.code] + [p.code for p in world.provinces.values()]
             + [c.code for c in world.cities])
    t = time.perf_counter()
    for code in codes:
        for keyword in world.keywords:
            world.devices(keyword, code, start, LATEST)
    return time.perf_counter() - t, len(world.keywords)


def main() -> None:
    timed = [one_run() for _ in range(3)]
    runs = [seconds for seconds, _ in timed]
    print(f"a year of {timed[0][1]} keywords "
          f"for the nation, every province and every city: "
          f"{', '.join(f'{r:.1f}' for r in runs)} s; median {statistics.median(runs):.1f} s")


if __name__ == "__main__":
    main()
