"""Technology demand types (docs/definitions.md): which of speech, vision and deep learning drive a
city's application demand."""
from __future__ import annotations

import pandas as pd

from aicity.vocabulary import TECH_GROUPS as GROUPS

TYPE_BY_DRIVERS = {1: "single", 2: "dual", 3: "all"}


def demand_types(groups: pd.DataFrame, top: int = 15, threshold: float = 0.25) -> pd.DataFrame:
    """For the `top` regions by total application demand: each group's share, the drivers (groups
    whose share is at least `threshold`, ids sorted and joined by '+'), and the type (single,
    dual, all).

    `groups` has one row per region and the columns speech, vision, deep_learning. A share of
    exactly the threshold drives. Missing groups count as 0 for shares; regions with no
    application data at all are left out. Ties at the cut-off keep every tied region.
    """
    g = groups.reindex(columns=list(GROUPS)).astype(float)
    total = g.sum(axis=1, min_count=1)
    g, total = g[total.notna() & (total > 0)], total[total.notna() & (total > 0)]
    ranks = total.rank(ascending=False, method="min")
    keep = ranks[ranks <= top].index
    shares = g.loc[keep].fillna(0.0).div(total[keep], axis=0)
    # Round before comparing: shares computed as ratios may sit a hair under the threshold.
    drives = shares.round(12) >= threshold
    drivers = drives.apply(lambda row: "+".join(sorted(c for c in GROUPS if row[c])), axis=1)
    n = drives.sum(axis=1)
    out = pd.DataFrame({"total": total[keep], **{c: shares[c] for c in GROUPS},
                        "type": n.map(lambda k: TYPE_BY_DRIVERS.get(int(k), "none")),
                        "drivers": drivers, "rank": ranks[keep].astype(int)})
    return out.sort_values(["rank", "total"], ascending=[True, False])
