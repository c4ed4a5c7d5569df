"""Analysis functions on small constructed frames with planted truth."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aicity.analysis.decompose import (DecomposeConfig, decompose, decompose_many,
                                       robust_anomalies)
from aicity.analysis.demand import demand_types
from aicity.analysis.growth import growth_table, movers, tier_movement
from aicity.analysis.indices import dimension_values, normalise, period_values
from aicity.analysis.industry import industry_profiles
from aicity.analysis.periods import PeriodError, parse_period
from aicity.analysis.rankings import band_tiers, natural_breaks, rank_table, rank_values
from aicity.analysis.splits import north_south
from aicity.analysis.uncertainty import rank_intervals

WEEKLY_SHAPE = np.array([10.0, 12.0, 12.0, 8.0, 4.0, -20.0, -26.0])  # sums to 0


def planted(n=364, seed=0, level=200.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + 0.1 * t + np.resize(WEEKLY_SHAPE, n) + rng.normal(0, 1.0, n)


def test_stl_recovers_a_planted_weekly_seasonality():
    dec = decompose(planted(), "day")
    assert dec.note == "ok"
    middle = dec.seasonal[140:147]  # one full week away from the ends
    assert np.allclose(middle, WEEKLY_SHAPE, atol=1.5)
    assert np.allclose(dec.adjusted[140:147], planted()[140:147] - dec.seasonal[140:147])


def test_missing_days_stay_missing_in_the_components():
    y = planted()
    y[[50, 51, 200]] = np.nan
    dec = decompose(y, "day")
    assert np.isnan(dec.resid[[50, 51, 200]]).all() and np.isnan(dec.adjusted[50])
    assert "3 days missing or below the floor interpolated" in dec.note


def test_news_spike_is_flagged_as_an_anomaly():
    y = planted()
    y[100] += 150
    plain = decompose(y, "day")
    assert plain.anomalies[100]
    assert np.nanargmax(np.abs(plain.resid)) == 100
    refit = decompose(y, "day", DecomposeConfig(refit_outliers=True))
    assert refit.anomalies[100] and refit.anomalies.sum() <= 2  # the spike, not its echoes
    assert refit.adjusted[100] > refit.adjusted[99] + 100  # searches that happened still count


@pytest.mark.parametrize("values,note", [
    (np.full(10, 5.0), "short: 10 days"),
    (np.array([np.nan] * 40 + [1.0] * 20), "sparse: 67% missing"),
    (np.array([np.nan] * 30), "no data"),
])
def test_short_or_sparse_series_degrade_and_say_so(values, note):
    dec = decompose(values, "day")
    assert dec.note.startswith(note)
    assert len(dec.trend) == len(values)


def test_weekly_series_use_a_yearly_period_or_trend_only():
    short = decompose(np.linspace(1, 50, 60), "week")
    assert short.note.startswith("short: 60 weeks, under two yearly cycles")
    assert np.all(short.seasonal == 0)
    long = decompose(100 + 10 * np.sin(np.arange(156) * 2 * np.pi / 52), "week")
    assert long.note == "ok" and np.abs(long.seasonal).max() > 5


def test_yearly_component_only_kept_when_it_pays_off():
    t = np.arange(800)
    with_year = 100 + 30 * np.sin(2 * np.pi * t / 365) + np.resize(WEEKLY_SHAPE, 800)
    kept = decompose(with_year, "day", yearly=True)
    assert "yearly seasonality kept" in kept.note
    assert np.allclose(kept.adjusted, with_year - kept.seasonal)  # yearly stays in adjusted
    assert "yearly seasonality dropped" in decompose(planted(800), "day", yearly=True).note


def test_the_yearly_fit_uses_the_smoother_steps_of_every_other_fit():
    # DecomposeConfig's jumps are the method (R's stl() defaults): the yearly MSTL takes them
    # as the weekly STL does, and its components are statsmodels' own fit with them
    from statsmodels.tsa.seasonal import MSTL
    t = np.arange(800)
    values = 100 + 30 * np.sin(2 * np.pi * t / 365) + planted(800) - 200
    config = DecomposeConfig()
    fit = decompose(values, "day", config=config, yearly=True)
    assert "yearly seasonality kept" in fit.note
    steps = config.smoother_kwargs()
    assert steps["trend_jump"] > 1
    expected = MSTL(values, periods=(7, 365), stl_kwargs=steps).fit()
    assert np.allclose(fit.yearly, expected.seasonal[:, 1], rtol=0, atol=1e-9)
    assert np.allclose(fit.trend, expected.trend, rtol=0, atol=1e-9)


def test_a_series_mostly_below_the_floor_is_not_decomposed_and_flags_nothing():
    # A small city under Baidu's floor: 0 (asked, nothing reported) on most days, 57-80 on a
    # few. What STL would find there is the floor; a day rising above it is not news.
    rng = np.random.default_rng(3)
    values = np.round(45 * rng.lognormal(0, 0.2, 3 * 365))
    values[values < 57] = 0
    values[500] = 400
    assert 0.02 < (values > 0).mean() < 0.5
    for d in (decompose(values), *decompose_many([values, values.copy()])):
        assert d.note.startswith("sparse:") and "above Baidu's floor" in d.note
        assert not d.anomalies.any()
        assert np.array_equal(d.adjusted, values)       # observed, 0 below the floor
    # the same days near the floor in a series that is above it nine days in ten: decomposed,
    # the spike flagged, the below-floor days 0 in the adjusted values and never flagged
    dense = np.round(90 * rng.lognormal(0, 0.12, 3 * 365))
    low = rng.choice(len(dense), len(dense) // 20, replace=False)
    low = low[low != 500]
    dense[low] = 0
    dense[500] += 400
    refit = DecomposeConfig(refit_outliers=True)
    for d in (decompose(dense, config=refit), *decompose_many([dense], config=refit)):
        assert d.note.startswith("ok") and d.anomalies[500] and d.anomalies.sum() <= 3
        assert (d.adjusted[low] == 0).all() and not d.anomalies[low].any()


def test_robust_anomalies_ignore_a_flat_series():
    assert not robust_anomalies(np.zeros(50)).any()


@pytest.mark.parametrize("text,start,end", [
    ("2017", date(2017, 1, 1), date(2017, 12, 31)),
    ("2016-02", date(2016, 2, 1), date(2016, 2, 29)),
    ("2017-03-01..2017-03-31", date(2017, 3, 1), date(2017, 3, 31)),
])
def test_periods(text, start, end):
    p = parse_period(text)
    assert (p.start, p.end) == (start, end)


def test_bad_period_says_what_is_accepted():
    with pytest.raises(PeriodError, match="is not a year"):
        parse_period("last year")
    with pytest.raises(PeriodError, match="month 13 does not exist"):
        parse_period("2017-13")


def test_one_month_period_value_is_the_mean_of_its_days():
    dates = pd.date_range("2017-03-01", "2017-03-31")
    frame = pd.DataFrame({("k", 1): np.arange(31.0), ("k", 2): [np.nan] * 31})
    frame.index = dates
    values = period_values(frame)
    assert values[("k", 1)] == pytest.approx(15.0)
    assert np.isnan(values[("k", 2)])  # no data: missing, not zero


def test_dimension_value_sums_keywords_and_keeps_no_data_missing():
    values = pd.Series({("a", 1): 10.0, ("b", 1): 5.0, ("a", 2): np.nan, ("b", 2): np.nan,
                        ("a", 3): 7.0, ("b", 3): np.nan, ("c", 1): 99.0})
    dims = dimension_values(values, ["a", "b"])
    assert dims[1] == 15.0 and dims[3] == 7.0 and np.isnan(dims[2])


def test_normalisations():
    v = pd.Series({1: 100.0, 2: 50.0, 3: 0.0})
    pop = pd.Series({1: 2_000_000, 2: 500_000, 3: 1_000_000})
    assert normalise(v, "per-capita", pop).tolist() == [50.0, 100.0, 0.0]
    assert normalise(v, "share").tolist() == pytest.approx([100 * 100 / 150, 100 * 50 / 150, 0])
    assert normalise(v, "share", base_total=200).tolist() == [50.0, 25.0, 0.0]
    score = normalise(v, "score")
    assert score[1] == 100.0 and 0 < score[2] < 100 and score[3] == 0


def test_ranks_ties_share_the_smallest_rank_and_no_data_is_unranked():
    v = pd.Series({"a": 5.0, "b": 9.0, "c": 5.0, "d": 1.0, "e": np.nan})
    assert rank_values(v).to_dict() == pytest.approx(
        {"a": 2, "b": 1, "c": 2, "d": 4, "e": np.nan}, nan_ok=True)
    table = rank_table(v)
    assert list(table.index) == ["b", "a", "c", "d", "e"]
    assert pd.isna(table.loc["e", "tier"])


def test_array_ranks_are_pandas_min_ranks_and_list_ties_in_their_order():
    from aicity.analysis.rankings import descending_ranks, rank_arrays
    rng = np.random.default_rng(7)
    values = rng.integers(0, 40, 300).astype(float)
    values[rng.choice(300, 30, replace=False)] = np.nan
    expected = pd.Series(values).rank(ascending=False, method="min", na_option="keep")
    np.testing.assert_array_equal(descending_ranks(values), expected.to_numpy())
    order, ranks, tiers = rank_arrays(values)
    listed = ranks[order]
    assert np.all(np.diff(listed[~np.isnan(listed)]) >= 0) and np.isnan(listed[-30:]).all()
    for r in np.unique(listed[~np.isnan(listed)]):   # ties keep the order they were given in
        same = order[ranks[order] == r]
        assert list(same) == sorted(same)
    assert np.isnan(tiers[np.isnan(values)]).all() and set(tiers[order[:10]]) == {1.0}


def test_array_sums_and_normalisations_are_the_series_arithmetic():
    from aicity.analysis.indices import dimension_sums, normalise_array
    pairs = [("k:1", 10), ("k:2", 10), ("k:1", 20), ("k:2", 20), ("k:3", 10), ("k:1", 30)]
    values = [1.5, 2.0, np.nan, np.nan, 100.0, 4.0]
    sums = dimension_sums(pairs, values, ["k:1", "k:2"], [10, 20, 30, 40])
    assert sums[0] == 3.5 and np.isnan(sums[1]) and sums[2] == 4.0 and np.isnan(sums[3])
    v = np.array([100.0, 50.0, np.nan, 0.0])
    pop = np.array([2e6, np.nan, 1e6, 0.0])
    per = normalise_array(v, "per-capita", pop)
    assert per[0] == 50.0 and np.isnan(per[1:]).all()
    assert normalise_array(v, "share").tolist()[:2] == pytest.approx([100 * 100 / 150,
                                                                     100 * 50 / 150])
    assert normalise_array(v, "score")[0] == 100.0
    series = pd.Series(v, index=list("abcd"))
    np.testing.assert_array_equal(normalise(series, "score").to_numpy(),
                                  normalise_array(v, "score"))


def test_rank_bands():
    ranks = pd.Series([1, 10, 11, 30, 31, 100, 101], dtype=float)
    assert band_tiers(ranks).tolist() == [1, 1, 2, 2, 3, 3, 4]


def test_natural_breaks_separate_planted_clusters():
    v = pd.Series([1e5, 9e4, 1.1e5, 1e3, 1.2e3, 9e2, 10, 12, 9], index=list("abcdefghi"))
    tiers = natural_breaks(v, k=3)
    assert tiers[list("abc")].tolist() == [1, 1, 1]
    assert tiers[list("def")].tolist() == [2, 2, 2]
    assert tiers[list("ghi")].tolist() == [3, 3, 3]


def test_north_south_planted_difference():
    values = pd.Series({i: (100.0 + i if i < 20 else 10.0 + i) for i in range(40)})
    sides = pd.Series({i: "south" if i < 20 else "north" for i in range(40)})
    table = north_south(values, sides).set_index("side")
    assert table.loc["south", "top10"] == 10 and table.loc["north", "top10"] == 0
    assert table.loc["south", "top50"] == 20 and table.loc["north", "regions"] == 20
    assert table.loc["south", "share"] == pytest.approx(
        sum(100 + i for i in range(20)) / values.sum())
    # no p-value: a census of neighbouring cities is not an independent sample (it said
    # < 1e-6 here, and would say so of any split)
    assert table["p_value"].isna().all()
    assert table.loc["south", "median"] == pytest.approx(109.5)


def test_the_two_lines_can_split_a_world_differently():
    """Cities between the Yangtze and the Qinling–Huaihe line (成都, 武汉-like) decide it."""
    values = pd.Series({"far_north": 10.0, "between_a": 50.0, "between_b": 45.0,
                        "far_south": 30.0})
    qinling = pd.Series({"far_north": "north", "between_a": "south", "between_b": "south",
                         "far_south": "south"})
    yangtze = pd.Series({"far_north": "north", "between_a": "north", "between_b": "north",
                         "far_south": "south"})
    on_qinling = north_south(values, qinling).set_index("side")["share"]
    on_yangtze = north_south(values, yangtze).set_index("side")["share"]
    assert on_qinling["south"] > 0.5 > on_yangtze["south"]


PLANTED_DEMAND = pd.DataFrame({
    # region: (speech, vision, deep_learning)
    "all3": (30.0, 30.0, 40.0),
    "vision_only": (10.0, 80.0, 10.0),
    "dual_sd": (40.0, 20.0, 40.0),
    "edge": (25.0, 50.0, 25.0),        # shares exactly 0.25: they drive
    "below": (24.0, 52.0, 24.0),
    "small": (1.0, 1.0, 1.0),          # outside the top
    "none": (np.nan, np.nan, np.nan),  # no data
}, index=["speech", "vision", "deep_learning"]).T


def test_demand_types_come_out_exactly():
    out = demand_types(PLANTED_DEMAND, top=5)
    assert list(out.index) == ["all3", "vision_only", "dual_sd", "edge", "below"]
    assert out.loc["all3", "type"] == "all"
    assert (out.loc["vision_only", "type"], out.loc["vision_only", "drivers"]) == \
        ("single", "vision")
    assert (out.loc["dual_sd", "type"], out.loc["dual_sd", "drivers"]) == \
        ("dual", "deep_learning+speech")
    assert out.loc["edge", "type"] == "all"  # 0.25 is enough to drive
    assert (out.loc["below", "type"], out.loc["below", "drivers"]) == ("single", "vision")
    assert out.loc["edge", "speech"] == pytest.approx(0.25)


def test_demand_types_keep_ties_at_the_cut():
    frame = pd.DataFrame({"speech": [5.0, 5.0, 9.0], "vision": [5.0, 5.0, 1.0],
                          "deep_learning": [0, 0, 0.0]}, index=["a", "b", "c"])
    assert set(demand_types(frame, top=2).index) == {"a", "b", "c"}


def test_industry_profiles_specialisation_and_full_demand():
    rows = {f"big{i}": [100.0] * 6 for i in range(10)}
    rows["nanjing"] = [5.0, 5.0, 5.0, 30.0, 30.0, 5.0]       # retail + finance
    rows["suzhou"] = [5.0, 30.0, 5.0, 5.0, 5.0, 30.0]        # security + manufacturing
    rows["xian"] = [40.0, 5.0, 5.0, 5.0, 5.0, 5.0]           # driving
    frame = pd.DataFrame(rows, index=["driving", "security", "healthcare", "retail",
                                      "finance", "manufacturing"]).T
    out = industry_profiles(frame)
    assert out.loc["nanjing", "specialisations"] == "finance+retail"
    assert out.loc["suzhou", "specialisations"] == "manufacturing+security"
    assert out.loc["xian", "specialisations"] == "driving"
    assert out.loc["big0", "specialisations"] == ""
    assert out.loc["big0", "full_demand"] and not out.loc["nanjing", "full_demand"]
    assert out.loc["nanjing", "retail_lq"] == pytest.approx(
        (30 / 80) / (frame["retail"].sum() / frame.to_numpy().sum()))


def test_growth_and_movers():
    now = pd.Series({"a": 100.0, "b": 80.0, "c": 60.0, "d": 10.0})
    before = pd.Series({"a": 50.0, "b": 90.0, "c": 0.0, "d": 20.0})
    table = growth_table(now, before)
    assert table.loc["a", "change"] == 1.0 and np.isnan(table.loc["c", "change"])
    assert table.loc["a", "rank_change"] == 1 and table.loc["b", "rank_change"] == -1
    risers, fallers = movers(table)
    # b and d both lose one place; d's value halved, so it leads the fallers
    assert list(risers.index) == ["a", "c"] and list(fallers.index) == ["d", "b"]


def test_tier_movement_between_two_measures():
    cognition = pd.Series({f"r{i}": 1000.0 - i for i in range(40)})
    demand = cognition.copy()
    demand["r35"] = 2000.0  # rises from tier 3 into tier 1
    demand["r15"] = 0.0     # falls from tier 2 to tier 3
    moves = tier_movement(cognition, demand)
    assert moves.loc["r35", "direction"] == "up" and moves.loc["r35", "move"] == -2
    assert moves.loc["r15", "direction"] == "down"


def test_rank_intervals_are_tight_for_clear_leaders_and_wide_for_noise():
    rng = np.random.default_rng(1)
    weeks = 52
    clear = {f"lead{i}": 1000.0 * (10 - i) + rng.normal(0, 5, weeks) for i in range(5)}
    noisy = {f"noise{i}": 100 + rng.normal(0, 30, weeks) for i in range(10)}
    frame = pd.DataFrame({**clear, **noisy})
    out = rank_intervals(frame, n_boot=300)
    assert (out.loc["lead0", "rank_low"], out.loc["lead0", "rank_high"]) == (1, 1)
    assert out.loc["lead0", "tier_confidence"] == 1.0
    widths = (out["rank_high"] - out["rank_low"])[[f"noise{i}" for i in range(10)]]
    assert widths.mean() >= 3


def test_rank_intervals_leave_regions_without_data_unranked():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]})
    out = rank_intervals(frame, n_boot=20)
    assert pd.isna(out.loc["b", "rank_low"]) and out.loc["a", "rank_low"] == 1


def test_config_is_a_value_object():
    assert DecomposeConfig() == DecomposeConfig()
    assert DecomposeConfig().stl_kwargs()["seasonal"] == 7


# --- demand drivers: the rule as written (issue 35 §1) -----------------------------------------

def test_demand_drivers_follow_the_rule_their_words_say():
    from aicity.analysis.demand import demand_types, rule_text
    # 上海-like: speech 25.2% of the three technologies, vision 12.2%, deep learning 62.6%
    groups = pd.DataFrame({"speech": [25.2, 10.0, 40.0], "vision": [12.2, 80.0, 30.0],
                           "deep_learning": [62.6, 10.0, 30.0]}, index=[1, 2, 3])
    absolute = demand_types(groups)
    assert absolute.loc[1, "drivers"] == "deep_learning+speech"
    assert absolute.loc[1, "type"] == "dual"
    assert absolute.loc[3, "type"] == "all"                  # 40/30/30: each at least 25%
    assert "at least 25% of the city's demand for the three technologies" in \
        absolute.attrs["rule"]
    assert absolute.attrs["rule"] == rule_text("absolute", 0.25)
    # national shares .25/.407/.343: relative to them, city 1 is driven by deep learning alone
    relative = demand_types(groups, rule="relative")
    national = relative.attrs["national"]
    assert national["vision"] == pytest.approx(122.2 / 300)
    assert relative.loc[1, "drivers"] == "deep_learning+speech"   # .252 ≥ .25, .626 ≥ .343
    assert relative.loc[2, "drivers"] == "vision"
    assert relative.loc[3, "drivers"] == "speech"                 # .40 ≥ .25; .30 < .407, .343
    assert "times its national share" in relative.attrs["rule"]


def test_the_reports_method_note_says_the_rule_the_code_applies():
    from aicity.analysis.demand import rule_text
    from aicity.service.report import METHOD
    for lang in ("en", "zh"):
        note = METHOD[lang].replace("{demand_rule_" + lang + "}", rule_text("absolute", 0.25,
                                                                               lang))
        assert rule_text("absolute", 0.25, lang) in note
        assert "应用需求25%" not in note and "of a city's application demand" not in note


# --- specialisation only where the data carries it (issue 35 §4) -------------------------------

def test_a_sparse_city_is_too_sparse_to_say_not_specialised():
    from aicity.analysis.industry import MIN_COVERAGE, industry_profiles
    columns = ["driving", "security", "healthcare", "retail", "finance", "manufacturing"]
    # dense: a real finance specialist; sparse: one keyword above the floor makes its
    # "share" of security look like a specialisation
    groups = pd.DataFrame([[100, 100, 100, 100, 300, 100], [100, 100, 100, 100, 100, 100],
                           [0, 60, 0, 0, 0, 0]], index=["dense", "even", "sparse"],
                          columns=columns, dtype=float)
    coverage = pd.Series({"dense": 0.9, "even": 0.95, "sparse": 0.1})
    out = industry_profiles(groups, coverage=coverage)
    assert out.loc["dense", "specialisations"] == "finance" and out.loc["dense", "dense"]
    assert out.loc["sparse", "specialisations"] == "" and not out.loc["sparse", "dense"]
    assert out.loc["sparse", "security_lq"] > 1.2          # the LQ is still there to read
    without = industry_profiles(groups)
    assert without.loc["sparse", "specialisations"] == "security"   # what it said before
    assert MIN_COVERAGE == 0.5


# --- the combined cognition index (issue 35 §7) -----------------------------------------------

def test_combined_cognition_weighs_each_layer_the_same():
    from aicity.analysis.indices import combined_cognition
    # basic cognition is ten times the others: summed raw, it alone decided the order
    layers = {"basic": pd.Series({"a": 1000.0, "b": 800.0, "c": 100.0}),
              "professional": pd.Series({"a": 10.0, "b": 100.0, "c": 10.0}),
              "technical": pd.Series({"a": 10.0, "b": 100.0, "c": 10.0, "d": 50.0})}
    raw_sum = sum(layers.values()).dropna()
    assert raw_sum.idxmax() == "a"
    index = combined_cognition(layers)
    assert index.idxmax() == "b"
    assert index["a"] == pytest.approx((1000 / 633.3333 + 10 / 40 + 10 / 42.5) / 3, rel=1e-4)
    assert np.isnan(index["d"])                      # missing a layer: no index


# --- tiers that say where they come from (issue 35 §2) -----------------------------------------

def test_tier_confidence_never_exceeds_the_share_of_the_interval_in_the_tier():
    from aicity.analysis.uncertainty import interval_tier_confidence
    low = pd.Series([3, 1, 25], index=list("abc"))
    high = pd.Series([14, 5, 40], index=list("abc"))
    tier = pd.Series([1, 1, 2], index=list("abc"))
    bootstrap = pd.Series([1.0, 0.9, 1.0], index=list("abc"))
    conf = interval_tier_confidence(low, high, tier, bootstrap)
    assert conf["a"] == pytest.approx(8 / 12)      # ranks 3..10 of 3..14 lie in tier 1
    assert conf["b"] == pytest.approx(0.9)         # wholly inside: the bootstrap's share
    assert conf["c"] == pytest.approx(6 / 16)      # ranks 25..30 of 25..40 lie in tier 2


def test_leaving_one_keyword_out_moves_a_region_that_one_term_carries():
    """The week bootstrap resamples time and cannot see the choice of terms: 成都 leads only
    because of keyword c; without it 杭州 leads. A clear leader keeps its rank."""
    from aicity.analysis.uncertainty import leave_one_out_ranks
    per_keyword = pd.DataFrame({"a": [100.0, 50, 52, 10], "b": [100.0, 50, 52, 10],
                                "c": [0.0, 10, 1, np.nan]},
                               index=["北京", "成都", "杭州", "拉萨"])
    loo = leave_one_out_ranks(per_keyword)
    assert tuple(loo.loc["北京"]) == (1, 1)
    assert tuple(loo.loc["成都"]) == (2, 3) and tuple(loo.loc["杭州"]) == (2, 3)
    assert tuple(loo.loc["拉萨"]) == (4, 4)
    alone = leave_one_out_ranks(per_keyword[["a"]])
    assert alone["vocabulary_rank_low"].isna().all()          # one term: nothing to leave out


def test_the_combined_index_bootstrap_draws_the_same_weeks_for_every_layer():
    from aicity.analysis.indices import combined_cognition_arrays
    from aicity.analysis.uncertainty import combined_rank_intervals
    rng = np.random.default_rng(7)
    weeks = pd.RangeIndex(20)
    # x leads on every layer; y and z swap from week to week on one layer
    base = {"x": 10.0, "y": 5.0, "z": 5.0}
    layers = {}
    for layer in ("basic", "professional", "technical"):
        frame = pd.DataFrame({r: v + rng.normal(0, .01, len(weeks)) for r, v in base.items()},
                             index=weeks)
        if layer == "basic":
            swing = rng.normal(0, 2, len(weeks))
            frame["y"] += swing
            frame["z"] -= swing
        layers[layer] = frame
    iv = combined_rank_intervals(layers, combined_cognition_arrays, n_boot=200)
    assert tuple(iv.loc["x", ["rank_low", "rank_high"]]) == (1, 1)
    assert tuple(iv.loc["y", ["rank_low", "rank_high"]]) == (2, 3)


def test_a_calendar_year_of_a_weekly_series_keeps_its_observed_mean():
    """STL's yearly season does not sum to zero over a cycle when its amplitude grows: a
    year's seasonally adjusted value was 0.2-0.5% above the year's observed mean (3.2% on
    Baidu's own province weeks). Whole calendar years now equal it; daily series were within
    0.01% already (issue 34 §6)."""
    from datetime import date, timedelta
    from aicity.analysis.decompose import DecomposeConfig, decompose, decompose_many
    rng = np.random.default_rng(34)
    first = (date(2020, 1, 6) - date(1970, 1, 1)).days        # a Monday
    t = np.arange(156)
    season = 0.3 * np.sin(2 * np.pi * t / 52) + 0.15 * np.cos(4 * np.pi * t / 52)
    weekly = 700 * (1 + 0.002 * t) * (1 + season) * rng.lognormal(0, 0.02, len(t))
    years = np.array([(date(1970, 1, 1) + timedelta(days=first + 7 * int(i))).year for i in t])
    one = decompose(weekly, "week", DecomposeConfig(), first=first)
    (many,) = decompose_many([weekly], "week", DecomposeConfig(), first_days=[first])
    for d in (one, many):
        for year in (2020, 2021, 2022):
            at = years == year
            assert d.adjusted[at].mean() == pytest.approx(weekly[at].mean(), rel=1e-3)
        assert np.allclose(d.trend + d.seasonal + d.resid, weekly)   # nothing lost
    unbalanced = decompose(weekly, "week", DecomposeConfig())
    assert abs(unbalanced.adjusted[years == 2021].mean() / weekly[years == 2021].mean() - 1) \
        > 1e-3                                                  # what it was
    d = np.arange(730)
    daily = 1000 * (1 + 0.0005 * d) * (1 + np.array([.1, .12, .1, .08, 0, -.2, -.2])[d % 7]) \
        * rng.lognormal(0, 0.03, len(d))
    fit = decompose(daily, "day", DecomposeConfig())
    assert fit.adjusted[:364].mean() == pytest.approx(daily[:364].mean(), rel=1e-3)
