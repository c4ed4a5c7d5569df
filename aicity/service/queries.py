"""Questions analysts ask of the stored results: rankings, north/south splits, technology demand
types, industry profiles, movers, components and anomalies.

Each reads the seasonally adjusted arrays (or a regional-distribution snapshot) through
db.results and db.store and answers with the pure functions of the other analysis modules.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from aicity.analysis.demand import GROUPS as TECH_GROUPS
from aicity.analysis.demand import demand_types as _demand_types
from aicity.analysis.growth import growth_table, tier_movement
from aicity.analysis.growth import movers as _movers
from aicity.analysis.indices import PER_CAPITA_FLOOR, coverage_share, dimension_values
from aicity.analysis.industry import INDUSTRIES, MIN_COVERAGE, industry_profiles
from aicity.analysis.periods import Period
from aicity.analysis.rankings import whole_numbers
from aicity.service.ranked import (level_regions, rank_regions, rank_values_of,
                                    series_values)
from aicity.service.selection import (BASES, NoResults, adjusted_array,  # noqa: F401
                                       data_span, days_with_data, distribution_period,
                                       added_after_2017, born_after, group_id,
                                       latest_day, period_note,
                                       resolve_basis_period, resolve_period, year_on_year_gap)
from aicity.service.selection import subjects as _subjects
from aicity.analysis.splits import LINES, north_south
from aicity.analysis.uncertainty import rank_intervals
from aicity.db import results, store
from aicity.vocabulary import COGNITION
from aicity.vocabulary import COMBINED_COGNITION as COMBINED
from aicity.vocabulary import COMBINED_NOTE


# --- reading results -------------------------------------------------------------------------

def adjusted_matrix(db, subjects: list[str], period: Period, regions: list[int] | None = None,
                    device: str = "all") -> pd.DataFrame:
    """selection.adjusted_array as a frame: rows = days, columns = (subject, region)."""
    return _matrix_frame(*adjusted_array(db, subjects, period, regions, device), period)


def _matrix_frame(pairs: list[tuple[str, int]], adjusted: np.ndarray, period: Period
                  ) -> pd.DataFrame:
    index = pd.date_range(period.start, period.end, freq="D")
    if not pairs:
        return pd.DataFrame(index=index)
    return pd.DataFrame(adjusted, index=index,
                        columns=pd.MultiIndex.from_tuples(pairs, names=["subject", "region"]))


def _region_frame(db, level: str | None) -> pd.DataFrame:
    reg = store.regions_frame(store.registry(db), level=level)
    return reg.set_index("code")


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
    rows = rows[rows["keyword_id"].isin(complete)]
    # A province's answer lists its cities with searches above Baidu's floor; one it leaves out
    # (or gives as empty) is below the floor: 0, as on the series basis.
    reg = store.registry(db)
    asked_provinces = {reg.by_code[int(a)].name for a in rows["area"].unique()
                       if int(a) in reg.by_code}
    listed = {(int(k), int(r)): v for k, r, v in zip(rows["keyword_id"], rows["region"],
                                                     pd.to_numeric(rows["value"],
                                                                   errors="coerce"))}
    pairs = [(k, code) for k in sorted({int(k) for k in complete}) for code in regions
             if (k, code) in listed or (code in reg.by_code and reg.by_code[code].level == "city"
                                        and reg.by_code[code].province in asked_provinces)]
    index = pd.MultiIndex.from_arrays([[f"k:{k}" for k, _ in pairs], [c for _, c in pairs]],
                                      names=["keyword", "region"])
    values = [listed.get(p_, 0.0) for p_ in pairs]
    return pd.Series(np.nan_to_num(np.array(values, dtype=float), nan=0.0), index=index)


def snapshot_keywords(db, period: Period) -> tuple[int, int]:
    """(keywords the snapshot has for every province it asked, keywords of the taxonomy)."""
    ids = results.taxonomy_keyword_ids(db)
    values = distribution_values(db, [f"k:{i}" for i in ids], period,
                                 list(_region_frame(db, None).index))
    return values.index.get_level_values(0).nunique(), len(ids)


def dimension_series(db, *, category=None, group=None, keyword=None, period: Period,
                     level: str = "city", basis: str = "series", vocabulary: str = "all",
                     born_by=None) -> tuple[pd.Series, pd.DataFrame]:
    """Period value per region of the level, and the adjusted matrix it came from (empty for
    the distribution basis: a snapshot is one mean per region, not a series). The values'
    attrs['coverage'] is the share of asked keyword-days above Baidu's floor, per region (for
    a snapshot, which has no days: 1 where the region was reported, 0 where it was not)."""
    subjects, _ = _subjects(db, category, group, keyword, vocabulary, born_by)
    if basis == "distribution":
        regions = _region_frame(db, level)
        values = distribution_values(db, subjects, period, list(regions.index))
        if values.empty:
            raise NoResults("no snapshot value for this selection; run "
                            "`aicity collect --what snapshot`")
        dims = dimension_values(values, subjects).reindex(regions.index)
        dims.attrs["coverage"] = (dims > 0).astype(float).where(dims.notna())
        return dims, pd.DataFrame()
    regions = level_regions(db, level)
    found = series_values(db, subjects, period, regions)
    index = pd.Index([r.code for r in regions], name="code")
    dims = pd.Series(found.value, index=index, name="value")
    dims.attrs["coverage"] = pd.Series(found.coverage, index=index, name="coverage")
    dims.attrs["days"] = pd.DataFrame({"above": found.days_above, "asked": found.days_asked},
                                      index=index)
    return dims, _matrix_frame(found.pairs, found.adjusted, period)


def rank(db, *, category=None, group=None, keyword=None, level="city", period=None,
         normalize="raw", uncertainty=False, tiers="bands", n_boot=500, seed=0,
         basis="series", vocabulary="all", added_share=False,
         min_population=PER_CAPITA_FLOOR) -> pd.DataFrame:
    """rank, region_code, region, province, value, tier, coverage (and rank_low, rank_high,
    tier_confidence with uncertainty; empty for the distribution basis, which has no weeks
    to resample; and added_terms_pct with `added_share`). The table of ranked.rank_regions
    (what `aicity rank` prints) as a frame."""
    out = _rank(db, category=category, group=group, keyword=keyword, level=level,
                period=period, normalize=normalize, uncertainty=uncertainty, tiers=tiers,
                n_boot=n_boot, seed=seed, basis=basis, vocabulary=vocabulary,
                min_population=min_population)
    if added_share:
        attrs = dict(out.attrs)
        share = added_terms_share(db, category=category, group=group, keyword=keyword,
                                  level=level, period=resolve_basis_period(db, period, basis),
                                  basis=basis, vocabulary=vocabulary)
        out["added_terms_pct"] = (share.reindex(out["region_code"]) * 100).round(1).to_numpy()
        out.attrs.update(attrs)
    return out


def added_terms_share(db, *, category=None, group=None, keyword=None, level="city",
                      period: Period, basis="series", vocabulary="all") -> pd.Series:
    """region -> the share (0-1) of its value that comes from terms added after the report's
    2017 vocabulary (ChatGPT, DeepSeek, …): how much of a dimension is the new vocabulary.
    The combined cognition index: the share of its three layers' summed values."""
    layers = list(COGNITION) if category == COMBINED else [category]
    total = added = None
    for layer in layers:
        every, _ = _subjects(db, layer, group, keyword, vocabulary)
        values, _ = dimension_series(db, category=layer, group=group, keyword=keyword,
                                     period=period, level=level, basis=basis,
                                     vocabulary=vocabulary)
        new = added_after_2017(db, every)
        part = values * 0.0
        if new:
            part = _values_of(db, new, period, level, basis).reindex(values.index).fillna(0.0)
        total = values if total is None else total + values
        added = part if added is None else added + part
    return added / total.where(total > 0)


