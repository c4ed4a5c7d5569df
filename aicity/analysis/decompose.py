"""Seasonal decomposition of search series with statsmodels STL. Pure: arrays in, arrays out.

Daily series get STL with a weekly period. A yearly component (MSTL with periods 7 and 365) is
added only for aggregate series more than two years long, and kept only when it pays off: its
standard deviation must reach `yearly_min_amplitude` (default 5%) of the series' mean level.
(A fall in residual variance is no test: MSTL's yearly smoother soaks up noise, so the residual
always shrinks.) Fitting it costs about 75 times a weekly fit, which is why keyword × region
series do not get it. Weekly series get STL with a
52-week period when they span two years, and a trend only otherwise. Missing days stay missing
in the output; for fitting, gaps are filled by linear interpolation (a series with more than
half its days missing, or shorter than two cycles, is not fitted and says so).

Baidu's reporting floor: the site sends nothing for a day below about 57 (research note 2026
§1), so a stored series holds 0 for "asked, below the floor" and NaN for "not asked (or not
confirmed) yet". A series whose asked days are mostly above the floor (`min_coverage`, default
90%) is decomposed with its below-floor days treated as gaps for the fit; its seasonally
adjusted value on those days is 0, Baidu's own convention (its weekly values count an empty day
as 0). A sparser series is not decomposed at all: what STL would find there is the floor, not a
season, and a day that merely rises above the floor would look like a spike. Its adjusted values
are the observed ones (0 below the floor) and it has no anomalies; its note says so.

Anomalies: plain STL spreads a large news spike over the same weekday of nearby weeks (the
seasonal smoother averages about seven weeks), so days next to a spike look anomalous too.
Robust STL over-fits the rest (its residual scale shrinks, so ordinary noise crosses the
threshold). With `refit_outliers`, days first flagged are replaced by the median of the same
weekday in the three weeks either side (from the data) and the series is fitted once more;
residuals are then measured against that fit, which flags the spike alone. It doubles the cost
of a series with candidates, so `analyze` uses it for the aggregate (dimension × region) series
analysts read for spikes, not for every keyword × region series.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

# statsmodels (and the scipy it pulls in) takes about a second to import; the query commands
# read stored components and never fit, so it is imported where a fit happens.


def _stl():
    from statsmodels.tsa.seasonal import STL
    return STL


@dataclass(frozen=True)
class DecomposeConfig:
    period: int = 7
    seasonal: int = 7
    robust: bool = False
    # Interpolation steps of STL's smoothers, as R's stl() defaults them (about a tenth of each
    # window). Measured on 3-year daily series: 2.5 ms a fit instead of 4.1 ms, seasonally
    # adjusted days 0.2% apart on average, yearly means within 1e-4 of the exact fit.
    seasonal_jump: int = 1
    trend_jump: int = 2
    low_pass_jump: int = 2
    weekly_period: int = 52
    yearly_min_amplitude: float = 0.05
    refit_outliers: bool = False
    max_missing: float = 0.5
    # Share of asked days above Baidu's reporting floor a series needs to be decomposed (and
    # searched for anomalies); sparser series keep their observed values as the adjusted ones.
    min_coverage: float = 0.9
    anomaly_threshold: float = 3.5
    # A spike must also stand this many index points off the usual residual. Near Baidu's floor
    # (values under about 10) the robust z-score alone flagged 7% of all days of a national
    # analysis, 86% of its anomalies, with a mean excess of 1.6 points: rounding, not news.
    anomaly_min_excess: float = 10.0

    def smoother_kwargs(self) -> dict:
        """What every STL here fits with, MSTL's too (which sets each period's window)."""
        return dict(robust=self.robust, seasonal_jump=self.seasonal_jump,
                    trend_jump=self.trend_jump, low_pass_jump=self.low_pass_jump)

    def stl_kwargs(self) -> dict:
        return dict(seasonal=self.seasonal, **self.smoother_kwargs())


@dataclass
class Decomposition:
    trend: np.ndarray
    seasonal: np.ndarray          # weekly (or 52-week for weekly data); 0 when not fitted
    resid: np.ndarray
    yearly: np.ndarray | None = None
    note: str = "ok"
    anomalies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    below_floor: np.ndarray | None = None    # asked days Baidu reported nothing for
    observed: np.ndarray | None = None       # a sparse series' adjusted values (not decomposed)

    @property
    def adjusted(self) -> np.ndarray:
        """Observed minus the weekly seasonal component (the period value of
        docs/definitions.md averages this); 0 on a day below the floor, NaN where nothing was
        asked."""
        if self.observed is not None:
            return self.observed
        out = self.trend + self.resid
        if self.yearly is not None:
            out = out + self.yearly
        if self.below_floor is not None and self.below_floor.any():
            out = np.where(self.below_floor, 0.0, out)
        return out


def coverage_of(values: np.ndarray) -> tuple[int, int]:
    """(days above the floor, days asked) of a stored series (0 = below, NaN = not asked)."""
    values = np.asarray(values, dtype=float)
    asked = ~np.isnan(values)
    return int((values[asked] > 0).sum()), int(asked.sum())


def is_dense(values: np.ndarray, config: "DecomposeConfig") -> bool:
    """Enough asked days above the floor to decompose (and to look for anomalies)."""
    above, asked = coverage_of(values)
    return asked > 0 and above >= config.min_coverage * asked


def _sparse(values: np.ndarray, config: "DecomposeConfig") -> Decomposition | None:
    """The result for a series too sparse to decompose (None when it is dense enough)."""
    above, asked = coverage_of(values)
    if asked == 0 or above >= config.min_coverage * asked:
        return None
    n = len(values)
    nan = np.full(n, np.nan)
    return Decomposition(nan.copy(), np.zeros(n), nan.copy(),
                         note=f"sparse: {above / asked:.0%} of {asked} asked days above "
                              f"Baidu's floor; not decomposed",
                         anomalies=np.zeros(n, dtype=bool),
                         observed=np.asarray(values, dtype=float).copy())


def robust_anomalies(resid: np.ndarray, threshold: float = 3.5, min_excess: float = 0.0
                     ) -> np.ndarray:
    """Residuals beyond `threshold` robust z-scores (median and 1.4826 × MAD) and at least
    `min_excess` off the median: news spikes."""
    ok = ~np.isnan(resid)
    out = np.zeros(len(resid), dtype=bool)
    if ok.sum() < 8:
        return out
    med = np.median(resid[ok])
    mad = 1.4826 * np.median(np.abs(resid[ok] - med))
    if mad == 0:
        return out
    excess = np.abs(resid[ok] - med)
    out[ok] = (excess / mad > threshold) & (excess >= min_excess)
    return out


def row_nanmedian(matrix: np.ndarray) -> np.ndarray:
    """np.nanmedian(matrix, axis=1, keepdims=True), by one sort: numpy takes masked arrays for
    rows under 600 long and a Python loop over rows above, a tenth of the analysis."""
    ordered = np.sort(matrix, axis=1)            # NaN sorts last
    count = (~np.isnan(matrix)).sum(axis=1)
    lo = np.clip((count - 1) // 2, 0, None)[:, None]
    hi = np.clip(count // 2, 0, None)[:, None]
    with np.errstate(invalid="ignore"):
        med = (np.take_along_axis(ordered, lo, axis=1)
               + np.take_along_axis(ordered, hi, axis=1)) / 2
    med[count == 0] = np.nan
    return med


def robust_anomalies_rows(resid: np.ndarray, threshold: float = 3.5, min_excess: float = 0.0
                          ) -> np.ndarray:
    """`robust_anomalies` for each row of a matrix at once (NaN = missing)."""
    ok = ~np.isnan(resid)
    out = np.zeros(resid.shape, dtype=bool)
    enough = ok.sum(axis=1) >= 8
    if not enough.any():
        return out
    r = resid[enough]
    med = row_nanmedian(r)
    mad = 1.4826 * row_nanmedian(np.abs(r - med))
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.abs(r - med)
        flagged = (excess / np.where(mad == 0, np.nan, mad) > threshold) & (excess >= min_excess)
    out[enough] = flagged & (mad != 0)
    return out


def _spikes(resid: np.ndarray, config: DecomposeConfig) -> np.ndarray:
    """Anomalies by the config's thresholds, of one series or of each row of a matrix."""
    flag = robust_anomalies_rows if resid.ndim == 2 else robust_anomalies
    return flag(resid, config.anomaly_threshold, config.anomaly_min_excess)


