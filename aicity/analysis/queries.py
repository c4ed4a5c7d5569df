"""Questions analysts ask of the stored results: rankings, north/south splits, technology demand
types, industry profiles, movers, components and anomalies.

Each reads the seasonally adjusted arrays (or a regional-distribution snapshot) through
db.results and db.store and answers with the pure functions of the other analysis modules.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable

import numpy as np
import pandas as pd

from aicity.analysis.demand import GROUPS as TECH_GROUPS
from aicity.analysis.demand import demand_types as _demand_types
from aicity.analysis.growth import growth_table, tier_movement
from aicity.analysis.growth import movers as _movers
from aicity.analysis.indices import dimension_values, normalise
from aicity.analysis.industry import INDUSTRIES, industry_profiles
from aicity.analysis.periods import Period, last_full_year, parse_period
from aicity.analysis.rankings import DEFAULT_BANDS, rank_table
from aicity.analysis.splits import LINES, north_south
from aicity.analysis.uncertainty import rank_intervals
from aicity.db import results, store
from aicity.vocabulary import COGNITION



class NoResults(RuntimeError):
    """Nothing analysed yet for what was asked (run `aicity analyze`)."""


# --- reading results -------------------------------------------------------------------------

def adjusted_matrix(db, subjects: list[str], period: Period, regions: list[int] | None = None,
                    device: str = "all") -> pd.DataFrame:
    """Seasonally adjusted daily values in the period: rows = days, columns = (subject, region).

    Weekly series contribute their weekly value on each week's start day (so a period mean over
    such a column is the mean of the weeks that start in the period).
    """
    lo, hi = store.day_number(period.start.isoformat()), store.day_number(period.end.isoformat())
    n_days = hi - lo + 1
    tails = results.tail_adjusted(db, subjects, device)
    placed = results.adjusted_arrays(db, subjects, device, regions)
    columns = [p[0] for p in placed]
    index = pd.date_range(period.start, period.end, freq="D")
    if not columns:
        return pd.DataFrame(index=index)
    # One matrix filled in place: a quick command (`aicity rank`) reads thousands of columns,
    # and building a NaN array per column cost a third of its time.
    out = np.full((n_days, len(columns)), np.nan)
    for j, (_, first, step, values) in enumerate(placed):
        if step == 1:
            a, b = max(lo, first), min(hi, first + len(values) - 1)
            if a <= b:
                out[a - lo:b - lo + 1, j] = values[a - first:b - first + 1]
        else:
            pos = first + step * np.arange(len(values)) - lo
            ok = (pos >= 0) & (pos < n_days)
            out[pos[ok], j] = values[ok]
        for day, adj in tails.get(columns[j], ()):
            if lo <= day <= hi:
                out[day - lo, j] = np.nan if adj is None else adj
    return pd.DataFrame(out, index=index,
                        columns=pd.MultiIndex.from_tuples(columns, names=["subject", "region"]))


def group_id(category: str, group: str) -> str:
    """A group of the dimension by its id or its Chinese name (金融 is finance)."""
    from aicity.keywords.taxonomy import DIMENSIONS, LABELS_ZH
    groups = DIMENSIONS.get(category, ())
    text = group.strip()
    found = {LABELS_ZH[g]: g for g in groups}.get(text, text)
    if found not in groups:
        known = ", ".join(f"{g} ({LABELS_ZH[g]})" for g in groups)
        raise NoResults(f"{category} has no group {text!r}"
                        + (f"; its groups: {known}" if known else "; it has no groups"))
    return found


def _subjects(db, category: str | None, group: str | None, keyword: str | None
              ) -> tuple[list[str], str]:
    if keyword:
        kw_id, term = store.resolve_keyword(db, keyword)
        return [f"k:{kw_id}"], term
    if not category and group:
        raise NoResults(f"--group {group} needs --dimension (application or industry)")
    if group:
        group = group_id(category, group)
    ids = results.group_keyword_ids(db, category, group)
    if not ids:
        raise NoResults(f"no keywords in {category}{'/' + group if group else ''}")
    return [f"k:{i}" for i in ids], f"{category}{'/' + group if group else ''}"


def latest_day(db) -> date:
    """The last day analysed (recorded by analyze: scanning the components would read every
    stored array)."""
    day = results.latest_analysed_day(db)
    if day is None:
        raise NoResults("no analysis results yet; run `aicity analyze`")
    return date.fromisoformat(day)


def data_span(db) -> tuple[date, date] | None:
    """First and last day any run wrote (imports and crawls record what they touched)."""
    span = results.data_span(db)
    return (date.fromisoformat(span[0]), date.fromisoformat(span[1])) if span else None


def resolve_period(db, text: str | None) -> Period:
    """The period asked for (default: the last full year), refused when no data falls in it:
    a period outside the data would give blank rows that look like an answer."""
    per = parse_period(text) if text else last_full_year(latest_day(db))
    span = data_span(db)
    if span is None:
        raise NoResults("no data yet; run `aicity collect` or `aicity import`")
    first, last = span
    if per.end < first or per.start > last:
        full_year = last.year if last.month == 12 and last.day == 31 else last.year - 1
        suggest = str(full_year) if full_year >= first.year and date(full_year, 1, 1) >= first \
            else f"{first}..{last}"
        raise NoResults(f"no data for period {per.label} ({per.start}..{per.end}); the data "
                        f"covers {first}..{last}: try --period {suggest}")
    return per


def year_on_year_gap(db, period: Period) -> str:
    """Why a year-on-year change cannot be given for `period` ('' when it can): both the period
    and the same span a year earlier must lie wholly within the data, or a full year would be
    compared with a few weeks."""
    span = data_span(db)
    if span is None:
        return "no data"
    first, last = span
    prev = period.shifted_years(-1)
    if prev.start < first:
        had = max(0, (prev.end - max(prev.start, first)).days + 1)
        return (f"year-on-year needs {prev.start}..{prev.end} in full; the data starts "
                f"{first} ({had} of {prev.days} days)")
    if period.end > last:
        return (f"year-on-year needs {period.start}..{period.end} in full; the data ends "
                f"{last}")
    return ""


def _region_frame(db, level: str | None) -> pd.DataFrame:
    reg = store.regions_frame(store.registry(db), level=level)
    return reg.set_index("code")


BASES = ("series", "distribution")


def distribution_period(db, text: str | None = None) -> Period:
    """A regional-distribution snapshot's window: the newest, or the one `text` names."""
    windows = store.distribution_windows(db)
    if not windows:
        raise NoResults("no regional-distribution snapshot yet; run "
                        "`aicity collect --what snapshot`")
    if text is None:
        return parse_period(f"{windows[0][0]}..{windows[0][1]}")
    per = parse_period(text)
    if any((per.start.isoformat(), per.end.isoformat()) == (a, b) for a, b, _ in windows):
        return per
    raise NoResults(f"no snapshot for {per.start}..{per.end}; snapshots: "
                    + ", ".join(f"{a}..{b}" for a, b, _ in windows[:5]))