def _values_of(db, subject_ids: list[str], period: Period, level: str, basis: str
               ) -> pd.Series:
    """Period value per region of the given subjects (a selection's part)."""
    regions = level_regions(db, level)
    index = pd.Index([r.code for r in regions], name="code")
    if basis == "distribution":
        values = distribution_values(db, subject_ids, period, list(index))
        return dimension_values(values, subject_ids).reindex(index) if len(values) else \
            pd.Series(0.0, index=index)
    try:
        return pd.Series(series_values(db, subject_ids, period, regions).value, index=index)
    except NoResults:               # none of them analysed: they add nothing
        return pd.Series(0.0, index=index)


def _rank(db, *, category, group, keyword, level, period, normalize, uncertainty, tiers,
          n_boot, seed, basis, vocabulary, min_population) -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    if category == COMBINED:
        return _rank_cognition(db, level, per, normalize, tiers, basis, vocabulary, group,
                               uncertainty, min_population, n_boot, seed)
    if basis == "distribution":
        values, _ = dimension_series(db, category=category, group=group, keyword=keyword,
                                     period=per, level=level, basis=basis,
                                     vocabulary=vocabulary)
        regions = level_regions(db, level)
        ranked = rank_values_of(values.to_numpy(dtype=float, na_value=np.nan), regions, per,
                                normalize, tiers,
                                coverage=values.attrs["coverage"].to_numpy(dtype=float,
                                                                           na_value=np.nan),
                                min_population=min_population)
    else:
        ranked = rank_regions(db, category=category, group=group, keyword=keyword, level=level,
                              period=per, normalize=normalize, tiers=tiers,
                              vocabulary=vocabulary, min_population=min_population)
    out = _ranked_frame(ranked)
    if uncertainty and basis == "distribution":
        for col in (*INTERVAL_COLUMNS, *VOCABULARY_COLUMNS):
            out[col] = np.nan
    elif uncertainty:
        codes = [r.code for r in ranked.regions]
        weekly = _weekly_dimension(_matrix_frame(ranked.pairs, ranked.adjusted, ranked.period),
                                   codes)
        if normalize == "per-capita":
            weekly = weekly * _per_million(ranked.regions, min_population).reindex(
                weekly.columns)
        iv = rank_intervals(weekly, n_boot=n_boot, seed=seed)
        if ranked.below_floor is not None:
            iv = _widened_for_floor(iv, ranked, normalize, min_population)
        out = out.join(iv, on="region_code")
        from aicity.analysis.uncertainty import interval_tier_confidence, leave_one_out_ranks
        out["tier_confidence"] = interval_tier_confidence(
            out["rank_low"], out["rank_high"], out["tier"], out["tier_confidence"]).round(4)
        scale = _per_million(ranked.regions, min_population) if normalize == "per-capita" \
            else None
        out = out.join(leave_one_out_ranks(_per_keyword(ranked.pairs, ranked.adjusted, codes),
                                           scale), on="region_code")
    from aicity.analysis.indices import UNITS
    out["unit"] = UNITS[normalize]
    out.attrs["period"] = ranked.period.label
    out.attrs["source"] = store.source_label(db)
    if normalize == "per-capita":
        from aicity.analysis.indices import per_capita_measure
        out.attrs["measure"] = per_capita_measure(ranked.regions, min_population)
    return out


