"""The explorer's charts as plotly figure dicts (plain JSON: plotly.js draws them in the page).

Rules every chart keeps: a day below Baidu's floor is a gap with a shaded band, never a drop
to 0; more than OVERLAID lines become small multiples; the legend sits under the plot, never on
it; colours do not repeat within a view; the unit is on the axis; simulated data says so on
the chart, in the page's language. Maps use `choroplethmap`/`scattermap` on a blank style (the
geo traces fetch a world outline from a CDN, and tiles would need the network).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from aicity.explorer.params import OVERLAID
from aicity.explorer.text import words

# twenty distinct colours (as many as lines a view may draw): no colour twice in a view
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#ad494a", "#637939", "#8c6d31",
           "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1")
TIER_COLOURS = {1: "#b2182b", 2: "#ef8a62", 3: "#67a9cf", 4: "#d1e5f0"}
MAX_BANDS = 300          # floor bands drawn per chart (runs beyond are still gaps)


@dataclass
class Line:
    title: str
    frame: pd.DataFrame            # date, value, below_floor, waiting (see timeseries.bucketed)
    earlier: pd.DataFrame | None   # the same, dated onto this period (同比/环比 overlay)
    anomalies: pd.DataFrame        # date, value, resid (keywords only)
    kind: str = "keyword"


def _dates(frame: pd.DataFrame) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.to_datetime(frame["date"])]


def _values(series: pd.Series) -> list:
    return [None if v != v else round(float(v), 4) for v in series.astype(float)]


def _mark(lang: str, simulated: bool) -> list[dict]:
    if not simulated:
        return []
    return [{"text": words(lang)["simulated"], "xref": "paper", "yref": "paper", "x": 1,
             "y": 1.02, "xanchor": "right", "yanchor": "bottom", "showarrow": False,
             "font": {"color": "#b2182b", "size": 13}}]


def _floor_bands(frame: pd.DataFrame, colour: str, xref: str) -> list[dict]:
    """Shaded spans over runs of days below the floor (by day only: a week or month counts
    them 0 in its mean and says how many in the table)."""
    below = frame["below_floor"].to_numpy() > 0
    dates = pd.to_datetime(frame["date"]).to_numpy()
    out, start = [], None
    for i, flag in enumerate(below):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(below) - 1):
            last = i if flag else i - 1
            out.append({"type": "rect", "xref": xref, "yref": "paper" if xref == "x" else
                        xref.replace("x", "y") + " domain", "x0": str(dates[start])[:10],
                        "x1": str(dates[last] + np.timedelta64(1, "D"))[:10], "y0": 0,
                        "y1": 1, "fillcolor": colour, "opacity": 0.12, "line": {"width": 0},
                        "layer": "below"})
            start = None
    return out


def lines_figure(lines: list[Line], unit: str, lang: str, simulated: bool,
                 granularity: str, holidays: list[tuple] | None = None) -> dict:
    w = words(lang)
    multiples = len(lines) > OVERLAID
    cols = 3 if multiples else 1
    rows = math.ceil(len(lines) / cols) if multiples else 1
    traces, shapes, annotations = [], [], _mark(lang, simulated)
    layout: dict = {"margin": {"l": 60, "r": 20, "t": 40, "b": 40}, "hovermode": "closest",
                    "template": None, "paper_bgcolor": "white", "plot_bgcolor": "white"}
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        axis = "" if not multiples or i == 0 else str(i + 1)
        xref, yref = f"x{axis}", f"y{axis}"
        common = {"xaxis": xref, "yaxis": yref}
        traces.append({"type": "scatter", "mode": "lines", "name": line.title,
                       "x": _dates(line.frame), "y": _values(line.frame["value"]),
                       "line": {"color": colour, "width": 1.6}, "connectgaps": False,
                       "legendgroup": line.title, "showlegend": not multiples,
                       "hovertemplate": "%{x}: %{y:,.1f}<extra>" + line.title + "</extra>",
                       **common})
        if line.earlier is not None and len(line.earlier):
            traces.append({"type": "scatter", "mode": "lines",
                           "name": f"{line.title} ({w['earlier']})",
                           "x": _dates(line.earlier), "y": _values(line.earlier["value"]),
                           "line": {"color": colour, "width": 1, "dash": "dot"},
                           "legendgroup": line.title, "showlegend": not multiples,
                           "hovertemplate": "%{y:,.1f}<extra>earlier</extra>", **common})
        if granularity == "day" and len(shapes) < MAX_BANDS:
            shapes += _floor_bands(line.frame, colour, xref)[:MAX_BANDS - len(shapes)]
        waiting = line.frame[line.frame["waiting"] > 0]
        if len(waiting):
            traces.append({"type": "scatter", "mode": "markers", "name": w["waiting"],
                           "x": _dates(waiting), "y": [0] * len(waiting),
                           "marker": {"symbol": "x", "color": colour, "size": 7},
                           "showlegend": False,
                           "hovertemplate": "%{x}: " + w["waiting"] + "<extra></extra>",
                           **common})
        if len(line.anomalies):
            a = line.anomalies
            traces.append({"type": "scatter", "mode": "markers", "name": w["anomaly"],
                           "x": list(a["date"]), "y": _values(a["value"]),
                           "marker": {"symbol": "diamond-open", "color": colour, "size": 9},
                           "showlegend": False,
                           "text": [f"{w['anomaly']}: {r:+.1f}" for r in a["resid"]],
                           "hovertemplate": "%{x}: %{y:,.1f}<br>%{text}<extra></extra>",
                           **common})
        if multiples:
            annotations.append({"text": line.title, "showarrow": False, "xref": f"{xref} domain",
                                "yref": f"{yref} domain", "x": 0, "y": 1.08,
                                "xanchor": "left", "font": {"size": 12, "color": colour}})
    if holidays:
        # China's holidays and working days in lieu, named on hover, on the first plot's floor
        traces.append({"type": "scatter", "mode": "markers", "name": w["holidays"],
                       "x": [d.isoformat() for d, _ in holidays], "y": [0] * len(holidays),
                       "text": [name for _, name in holidays],
                       "marker": {"symbol": "triangle-up", "color": "#999", "size": 7},
                       "hovertemplate": "%{x}: %{text}<extra></extra>",
                       "showlegend": not multiples, "xaxis": "x", "yaxis": "y"})
    if multiples:
        layout["grid"] = {"rows": rows, "columns": cols, "pattern": "independent",
                          "ygap": 0.35}
        layout["height"] = 230 * rows + 60
    else:
        layout["height"] = 460
        layout["legend"] = {"orientation": "h", "x": 0, "y": -0.12, "yanchor": "top"}
        layout["margin"]["b"] = 40 + 22 * math.ceil(len(traces) / 2)
        layout["height"] += 22 * math.ceil(len(traces) / 2)
    layout["yaxis"] = {"title": {"text": unit}, "rangemode": "tozero", "gridcolor": "#eee"}
    layout["xaxis"] = {"gridcolor": "#eee"}
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return {"data": traces, "layout": layout}


@lru_cache(maxsize=1)
def _province_geojson(codes: tuple[tuple[str, int], ...]) -> str:
    """The packaged Natural Earth outlines, provinces keyed by their area code."""
    from aicity.db.outlines import outlines
    features = []
    for o in outlines():
        if o.kind not in ("province", "sar"):
            continue
        code = next((c for name, c in codes if o.name.startswith(name)), None)
        if code is None:
            continue
        features.append({"type": "Feature", "id": code, "properties": {"name": o.name},
                         "geometry": {"type": "MultiPolygon",
                                      "coordinates": [[list(map(list, ring))]
                                                      for ring in o.parts]}})
    return json.dumps({"type": "FeatureCollection", "features": features})


def _outline_lines() -> tuple[list, list]:
    """The claimed areas' edges and the nine dashes as one line trace (gaps between parts)."""
    from aicity.db.outlines import outlines
    lon, lat = [], []
    for o in outlines():
        if o.kind in ("claimed_area", "nine_dash_line"):
            for part in o.parts:
                lon += [x for x, _ in part] + [None]
                lat += [y for _, y in part] + [None]
    return lon, lat


