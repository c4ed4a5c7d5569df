"""Rank uncertainty by a block bootstrap over weeks (docs/definitions.md)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from aicity.analysis.rankings import DEFAULT_BANDS

# Baidu's reporting floor for a city series (research note 2026 §1): a day it sends empty had
# somewhere between 0 and this many searches.
REPORTING_FLOOR = 57.0


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
    return combined_rank_intervals({"value": weekly}, lambda layers: layers["value"],
                                   n_boot=n_boot, level=level, seed=seed, bands=bands)


def combined_rank_intervals(weekly: dict[str, pd.DataFrame], combine, n_boot: int = 500,
                            level: float = 0.9, seed: int = 0,
                            bands: tuple[int, ...] = DEFAULT_BANDS) -> pd.DataFrame:
    """rank_intervals of an index combined from several weekly frames (the same weeks and
    regions in each, e.g. the three cognition layers): each replicate draws weeks once for all
    of them, takes every frame's means over the drawn weeks, and ranks `combine` of those
    (a function from {name: array of replicates × regions} to such an array)."""
    names = list(weekly)
    first = weekly[names[0]]
    arrays = {k: weekly[k].reindex(index=first.index, columns=first.columns).to_numpy(float)
              for k in names}
    n_weeks, n_regions = first.shape
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # regions with no data: NaN, expected
        point = combine({k: (np.nanmean(w, axis=0) if n_weeks else np.full(n_regions, np.nan)
                             )[None, :] for k, w in arrays.items()})[0]
    edges = np.array(bands)
    valid = ~np.isnan(point)
    out = pd.DataFrame(index=first.columns, data={"rank_low": pd.NA, "rank_high": pd.NA,
                                                  "tier_confidence": np.nan})
    if n_weeks == 0 or not valid.any():
        return out
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_weeks, size=(n_boot, n_weeks))
    means = {}
    for k, w in arrays.items():
        sums = np.zeros((n_boot, n_regions))
        counts = np.zeros((n_boot, n_regions))
        filled = np.nan_to_num(w)
        present = (~np.isnan(w)).astype(float)
        for b in range(n_boot):
            sums[b] = filled[draws[b]].sum(axis=0)
            counts[b] = present[draws[b]].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[k] = sums / counts
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = combine(means)
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
    out.loc[first.columns[valid], "rank_low"] = low.astype(int)
    out.loc[first.columns[valid], "rank_high"] = high.astype(int)
    out.loc[first.columns[valid], "tier_confidence"] = confidence[valid]
    out["rank_low"] = out["rank_low"].astype("Int64")
    out["rank_high"] = out["rank_high"].astype("Int64")
    return out


def floor_rank_bounds(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best and worst rank each region could have when its true value may lie anywhere in
    [low, high] (NaN: unranked). A day below Baidu's floor counts 0 in a value, but its real
    searches were anywhere from 0 to the floor: for a sparse city that range, not the noise of
    its reported days, is most of what is unknown. Best: 1 + the regions certainly above it;
    worst: 1 + the regions that may be above it."""
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    ok = ~np.isnan(low) & ~np.isnan(high)
    best = np.full(len(low), np.nan)
    worst = np.full(len(low), np.nan)
    lo, hi = low[ok], high[ok]
    above_for_sure = (lo[None, :] > hi[:, None]).sum(axis=1)
    maybe_above = (hi[None, :] > lo[:, None]).sum(axis=1) - (hi > lo)   # not itself
    best[ok] = 1 + above_for_sure
    worst[ok] = 1 + maybe_above
    return best, worst


def widen_for_floor(intervals: pd.DataFrame, value: pd.Series, below_floor_per_day: pd.Series,
                    scale: pd.Series | None = None, floor: float = REPORTING_FLOOR
                    ) -> pd.DataFrame:
    """rank_low/rank_high (indexed by region) widened to the floor bounds: a region's value
    could be up to `floor` × its below-floor keyword-days per day higher (times `scale`, the
    normalisation's factor per region, e.g. per million residents)."""
    gap = below_floor_per_day.reindex(value.index).fillna(0.0) * floor
    if scale is not None:
        gap = gap * scale.reindex(value.index)
    best, worst = floor_rank_bounds(value.to_numpy(float), (value + gap).to_numpy(float))
    out = intervals.copy()
    bounds = pd.DataFrame({"best": best, "worst": worst}, index=value.index)
    bounds = bounds.reindex(out.index)
    has = out["rank_low"].notna() & bounds["best"].notna()
    out.loc[has, "rank_low"] = np.minimum(out.loc[has, "rank_low"].astype(float),
                                          bounds.loc[has, "best"]).astype(int)
    out.loc[has, "rank_high"] = np.maximum(out.loc[has, "rank_high"].astype(float),
                                           bounds.loc[has, "worst"]).astype(int)
    out["rank_low"] = out["rank_low"].astype("Int64")
    out["rank_high"] = out["rank_high"].astype("Int64")
    return out