# what --uncertainty adds: the week bootstrap's interval and tier confidence, and the
# leave-one-keyword-out interval (analysis.uncertainty)
INTERVAL_COLUMNS = ("rank_low", "rank_high", "tier_confidence")
VOCABULARY_COLUMNS = ("vocabulary_rank_low", "vocabulary_rank_high")


def _per_keyword(pairs: list[tuple[str, int]], adjusted: np.ndarray, regions: list[int]
                 ) -> pd.DataFrame:
    """Period value per region (rows) and keyword (columns), NaN where not measured."""
    from aicity.analysis.indices import column_means
    if not pairs:
        return pd.DataFrame(index=pd.Index(regions))
    means = pd.Series(column_means(adjusted),
                      index=pd.MultiIndex.from_tuples(pairs, names=["subject", "region"]))
    return means.unstack("subject").reindex(regions)


def _per_million(regions, min_population: float) -> pd.Series:
    """region code -> 1e6 / population (NaN for places under the floor or unknown)."""
    return pd.Series([1e6 / r.population if r.population and r.population >= min_population
                      else np.nan for r in regions], index=[r.code for r in regions])


def cognition_values(db, *, period: Period, level: str = "city", basis: str = "series",
                     vocabulary: str = "all") -> pd.Series:
    """The combined cognition index per region (analysis.indices.combined_cognition), its
    attrs['coverage'] the mean of the three layers' coverage and attrs['matrices'] each
    layer's adjusted matrix (empty for a snapshot)."""
    from aicity.analysis.indices import combined_cognition
    layers, coverage, matrices = {}, [], {}
    for layer in COGNITION:
        values, matrix = dimension_series(db, category=layer, period=period, level=level,
                                          basis=basis, vocabulary=vocabulary)
        layers[layer] = values
        matrices[layer] = matrix
        coverage.append(values.attrs["coverage"])
    combined = combined_cognition(layers)
    combined.attrs["coverage"] = pd.concat(coverage, axis=1).mean(axis=1)
    combined.attrs["matrices"] = matrices
    return combined