def _same_weekday_median(values: np.ndarray, where: np.ndarray, period: int,
                         cycles: int = 3) -> np.ndarray:
    """Replace flagged points by the median of the same phase in the `cycles` cycles around them,
    taken from the data (an echo of a spike in the fit is normal in the data, so it stays)."""
    out = values.copy()
    flagged = np.flatnonzero(where)
    if not len(flagged):
        return out
    steps = np.array([k * period for k in range(-cycles, cycles + 1) if k])
    around = flagged[:, None] + steps[None, :]
    inside = (around >= 0) & (around < len(values))
    gathered = np.where(inside, values[np.clip(around, 0, len(values) - 1)], np.nan)
    has = inside.any(axis=1)
    out[flagged[has]] = np.nanmedian(gathered[has], axis=1)
    return out


def _filled(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=float)
    return s.interpolate(limit_direction="both").to_numpy()


def decompose(values: np.ndarray, granularity: str = "day",
              config: DecomposeConfig = DecomposeConfig(), yearly: bool = False,
              first: int | None = None) -> Decomposition:
    """Decompose one series (NaN = not asked, 0 = below the floor). Never raises for short or
    sparse input: the note says what was done instead. `first`, the day number of the first
    value, lets a weekly series' season sum to zero over each calendar year it covers
    (calendar_years_balanced)."""
    values = np.asarray(values, dtype=float)
    sparse = _sparse(values, config)
    if sparse is not None:
        return sparse
    below = values <= 0
    values = np.where(below, np.nan, values)      # below the floor: a gap for the fit
    out = _decompose_present(values, granularity, config, yearly)
    out.below_floor = below
    if granularity == "week" and first is not None:
        out.trend, out.seasonal = calendar_years_balanced(out.trend, out.seasonal, first)
    return out


