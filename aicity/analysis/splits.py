"""North vs south on either line (docs/definitions.md)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from aicity.analysis.rankings import rank_values

LINES = {"qinling-huaihe": "qinling_huaihe", "yangtze": "yangtze"}


# Why the split carries no p-value (docs/definitions.md): its cities are the whole population,
# not a sample, and neighbouring cities move together, so a rank-sum test's independence is
# false and its p-value far too small; the figures themselves (totals, medians, top-k on both
# lines) are the finding.
NO_TEST = ("no p-value: the cities are a census of neighbours, not independent draws; compare "
           "the lines' medians and top-k counts instead")


def north_south(values: pd.Series, sides: pd.Series) -> pd.DataFrame:
    """One row per side: regions, total, share, mean, median, top10, top50, p_value (empty:
    see NO_TEST).

    `sides` maps region → 'north'/'south'. Regions without a value are left out of every figure
    (and counted nowhere).
    """
    data = pd.DataFrame({"value": values, "side": sides.reindex(values.index)}).dropna()
    ranks = rank_values(data["value"])
    total = data["value"].sum()
    p = np.nan
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