def interval_tier_confidence(rank_low: pd.Series, rank_high: pd.Series, tier: pd.Series,
                             bootstrap: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS
                             ) -> pd.Series:
    """Tier confidence that agrees with the rank interval printed beside it: the bootstrap's
    share of draws in the tier, but never more than the share of the interval's ranks that lie
    in the tier (an interval widened for days below the floor, 3-14 beside a first-tier rank,
    said 1.0 before)."""
    edges = (0, *bands, np.inf)
    low = pd.to_numeric(rank_low, errors="coerce").astype(float)
    high = pd.to_numeric(rank_high, errors="coerce").astype(float)
    t = pd.to_numeric(tier, errors="coerce").astype(float)
    first = np.array([edges[int(k) - 1] + 1 if k == k else np.nan for k in t])
    last = np.array([edges[int(k)] if k == k else np.nan for k in t])
    inside = np.clip(np.minimum(high, last) - np.maximum(low, first) + 1, 0, None)
    share = pd.Series(inside / (high - low + 1), index=rank_low.index)
    return np.minimum(pd.to_numeric(bootstrap, errors="coerce").astype(float), share)


def leave_one_out_ranks(per_keyword: pd.DataFrame, scale: pd.Series | None = None,
                        combine=None) -> pd.DataFrame:
    """The ranking's sensitivity to the vocabulary: each keyword left out in turn, the regions
    ranked again; per region the best and worst rank over those rankings and the full one
    (`vocabulary_rank_low`, `vocabulary_rank_high`). The week bootstrap cannot see this: it
    resamples time, not the choice of terms.

    `per_keyword`: rows = regions, columns = keywords (or (layer, keyword) pairs for a
    combined index), each the keyword's period value (NaN: not measured). A region's value is
    the sum of its measured keywords; `scale` multiplies it per region (per capita); `combine`
    turns {layer: Series of sums} into the index when the columns are (layer, keyword).
    One keyword alone has no interval (NaN)."""
    frame = per_keyword.astype(float)
    out = pd.DataFrame(index=frame.index, data={"vocabulary_rank_low": pd.NA,
                                                "vocabulary_rank_high": pd.NA})
    if frame.shape[1] < 2:
        return out.astype("Int64")
    # Arrays, not a copied frame a keyword: the loop ran pandas a hundred times a ranking, a
    # second of every export. A keyword left out counts 0 where it was measured, so a region
    # measured only on it keeps a value (0), as it would with the keyword in the list.
    values = frame.to_numpy()
    measured = ~np.isnan(values)
    # The sums in the order pandas took them, so that a near-tie breaks as it did: keyword by
    # keyword, and with a keyword left out, those before it and those after it apart.
    by_keyword = np.ascontiguousarray(np.where(measured, values, 0.0).T)
    layer_of = (frame.columns.get_level_values(0) if combine is not None
                else np.zeros(frame.shape[1], dtype=int))
    layers = {layer: np.flatnonzero(layer_of == layer) for layer in dict.fromkeys(layer_of)}
    any_measured = {layer: measured[:, cols].any(axis=1) for layer, cols in layers.items()}

    def layer_sum(layer, left_out=None) -> np.ndarray:
        cols = layers[layer]
        if left_out is None:
            total = by_keyword[cols].sum(axis=0)
        else:
            total = (by_keyword[cols[cols < left_out]].sum(axis=0)
                     + by_keyword[cols[cols > left_out]].sum(axis=0))
        return np.where(any_measured[layer], total, np.nan)

    def value_of(left_out=None) -> pd.Series:
        sums = {layer: layer_sum(layer, left_out if left_out in layers[layer] else None)
                for layer in layers}
        if combine is None:
            v = pd.Series(next(iter(sums.values())), index=frame.index)
        else:
            v = combine({layer: pd.Series(s, index=frame.index) for layer, s in sums.items()})
        return v if scale is None else v * scale.reindex(v.index)

    full = value_of()
    columns = [full] + [value_of(k).where(full.notna()) for k in range(frame.shape[1])]
    table = pd.concat(columns, axis=1, ignore_index=True).rank(ascending=False, method="min")
    out["vocabulary_rank_low"] = table.min(axis=1).astype("Int64")
    out["vocabulary_rank_high"] = table.max(axis=1).astype("Int64")
    return out
