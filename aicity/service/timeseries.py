"""A selection over time in one region: a keyword's stored series, or a dimension's or group's
daily sum of its keywords' seasonally adjusted values (as the rankings sum them).

What the explorer draws and what `aicity series --dimension` prints. A keyword's days keep
their state (reported, below floor, waiting); a dimension's day is `adjusted` where some keyword
was asked, empty where none was. Buckets (week, month) are means of their days, a day below
the floor counting 0 as in Baidu's own weekly values; `per_capita` and `relative` scale a frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aicity.analysis.periods import Period
from aicity.db import store
from aicity.service.selection import NoResults, adjusted_array, group_id, subjects

GRANULARITIES = ("day", "week", "month")
KINDS = ("keyword", "dimension", "group")


@dataclass(frozen=True)
class Selection:
    """One thing to draw: a keyword (`text` its term or alias), a dimension, or a group
    (`text` 'dimension/group', e.g. application/vision or application/计算机视觉)."""
    kind: str
    text: str

    @classmethod
    def parse(cls, spec: str) -> "Selection":
        """'k:人工智能', 'd:technical', 'g:application/vision'; a bare text is a keyword."""
        head, sep, rest = spec.partition(":")
        kinds = {"k": "keyword", "d": "dimension", "g": "group"}
        if sep and head in kinds and rest.strip():
            return cls(kinds[head], rest.strip())
        return cls("keyword", spec.strip())

    @property
    def spec(self) -> str:
        return f"{self.kind[0]}:{self.text}"

    def arguments(self) -> dict:
        """The selection as the service queries take it: category, group and keyword."""
        if self.kind == "keyword":
            return {"category": None, "group": None, "keyword": self.text}
        if self.kind == "dimension":
            return {"category": self.text, "group": None, "keyword": None}
        if self.kind == "group":
            category, _, group = self.text.partition("/")
            if not group:
                raise NoResults(f"group {self.text!r} needs dimension/group, e.g. "
                                f"application/vision")
            return {"category": category, "group": group_id(category, group), "keyword": None}
        raise NoResults(f"unknown kind of series {self.kind!r}; one of {', '.join(KINDS)}")


def _keyword_frame(db, keyword: str, region: int, period: Period, device: str
                   ) -> tuple[pd.DataFrame, str]:
    kw_id, term = store.resolve_keyword(db, keyword)
    rows = store.series(db, kw_id, region, device=device, start=period.start.isoformat(),
                        end=period.end.isoformat())
    frame = pd.DataFrame({"date": pd.to_datetime(rows["date"]),
                          "value": pd.to_numeric(rows["value"], errors="coerce"),
                          "state": rows["state"]})
    return frame, term


def _dimension_frame(db, category: str, group: str | None, region: int, period: Period,
                     device: str) -> tuple[pd.DataFrame, str]:
    ids, label = subjects(db, category, group, None)
    columns, adjusted = adjusted_array(db, ids, period, [region], device)
    days = pd.date_range(period.start, period.end, freq="D")
    if not columns:
        raise NoResults(f"no analysis results for {label} in this region; run "
                        f"`aicity analyze`")
    asked = ~np.isnan(adjusted)
    total = np.where(asked.any(axis=1), np.nansum(adjusted, axis=1), np.nan)
    frame = pd.DataFrame({"date": days, "value": total,
                          "state": np.where(asked.any(axis=1), "adjusted", "")})
    return frame[frame["state"] != ""].reset_index(drop=True), label


def selection_series(db, selection: Selection, region: int, period: Period,
                     device: str = "all") -> tuple[pd.DataFrame, str]:
    """date, value, state of a selection in one region over the period, and its label."""
    args = selection.arguments()
    if args["keyword"]:
        return _keyword_frame(db, args["keyword"], region, period, device)
    return _dimension_frame(db, args["category"], args["group"], region, period, device)


def bucketed(frame: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """date, value, days_below_floor, days of a daily (or weekly) frame, by day, week (from
    Monday) or month: the mean of the bucket's asked days, a day below the floor counting 0.
    A day below the floor keeps an empty value by day (drawn as a gap, never a drop to 0)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
    below = frame["state"].eq("below floor")
    if granularity == "day":
        out = frame[["date"]].copy()
        out["value"] = frame["value"].where(~below)
        out["below_floor"] = below.astype(int)
        out["waiting"] = frame["state"].eq("waiting").astype(int)
        return out.reset_index(drop=True)
    counted = frame["value"].where(~below, 0.0).where(~frame["state"].eq("waiting"))
    key = frame["date"].dt.to_period("W-SUN" if granularity == "week" else "M")
    grouped = pd.DataFrame({"value": counted, "below_floor": below.astype(int),
                            "waiting": frame["state"].eq("waiting").astype(int)}).groupby(key)
    out = grouped.agg({"value": "mean", "below_floor": "sum", "waiting": "sum"})
    out.insert(0, "date", out.index.to_timestamp())
    return out.reset_index(drop=True)