def distribution_values(db, subjects: list[str], period: Period, regions: list[int]
                        ) -> pd.Series:
    """(subject, region) -> the snapshot's period mean, for keywords answered for every
    province the snapshot asked: a keyword some provinces lack would lower only their cities."""
    asked = {(a, b): n for a, b, n in store.distribution_windows(db)}.get(
        (period.start.isoformat(), period.end.isoformat()), 0)
    rows = store.distribution_means(db, period.start.isoformat(), period.end.isoformat(),
                                    [int(s[2:]) for s in subjects if s.startswith("k:")])
    per_kw = rows.groupby("keyword_id")["area"].nunique()
    complete = per_kw[per_kw == asked].index
    rows = rows[rows["keyword_id"].isin(complete) & rows["region"].isin(regions)]
    index = pd.MultiIndex.from_arrays([("k:" + rows["keyword_id"].astype(int).astype(str)),
                                       rows["region"].astype(int)], names=["keyword", "region"])
    return pd.Series(pd.to_numeric(rows["value"], errors="coerce").astype(float).to_numpy(),
                     index=index)


def snapshot_keywords(db, period: Period) -> tuple[int, int]:
    """(keywords the snapshot has for every province it asked, keywords of the taxonomy)."""
    ids = results.taxonomy_keyword_ids(db)
    values = distribution_values(db, [f"k:{i}" for i in ids], period,
                                 list(_region_frame(db, None).index))
    return values.index.get_level_values(0).nunique(), len(ids)


