"""How often the simulated world falls under Baidu's reporting floor, by dimension: the figures the
emulator's volumes are calibrated against (README, "The reporting floor").

    python bench/floor.py                 # city-days of 2017 and of the latest full year
    python bench/floor.py --provinces     # also province-weeks 2011-2023 (the study's measure)

The study (research note 2026 §1, from public province data 2011-2023): no daily value under 57;
16-54% of province-weeks blank for niche terms. A week is blank when all its days are.
Simulated data, no network.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import date, timedelta

from aicity.db.regions import default_registry
from aicity.emulator.world import World
from aicity.keywords.taxonomy import default_taxonomy

FLOOR = 57


def world(latest: date, seed: int) -> World:
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group, t.since))
    return World(default_registry(), words, seed=seed, latest=latest)


def first_dimension(w: World) -> dict[str, str]:
    return {term: cat for term, (cat, _) in w.keywords.items()}


def empty_city_days(w: World, year: int) -> dict[str, tuple[float, float]]:
    """dimension -> (share of city-days below the floor, share of cities below it all year),
    over the terms that existed that year."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    below, days, dead, cities = (defaultdict(int) for _ in range(4))
    for term, dim in first_dimension(w).items():
        born = w.first_dates.get(term)
        if born and born > start:
            continue
        for city in w.cities:
            v = w.series(term, city.code, start, end)
            hidden = int((v < FLOOR).sum())
            below[dim] += hidden
            days[dim] += len(v)
            dead[dim] += hidden == len(v)
            cities[dim] += 1
    return {d: (below[d] / days[d], dead[d] / cities[d]) for d in days}


def empty_province_weeks(w: World, first: int, last: int) -> dict[str, float]:
    """dimension -> share of Monday-Sunday province-weeks with every day below the floor."""
    start, end = date(first, 1, 1), date(last, 12, 31)
    start -= timedelta(days=start.weekday())
    blank, weeks = defaultdict(int), defaultdict(int)
    for term, dim in first_dimension(w).items():
        born = w.first_dates.get(term)
        lo = max(start, born - timedelta(days=born.weekday())) if born else start
        if lo > end:
            continue
        for province in w.provinces.values():
            v = w.series(term, province.code, lo, end)
            n = len(v) // 7 * 7
            hidden = (v[:n] < FLOOR).reshape(-1, 7).all(axis=1)
            blank[dim] += int(hidden.sum())
            weeks[dim] += len(hidden)
    return {d: blank[d] / weeks[d] for d in weeks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--year", type=int, default=date.today().year - 1)
    args = parser.parse_args()
    w = world(date(args.year, 12, 31), args.seed)
    print(f"simulated world, seed {args.seed}, floor {FLOOR}")
    for year in (2017, args.year):
        t0 = time.monotonic()
        shares = empty_city_days(w, year)
        print(f"\ncity-days below the floor, {year} ({time.monotonic() - t0:.0f} s):")
        print("  dimension      city-days  cities below all year")
        for dim, (share, dead) in shares.items():
            print(f"  {dim:<13} {share:9.1%}  {dead:9.1%}")
    if args.provinces:
        t0 = time.monotonic()
        weeks = empty_province_weeks(w, 2011, 2023)
        print(f"\nprovince-weeks blank, 2011-2023 ({time.monotonic() - t0:.0f} s); "
              f"the study: 16-54% for niche terms")
        for dim, share in weeks.items():
            print(f"  {dim:<13} {share:9.1%}")


if __name__ == "__main__":
    main()
