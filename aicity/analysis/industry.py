"""Industry demand profiles (docs/definitions.md): shares, location quotients, specialisations
and the full-demand (全需求) label."""
from __future__ import annotations

import pandas as pd

from aicity.vocabulary import INDUSTRIES



# A specialisation is said only where at least this share of the city's industry keyword-days
# was reported (above Baidu's floor): elsewhere shares are mostly floor noise (on the demo 333
# of 343 cities came out "specialised" with no such rule).
MIN_COVERAGE = 0.5


def industry_profiles(groups: pd.DataFrame, lq_threshold: float = 1.2, top: int = 10,
                      coverage: pd.Series | None = None, min_coverage: float = MIN_COVERAGE
                      ) -> pd.DataFrame:
    """Per region: each industry's share of its industry demand, the location quotient
    (LQ = city share / national share), specialisations (industries with LQ ≥ threshold, ids
    sorted and joined by '+'), and full_demand: ranked in the national top `top` of all six.

    `coverage` (per region, the share of its industry keyword-days above the floor): a region
    below `min_coverage` gets no specialisation and `dense` False ("too sparse to say").
    The national share is computed from all regions given (pass cities only for a city view).
    """
    g = groups.reindex(columns=list(INDUSTRIES)).astype(float)
    total = g.sum(axis=1, min_count=1)
    g = g[total.notna() & (total > 0)]
    total = total[g.index]
    shares = g.fillna(0.0).div(total, axis=0)
    national = g.fillna(0.0).sum() / g.fillna(0.0).sum().sum()
    lq = shares.div(national.where(national > 0), axis=1)
    ranks = g.rank(ascending=False, method="min")
    full = (ranks <= top).all(axis=1)
    dense = pd.Series(True, index=g.index) if coverage is None else \
        coverage.reindex(g.index).fillna(0.0) >= min_coverage
    spec = (lq.round(12) >= lq_threshold).apply(
        lambda row: "+".join(sorted(c for c in INDUSTRIES if row[c])), axis=1).where(dense, "")
    out = pd.DataFrame({"total": total})
    for c in INDUSTRIES:
        out[f"{c}_share"] = shares[c]
    for c in INDUSTRIES:
        out[f"{c}_lq"] = lq[c]
    out["specialisations"] = spec
    out["full_demand"] = full
    out["dense"] = dense
    out["rank"] = total.rank(ascending=False, method="min").astype(int)
    return out.sort_values(["rank"])
