"""Regions ranked by a dimension, group or keyword: the table `aicity rank` prints.

Plain rows and numpy arrays, no pandas (an answer in a fraction of a second from the terminal);
analysis.queries.rank is this table as a DataFrame, with rank intervals when asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aicity.analysis.indices import column_means, dimension_sums, normalise_array
from aicity.analysis.periods import Period
from aicity.analysis.rankings import DEFAULT_BANDS, rank_arrays, whole_numbers
from aicity.analysis.selection import NoResults, adjusted_array, resolve_basis_period, subjects
from aicity.db import store
from aicity.db.regions import Region

COLUMNS = ("rank", "region_code", "region", "province", "value", "tier")


@dataclass
class RankedRegions:
    """The ranking in rank order: one array or list per column of COLUMNS (NaN or None where a
    region has no value), the period, and the adjusted values it came from (for intervals)."""
    period: Period
    rank: np.ndarray
    region_code: list[int]
    region: list[str]
    province: list[str | None]
    value: np.ndarray
    tier: np.ndarray
    regions: list[Region] = field(repr=False)
    pairs: list[tuple[str, int]] = field(default_factory=list, repr=False)
    adjusted: np.ndarray | None = field(default=None, repr=False)

    def rows(self) -> list[tuple]:
        """Plain values: int ranks and tiers, values rounded to 4 decimals, None for none."""
        return [(r, c, n, p, None if np.isnan(v) else float(v), t)
                for r, c, n, p, v, t in zip(whole_numbers(self.rank), self.region_code,
                                            self.region, self.province, self.value,
                                            whole_numbers(self.tier))]


def level_regions(db, level: str | None) -> list[Region]:
    """The regions a ranking lists, in code order (legacy duplicate codes left out)."""
    return list(store.registry(db).filter(level=level))


def series_values(db, subject_ids: list[str], period: Period, regions: list[Region]
                  ) -> tuple[np.ndarray, list[tuple[str, int]], np.ndarray]:
    """The period value per region (the mean of each keyword's seasonally adjusted days, summed
    over the keywords), with the (keyword, region) columns and the daily values behind it."""
    codes = [int(r.code) for r in regions]
    pairs, adjusted = adjusted_array(db, subject_ids, period, codes)
    if not pairs:
        raise NoResults("no analysis results for this selection; run `aicity analyze`")
    return dimension_sums(pairs, column_means(adjusted), subject_ids, codes), pairs, adjusted


def rank_values_of(values: np.ndarray, regions: list[Region], period: Period,
                   normalize: str = "raw", tiers: str = "bands") -> RankedRegions:
    """Rank the period values of `regions` (same order) after normalising them."""
    population = np.array([np.nan if r.population is None else float(r.population)
                           for r in regions])
    base_total = float(np.nansum(values)) if normalize == "share" else None
    shown = normalise_array(values, normalize, population, base_total)
    order, ranks, tier = rank_arrays(shown, DEFAULT_BANDS, method=tiers)
    picked = [regions[i] for i in order]
    return RankedRegions(period=period, rank=ranks[order],
                         region_code=[int(r.code) for r in picked],
                         region=[r.name for r in picked], province=[r.province for r in picked],
                         value=np.round(shown[order], 4), tier=tier[order], regions=regions)


def rank_regions(db, *, category=None, group=None, keyword=None, level="city", period=None,
                 normalize="raw", tiers="bands") -> RankedRegions:
    """Rank the regions of a level by the seasonally adjusted period value of a dimension,
    group or keyword. `period`: a Period, or text as --period takes it (default: the last
    full year)."""
    per = period if isinstance(period, Period) else resolve_basis_period(db, period, "series")
    subject_ids, _ = subjects(db, category, group, keyword)
    regions = level_regions(db, level)
    values, pairs, adjusted = series_values(db, subject_ids, per, regions)
    out = rank_values_of(values, regions, per, normalize, tiers)
    out.pairs, out.adjusted = pairs, adjusted
    return out
