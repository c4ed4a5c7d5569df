"""Rank uncertainty by a block bootstrap over weeks (docs/definitions.md)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from aicity.analysis.rankings import DEFAULT_BANDS


def rank_intervals(weekly: pd.DataFrame, n_boot: int = 500, level: float = 0.9, seed: int = 0,
                   bands: tuple[int, ...] = DEFAULT_BANDS) -> pd.DataFrame:
    """Rank intervals and tier confidence from weekly blocks.

    `weekly` has one row per week of the period and one column per region, holding that week's
    mean of the region's dimension value (NaN where the region has no data that week). Each
    replicate draws weeks with replacement, the same weeks for every region (so a national news
    week moves everyone together), takes each region's mean over the drawn weeks and ranks them.
    Returns, per region, rank_low and rank_high (the central `level` interval) and
    tier_confidence: the share of replicates in which the region stays in its point-estimate tier.
    """
    w = weekly.to_numpy(dtype=float)
    n_weeks, n_regions = w.shape
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # regions with no data: NaN, expected
        point = np.nanmean(w, axis=0) if n_weeks else np.full(n_regions, np.nan)
    edges = np.array(bands)
    valid = ~np.isnan(point)
    out = pd.DataFrame(index=weekly.columns, data={"rank_low": pd.NA, "rank_high": pd.NA,
                                                   "tier_confidence": np.nan})
    if n_weeks == 0 or not valid.any():
        return out
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_weeks, size=(n_boot, n_weeks))
    sums = np.zeros((n_boot, n_regions))
    counts = np.zeros((n_boot, n_regions))
    filled = np.nan_to_num(w)
    present = (~np.isnan(w)).astype(float)
    for b in range(n_boot):
        sums[b] = filled[draws[b]].sum(axis=0)
        counts[b] = present[draws[b]].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = sums / counts
    reps[:, ~valid] = np.nan
    # Descending ranks with ties sharing the minimum rank, per replicate.
    ranks = pd.DataFrame(reps).rank(axis=1, ascending=False, method="min").to_numpy()
    alpha = (1 - level) / 2
    low = np.nanquantile(ranks[:, valid], alpha, axis=0, method="lower")
    high = np.nanquantile(ranks[:, valid], 1 - alpha, axis=0, method="higher")
    point_rank = pd.Series(point).rank(ascending=False, method="min").to_numpy()
    point_tier = np.searchsorted(edges, point_rank) + 1
    rep_tier = np.searchsorted(edges, np.nan_to_num(ranks, nan=1e9)) + 1
    confidence = (rep_tier == point_tier).mean(axis=0)
    out.loc[weekly.columns[valid], "rank_low"] = low.astype(int)
    out.loc[weekly.columns[valid], "rank_high"] = high.astype(int)
    out.loc[weekly.columns[valid], "tier_confidence"] = confidence[valid]
    out["rank_low"] = out["rank_low"].astype("Int64")
    out["rank_high"] = out["rank_high"].astype("Int64")
    return out
