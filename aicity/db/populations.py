"""Populations by year: what a per-capita value of a given period divides by.

The registry's `population` is one measure for every row of a level, the 2020 figure (census for
cities, yearbook year-end for provinces). A per-capita ranking of 2017 divided by 2020 residents
is off by the growth in between (深圳 grew about 40% from 2017 to 2020), so provinces take the
yearbook figure of the period's year from `sources/province_population_2003_2022.csv`. No
yearly city figures are packaged: cities keep the 2020 census, and their source says so when
the period is another year.
"""
from __future__ import annotations

import csv
import functools
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

from aicity.db.regions import Region, RegionError

YEARLY_CSV = Path(__file__).parent / "sources" / "province_population_2003_2022.csv"
CENSUS_YEAR = 2020      # the registry's one measure for every level


@functools.cache
def province_by_year(path: Path = YEARLY_CSV) -> dict[str, dict[int, int]]:
    """province -> year -> year-end resident population (persons); the file gives 10k persons.
    A malformed cell is refused with its file and line."""
    out: dict[str, dict[int, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        years = []
        for col in header[1:]:
            m = re.fullmatch(r"(\d{4})年", col.strip())
            if not m:
                raise RegionError(f"{path}:1: column {col!r} is not a year (such as 2020年)")
            years.append(int(m[1]))
        for line, row in enumerate(rows, start=2):
            figures = {}
            for year, cell in zip(years, row[1:]):
                if not cell.strip():
                    continue
                try:
                    figures[year] = round(float(cell) * 10_000)
                except ValueError:
                    raise RegionError(f"{path}:{line}: {row[0]} {year}: {cell!r} is not a "
                                      f"number") from None
            out[row[0].strip()] = figures
    return out


def period_year(start: date, end: date) -> int:
    """The year holding most of the period's days (the later one on a tie)."""
    best, best_days = end.year, -1
    for year in range(start.year, end.year + 1):
        days = (min(end, date(year, 12, 31)) - max(start, date(year, 1, 1))).days + 1
        if days >= best_days:
            best, best_days = year, days
    return best


def with_period_population(regions: list[Region], start: date, end: date) -> list[Region]:
    """The regions with the population of the period's year where a yearly figure exists
    (provinces: the yearbook's, the nearest year when the period lies outside 2003-2022, and
    the source says so); other regions keep the 2020 figure and say it stands for the year."""
    year = period_year(start, end)
    if year == CENSUS_YEAR:
        return regions
    table = province_by_year()
    out = []
    for r in regions:
        # the file cuts two names to two characters (黑龙, 内蒙)
        figures = table.get(r.name) or table.get(r.name[:2], {}) \
            if r.level == "province" else {}
        if figures and r.population is not None:
            used = min(max(year, min(figures)), max(figures))
            source = f"yearbook year-end {used} resident (年末常住人口)"
            if used != year:
                source += f"; the nearest year with a figure, used for {year}"
            out.append(replace(r, population=figures[used], population_year=used,
                               population_source=source))
        elif r.population is not None:
            out.append(replace(r, population_source=f"{r.population_source}; used for {year}: "
                                                    f"no yearly figure is packaged"))
        else:
            out.append(r)
    return out
