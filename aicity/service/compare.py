"""Keywords side by side (what pytrends' interest_over_time gives): one column per keyword (or
keyword/region), one row per day, from the stored series.

`wide_frame` is pure (long rows in, a wide frame out); `compare` reads the database through
db.store. A day below Baidu's floor is 0 (the site's convention), a day never asked is empty.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from aicity.db import store
from aicity.vocabulary import parse_day

NORMALISATIONS = ("raw", "relative")


def wide_frame(series: dict[str, pd.Series], normalize: str = "raw") -> pd.DataFrame:
    """Columns in the order given, indexed by a daily DatetimeIndex over their union. `relative`
    scales everything by one factor so the table's largest value is 100 (pytrends' scale: the
    columns stay comparable with each other)."""
    if normalize not in NORMALISATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALISATIONS)}, "
                         f"not {normalize!r}")
    frame = pd.DataFrame(series)
    if frame.empty:
        return frame
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    frame = frame.sort_index().astype(float)
    if normalize == "relative":
        top = np.nanmax(frame.to_numpy()) if frame.notna().any().any() else np.nan
        frame = frame * (100.0 / top) if top and top > 0 else frame * np.nan
    return frame


def compare(db, keywords: list[str], regions: list[str] | None = None, *,
            start: str | None = None, end: str | None = None, normalize: str = "raw",
            device: str = "all") -> pd.DataFrame:
    """Daily values of each keyword (names or aliases) in each region (names or codes; default
    the nation), side by side: columns `keyword` for one region, `keyword/region` for several.
    attrs: source, granularity per column."""
    if start:
        parse_day(start, "--start")
    if end:
        parse_day(end, "--end")
    registry = store.registry(db)
    places = [registry.resolve(r) for r in (regions or ["0"])]
    columns: dict[str, pd.Series] = {}
    weekly = []
    for text in keywords:
        kw_id, term = store.resolve_keyword(db, text)
        for place in places:
            rows = store.series(db, kw_id, place.code, device=device, start=start, end=end)
            name = term if len(places) == 1 else f"{term}/{place.name}"
            if rows.attrs.get("granularity") == "week":
                weekly.append(name)
            values = rows["value"].astype("Float64").fillna(0.0).astype(float)
            values[rows["state"].to_numpy() == store.STATE_WAITING] = np.nan
            columns[name] = pd.Series(values.to_numpy(), index=pd.to_datetime(rows["date"]))
    out = wide_frame(columns, normalize)
    out.attrs["source"] = store.source_label(db)
    out.attrs["weekly"] = weekly
    return out


OVERLAID = 8        # more columns than this: one small plot each (a legend of 40 hid 17)


def compare_figure(frame: pd.DataFrame, normalize: str = "raw"):
    """A `compare` frame drawn, one line a column: up to OVERLAID overlaid with the legend
    under the plot (never on it), more as small multiples four across, each titled; colours
    from twenty distinct ones, never repeated within a figure of up to twenty."""
    from aicity.service.report import _plt
    plt = _plt()
    colours = plt.get_cmap("tab20").colors
    ylabel = "百度指数" + ("（最大值 = 100）" if normalize == "relative" else "（日）")
    source = frame.attrs.get("source", "")
    title = "关键词对比" + ("（模拟数据）" if "simulated" in source else "")
    columns = list(frame.columns)
    if len(columns) <= OVERLAID:
        legend_rows = (len(columns) + 3) // 4
        fig, ax = plt.subplots(figsize=(10, 4.5 + 0.3 * legend_rows))
        for i, column in enumerate(columns):
            ax.plot(frame.index, frame[column], lw=0.9, label=column,
                    color=colours[i % len(colours)])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8,
                  frameon=False)
    else:
        cols = 4
        rows = (len(columns) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(12, 2.2 * rows + 0.6), sharex=True,
                                 squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= len(columns):
                ax.set_visible(False)
                continue
            ax.plot(frame.index, frame[columns[i]], lw=0.8, color=colours[i % len(colours)])
            ax.set_title(columns[i], fontsize=9)
            ax.tick_params(labelsize=7)
        fig.suptitle(f"{title} · {ylabel}")
    fig.tight_layout()
    return fig


def plot_compare(frame: pd.DataFrame, path, normalize: str = "raw") -> None:
    """Draw a `compare` frame to a .png or .svg file (compare_figure)."""
    from aicity.service.report import _plt
    fig = compare_figure(frame, normalize)
    fig.savefig(path)
    _plt().close(fig)