EPOCH = date(1970, 1, 1)


def calendar_years_balanced(trend: np.ndarray, seasonal: np.ndarray, first: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """A weekly series' yearly season made to sum to zero over each calendar year the series
    covers whole (its weeks grouped by the year of their date), what it loses moved into the
    trend (trend + seasonal unchanged). STL's season does not sum to zero over a cycle when
    its amplitude changes: a year of weekly values came out 0.2-0.5% above the year's observed
    mean on a planted season, and up to 3.2% on Baidu's own province weeks (issue 34 §6).
    Balanced, a calendar year's seasonally adjusted mean is its observed mean (X-13's forcing
    of annual totals); a year the series covers in part is left as fitted. Rows of a 2-D array
    are series that start on the same day."""
    trend = np.array(trend, dtype=float)
    seasonal = np.array(seasonal, dtype=float)
    n = seasonal.shape[-1]
    years = np.array([(EPOCH + timedelta(days=int(first) + 7 * i)).year for i in range(n)])
    for year in np.unique(years):
        at = np.flatnonzero(years == year)
        starts = EPOCH + timedelta(days=int(first) + 7 * int(at[0]))
        ends = EPOCH + timedelta(days=int(first) + 7 * int(at[-1]))
        whole = (starts - timedelta(days=7)).year < year and (ends + timedelta(days=7)).year > year
        if not whole:
            continue
        level = np.nanmean(seasonal[..., at], axis=-1, keepdims=True)
        seasonal[..., at] -= level
        trend[..., at] += level
    return trend, seasonal


def _decompose_present(values: np.ndarray, granularity: str, config: "DecomposeConfig",
                       yearly: bool) -> Decomposition:
    n = len(values)
    missing = np.isnan(values)
    nan = np.full(n, np.nan)
    period = config.period if granularity == "day" else config.weekly_period
    if n == 0 or missing.all():
        return Decomposition(nan.copy(), nan.copy(), nan.copy(), note="no data",
                             anomalies=np.zeros(n, dtype=bool))
    if missing.mean() > config.max_missing:
        return Decomposition(nan.copy(), np.zeros(n), nan.copy(),
                             note=f"sparse: {missing.mean():.0%} missing, not decomposed",
                             anomalies=np.zeros(n, dtype=bool))
    filled = _filled(values)
    if n < 2 * period:
        # Too short for seasonality: a centred rolling mean is the trend.
        window = min(n, 7 if granularity == "day" else 5)
        trend = pd.Series(filled).rolling(window, center=True, min_periods=1).mean().to_numpy()
        resid = filled - trend
        resid[missing] = np.nan
        what = "weekly" if granularity == "day" else "yearly"
        return Decomposition(trend, np.zeros(n), resid,
                             note=f"short: {n} {granularity}s, under two {what} cycles; "
                                  f"trend only",
                             anomalies=_spikes(resid, config))
    STL = _stl()
    res = STL(filled, period=period, **config.stl_kwargs()).fit()
    trend, seasonal, resid = res.trend, res.seasonal, res.resid
    if config.refit_outliers:
        candidates = _spikes(np.asarray(resid), config)
        if candidates.any():
            cleaned = _same_weekday_median(filled, candidates, period)
            res = STL(cleaned, period=period, **config.stl_kwargs()).fit()
            trend, seasonal = res.trend, res.seasonal
            resid = filled - np.asarray(trend) - np.asarray(seasonal)
    yearly_part = None
    note = "ok"
    if yearly and granularity == "day" and n > 2 * 365:  # MSTL needs more than two cycles
        from statsmodels.tsa.seasonal import MSTL
        # the same smoother steps as every other fit here: without them the fit of a 731-day
        # series took 0.37 s, most of a national analysis' aggregates; with them 0.19 s. On
        # the test suite's national world adjusted days moved 0.03% on average (0.9% on the
        # worst day), yearly means 3e-6
        m = MSTL(filled, periods=(config.period, 365),
                 stl_kwargs=config.smoother_kwargs()).fit()
        level = abs(float(np.mean(filled))) or 1.0
        amplitude = float(np.std(m.seasonal[:, 1])) / level if np.ndim(m.seasonal) == 2 else 0.0
        if amplitude >= config.yearly_min_amplitude:
            trend, seasonal, resid = m.trend, m.seasonal[:, 0], m.resid
            yearly_part = m.seasonal[:, 1]
            note = f"ok; yearly seasonality kept (spread {amplitude:.0%} of the level)"
        else:
            note = f"ok; yearly seasonality dropped (spread {amplitude:.1%} of the level only)"
    trend, seasonal, resid = (np.asarray(a, dtype=float).copy() for a in (trend, seasonal, resid))
    resid[missing] = np.nan
    if missing.any():
        note += (f"; {int(missing.sum())} {granularity}s missing or below the floor "
                 f"interpolated for the fit")
    return Decomposition(trend, seasonal, resid, yearly=yearly_part, note=note,
                         anomalies=_spikes(resid, config))


# --- many series at once: STL as a matrix -----------------------------------------------------
#
# Non-robust STL with a fixed length, period and smoother settings is linear in the data: its
# trend is T·y and its season S·y for fixed n×n matrices (every smoother is a loess with fixed
# weights; the jumps interpolate linearly). Building T and S column by column from statsmodels'
# own fits of the unit vectors costs n fits once; after that a series costs one matrix-vector
# product (about 0.2 ms for three years instead of several ms), and equals statsmodels to
# rounding. Linear interpolation of gaps comes before, and the outlier refit is a second
# product on the cleaned series, so both stay exact. Robust STL and MSTL are not linear and
# always go through statsmodels.

def operator_key(n: int, granularity: str, config: DecomposeConfig) -> tuple:
    period = config.period if granularity == "day" else config.weekly_period
    return (n, period, config.seasonal, config.seasonal_jump, config.trend_jump,
            config.low_pass_jump)


def stl_operators(n: int, granularity: str = "day",
                  config: DecomposeConfig = DecomposeConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(T, S) with trend = T @ y and seasonal = S @ y for `STL(y, period, …).fit()` of any
    series y of length n with these settings (non-robust only). Built anew each call (a fit
    per day); service.operator_cache keeps them between runs."""
    if config.robust:
        raise ValueError("robust STL is not linear; it has no operator")
    period = config.period if granularity == "day" else config.weekly_period
    STL = _stl()
    trend, season = np.empty((n, n)), np.empty((n, n))
    unit = np.zeros(n)
    for j in range(n):
        unit[j] = 1.0
        res = STL(unit, period=period, **config.stl_kwargs()).fit()
        trend[:, j], season[:, j] = res.trend, res.seasonal
        unit[j] = 0.0
    return trend, season


# An operator's row i has weight on days near i only: STL's smoothers are local. Far from i
# its entries are 1e-17-sized residue of statsmodels' running sums (a unit input leaves that
# much behind), not dependence. Multiplying only the span that carries weight (each block of
# output days times the input days with an entry above BAND_TOL in any of its rows) is 3.6 times
# quicker for three years of daily data and differs from the whole product by rounding (a
# row's left-out entries add up to under 1e-14).
BAND_TOL = 1e-15
BAND_BLOCK = 64
_BANDS: dict[int, tuple] = {}


def _band_plan(trend_op: np.ndarray, season_op: np.ndarray) -> list[tuple]:
    """(first day, end day, first input day, end input day, both operators' block) a block."""
    cached = _BANDS.get(id(trend_op))
    if cached is not None and cached[0] is trend_op and cached[1] is season_op:
        return cached[2]
    n = trend_op.shape[0]
    weight = (np.abs(trend_op) > BAND_TOL) | (np.abs(season_op) > BAND_TOL)
    first = weight.argmax(axis=1)
    last = n - 1 - weight[:, ::-1].argmax(axis=1)
    plan = []
    for r0 in range(0, n, BAND_BLOCK):
        r1 = min(n, r0 + BAND_BLOCK)
        c0, c1 = int(first[r0:r1].min()), int(last[r0:r1].max()) + 1
        block = np.vstack([trend_op[r0:r1, c0:c1], season_op[r0:r1, c0:c1]]).T
        plan.append((r0, r1, c0, c1, np.ascontiguousarray(block)))
    if len(_BANDS) >= 8:
        _BANDS.clear()
    _BANDS[id(trend_op)] = (trend_op, season_op, plan)
    return plan


def apply_operators(filled: np.ndarray, trend_op: np.ndarray, season_op: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(trend, seasonal) of each row of `filled`: the rows times the operators, over the span
    each block of days depends on."""
    trend = np.empty(filled.shape)
    seasonal = np.empty(filled.shape)
    for r0, r1, c0, c1, block in _band_plan(trend_op, season_op):
        both = filled[:, c0:c1] @ block
        trend[:, r0:r1] = both[:, :r1 - r0]
        seasonal[:, r0:r1] = both[:, r1 - r0:]
    return trend, seasonal


def _fill_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row's gaps filled as `_filled` does: linear inside, the nearest value at the ends."""
    out = matrix.copy()
    x = np.arange(matrix.shape[1])
    for i in np.flatnonzero(np.isnan(matrix).any(axis=1)):
        ok = ~np.isnan(matrix[i])
        out[i] = np.interp(x, x[ok], matrix[i, ok])
    return out


def decompose_many(series: list[np.ndarray], granularity: str = "day",
                   config: DecomposeConfig = DecomposeConfig(),
                   yearly: list[bool] | None = None,
                   operators: dict | None = None,
                   first_days: list[int] | None = None) -> list[Decomposition]:
    """`decompose` for each series, equal to it to rounding: series whose length has an
    operator in `operators` (keyed by `operator_key`) are fitted together by matrix products,
    the rest (no operator, too short or sparse, yearly, robust) one by one."""
    yearly = yearly or [False] * len(series)
    out: list[Decomposition | None] = [None] * len(series)
    batches: dict[tuple, list[int]] = {}
    for i, values in enumerate(series):
        values = np.asarray(values, dtype=float)
        n = len(values)
        key = operator_key(n, granularity, config)
        dense = is_dense(values, config)
        missing = np.isnan(values) | (values <= 0)
        period = key[1]
        simple = (dense and operators and key in operators and not config.robust
                  and n >= 2 * period
                  and not missing.all() and missing.mean() <= config.max_missing
                  and not (yearly[i] and granularity == "day" and n > 2 * 365))
        if simple:
            batches.setdefault(key, []).append(i)
        else:
            out[i] = decompose(values, granularity, config, yearly=yearly[i],
                               first=None if first_days is None else first_days[i])
    for key, rows in batches.items():
        trend_op, season_op = operators[key]
        stored = np.vstack([np.asarray(series[i], dtype=float) for i in rows])
        below = stored <= 0
        observed = np.where(below, np.nan, stored)    # below the floor: a gap for the fit
        filled = _fill_rows(observed)
        trend, seasonal = apply_operators(filled, trend_op, season_op)
        resid = filled - trend - seasonal
        if config.refit_outliers:
            refit = []
            flagged = _spikes(resid, config)
            for r in np.flatnonzero(flagged.any(axis=1)):
                refit.append((r, _same_weekday_median(filled[r], flagged[r], key[1])))
            if refit:
                cleaned = np.vstack([c for _, c in refit])
                idx = [r for r, _ in refit]
                trend[idx], seasonal[idx] = apply_operators(cleaned, trend_op, season_op)
                resid[idx] = filled[idx] - trend[idx] - seasonal[idx]
        missing = np.isnan(observed)
        resid[missing] = np.nan
        anomalies = _spikes(resid, config)
        for r, i in enumerate(rows):
            note = "ok"
            if missing[r].any():
                note += (f"; {int(missing[r].sum())} {granularity}s missing or below the "
                         f"floor interpolated for the fit")
            t_r, s_r = trend[r].copy(), seasonal[r].copy()
            if granularity == "week" and first_days is not None:
                t_r, s_r = calendar_years_balanced(t_r, s_r, first_days[i])
            out[i] = Decomposition(t_r, s_r, resid[r].copy(), note=note,
                                   anomalies=anomalies[r], below_floor=below[r])
    return out


