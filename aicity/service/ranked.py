"""Regions ranked by a dimension, group or keyword: the table `aicity rank` prints.

Plain rows and numpy arrays, no pandas (an answer in a fraction of a second from the terminal);
service.queries.rank is this table as a DataFrame, with rank intervals when asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aicity.analysis.indices import (PER_CAPITA_FLOOR, column_coverage, column_means,
                                     coverage_share, dimension_day_counts, dimension_sums,
                                     normalise_array)
from aicity.analysis.periods import Period
from aicity.analysis.rankings import DEFAULT_BANDS, rank_arrays, whole_numbers
from aicity.service.selection import (NoResults, adjusted_with_prehistory,
                                      resolve_basis_period, subjects)
from aicity.db import store
from aicity.db.regions import Region

# coverage: share of the asked keyword-days above Baidu's reporting floor behind each value
COLUMNS = ("rank", "region_code", "region", "province", "value", "tier", "coverage")


@dataclass
class RankedRegions:
    """The ranking in rank order: one array or list per column of COLUMNS (NaN or None where a
    region has no value), the period, and the adjusted values it came from (for intervals).
    `coverage` is NaN where it has no meaning (a snapshot's basis says nothing of days)."""
    period: Period
    rank: np.ndarray
    region_code: list[int]
    region: list[str]
    province: list[str | None]
    value: np.ndarray
    tier: np.ndarray
    regions: list[Region] = field(repr=False)
    coverage: np.ndarray | None = None
    pairs: list[tuple[str, int]] = field(default_factory=list, repr=False)
    adjusted: np.ndarray | None = field(default=None, repr=False)
    # keyword-days asked and below the floor behind each value, in `regions` order (None for
    # a snapshot's basis): how far the value could rise were those days just under the floor
    below_floor: np.ndarray | None = field(default=None, repr=False)
    raw_value: np.ndarray | None = field(default=None, repr=False)   # before normalising

    def rows(self) -> list[tuple]:
        """Plain values: int ranks and tiers, values and coverage rounded to 4 decimals, None for
        none."""
        coverage = self.coverage if self.coverage is not None else \
            np.full(len(self.value), np.nan)
        return [(r, c, n, p, None if np.isnan(v) else float(v), t,
                 None if np.isnan(k) else float(k))
                for r, c, n, p, v, t, k in zip(whole_numbers(self.rank), self.region_code,
                                               self.region, self.province, self.value,
                                               whole_numbers(self.tier), coverage)]


def level_regions(db, level: str | None) -> list[Region]:
    """The regions a ranking lists, in code order (legacy duplicate codes left out)."""
    return list(store.registry(db).filter(level=level))


@dataclass
class PeriodValues:
    """Per region (in the order asked): the period value and its coverage, with the
    keyword-days above the floor and asked behind it; and the (keyword, region) columns and
    daily adjusted values behind them."""
    value: np.ndarray
    days_above: np.ndarray
    days_asked: np.ndarray
    pairs: list[tuple[str, int]]
    adjusted: np.ndarray

    @property
    def coverage(self) -> np.ndarray:
        return coverage_share(self.days_above, self.days_asked)


def series_values(db, subject_ids: list[str], period: Period, regions: list[Region]
                  ) -> PeriodValues:
    """The period value per region: the mean of each keyword's seasonally adjusted days (a day
    below Baidu's floor counting 0), summed over the keywords; with the share of asked
    keyword-days above the floor."""
    codes = [int(r.code) for r in regions]
    pairs, adjusted, prehistory = adjusted_with_prehistory(db, subject_ids, period, codes)
    if not pairs:
        raise NoResults("no analysis results for this selection; run `aicity analyze`")
    above, asked = column_coverage(adjusted, prehistory)
    return PeriodValues(dimension_sums(pairs, column_means(adjusted), subject_ids, codes),
                        *dimension_day_counts(pairs, above, asked, subject_ids, codes),
                        pairs, adjusted)


def rank_values_of(values: np.ndarray, regions: list[Region], period: Period,
                   normalize: str = "raw", tiers: str = "bands",
                   coverage: np.ndarray | None = None, pairs=None, adjusted=None,
                   below_floor: np.ndarray | None = None,
                   min_population: float = PER_CAPITA_FLOOR) -> RankedRegions:
    """Rank the period values of `regions` (same order) after normalising them. A region whose
    asked days were all below the floor has value 0 and ranks last (with coverage 0). Per
    capita divides by the population of the period's year where one is known
    (db.populations) and leaves places under `min_population` residents unranked."""
    if normalize == "per-capita":
        regions = store.with_period_population(regions, period.start, period.end)
    population = np.array([np.nan if r.population is None else float(r.population)
                           for r in regions])
    base_total = float(np.nansum(values)) if normalize == "share" else None
    shown = normalise_array(values, normalize, population, base_total, min_population)
    order, ranks, tier = rank_arrays(shown, DEFAULT_BANDS, method=tiers)
    picked = [regions[i] for i in order]
    return RankedRegions(period=period, rank=ranks[order],
                         region_code=[int(r.code) for r in picked],
                         region=[r.name for r in picked], province=[r.province for r in picked],
                         value=np.round(shown[order], 4), tier=tier[order], regions=regions,
                         coverage=None if coverage is None else np.round(
                             np.asarray(coverage, dtype=float)[order], 4),
                         pairs=pairs or [], adjusted=adjusted, below_floor=below_floor,
                         raw_value=np.asarray(values, dtype=float))


def rank_regions(db, *, category=None, group=None, keyword=None, level="city", period=None,
                 normalize="raw", tiers="bands", vocabulary="all",
                 min_population: float = PER_CAPITA_FLOOR) -> RankedRegions:
    """Rank the regions of a level by the seasonally adjusted period value of a dimension,
    group or keyword. `period`: a Period, or text as --period takes it (default: the last
    full year)."""
    per = period if isinstance(period, Period) else resolve_basis_period(db, period, "series")
    subject_ids, _ = subjects(db, category, group, keyword, vocabulary)
    regions = level_regions(db, level)
    found = series_values(db, subject_ids, per, regions)
    return rank_values_of(found.value, regions, per, normalize, tiers,
                          coverage=found.coverage, pairs=found.pairs, adjusted=found.adjusted,
                          below_floor=np.asarray(found.days_asked, dtype=float)
                          - np.asarray(found.days_above, dtype=float),
                          min_population=min_population)
