"""Ranks and tiers (docs/definitions.md): descending value, ties share a rank; rank bands or natural
breaks on log values.

The arithmetic is on numpy arrays (`descending_ranks`, `band_tier_array`, `natural_break_array`,
`rank_arrays`), so `aicity rank` answers without loading pandas; the Series functions below are
the same arithmetic for frames.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_BANDS = (10, 30, 100)


def descending_ranks(values: np.ndarray) -> np.ndarray:
    """1 = largest; equal values share the smallest rank of their group ("min"); no value
    (NaN), no rank (NaN)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    present = np.sort(values[ok])
    # rank = 1 + how many values are strictly larger
    out[ok] = 1 + len(present) - np.searchsorted(present, values[ok], side="right")
    return out


def band_tier_array(ranks: np.ndarray, bands: tuple[int, ...] = DEFAULT_BANDS) -> np.ndarray:
    """Tier 1 for ranks 1..bands[0], 2 for up to bands[1], ...; the rest one tier more; NaN for
    no rank."""
    ranks = np.asarray(ranks, dtype=float)
    out = np.full(len(ranks), np.nan)
    ok = ~np.isnan(ranks)
    out[ok] = np.searchsorted(np.array(bands), ranks[ok]) + 1
    return out


def natural_break_array(values: np.ndarray, k: int = 4) -> np.ndarray:
    """Tiers by Jenks natural breaks on log(1 + value): 1 = the highest class; NaN for no value.

    Fisher–Jenks by dynamic programming (exact; O(k·n²) with n regions, fine for a few hundred).
    """
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if not ok.any():
        return out
    x = np.log1p(np.clip(values[ok], 0, None))
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
    tiers = np.empty(n, dtype=float)
    tiers[order] = k + 1 - classes  # highest class is tier 1
    out[ok] = tiers
    return out


def rank_arrays(values: np.ndarray, bands: tuple[int, ...] = DEFAULT_BANDS,
                method: str = "bands", k: int = 4
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, ranks, tiers): ranks and tiers per value (NaN where there is none), and the
    order that lists them by rank, regions without a value last, ties in their given order."""
    ranks = descending_ranks(values)
    tiers = band_tier_array(ranks, bands) if method == "bands" else natural_break_array(values, k)
    order = np.argsort(ranks, kind="stable")   # NaN sorts last
    return order, ranks, tiers


def whole_numbers(values: np.ndarray) -> list[int | None]:
    """Ranks or tiers as ints, None where there is none (NaN)."""
    return [None if np.isnan(v) else int(v) for v in values]


# --- the same for pandas Series ----------------------------------------------------------------

def _ints(values: np.ndarray, index=None) -> pd.Series:
    import pandas as pd
    return pd.Series(pd.array(whole_numbers(values), dtype="Int64"), index=index)


def rank_values(values: pd.Series) -> pd.Series:
    """descending_ranks of a Series (float, NaN for no value)."""
    import pandas as pd
    return pd.Series(descending_ranks(values.to_numpy(dtype=float, na_value=np.nan)),
                     index=values.index, name=values.name)


def band_tiers(ranks: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS) -> pd.Series:
    return _ints(band_tier_array(ranks.to_numpy(dtype=float, na_value=np.nan), bands),
                 ranks.index)


def natural_breaks(values: pd.Series, k: int = 4) -> pd.Series:
    return _ints(natural_break_array(values.to_numpy(dtype=float, na_value=np.nan), k),
                 values.index)


def rank_table(values: pd.Series, bands: tuple[int, ...] = DEFAULT_BANDS,
               method: str = "bands", k: int = 4) -> pd.DataFrame:
    """rank, value, tier per region, sorted by rank (regions without a value last, unranked)."""
    import pandas as pd
    order, ranks, tiers = rank_arrays(values.to_numpy(dtype=float, na_value=np.nan), bands,
                                      method, k)
    index = values.index[order]
    return pd.DataFrame({"rank": _ints(ranks[order], index),
                         "value": values.iloc[order].to_numpy(dtype=float, na_value=np.nan),
                         "tier": _ints(tiers[order], index)}, index=index)