def resolve_basis_period(db, text: str | None, basis: str) -> Period:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
    return distribution_period(db, text) if basis == "distribution" else \
        resolve_period(db, text)


def dimension_series(db, *, category=None, group=None, keyword=None, period: Period,
                     level: str = "city", basis: str = "series"
                     ) -> tuple[pd.Series, pd.DataFrame]:
    """Period value per region of the level, and the adjusted matrix it came from (empty for
    the distribution basis: a snapshot is one mean per region, not a series)."""
    subjects, _ = _subjects(db, category, group, keyword)
    regions = _region_frame(db, level)
    if basis == "distribution":
        values = distribution_values(db, subjects, period, list(regions.index))
        if values.empty:
            raise NoResults("no snapshot value for this selection; run "
                            "`aicity collect --what snapshot`")
        dims = dimension_values(values, subjects).reindex(regions.index)
        return dims, pd.DataFrame()
    matrix = adjusted_matrix(db, subjects, period, list(regions.index))
    if matrix.empty:
        raise NoResults("no analysis results for this selection; run `aicity analyze`")
    values = matrix.mean(axis=0)
    values.index = pd.MultiIndex.from_tuples(values.index, names=["keyword", "region"])
    dims = dimension_values(values, subjects).reindex(regions.index)
    return dims, matrix


def rank(db, *, category=None, group=None, keyword=None, level="city", period=None,
         normalize="raw", uncertainty=False, tiers="bands", n_boot=500, seed=0,
         basis="series") -> pd.DataFrame:
    """rank, region_code, region, province, value, tier (and rank_low, rank_high,
    tier_confidence with uncertainty; empty for the distribution basis, which has no weeks
    to resample)."""
    per = resolve_basis_period(db, period, basis)
    values, matrix = dimension_series(db, category=category, group=group, keyword=keyword,
                                      period=per, level=level, basis=basis)
    regions = _region_frame(db, level)
    base_total = None
    if normalize == "share":
        base_total = float(values.sum())
    shown = normalise(values, normalize, regions["population"].astype(float), base_total)
    table = rank_table(shown, DEFAULT_BANDS, method=tiers)
    out = pd.DataFrame({"rank": table["rank"], "region_code": table.index,
                        "region": regions.loc[table.index, "name"].to_numpy(),
                        "province": regions.loc[table.index, "province"].to_numpy(),
                        "value": table["value"].round(4), "tier": table["tier"]})
    if uncertainty and basis == "distribution":
        for col in ("rank_low", "rank_high", "tier_confidence"):
            out[col] = np.nan
    elif uncertainty:
        weekly = _weekly_dimension(matrix, list(regions.index))
        if normalize == "per-capita":
            weekly = weekly * (1e6 / regions["population"].astype(float)).reindex(weekly.columns)
        iv = rank_intervals(weekly, n_boot=n_boot, seed=seed)
        out = out.join(iv, on="region_code")
        out["tier_confidence"] = out["tier_confidence"].round(4)
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def _weekly_dimension(matrix: pd.DataFrame, regions: list[int]) -> pd.DataFrame:
    """Weekly means per (subject, region) summed to regions: rows = weeks, columns = regions."""
    weeks = matrix.groupby(matrix.index.to_period("W-SUN")).mean()
    summed = weeks.T.groupby(level="region").sum(min_count=1).T
    return summed.reindex(columns=regions)


def split(db, *, category=None, keyword=None, line="qinling-huaihe", period=None, level="city"
          ) -> pd.DataFrame:
    if line not in LINES:
        raise ValueError(f"line must be one of {', '.join(LINES)}")
    per = resolve_period(db, period)
    values, _ = dimension_series(db, category=category, keyword=keyword, period=per, level=level)
    regions = _region_frame(db, level)
    out = north_south(values.dropna(), regions[LINES[line]])
    out.attrs["period"] = per.label
    return out


