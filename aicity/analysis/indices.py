"""Period values, dimension indices and their normalisations (DESIGN.md §3). Pure pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd

NORMALISATIONS = ("raw", "per-capita", "share", "score")


def period_values(adjusted: pd.DataFrame) -> pd.Series:
    """Mean of each column over the rows given (the period's days); missing stays missing.

    `adjusted` has one row per date of the period and one column per (keyword, region).
    A column with no value in the period is NaN, never 0.
    """
    return adjusted.mean(axis=0, skipna=True)


def dimension_values(values: pd.Series, members: list[str]) -> pd.Series:
    """Sum over a dimension's (or group's) keywords, per region.

    `values` is indexed by (keyword, region). A region with none of the keywords measured gets
    NaN (no data), not 0; a region with some keywords measured sums those.
    """
    if values.empty:
        return pd.Series(dtype=float, name="value")
    part = values[values.index.get_level_values(0).isin(members)]
    out = part.groupby(level=1).sum(min_count=1)
    out.index.name = "region"
    return out.rename("value")


def normalise(values: pd.Series, method: str = "raw", population: pd.Series | None = None,
              base_total: float | None = None) -> pd.Series:
    """raw; per-capita (per million residents); share (100 × value / national total of the
    base period, Tencent 赋智量 style); score (log-scaled so the top region scores 100,
    AMiner style: 100 × ln(1 + v) / ln(1 + max))."""
    if method == "raw":
        return values
    if method == "per-capita":
        if population is None:
            raise ValueError("per-capita needs populations")
        pop = population.reindex(values.index).astype(float)
        return values / pop.where(pop > 0) * 1e6
    if method == "share":
        total = values.sum() if base_total is None else base_total
        return values * 100.0 / total if total else values * np.nan
    if method == "score":
        top = values.max()
        if not np.isfinite(top) or top <= 0:
            return values * 0.0
        return 100.0 * np.log1p(values.clip(lower=0)) / np.log1p(top)
    raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {method!r}")