def _cognition_intervals(matrices: dict[str, pd.DataFrame], codes: list[int],
                         scale: pd.Series | None, n_boot: int, seed: int) -> pd.DataFrame:
    """The week bootstrap and the leave-one-keyword-out interval of the combined cognition
    index: weeks drawn once for the three layers, the index recombined in every draw; each
    keyword of any layer left out in turn."""
    from aicity.analysis.indices import combined_cognition, combined_cognition_arrays
    from aicity.analysis.uncertainty import combined_rank_intervals, leave_one_out_ranks
    weekly = {layer: _weekly_dimension(m, codes) for layer, m in matrices.items()}
    factor = None if scale is None else scale.reindex(codes).to_numpy(dtype=float)[None, :]

    def combine(layers):
        index = combined_cognition_arrays(layers)
        return index if factor is None else index * factor

    iv = combined_rank_intervals(weekly, combine, n_boot=n_boot, seed=seed)
    per_keyword = pd.concat(
        {layer: _per_keyword(list(m.columns), m.to_numpy(dtype=float), codes)
         for layer, m in matrices.items()}, axis=1)
    loo = leave_one_out_ranks(per_keyword, scale, combine=combined_cognition)
    return iv.join(loo)


def _rank_cognition(db, level, per, normalize, tiers, basis, vocabulary, group,
                    uncertainty, min_population=PER_CAPITA_FLOOR, n_boot=500, seed=0
                    ) -> pd.DataFrame:
    if group:
        raise NoResults("--dimension cognition (the combined index) has no groups")
    values = cognition_values(db, period=per, level=level, basis=basis, vocabulary=vocabulary)
    # regions with every layer, as the other rankings list the regions with data
    regions = [r for r in level_regions(db, level) if pd.notna(values.get(r.code))]
    codes = [r.code for r in regions]
    ranked = rank_values_of(values.reindex(codes).to_numpy(dtype=float, na_value=np.nan),
                            regions, per, normalize, tiers,
                            coverage=values.attrs["coverage"].reindex(codes).to_numpy(
                                dtype=float, na_value=np.nan), min_population=min_population)
    out = _ranked_frame(ranked)
    if uncertainty and basis == "distribution":
        for col in (*INTERVAL_COLUMNS, *VOCABULARY_COLUMNS):
            out[col] = np.nan
    elif uncertainty:
        scale = _per_million(ranked.regions, min_population) if normalize == "per-capita" \
            else None
        iv = _cognition_intervals(values.attrs["matrices"], codes, scale, n_boot, seed)
        out = out.join(iv, on="region_code")
        from aicity.analysis.uncertainty import interval_tier_confidence
        out["tier_confidence"] = interval_tier_confidence(
            out["rank_low"], out["rank_high"], out["tier"], out["tier_confidence"]).round(4)
    from aicity.analysis.indices import UNITS
    out["unit"] = ("cognition index (1 = the regions' mean on every layer)"
                   if normalize == "raw" else UNITS[normalize] + " of the cognition index")
    out.attrs["period"] = per.label
    out.attrs["source"] = store.source_label(db)
    out.attrs["measure"] = COMBINED_NOTE
    if normalize == "per-capita":
        from aicity.analysis.indices import per_capita_measure
        out.attrs["measure"] += "; " + per_capita_measure(ranked.regions, min_population)
    return out


def within_area(out: pd.DataFrame, keep: set[int] | None) -> pd.DataFrame:
    """A ranking cut to the regions of `--province`/`--cluster` (selection.area_codes), each
    keeping its national rank and gaining `rank_in_area`, its place among them."""
    if keep is None:
        return out
    attrs = dict(out.attrs)
    out = out[out["region_code"].isin(keep)].reset_index(drop=True)
    placed = out["rank"].notna()
    out["rank_in_area"] = placed.cumsum().where(placed).astype("Int64")
    out.attrs.update(attrs)
    return out


def _ranked_frame(ranked) -> pd.DataFrame:
    """rank, region_code, region, province, value, tier, coverage of a RankedRegions."""
    return pd.DataFrame({"rank": pd.array(whole_numbers(ranked.rank), dtype="Int64"),
                         "region_code": np.array(ranked.region_code, dtype=np.int64),
                         "region": ranked.region, "province": ranked.province,
                         "value": ranked.value,
                         "tier": pd.array(whole_numbers(ranked.tier), dtype="Int64"),
                         "coverage": ranked.coverage})


