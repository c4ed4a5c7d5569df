"""Period values, dimension indices and their normalisations (docs/definitions.md).

The arithmetic is on plain arrays (`column_means`, `dimension_sums`, `normalise_array`), so
`aicity rank` answers without loading pandas; the Series functions are the same arithmetic for
frames.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from aicity.vocabulary import PER_CAPITA_FLOOR

if TYPE_CHECKING:
    import pandas as pd

NORMALISATIONS = ("raw", "per-capita", "share", "score")
# What `value` is under each normalisation: the `unit` column of a ranking says it.
UNITS = {
    "raw": "index/day",
    "per-capita": "index/day per million residents",
    "share": "% of the total of all regions",
    "score": "score 0-100 (log scale, top region = 100)",
}


def column_means(array: np.ndarray) -> np.ndarray:
    """The mean of each column over its values; NaN for a column with none (no data, not 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # an empty column: NaN, expected
        return np.nanmean(array, axis=0) if len(array) else np.full(array.shape[1], np.nan)


def column_coverage(array: np.ndarray, prehistory: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(days above Baidu's floor, days asked) of each column: a value other than 0 is above the
    floor, 0 is below it, NaN was not asked; `prehistory` days (0 before a term existed) were
    not asked either."""
    asked = (~np.isnan(array)).sum(axis=0)
    above = (~np.isnan(array) & (array != 0)).sum(axis=0)
    if prehistory is not None:
        asked = asked - prehistory
    return above, asked


def dimension_day_counts(pairs: Iterable[tuple[str, int]], above: Sequence[int],
                         asked: Sequence[int], members: Iterable[str], regions: Sequence[int]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(keyword-days above the floor, keyword-days asked) per region over a dimension's
    keywords, in the order of `regions`: coverage is their ratio, for a region or a group of
    regions (a side of a line)."""
    wanted = set(members)
    up: dict[int, int] = defaultdict(int)
    of: dict[int, int] = defaultdict(int)
    for (subject, region), a, n in zip(pairs, above, asked):
        if subject in wanted:
            up[region] += int(a)
            of[region] += int(n)
    return (np.array([up[r] for r in regions], dtype=np.int64),
            np.array([of[r] for r in regions], dtype=np.int64))


def coverage_share(above: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """above / asked, NaN where nothing was asked."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(asked > 0, above / np.where(asked > 0, asked, 1), np.nan)


def period_values(adjusted: pd.DataFrame) -> pd.Series:
    """Mean of each column over the rows given (the period's days); missing stays missing.

    `adjusted` has one row per date of the period and one column per (keyword, region): 0 on a
    day below Baidu's floor (counted, as Baidu counts it in its weekly values), NaN on a day
    not asked (left out). A column with no asked day in the period is NaN, never 0.
    """
    import pandas as pd
    return pd.Series(column_means(adjusted.to_numpy(dtype=float, na_value=np.nan)),
                     index=adjusted.columns)


def dimension_sums(pairs: Iterable[tuple[str, int]], values: Sequence[float],
                   members: Iterable[str], regions: Sequence[int]) -> np.ndarray:
    """Sum over a dimension's (or group's) keywords, per region, in the order of `regions`.

    `pairs` names each value's (keyword, region). A region with none of the keywords measured
    gets NaN (no data), not 0; a region with some keywords measured sums those (exactly
    rounded, whatever their order).
    """
    wanted = set(members)
    parts: dict[int, list[float]] = defaultdict(list)
    for (subject, region), v in zip(pairs, values):
        if subject in wanted and v == v:
            parts[region].append(float(v))
    return np.array([math.fsum(parts[r]) if r in parts else np.nan for r in regions],
                    dtype=float)


def dimension_values(values: pd.Series, members: list[str]) -> pd.Series:
    """dimension_sums of a Series indexed by (keyword, region), indexed by region."""
    import pandas as pd
    if values.empty:
        return pd.Series(dtype=float, name="value")
    pairs = list(values.index)
    wanted = set(members)
    regions = sorted({r for s_, r in pairs if s_ in wanted})
    return pd.Series(dimension_sums(pairs, values.to_numpy(dtype=float), members, regions),
                     index=pd.Index(regions, name="region"), name="value")




def normalise_array(values: np.ndarray, method: str = "raw",
                    population: np.ndarray | None = None,
                    base_total: float | None = None,
                    min_population: float = PER_CAPITA_FLOOR) -> np.ndarray:
    """raw; per-capita (per million residents; `population` in the order of `values`, NaN
    where unknown or below `min_population`); share (100 × value / national total of the base
    period, Tencent 赋智量 style); score (log-scaled so the top region scores 100, AMiner
    style: 100 × ln(1 + v) / ln(1 + max))."""
    values = np.asarray(values, dtype=float)
    if method == "raw":
        return values
    if method == "per-capita":
        if population is None:
            raise ValueError("per-capita needs populations")
        pop = np.asarray(population, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return values / np.where((pop > 0) & (pop >= min_population), pop, np.nan) * 1e6
    if method == "share":
        total = float(np.nansum(values)) if base_total is None else base_total
        return values * 100.0 / total if total else values * np.nan
    if method == "score":
        top = np.nanmax(values) if (~np.isnan(values)).any() else np.nan
        if not np.isfinite(top) or top <= 0:
            return values * 0.0
        return 100.0 * np.log1p(np.clip(values, 0, None)) / np.log1p(top)
    raise ValueError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {method!r}")


def per_capita_measure(regions, min_population: float = PER_CAPITA_FLOOR) -> str:
    """What a per-capita value divides by, named from the regions' population year and source
    (e.g. 'searches per million residents; population: 2020, census 2020 resident …'), and
    how many places the population floor leaves unranked."""
    measures = sorted({(r.population_year or 0, r.population_source) for r in regions
                       if r.population is not None})
    named = "; ".join(f"{year or 'year unknown'}, {source or 'source unknown'}"
                      for year, source in measures)
    small = sum(1 for r in regions if r.population is not None and r.population < min_population)
    floor = (f"; {small} place(s) under {min_population:,.0f} residents left unranked "
             f"(--min-population)" if small else "")
    return f"index per million residents (population: {named or 'none known'}){floor}"


def normalise(values: pd.Series, method: str = "raw", population: pd.Series | None = None,
              base_total: float | None = None, min_population: float = PER_CAPITA_FLOOR
              ) -> pd.Series:
    """normalise_array of a Series (populations aligned by region)."""
    import pandas as pd
    pop = None if population is None else \
        population.reindex(values.index).to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(normalise_array(values.to_numpy(dtype=float, na_value=np.nan), method, pop,
                                     base_total, min_population),
                     index=values.index, name=values.name)


def combined_cognition(layers: dict[str, pd.Series]) -> pd.Series:
    """The combined cognition index (docs/definitions.md): each cognition layer (basic,
    professional, technical) over its mean across the regions, then the mean of the three
    layers, so 1 is a region average on every layer and each layer weighs the same (summed
    raw, basic cognition, with the most keywords and searches, decided the order alone). A
    region missing a layer has no index."""
    import pandas as pd
    frame = pd.DataFrame(layers).astype(float)
    combined = combined_cognition_arrays({k: frame[k].to_numpy()[None, :] for k in frame})[0]
    return pd.Series(combined, index=frame.index, name="cognition")


def combined_cognition_arrays(layers: dict[str, np.ndarray]) -> np.ndarray:
    """combined_cognition of arrays shaped (replicates, regions): each row is one ranking (the
    week bootstrap draws many)."""
    scaled = []
    for values in layers.values():
        values = np.asarray(values, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a row of NaN: NaN, expected
            means = np.nanmean(values, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled.append(values / np.where(means > 0, means, np.nan))
    return np.mean(np.stack(scaled), axis=0)      # NaN where a layer is missing