def _hover(frame: pd.DataFrame, lang: str) -> list[str]:
    w = words(lang)
    out = []
    for r in frame.itertuples(index=False):
        interval = ""
        if hasattr(r, "rank_low") and r.rank_low == r.rank_low and r.rank_low is not None:
            interval = f" [{r.rank_low}–{r.rank_high}]"
        value = "" if r.value != r.value or r.value is None else f"{r.value:,.1f}"
        rank = "" if r.rank is None or r.rank != r.rank else f"{int(r.rank)}"
        tier = "" if r.tier is None or r.tier != r.tier else f"{int(r.tier)}"
        coverage = "" if r.coverage is None or r.coverage != r.coverage else \
            f"{100 * r.coverage:.0f}%"
        out.append(f"<b>{r.region}</b><br>{w['value']}: {value} {r.unit}<br>{w['rank']}: "
                   f"{rank}{interval}<br>{w['tier']}: {tier}<br>coverage: {coverage}")
    return out


def map_figure(cities: pd.DataFrame, provinces: pd.DataFrame, registry, colour: str,
               lang: str, simulated: bool, title: str) -> dict:
    w = words(lang)
    codes = tuple((r.name, r.code) for r in registry if r.level == "province")
    geojson = json.loads(_province_geojson(codes))
    traces = []
    if len(provinces):
        z = provinces["tier"].astype(float) if colour == "tier" else \
            np.log10(provinces["value"].astype(float).clip(lower=1e-9))
        traces.append({
            "type": "choroplethmap", "geojson": geojson, "featureidkey": "id",
            "locations": [int(c) for c in provinces["region_code"]],
            "z": [None if v != v else float(v) for v in z],
            "customdata": [[int(c)] for c in provinces["region_code"]],
            "text": _hover(provinces, lang), "hovertemplate": "%{text}<extra></extra>",
            "colorscale": ([[0, TIER_COLOURS[1]], [0.33, TIER_COLOURS[2]],
                            [0.66, TIER_COLOURS[3]], [1, TIER_COLOURS[4]]]
                           if colour == "tier" else "Blues"),
            "reversescale": False, "zmin": 1 if colour == "tier" else None,
            "zmax": 4 if colour == "tier" else None,
            "marker": {"opacity": 0.45, "line": {"width": 0.6, "color": "#666"}},
            "showscale": False, "name": w["province"]})
    lon, lat = _outline_lines()
    traces.append({"type": "scattermap", "mode": "lines", "lon": lon, "lat": lat,
                   "line": {"color": "#999", "width": 1}, "hoverinfo": "skip",
                   "showlegend": False, "name": "outline"})
    placed = cities[cities["value"].notna()]
    by_code = registry.by_code
    lons = [by_code[int(c)].lon for c in placed["region_code"]]
    lats = [by_code[int(c)].lat for c in placed["region_code"]]
    values = placed["value"].astype(float).clip(lower=0)
    top = float(values.max()) if len(values) and values.max() > 0 else 1.0
    sizes = [4 + 26 * math.sqrt(v / top) for v in values]
    if colour == "tier":
        colours = [TIER_COLOURS.get(int(t), "#ccc") if t == t else "#ccc"
                   for t in placed["tier"].astype(float)]
        marker = {"size": sizes, "color": colours, "opacity": 0.85}
    else:
        marker = {"size": sizes, "color": list(np.log10(values.clip(lower=1e-9))),
                  "colorscale": "Viridis", "opacity": 0.85, "showscale": False}
    traces.append({"type": "scattermap", "mode": "markers", "lon": lons, "lat": lats,
                   "marker": marker, "text": _hover(placed, lang),
                   "customdata": [[int(c)] for c in placed["region_code"]],
                   "hovertemplate": "%{text}<extra></extra>", "name": w["city"],
                   "showlegend": False})
    legend = []
    if colour == "tier":      # the key, under the title: a coloured square per tier and its ranks
        for k, ranks in enumerate(("1–10", "11–30", "31–100", "101+")):
            legend.append({"text": f"<span style='color:{TIER_COLOURS[k + 1]}'>■</span> "
                                   f"{w['tier']} {k + 1} ({ranks})",
                           "xref": "paper", "yref": "paper", "x": 0.01, "y": 0.97 - 0.04 * k,
                           "xanchor": "left", "showarrow": False, "font": {"size": 12},
                           "bgcolor": "rgba(255,255,255,0.8)"})
    layout = {"map": {"style": "white-bg", "center": {"lon": 104.5, "lat": 35.5}, "zoom": 2.6},
              "height": 620, "margin": {"l": 0, "r": 0, "t": 36, "b": 0},
              "title": {"text": title, "x": 0.01, "font": {"size": 15}},
              "annotations": _mark(lang, simulated) + legend, "showlegend": False}
    return {"data": traces, "layout": layout}