def _widened_for_floor(iv: pd.DataFrame, ranked, normalize: str,
                      min_population: float = PER_CAPITA_FLOOR) -> pd.DataFrame:
    """Rank intervals that also admit every value a region's below-floor days allow (see
    uncertainty.widen_for_floor). Share and score keep the raw values' order, so the bounds
    are taken on the raw values; per capita divides each region's by its population."""
    from aicity.analysis.uncertainty import widen_for_floor
    codes = [r.code for r in ranked.regions]
    raw = pd.Series(ranked.raw_value, index=codes)
    per_day = pd.Series(ranked.below_floor / max(1, ranked.period.days), index=codes)
    scale = None
    if normalize == "per-capita":
        scale = _per_million(ranked.regions, min_population)
        raw = raw * scale
    return widen_for_floor(iv, raw, per_day, scale)


def _weekly_dimension(matrix: pd.DataFrame, regions: list[int]) -> pd.DataFrame:
    """Weekly means per (subject, region) summed to regions: rows = weeks, columns = regions."""
    weeks = matrix.groupby(matrix.index.to_period("W-SUN")).mean()
    summed = weeks.T.groupby(level="region").sum(min_count=1).T
    return summed.reindex(columns=regions)


def split(db, *, category=None, keyword=None, line="qinling-huaihe", period=None, level="city",
          vocabulary="all", group=None, with_sar=False) -> pd.DataFrame:
    """North vs south on one line, or on both side by side (`line` "both", four rows); the
    `line` column says which. 香港 and 澳门 are left out unless `with_sar` (Baidu's coverage
    there is not the mainland's)."""
    lines = list(LINES) if line == "both" else [line]
    if any(x not in LINES for x in lines):
        raise ValueError(f"line must be one of {', '.join(LINES)} or both")
    per = resolve_period(db, period)
    values, _ = dimension_series(db, category=category, group=group, keyword=keyword,
                                 period=per, level=level, vocabulary=vocabulary)
    regions = _region_frame(db, level)
    kept = values.dropna()
    if not with_sar:
        kept = kept[~kept.index.isin(regions.index[_special_administrative(regions)])]
    parts = []
    for name in lines:
        out = north_south(kept, regions[LINES[name]])
        side_of = regions[LINES[name]].reindex(kept.index)
        days = values.attrs["days"].reindex(kept.index).groupby(side_of).sum()
        days = days.reindex(out["side"])
        out["coverage"] = np.round(coverage_share(days["above"].to_numpy(),
                                                  days["asked"].to_numpy()), 4)
        out["line"] = name
        parts.append(out)
    out = pd.concat(parts, ignore_index=True)
    out.attrs["period"] = per.label
    out.attrs["source"] = store.source_label(db)
    from aicity.analysis.splits import NO_TEST
    out.attrs["note"] = NO_TEST + ("" if with_sar else
                                   "; 香港 and 澳门 left out (--with-sar brings them in)")
    return out


def _special_administrative(regions: pd.DataFrame) -> np.ndarray:
    """香港 and 澳门 (and their cities), by their adcodes (81xxxx, 82xxxx)."""
    adcode = regions["adcode"].fillna("").astype(str)
    return adcode.str.startswith(("81", "82")).to_numpy()


def _group_frame(db, category: str, groups: Iterable[str], period: Period, level: str,
                 basis: str = "series", vocabulary: str = "all") -> pd.DataFrame:
    """One column per group; a group without data is an empty column (the others still
    answer), and only when no group has data is there nothing to say."""
    columns, missing, above, asked = {}, [], [], []
    for g in groups:
        try:
            columns[g] = dimension_series(db, category=category, group=g, period=period,
                                          level=level, basis=basis, vocabulary=vocabulary)[0]
        except NoResults:
            missing.append(g)
            continue
        days = columns[g].attrs.get("days")
        if days is not None:
            above.append(days["above"])
            asked.append(days["asked"])
    if not columns:
        raise NoResults(f"no analysis results for {category}; run `aicity analyze`")
    index = next(iter(columns.values())).index
    frame = pd.DataFrame({g: columns.get(g, pd.Series(np.nan, index=index)) for g in groups})
    frame.attrs["groups_without_data"] = missing
    if asked:
        # the dimension's coverage over all its groups: keyword-days above the floor / asked
        total = sum(a.astype(float) for a in asked)
        frame.attrs["coverage"] = (sum(a.astype(float) for a in above)
                                   / total.where(total > 0))
    return frame


