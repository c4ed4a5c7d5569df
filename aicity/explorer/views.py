"""The explorer's views: each reads a checked Query, calls the service functions the command line
calls, and answers with the table it shows (the CLI's columns), a chart and its notes.

A view never writes: the database is opened read-only (app.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aicity.analysis.periods import Period
from aicity.db import store
from aicity.explorer import charts
from aicity.explorer.params import MAX_SERIES, BadRequest, Query
from aicity.explorer.text import words
from aicity.service import queries
from aicity.service.selection import area_codes, data_span, days_with_data
from aicity.service.timeseries import GRANULARITIES, Selection, bucketed, selection_series
from aicity.vocabulary import COMBINED_COGNITION, DIMENSIONS, LABELS_ZH, PER_CAPITA_FLOOR

DIMENSION_CHOICES = (*DIMENSIONS, COMBINED_COGNITION)
NORMALIZE = ("raw", "per-capita", "share", "score")
SCALES = ("index", "per-capita", "relative")
OVERLAYS = ("none", "yoy", "pop")
TABLES = ("rank", "demand", "industries", "split")
COLOURS = ("tier", "value")


@dataclass
class View:
    """What a page shows: its table (the CLI's columns), chart, notes and the form's state."""
    name: str
    title: str
    table: pd.DataFrame | None = None
    figure: dict | None = None
    notes: list[str] = field(default_factory=list)
    simulated: bool = False
    period: Period | None = None
    form: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def label(name: str, lang: str) -> str:
    """A dimension's or group's name in the page's language."""
    if name == COMBINED_COGNITION:
        return words(lang)["cognition"]
    return LABELS_ZH.get(name, name) if lang == "zh" else name.replace("_", " ")


def _resolve_region(registry, text: str):
    """A region by name or code; a name both a province and a city have (北京) is the city."""
    from aicity.db.regions import RegionError
    try:
        return registry.resolve(text)
    except RegionError as err:
        if "ambiguous" in str(err):
            return registry.resolve(text, level="city")
        raise


def _base(db, q: Query, name: str, title: str) -> View:
    sources = store.sources(db)
    return View(name=name, title=title, simulated="emulator" in sources)


def _period_note(db, per: Period, lang: str) -> str:
    return words(lang)["days_with_data"].format(start=per.start, end=per.end,
                                                n=days_with_data(db, per), days=per.days)


# --- explore ---------------------------------------------------------------------------------

def explore(db, q: Query) -> View:
    """Selections (keywords, dimensions, groups) in regions over time."""
    w = words(q.lang)
    view = _base(db, q, "explore", w["explore"])
    specs = q.many("s") or ["d:basic"]
    region_texts = q.many("r") or [_default_region(db, q, specs[0])]
    if len(specs) * len(region_texts) > MAX_SERIES:
        raise BadRequest(f"{len(specs)} series in {len(region_texts)} regions make "
                         f"{len(specs) * len(region_texts)} lines: at most {MAX_SERIES} a view",
                         f"{len(specs)} 条序列 × {len(region_texts)} 个地区 = "
                         f"{len(specs) * len(region_texts)} 条线：每页最多 {MAX_SERIES} 条")
    selections = [Selection.parse(s) for s in specs]
    registry = store.registry(db)
    places = [_resolve_region(registry, t) for t in region_texts]
    per = q.period(data_span(db))
    gran = q.one("g", GRANULARITIES, "day" if per.days <= 400 else "week")
    scale = q.one("scale", SCALES, "index")
    overlay = q.one("overlay", OVERLAYS, "none")
    pairs = [(sel, place) for sel in selections for place in places]
    base = q.integer("base", 0, 0, max(0, len(pairs) - 1))
    populations = {r.code: r.population for r in
                   store.with_period_population(places, per.start, per.end)}
    lines, rows = [], []
    for sel, place in pairs:
        frame, name = selection_series(db, sel, place.code, per)
        shown = bucketed(frame, gran)
        title = f"{label(name, q.lang)} · {place.name}"
        if scale == "per-capita":
            pop = populations.get(place.code)
            if not pop or pop < PER_CAPITA_FLOOR:
                raise BadRequest(f"{place.name} has no population of at least "
                                 f"{PER_CAPITA_FLOOR:,} to divide by",
                                 f"{place.name} 没有可用的人口数（至少 {PER_CAPITA_FLOOR:,}）")
            shown["value"] = shown["value"] * 1e6 / pop
        earlier = None
        if overlay != "none":
            before = queries.earlier_period(per, "year" if overlay == "yoy" else "previous")
            old, _ = selection_series(db, sel, place.code, before)
            earlier = bucketed(old, gran)
            earlier["date"] = earlier["date"] + (pd.DateOffset(years=1) if overlay == "yoy"
                                                 else pd.Timedelta(days=per.days))
            if scale == "per-capita":
                earlier["value"] = earlier["value"] * 1e6 / populations[place.code]
        anomalies = pd.DataFrame()
        if sel.kind == "keyword":
            kw_id, _ = store.resolve_keyword(db, sel.text)
            anomalies = store.anomalies_frame(db, region=place.code, subjects=[f"k:{kw_id}"],
                                              start=per.start.isoformat(),
                                              end=per.end.isoformat(), limit=200)
        lines.append(charts.Line(title, shown, earlier, anomalies, kind=sel.kind))
        for r in shown.itertuples(index=False):
            rows.append((r.date.date().isoformat(), sel.spec, name, place.name, place.code,
                         r.value, int(r.below_floor), int(r.waiting)))
    table = pd.DataFrame(rows, columns=["date", "selection", "series", "region", "region_code",
                                        "value", "days_below_floor", "days_waiting"])
    unit = {"index": "index/day", "per-capita": "index/day per million residents",
            "relative": ""}[scale]
    if scale == "relative":
        top = np.nanmax(lines[base].frame["value"].to_numpy(dtype=float)) \
            if lines[base].frame["value"].notna().any() else np.nan
        factor = 100.0 / top if top and top > 0 else np.nan
        for line in lines:
            line.frame["value"] = line.frame["value"] * factor
            if line.earlier is not None:
                line.earlier["value"] = line.earlier["value"] * factor
        table["value"] = table["value"] * factor
        unit = w["relative_to"].format(base=lines[base].title)
        view.notes.append(unit)
    table["unit"] = unit
    table["source"] = store.source_label(db)
    view.table = table
    view.period = per
    view.notes.insert(0, _period_note(db, per, q.lang))
    if any(line.kind != "keyword" for line in lines):
        view.notes.append(w["sum_note"])
    if gran != "day":
        view.notes.append(w["bucket_note"])
    from aicity.analysis.holidays import holiday_names
    holidays = holiday_names(per.start, per.end, q.lang) if gran == "day" else None
    view.figure = charts.lines_figure(lines, unit, q.lang, view.simulated, gran, holidays)
    view.form = {"s": specs, "r": region_texts, "g": gran, "scale": scale, "overlay": overlay,
                 "base": base}
    return view


def _default_region(db, q: Query, spec: str) -> str:
    """The nation, or where the nation has no data yet (a deployment that collected cities
    first) the region ranked first on the first series."""
    sel = Selection.parse(spec)
    try:
        per = q.period(data_span(db))
        selection_series(db, sel, 0, per)
        return "0"
    except (queries.NoResults, BadRequest):
        pass
    try:
        ranked = queries.rank(db, **sel.arguments())
        return str(int(ranked["region_code"].iloc[0]))
    except (queries.NoResults, BadRequest, IndexError, LookupError, ValueError):
        return "0"


# --- rankings --------------------------------------------------------------------------------

def ranking(db, q: Query, per: Period, dimension: str, level: str, normalize: str = "raw",
            uncertainty: bool = False) -> pd.DataFrame:
    """queries.rank, shared by every view that asks the same for the current data (the map,
    the rankings and each region's page rank the same regions)."""
    key = ("rank", dimension, level, per.start, per.end, normalize, uncertainty)
    return q.memo(key, lambda: queries.rank(db, category=dimension, level=level, period=per,
                                            normalize=normalize, uncertainty=uncertainty))


def _ranked(db, q: Query, per: Period, dimension: str, level: str, normalize: str,
            uncertainty: bool) -> pd.DataFrame:
    out = ranking(db, q, per, dimension, level, normalize, uncertainty)
    out = queries.within_area(out, area_codes(store.registry(db), q.text("province") or None,
                                              q.text("cluster") or None)).copy()
    out["source"] = store.source_label(db)
    return out[[c for c in out.columns if c != "unit"] + ["unit"]]


def rankings(db, q: Query) -> View:
    w = words(q.lang)
    view = _base(db, q, "rankings", w["rankings"])
    table = q.one("table", TABLES, "rank")
    dimension = q.one("dimension", DIMENSION_CHOICES, COMBINED_COGNITION)
    level = q.one("level", ("city", "province"), "city")
    normalize = q.one("normalize", NORMALIZE, "raw")
    uncertainty = q.flag("uncertainty")
    per = q.period(data_span(db))
    top = q.integer("top", 0, 0, 10_000)
    if table == "rank":
        out = _ranked(db, q, per, dimension, level, normalize, uncertainty)
        view.notes.append(w["bands"])
        if out.attrs.get("measure"):
            view.notes.append(out.attrs["measure"])
    elif table == "demand":
        rule = q.one("rule", ("absolute", "relative"), "absolute")
        out = queries.demand_types(db, period=per, top=top or 50, level=level, rule=rule)
        view.notes.append(out.attrs["rule"])
        out["source"] = store.source_label(db)
    elif table == "industries":
        out = queries.industries(db, period=per, top=top or 10, level=level)
        out["source"] = store.source_label(db)
    else:
        line = q.one("line", ("qinling-huaihe", "yangtze", "both"), "both")
        if dimension == COMBINED_COGNITION:
            raise BadRequest("north/south splits a dimension: choose basic, professional, "
                             "technical, application or industry",
                             "南北对比针对单一维度：请选择基础、专业、技术认知或应用、行业需求")
        out = queries.split(db, category=dimension, line=line, period=per, level=level)
        view.notes.append(out.attrs["note"])
        out["source"] = store.source_label(db)
    if top and table == "rank":
        out = out.head(top)
    view.table = out.reset_index(drop=True)
    view.period = per
    view.notes.insert(0, _period_note(db, per, q.lang))
    view.form = {"table": table, "dimension": dimension, "level": level,
                 "normalize": normalize, "uncertainty": uncertainty,
                 "province": q.text("province"), "cluster": q.text("cluster"), "top": top}
    return view


def movers(db, q: Query) -> View:
    w = words(q.lang)
    view = _base(db, q, "movers", w["movers"])
    dimension = q.one("dimension", DIMENSIONS, "application")
    against = q.one("against", queries.AGAINST, "auto")
    level = q.one("level", ("city", "province"), "city")
    # a default that can answer: the last 90 days (a year earlier, or the 90 days before)
    per = q.period(data_span(db), default="90d")
    out = queries.movers(db, category=dimension, period=per, level=level, n=0,
                         against=against, with_tiers=False)["growth"]
    for key in ("against_note", "note", "terms_note"):
        if out.attrs.get(key):
            view.notes.append(out.attrs[key])
    if out.attrs.get("left_out"):
        view.notes.append(w["left_out"].format(n=out.attrs["left_out"]))
    view.notes.insert(0, ("对比时段 " if q.lang == "zh" else "compared with ")
                      + out.attrs["against_period"])
    out = out.copy()
    out["source"] = store.source_label(db)
    view.table = out
    view.period = per
    view.notes.insert(0, _period_note(db, per, q.lang))
    view.form = {"dimension": dimension, "against": against, "level": level}
    return view


# --- map -------------------------------------------------------------------------------------

def map_view(db, q: Query) -> View:
    w = words(q.lang)
    view = _base(db, q, "map", w["map"])
    dimension = q.one("dimension", DIMENSION_CHOICES, "application")
    normalize = q.one("normalize", ("raw", "per-capita"), "raw")
    colour = q.one("colour", COLOURS, "tier")
    per = q.period(data_span(db))
    cities = _ranked(db, q, per, dimension, "city", normalize, False)
    try:
        provinces = _ranked(db, q, per, dimension, "province", normalize, False)
    except queries.NoResults:
        provinces = cities.iloc[0:0]
    registry = store.registry(db)
    view.figure = charts.map_figure(cities, provinces, registry, colour, q.lang,
                                    view.simulated, label(dimension, q.lang))
    view.table = cities
    view.period = per
    view.notes = [_period_note(db, per, q.lang), w["bands"], w["map_note"]]
    if cities.attrs.get("measure"):
        view.notes.append(cities.attrs["measure"])
    view.form = {"dimension": dimension, "normalize": normalize, "colour": colour}
    return view


# --- a region's page -------------------------------------------------------------------------

def region(db, q: Query, code: int) -> View:
    w = words(q.lang)
    registry = store.registry(db)
    place = registry.by_code.get(code)
    if place is None:
        raise BadRequest(f"no region with area code {code}", f"没有地区代码 {code}", status=404)
    view = _base(db, q, "region", f"{place.name}")
    per = q.period(data_span(db))
    level = place.level if place.level in ("city", "province") else "city"
    rows = []
    for dim in DIMENSION_CHOICES:
        try:
            ranked = ranking(db, q, per, dim, level, uncertainty=True)
        except queries.NoResults:
            continue
        mine = ranked[ranked["region_code"] == code]
        if len(mine):
            r = mine.iloc[0]
            rows.append((dim, label(dim, q.lang), r["value"], r["rank"], r["rank_low"],
                         r["rank_high"], r["tier"], r["tier_confidence"], r["coverage"],
                         r["unit"]))
    profile = pd.DataFrame(rows, columns=["dimension", "name", "value", "rank", "rank_low",
                                          "rank_high", "tier", "tier_confidence", "coverage",
                                          "unit"])
    profile["source"] = store.source_label(db)
    view.table = profile
    dimension = q.one("dimension", DIMENSIONS, "basic")
    compared = [place]
    if place.level == "city" and place.province:
        try:
            compared.append(registry.resolve(place.province, level="province"))
        except Exception:       # a city whose province is not in the registry: just itself
            pass
    lines = []
    for other in compared:
        try:
            frame, _ = selection_series(db, Selection("dimension", dimension), other.code, per)
        except queries.NoResults:
            continue
        lines.append(charts.Line(f"{label(dimension, q.lang)} · {other.name}",
                                 bucketed(frame, "week"), None, pd.DataFrame(), "dimension"))
    median = q.memo(("median", dimension, per.start, per.end),
                    lambda: _city_median(db, dimension, per))
    if median is not None:
        lines.append(charts.Line(f"{label(dimension, q.lang)} · {w['national_median']}",
                                 median, None, pd.DataFrame(), "dimension"))
    if lines:
        view.figure = charts.lines_figure(lines, "index/day", q.lang, view.simulated, "week")
    try:
        demand = q.memo(("demand", level, per.start, per.end), lambda: queries.demand_types(
            db, period=per, top=10_000, level=level))
        mine = demand[demand["region_code"] == code]
        if len(mine):
            view.extra["demand"] = mine.iloc[0].to_dict()
    except queries.NoResults:
        pass
    view.extra["anomalies"] = store.anomalies_frame(db, region=code,
                                                    start=per.start.isoformat(),
                                                    end=per.end.isoformat(), limit=20)
    view.extra["place"] = place
    view.period = per
    view.notes = [_period_note(db, per, q.lang), w["bands"]]
    view.form = {"dimension": dimension}
    return view


def _city_median(db, dimension: str, per: Period) -> pd.DataFrame | None:
    """The weekly median over the cities with data of a dimension's adjusted daily sums."""
    try:
        values, matrix = queries.dimension_series(db, category=dimension, period=per,
                                                  level="city")
    except queries.NoResults:
        return None
    if matrix.empty:
        return None
    per_city = matrix.T.groupby(level="region").sum(min_count=1).T
    weekly = per_city.groupby(per_city.index.to_period("W-SUN")).mean()
    median = weekly.median(axis=1)
    return pd.DataFrame({"date": median.index.to_timestamp(), "value": median.to_numpy(),
                         "below_floor": 0, "waiting": 0})


# --- status ----------------------------------------------------------------------------------

def status(db, q: Query, path) -> View:
    from aicity.db.postgres import without_password
    from aicity.service.status import freshness_rows
    w = words(q.lang)
    view = _base(db, q, "status", w["status"])
    # what `aicity status` says, less the accounts' budgets (they need the cookies)
    rows = [(item, without_password(value)) for item, value in freshness_rows(db, path)]
    view.table = pd.DataFrame(rows, columns=["item", "value"])
    runs = store.runs_frame(db, limit=20)
    keep = [c for c in ("id", "kind", "status", "source", "started_at", "finished_at", "error")
            if c in runs.columns]
    runs = runs[keep].copy()
    if "error" in runs:         # a URL in an error keeps no password (never a secret)
        runs["error"] = runs["error"].fillna("").map(without_password)
    view.extra["runs"] = runs
    # the accounts by their salted key (never a cookie): blocks and rest
    accounts = [(key[:10], state.get("blocks", 0), state.get("resting_until") or "")
                for key, state in sorted(store.account_states(db).items())]
    view.extra["accounts"] = pd.DataFrame(accounts, columns=["account", "blocks",
                                                            "resting_until"])
    return view
