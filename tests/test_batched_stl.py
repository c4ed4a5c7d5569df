"""Batched STL (analysis.decompose.decompose_many) equals statsmodels series by series."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.seasonal import STL

from aicity.analysis.decompose import (DecomposeConfig, decompose, decompose_many, operator_key,
                                       row_nanmedian, stl_operators)
from aicity.db import store

RTOL = 1e-9


def _series(rng, n, period, count):
    t = np.arange(n)
    out = []
    for _ in range(count):
        level = rng.uniform(50, 5000)
        y = level * (1 + 0.2 * np.sin(2 * np.pi * t / period) + 0.001 * t) \
            + rng.normal(0, level * 0.05, n)
        out.append(np.round(np.maximum(y, 0)))
    return out


def _close(a, b) -> float:
    """Largest relative difference (scale: the series' own magnitude), NaN where both are."""
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(b)
    if not ok.any():
        return 0.0
    scale = max(1.0, float(np.max(np.abs(b[ok]))))
    return float(np.max(np.abs(a[ok] - b[ok]))) / scale


@pytest.mark.parametrize("granularity,n", [("day", 400), ("week", 120)])
@pytest.mark.parametrize("refit", [False, True])
def test_every_component_equals_statsmodels_per_series(granularity, n, refit):
    rng = np.random.default_rng(7)
    config = DecomposeConfig(refit_outliers=refit)
    period = config.period if granularity == "day" else config.weekly_period
    series = _series(rng, n, period, 40)
    series[1][10:25] = np.nan                 # a gap inside
    series[2][:4] = np.nan                    # missing at the start
    series[3][-6:] = np.nan                   # and at the end
    series[4][50] *= 12                       # a news spike (refit candidate)
    series[5][rng.choice(n, n // 3, replace=False)] = np.nan   # a third missing
    series[6][rng.choice(n, n * 2 // 3, replace=False)] = np.nan  # sparse: not decomposed
    series.append(series[7][: period + 3])    # short: trend only
    series.append(np.full(n, np.nan))         # no data
    operators = {operator_key(n, granularity, config): stl_operators(n, granularity, config)}
    many = decompose_many(series, granularity, config, operators=operators)
    worst = 0.0
    for got, values in zip(many, series):
        want = decompose(values, granularity, config)      # statsmodels STL, one series
        for part in ("trend", "seasonal", "resid", "adjusted"):
            worst = max(worst, _close(getattr(got, part), getattr(want, part)))
        assert got.note == want.note
        assert np.array_equal(got.anomalies, want.anomalies)
    assert worst <= RTOL


def test_the_operator_reproduces_a_plain_statsmodels_fit():
    rng = np.random.default_rng(3)
    config = DecomposeConfig()
    y = _series(rng, 371, 7, 1)[0]
    trend_op, season_op = stl_operators(371, "day", config)
    fit = STL(y, period=7, **config.stl_kwargs()).fit()
    assert _close(trend_op @ y, np.asarray(fit.trend)) <= RTOL
    assert _close(season_op @ y, np.asarray(fit.seasonal)) <= RTOL


def test_the_banded_product_equals_the_whole_one_and_skips_what_carries_no_weight():
    """Only the days each block of days depends on are multiplied; what is left out is
    rounding residue, so the components match the whole product to rounding."""
    from aicity.analysis import decompose as dec
    rng = np.random.default_rng(5)
    config = DecomposeConfig()
    trend_op, season_op = stl_operators(400, "day", config)
    filled = np.vstack(_series(rng, 400, 7, 30))
    trend, seasonal = dec.apply_operators(filled, trend_op, season_op)
    assert _close(trend, filled @ trend_op.T) <= 1e-13
    assert _close(seasonal, filled @ season_op.T) <= 1e-13
    plan = dec._band_plan(trend_op, season_op)
    assert sum((c1 - c0) * (r1 - r0) for r0, r1, c0, c1, _ in plan) < 0.8 * 400 * 400
    assert [p[:2] for p in plan] == [(r, min(400, r + dec.BAND_BLOCK))
                                     for r in range(0, 400, dec.BAND_BLOCK)]


def test_robust_stl_has_no_operator():
    with pytest.raises(ValueError, match="not linear"):
        stl_operators(30, "day", DecomposeConfig(robust=True))


# the time limit by signal: the thread method's watchdog is itself another thread, and would make
# the first analysis spawn its workers too
@pytest.mark.timeout(300, method="signal")
def test_workers_are_spawned_when_other_threads_live_and_give_the_same_components(
        db_path, monkeypatch):
    # A crawl run in the same process (the demo) leaves threads; a worker forked while one
    # of them held a lock hung forever. Then workers are spawned, with the operators handed over.
    import threading

    from aicity.service import refit
    from tests.conftest import add_world_data
    add_world_data(db_path, [97, 94], "2017-01-01", "2017-04-30")
    methods = []
    real = refit.mp.get_context
    monkeypatch.setattr(refit.mp, "get_context",
                        lambda method: methods.append(method) or real(method))

    def components():
        db = store.connect(db_path)
        try:
            return db.execute("SELECT subject, region, trend, seasonal, resid FROM components "
                              "ORDER BY subject, region").fetchall()
        finally:
            db.close()

    refit.analyze(db_path, full=True, workers=2)
    forked = components()
    assert len(forked) > 0 and set(methods) == {"fork"}
    methods.clear()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        refit.analyze(db_path, full=True, workers=2)
    finally:
        stop.set()
        other.join()
    assert set(methods) == {"spawn"}
    assert components() == forked, "spawned workers gave other components"


@pytest.mark.parametrize("length", [1, 2, 7, 365, 1095])
def test_row_medians_equal_numpys_nanmedian(length):
    rng = np.random.default_rng(length)
    matrix = rng.normal(size=(50, length))
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    matrix[0] = np.nan                      # nothing to take a median of
    matrix[1, 1:] = np.nan                  # one value
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(matrix, axis=1, keepdims=True)
    assert np.array_equal(row_nanmedian(matrix), expected, equal_nan=True)