def _with_names(frame: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """region_code and region name as the first columns of a frame indexed by region code."""
    frame = frame.copy()
    frame.insert(0, "region", regions.loc[frame.index, "name"].to_numpy())
    frame.insert(0, "region_code", frame.index)
    return frame


def demand_types(db, *, period=None, top=15, threshold=None, level="city", basis="series",
                 vocabulary="all", rule="absolute") -> pd.DataFrame:
    """Demand types of the top regions; the `rule` column says which driver rule made them
    (analysis.demand.rule_text says it in words, in `attrs["rule"]`)."""
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "application", TECH_GROUPS, per, level, basis, vocabulary)
    typed = _demand_types(groups, top=top, threshold=threshold, rule=rule)
    out = _with_names(typed, _region_frame(db, level))
    out["rule"] = rule
    out = out[["region_code", "region", "total", *TECH_GROUPS, "type", "drivers", "rule"]]
    out.attrs["rule"] = typed.attrs["rule"]
    out.attrs["period"] = per.label
    out.attrs["source"] = store.source_label(db)
    return out.reset_index(drop=True)


def industries(db, *, period=None, lq_threshold=1.2, top=10, level="city", basis="series",
               vocabulary="all") -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "industry", INDUSTRIES, per, level, basis, vocabulary)
    coverage = groups.attrs.get("coverage")     # none for a snapshot: every region counts
    out = _with_names(industry_profiles(groups, lq_threshold=lq_threshold, top=top,
                                        coverage=coverage), _region_frame(db, level))
    # one language a column (it said 全需求 beside specialised): export translates
    out["label"] = np.where(out["full_demand"], "full demand",
                            np.where(~out["dense"], "too sparse to say",
                                     np.where(out["specialisations"] != "", "specialised", "")))
    out = out.drop(columns=["dense"])
    out.attrs["period"] = per.label
    out.attrs["source"] = store.source_label(db)
    return out.reset_index(drop=True)


def complete_columns(matrix: pd.DataFrame) -> pd.Series:
    """Per (subject, region) column of an adjusted matrix: asked on every day of its rows
    (a weekly column: every week, from the first to the last)."""
    arr = matrix.to_numpy(dtype=float)
    n = arr.shape[0]
    out = []
    for j in range(arr.shape[1]):
        at = np.flatnonzero(~np.isnan(arr[:, j]))
        if len(at) == n:
            out.append(True)
        elif len(at) > 1 and (np.diff(at) == 7).all():
            out.append(bool(at[0] < 7 and at[-1] >= n - 7))
        else:
            out.append(False)
    return pd.Series(out, index=matrix.columns, dtype=bool)


def like_with_like(now: pd.DataFrame, before: pd.DataFrame, regions) -> pd.Series:
    """region -> whether a year-on-year change compares like with like: every keyword the
    region has in either period was asked on every day of both (a region first asked halfway
    through the year before would be compared with half a year)."""
    full_now, full_before = complete_columns(now), complete_columns(before)
    columns = full_now.index.union(full_before.index)
    both = (full_now.reindex(columns, fill_value=False).astype(bool)
            & full_before.reindex(columns, fill_value=False).astype(bool))
    # per region: it has columns, and every one is complete in both periods
    per_region = both.groupby(level=1).all() if len(columns) else pd.Series(dtype=bool)
    return per_region.reindex(list(regions), fill_value=False).astype(bool)


class YearOnYear(NamedTuple):
    now: pd.Series          # this period's value per region (the compared vocabulary)
    before: pd.Series       # the same days a year earlier, NaN where not like with like
    note: str               # why changes are empty ('' when none is)
    terms_note: str         # which terms were left out of the comparison ('' when none)


AGAINST = ("auto", "year", "previous")


def earlier_period(period: Period, against: str) -> Period:
    """The period a change is measured against: the same days a year earlier (同比), or the
    period of the same length just before (环比)."""
    if against == "year":
        return period.shifted_years(-1)
    if against == "previous":
        end = period.start - timedelta(days=1)
        start = end - timedelta(days=period.days - 1)
        return Period(start, end, f"{start}..{end}")
    raise ValueError(f"against must be year or previous, not {against!r}")