def _group_frame(db, category: str, groups: Iterable[str], period: Period, level: str,
                 basis: str = "series") -> pd.DataFrame:
    """One column per group; a group without data is an empty column (the others still
    answer), and only when no group has data is there nothing to say."""
    columns, missing = {}, []
    for g in groups:
        try:
            columns[g] = dimension_series(db, category=category, group=g, period=period,
                                          level=level, basis=basis)[0]
        except NoResults:
            missing.append(g)
    if not columns:
        raise NoResults(f"no analysis results for {category}; run `aicity analyze`")
    index = next(iter(columns.values())).index
    frame = pd.DataFrame({g: columns.get(g, pd.Series(np.nan, index=index)) for g in groups})
    frame.attrs["groups_without_data"] = missing
    return frame


def _with_names(frame: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """region_code and region name as the first columns of a frame indexed by region code."""
    frame = frame.copy()
    frame.insert(0, "region", regions.loc[frame.index, "name"].to_numpy())
    frame.insert(0, "region_code", frame.index)
    return frame


def demand_types(db, *, period=None, top=15, threshold=0.25, level="city", basis="series"
                 ) -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "application", TECH_GROUPS, per, level, basis)
    out = _with_names(_demand_types(groups, top=top, threshold=threshold),
                      _region_frame(db, level))
    out = out[["region_code", "region", "total", *TECH_GROUPS, "type", "drivers"]]
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def industries(db, *, period=None, lq_threshold=1.2, top=10, level="city", basis="series"
               ) -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "industry", INDUSTRIES, per, level, basis)
    out = _with_names(industry_profiles(groups, lq_threshold=lq_threshold, top=top),
                      _region_frame(db, level))
    out["label"] = np.where(out["full_demand"], "全需求",
                            np.where(out["specialisations"] != "", "specialised", ""))
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def movers(db, *, category=None, group=None, keyword=None, period=None, level="city", n=10
           ) -> dict[str, pd.DataFrame]:
    """Year-on-year growth and rank change; risers and fallers; and the tier movement between
    cognition (basic + professional + technical) and the selection (default application
    demand). Each table has at most `n` rows.

    Year-on-year compares like with like: when the period a year earlier (or the period
    itself) is not wholly within the data, the growth tables' change columns are empty and
    their attrs['note'] says why.
    """
    if not (category or keyword):
        category = "application"
    per = resolve_period(db, period)
    prev = per.shifted_years(-1)
    regions = _region_frame(db, level)
    now_v, _ = dimension_series(db, category=category, group=group, keyword=keyword, period=per,
                                level=level)
    gap = year_on_year_gap(db, per)
    before_v = now_v * np.nan
    if not gap:
        try:
            before_v, _ = dimension_series(db, category=category, group=group, keyword=keyword,
                                           period=prev, level=level)
        except NoResults:
            gap = f"no analysis results for {prev.start}..{prev.end}"
    table = growth_table(now_v, before_v)
    risers, fallers = _movers(table, n or len(table))
    cognition = sum(dimension_series(db, category=c, period=per, level=level)[0].fillna(0)
                    for c in COGNITION)
    tiers = tier_movement(cognition, now_v)
    tiers = tiers[tiers["direction"].isin(["up", "down"])]
    tiers = tiers.reindex(tiers["move"].astype(float).abs().sort_values(
        ascending=False, kind="stable").index)

    def named(frame, note=""):
        out = _with_names(frame.head(n) if n else frame, regions).reset_index(drop=True)
        out.attrs["period"] = per.label
        out.attrs["note"] = note
        return out

    return {"growth": named(table, gap), "risers": named(risers, gap),
            "fallers": named(fallers, gap), "tiers": named(tiers)}


def components_for(db, keyword_id: int, region: int, device: str = "all",
                   granularity: str | None = None) -> pd.DataFrame:
    """date, trend, seasonal, resid for a stored series (provisional tail days included)."""
    frame = results.components_of(db, f"k:{keyword_id}", region, device, granularity)
    if frame is None:
        raise NoResults("no decomposition stored for this series; run `aicity analyze`")
    return frame


__all__ = ["NoResults", "adjusted_matrix", "components_for", "data_span", "demand_types",
           "dimension_series", "industries", "movers", "rank", "resolve_period", "split",
           "year_on_year_gap"]
