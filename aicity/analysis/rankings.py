"""Ranks and tiers (DESIGN.md §3): descending value, ties share a rank; rank bands or natural
breaks on log values."""
from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_BANDS = (10, 30, 100)


def rank_values(values: pd.Series) -> pd.Series:
    """1 = largest; equal values share the smallest rank of their group ("min"); no value, no
    rank (NaN)."""
    return values.rank(ascending=False, method="min", na_option="keep")


def band_tiers(ranks: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS) -> pd.Series:
    """Tier 1 for ranks 1..bands[0], 2 for up to bands[1], ...; the rest one tier more."""
    edges = np.array(bands)
    out = ranks.apply(lambda r: np.nan if pd.isna(r) else int(np.searchsorted(edges, r) + 1))
    return out.astype("Int64")


def natural_breaks(values: pd.Series, k: int = 4) -> pd.Series:
    """Tiers by Jenks natural breaks on log(1 + value): 1 = the highest class.

    Fisher–Jenks by dynamic programming (exact; O(k·n²) with n regions, fine for a few hundred).
    """
    ok = values.dropna()
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if ok.empty:
        return out
    x = np.log1p(ok.clip(lower=0).to_numpy(dtype=float))
    order = np.argsort(x)
    xs = x[order]
    n = len(xs)
    k = max(1, min(k, len(np.unique(xs))))
    csum = np.concatenate([[0.0], np.cumsum(xs)])
    csq = np.concatenate([[0.0], np.cumsum(xs * xs)])

    def sse(i, j):  # items i..j-1 (vectorised over i)
        cnt = j - i
        s = csum[j] - csum[i]
        return csq[j] - csq[i] - s * s / cnt

    cost = np.full((k + 1, n + 1), np.inf)
    back = np.zeros((k + 1, n + 1), dtype=int)
    cost[0, 0] = 0.0
    for c in range(1, k + 1):
        for j in range(c, n + 1):
            i = np.arange(c - 1, j)
            total = cost[c - 1, i] + sse(i, j)
            best = int(np.argmin(total))
            cost[c, j], back[c, j] = total[best], i[best]
    classes = np.empty(n, dtype=int)
    j = n
    for c in range(k, 0, -1):
        i = back[c, j]
        classes[i:j] = c
        j = i
    tiers = k + 1 - classes  # highest class is tier 1
    result = np.empty(n, dtype=int)
    result[order] = tiers
    out.loc[ok.index] = result
    return out


def rank_table(values: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS,
               method: str = "bands", k: int = 4) -> pd.DataFrame:
    """rank, value, tier per region, sorted by rank (regions without a value last, unranked)."""
    ranks = rank_values(values)
    tiers = band_tiers(ranks, bands) if method == "bands" else natural_breaks(values, k)
    frame = pd.DataFrame({"rank": ranks.astype("Int64"), "value": values, "tier": tiers})
    return frame.sort_values(["rank", "value"], ascending=[True, False], na_position="last")