def comparison_gap(db, period: Period, against: str) -> str:
    """Why a change against the earlier period cannot be given ('' when it can): both must lie
    wholly within the data."""
    if against == "year":
        return year_on_year_gap(db, period)
    span = data_span(db)
    if span is None:
        return "no data"
    earlier = earlier_period(period, against)
    if earlier.start < span[0]:
        return (f"the previous period {earlier.start}..{earlier.end} is not wholly in the data "
                f"(it starts {span[0]})")
    if period.end > span[1]:
        return f"{period.start}..{period.end} is not wholly in the data (it ends {span[1]})"
    return ""


def resolve_against(db, period: Period, against: str) -> tuple[str, str]:
    """The comparison to make and a note when `auto` fell back from a year earlier to the
    previous period."""
    if against not in AGAINST:
        raise ValueError(f"against must be one of {', '.join(AGAINST)}, not {against!r}")
    if against != "auto":
        return against, ""
    gap = year_on_year_gap(db, period)
    if not gap:
        return "year", ""
    earlier = earlier_period(period, "previous")
    return "previous", (f"a year earlier is not in the data ({gap}): compared with the "
                        f"previous period {earlier.start}..{earlier.end} (period-over-period)")


def year_on_year(db, *, category=None, group=None, keyword=None, period: Period,
                 level: str = "city", vocabulary: str = "all", new_terms: bool = False,
                 against: str = "year") -> YearOnYear:
    """This period's value per region and the previous year's where it compares like with
    like (NaN elsewhere), with what was left out and why.

    Like with like in two ways: a region's keywords were asked on every day of both periods
    (like_with_like), and a dimension sums only the terms that existed when the earlier period
    began (a term born in between would count its birth as growth: ChatGPT, DeepSeek);
    `new_terms` keeps them. `against` 'previous' compares with the period just before
    (period-over-period, 环比) instead of a year earlier."""
    gap = comparison_gap(db, period, against)
    prev = earlier_period(period, against)
    what = "year-on-year" if against == "year" else "period-over-period"
    born_by, late = None, {}
    if not gap and not keyword and not new_terms:
        born_by = prev.start
        every, _ = _subjects(db, category, group, None, vocabulary)
        late = born_after(db, every, born_by)
    now, now_matrix = dimension_series(db, category=category, group=group, keyword=keyword,
                                       period=period, level=level, vocabulary=vocabulary,
                                       born_by=born_by)
    terms_note = new_terms_note(late, born_by) if late else ""
    if gap:
        return YearOnYear(now, now * np.nan, gap, "")
    try:
        before, before_matrix = dimension_series(db, category=category, group=group,
                                                 keyword=keyword, period=prev, level=level,
                                                 vocabulary=vocabulary, born_by=born_by)
    except NoResults:
        return YearOnYear(now, now * np.nan, f"no analysis results for {prev.start}..{prev.end}",
                          terms_note)
    fair = like_with_like(now_matrix, before_matrix, now.index)
    before = before.reindex(now.index).where(fair.reindex(now.index, fill_value=False))
    left_out = int((now.notna() & ~fair.reindex(now.index, fill_value=False)).sum())
    note = ""
    if left_out:
        note = (f"{what} left empty for {left_out} region(s) whose data does not cover "
                f"both {prev.start}..{prev.end} and {period.start}..{period.end} in full")
    return YearOnYear(now, before, note, terms_note)


def new_terms_note(late: dict[str, str], born_by) -> str:
    """What a like-with-like vocabulary left out, in one clause."""
    names = list(late.values())
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (f"{len(names)} term(s) that came into being after {born_by} left out of the "
            f"comparison ({shown}): their growth would be their birth; --with-new-terms keeps "
            f"them")


def _tiers_table(db, per, level, vocabulary, category, group, keyword, new_terms,
                 now_v) -> pd.DataFrame:
    try:
        # the combined index, each layer weighing the same (the raw sum was basic cognition)
        cognition = cognition_values(db, period=per, level=level,
                                     vocabulary=vocabulary).reindex(now_v.index)
    except NoResults:          # a layer nobody collected: no cognition tier to move from
        cognition = now_v * np.nan
    # tiers are of this period alone: every term of the vocabulary counts
    current = now_v if new_terms or keyword else dimension_series(
        db, category=category, group=group, period=per, level=level, vocabulary=vocabulary)[0]
    return _tier_moves(tier_movement(cognition, current), current,
                       second=keyword or (f"{category}/{group}" if group else category))


