"""North vs south on either line (docs/definitions.md), with a rank-sum test."""
from __future__ import annotations

import numpy as np
import pandas as pd

from aicity.analysis.rankings import rank_values

LINES = {"qinling-huaihe": "qinling_huaihe", "yangtze": "yangtze"}


def north_south(values: pd.Series, sides: pd.Series) -> pd.DataFrame:
    """One row per side: regions, total, share, mean, median, top10, top50, p_value.

    `sides` maps region → 'north'/'south'. Regions without a value are left out of every figure
    (and counted nowhere). p_value is the two-sided Mann–Whitney rank-sum test of north against
    south (the same on both rows); NaN when a side has no region.
    """
    data = pd.DataFrame({"value": values, "side": sides.reindex(values.index)}).dropna()
    ranks = rank_values(data["value"])
    total = data["value"].sum()
    north = data.loc[data["side"] == "north", "value"]
    south = data.loc[data["side"] == "south", "value"]
    p = np.nan
    if len(north) and len(south):
        from scipy.stats import mannwhitneyu   # only here: scipy.stats is slow to import
        p = float(mannwhitneyu(north, south, alternative="two-sided").pvalue)
    rows = []
    for side in ("north", "south"):
        v = data.loc[data["side"] == side, "value"]
        r = ranks[v.index]
        rows.append({"side": side, "regions": int(len(v)), "total": float(v.sum()),
                     "share": float(v.sum() / total) if total else np.nan,
                     "mean": float(v.mean()) if len(v) else np.nan,
                     "median": float(v.median()) if len(v) else np.nan,
                     "top10": int((r <= 10).sum()), "top50": int((r <= 50).sum()),
                     "p_value": p})
    return pd.DataFrame(rows)