def _tier_moves(moves: pd.DataFrame, second_values: pd.Series, second: str) -> pd.DataFrame:
    """The regions whose tier differs between cognition and the selection, saying which
    measures the two tiers are of and how many tiers each region gains (positive: a better
    tier under the selection); risers first, the biggest moves first, then by the
    selection's value (not by area code)."""
    moved = moves[moves["direction"].isin(["up", "down"])].copy()
    moved["first_measure"] = "cognition (combined index of basic, professional, technical)"
    moved["second_measure"] = second
    moved["tiers_gained"] = (-moved["move"]).astype("Int64")
    order = pd.DataFrame({"gained": moved["tiers_gained"].astype(float),
                          "value": second_values.reindex(moved.index).astype(float)})
    order["up"] = order["gained"] > 0
    order["size"] = order["gained"].abs()
    ranked = order.sort_values(["up", "size", "value"], ascending=[False, False, False],
                               kind="stable")
    return moved.reindex(ranked.index)


def movers(db, *, category=None, group=None, keyword=None, period=None, level="city", n=10,
           vocabulary="all", new_terms=False, against="auto", with_tiers=True
           ) -> dict[str, pd.DataFrame]:
    """Year-on-year growth and rank change; risers and fallers; and the tier movement between
    cognition (basic + professional + technical) and the selection (default application
    demand). Each table has at most `n` rows.

    Year-on-year compares like with like, region by region: where a region's keywords were not
    asked on every day of both the period and the same days a year earlier, its change is
    empty, and the growth tables' attrs['note'] says why and for how many regions. A dimension
    sums only the terms that existed through both periods unless `new_terms` (see
    year_on_year); value and rank are then those of that vocabulary.

    `against` auto compares with a year earlier when the data holds it, else with the period
    just before (attrs['against'] says which, attrs['against_note'] why). The growth table is
    sorted by the change, largest first; regions without a value are left out and counted
    (attrs['left_out']).
    """
    if not (category or keyword):
        category = "application"
    per = resolve_period(db, period)
    regions = _region_frame(db, level)
    against, against_note = resolve_against(db, per, against)
    now_v, before_v, gap, terms_note = year_on_year(
        db, category=category, group=group, keyword=keyword, period=per, level=level,
        vocabulary=vocabulary, new_terms=new_terms, against=against)
    table = growth_table(now_v, before_v)
    coverage = now_v.attrs.get("coverage")
    table["coverage"] = (coverage.reindex(table.index).round(4) if coverage is not None
                         else np.nan)
    without = int(table["value"].isna().sum())
    # the largest change first, but a change of values resting mostly on days below Baidu's
    # floor (floor noise: 4.9 -> 19.3 is +290%) after the others (as industries' MIN_COVERAGE)
    growth = table[table["value"].notna()].assign(
        _sparse=lambda f: ~(f["coverage"] >= MIN_COVERAGE)).sort_values(
        ["_sparse", "change", "rank"], ascending=[True, False, True], na_position="last",
        kind="stable").drop(columns="_sparse")
    # a region at 0 in both periods moves in rank only as others leave or join the zeros
    movable = table[(table["value"] > 0) | (table["previous"] > 0)]
    risers, fallers = _movers(movable, n or len(table))
    tiers = _tiers_table(db, per, level, vocabulary, category, group, keyword, new_terms,
                         now_v) if with_tiers else pd.DataFrame(index=now_v.index[:0])

    source = store.source_label(db)

    earlier = earlier_period(per, against)

    def named(frame, note="", terms=""):
        out = _with_names(frame.head(n) if n else frame, regions).reset_index(drop=True)
        out.attrs["period"] = per.label
        out.attrs["note"] = note
        out.attrs["terms_note"] = terms
        out.attrs["source"] = source
        out.attrs["against"] = against
        out.attrs["against_period"] = f"{earlier.start}..{earlier.end}"
        out.attrs["against_note"] = against_note
        out.attrs["left_out"] = without
        return out

    return {"growth": named(growth, gap, terms_note), "risers": named(risers, gap, terms_note),
            "fallers": named(fallers, gap, terms_note), "tiers": named(tiers)}


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
