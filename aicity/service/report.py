"""`aicity report`: one self-contained HTML briefing with charts that works offline.

Charts are drawn by matplotlib as SVG with text kept as text (svg.fonttype 'none'), so Chinese
names are rendered by the browser's own fonts and the file needs no external script, style or
font. Matplotlib is imported only here, so the rest of the analysis never pulls it in.
"""
from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from aicity.analysis.demand import DEFAULT_THRESHOLD, rule_text
from aicity.service import queries
from aicity.db import results, store
from aicity.vocabulary import DIMENSIONS, INDUSTRIES, LABELS_ZH, TECH_GROUPS

ZH = LABELS_ZH
FONT = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei",
        "PingFang SC", "sans-serif"]


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: inline SVG in HTML


def _plt():
    import logging
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    # The CJK fonts named below are for the reader's browser; matplotlib only measures text with
    # whatever it has, so its "font not found" and "missing glyph" complaints are noise here.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "font.family": FONT, "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


TEXT = {
    "zh": {
        "title": "城市人工智能认知与需求简报",
        "simulated": "本报告基于模拟数据（emulator），不代表真实搜索量。",
        "real": "数据来源：百度指数。",
        "mark": "模拟数据",
        "period": "时段：{label}（{days} 天，其中 {with_data} 天有数据）；数据截至 {through}",
        "focus": "范围：{area}（{n} 个城市；南北对比与全国分解仍为全国）",
        "top20": "各维度前20城市（城市名后为高于百度报告门槛的天数占比；门槛以下的日子计为0）",
        "top20_axis": "日均搜索指数（季节调整后）",
        "decomp": "全国趋势与分解", "decomp_title": "全国基础认知：趋势、季节与残差",
        "parts": ("趋势", "周季节", "残差"), "index_day": "指数/日",
        "split": "南北对比（秦岭—淮河）", "north": "北方", "south": "南方",
        "split_axis": "占全国城市总量（%）",
        "demand": "技术需求类型（前15城市）", "demand_axis": "占应用需求（%）",
        "threshold": "驱动门槛 {pct:.0f}%",
        "heat": "行业需求热力图（区位商）", "lq": "区位商 LQ（1 = 全国平均）",
        "map": "城市梯队地图（应用需求）", "tier": "第{tier}梯队", "no_tier": "无数据",
        "movers": "上升与下降城市（应用需求）", "movers_axis": "名次变化（同比，正数为上升）",
        "no_yoy": "无同比数据：{note}",
        "tables": "各维度前10城市",
        "cols": ("名次", "城市", "省份", "日均指数", "高于门槛天数占比"),
        "method": "方法",
    },
    "en": {
        "title": "City AI cognition and demand briefing",
        "simulated": "This report rests on simulated data (emulator), not real search volumes.",
        "real": "Source: Baidu Index.",
        "mark": "SIMULATED",
        "period": "Period: {label} ({days} days, {with_data} with data); data through {through}",
        "focus": "Area: {area} ({n} cities; north/south and the national decomposition stay "
                 "national)",
        "top20": "Top 20 cities per dimension (after each name: the share of asked days above "
                 "Baidu's reporting floor; a day below it counts 0)",
        "top20_axis": "index per day (seasonally adjusted)",
        "decomp": "National trend and decomposition",
        "decomp_title": "National basic cognition: trend, weekly season and residual",
        "parts": ("trend", "weekly season", "residual"), "index_day": "index/day",
        "split": "North vs south (Qinling–Huaihe line)", "north": "north", "south": "south",
        "split_axis": "share of all cities' total (%)",
        "demand": "Technology demand types (top 15 cities)",
        "demand_axis": "share of application demand (%)",
        "threshold": "driver threshold {pct:.0f}%",
        "heat": "Industry demand heat map (location quotient)",
        "lq": "location quotient (1 = national average)",
        "map": "City tiers (application demand)", "tier": "tier {tier}", "no_tier": "no data",
        "movers": "Risers and fallers (application demand)",
        "movers_axis": "rank change year on year (positive = up)",
        "no_yoy": "No year-on-year data: {note}",
        "tables": "Top 10 cities per dimension",
        "cols": ("rank", "city", "province", "index/day", "days above the floor"),
        "method": "Method",
    },
}

METHOD = {
    "zh": """<p>数据：百度指数（或模拟器）按城市、关键词、日的搜索指数。
维度（基础、专业、技术认知；应用、行业需求）为其关键词之和。
每条日序列以 STL 分解为趋势、周季节与残差；值为时段内季节调整后日值的均值，
百度报告门槛（约57）以下的日子计为0（百度自身周均值的做法）；
“高于门槛天数占比”说明值有多少天的实数支撑。
名次按值从高到低；梯队：1–10、11–30、31–100、其余（前10为报告的第一梯队，30与100两道分界为本工具所定）。南北按秦岭—淮河线。
技术需求类型：{demand_rule_zh}。
区位商＝某行业在该城占比÷全国占比。同比只在两段时间都完整时计算。
春节前后与法定节假日不计为异常。</p>""",
    "en": """<p>Data: Baidu Index (or the emulator) daily search index per city and keyword. A
dimension (basic, professional, technical cognition; application and industry demand) is the sum
of its keywords. Each daily series is decomposed by STL into trend, weekly season and residual;
a value is the period mean of the seasonally adjusted days, a day below Baidu's reporting floor
(about 57) counting 0 as in Baidu's own weekly values; "days above the floor" says how much of
it rests on reported days. Ranks run from the highest value; tiers are ranks 1–10, 11–30,
31–100 and the rest (the report names the top 10 as its first tier; the cuts at 30 and 100 are
ours). North and south are of the Qinling–Huaihe line. Demand types:
{demand_rule_en}. The location
quotient is an industry's share in the city over its share nationally. Year-on-year changes
are computed only where both spans are wholly in the data. Holidays and the Spring Festival
weeks are never anomalies.</p>""",
}

TIER_COLOURS = ("#b2182b", "#ef8a62", "#67a9cf", "#bbbbbb")


def _plain_numbers(axis) -> None:
    """Thousands separators, never a '1e6' offset: an axis says what it counts."""
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10
                                           else f"{v:,.2g}"))


def _mark(fig, simulated: bool, text: str) -> None:
    if simulated:
        fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=8, color="#c0392b",
                 alpha=0.8)


def build_report(db_path, out: Path, period: str | None = None, lang: str = "zh",
                 area: str | None = None) -> Path:
    """The HTML report. `lang` zh or en (headings, labels and place names); `area` a province,
    a city cluster or a city: the rankings, tables, demand types, heat map, map and movers keep
    its cities (north/south and the national decomposition stay national)."""
    from aicity.service.export import english_names, refuse_unless_regular
    if lang not in TEXT:
        raise ValueError("lang must be zh or en")
    refuse_unless_regular(out)       # before the work, not after it
    t = TEXT[lang]
    plt = _plt()
    db = store.connect(db_path)
    try:
        registry = store.registry(db)
        keep = None
        if area:
            area_name, members = registry.area(area)
            keep = {r.code for r in members}
        per = queries.resolve_period(db, period)
        span = queries.data_span(db)
        days_with_data = queries.days_with_data(db, per)
        simulated = "emulator" in store.sources(db)
        english = english_names(registry) if lang == "en" else {}

        def place(name):
            return english.get("region", {}).get(name, name) if lang == "en" else name

        def province(name):
            return english.get("province", {}).get(name, name) if lang == "en" else name

        def label(key):
            return ZH[key] if lang == "zh" else key.replace("_", " ")

        def within(frame):
            return frame if keep is None else frame[frame["region_code"].isin(keep)]

        sections: list[tuple[str, str]] = []
        ranks = {d: queries.rank(db, category=d, period=per) for d in DIMENSIONS}

        fig, axes = plt.subplots(1, 5, figsize=(16, 5.5))
        for ax, dim in zip(axes, DIMENSIONS):
            top = within(ranks[dim].dropna(subset=["rank"])).head(20).iloc[::-1]
            labels = [f"{place(r)} {c:.0%}" if c == c else place(r)
                      for r, c in zip(top["region"], top["coverage"].astype(float))]
            ax.barh(labels, top["value"], color="#3b6ea8")
            ax.set_title(f"{label(dim)} {'前20' if lang == 'zh' else 'top 20'}")
            ax.set_xlabel(t["top20_axis"], fontsize=8)
            _plain_numbers(ax.xaxis)
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        fig.tight_layout()
        _mark(fig, simulated, t["mark"])
        sections.append((t["top20"], _svg(fig)))

        comp = _national_components(db)
        if comp is not None:
            fig, axes = plt.subplots(3, 1, figsize=(11, 6), sharex=True)
            for ax, col, name in zip(axes, ("trend", "seasonal", "resid"), t["parts"]):
                ax.plot(comp["date"], comp[col], lw=0.8, color="#1f4e79")
                ax.set_ylabel(f"{name}\n({t['index_day']})", fontsize=8)
                _plain_numbers(ax.yaxis)
            axes[0].set_title(t["decomp_title"])
            _mark(fig, simulated, t["mark"])
            sections.append((t["decomp"], _svg(fig)))

        rows = []
        for dim in DIMENSIONS:
            table = queries.split(db, category=dim, period=per).set_index("side")
            rows.append((label(dim), 100 * table.loc["north", "share"],
                         100 * table.loc["south", "share"]))
        fig, ax = plt.subplots(figsize=(8, 3.8))
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r[1] for r in rows], 0.4, label=t["north"], color="#8c6d31")
        ax.bar(x + 0.2, [r[2] for r in rows], 0.4, label=t["south"], color="#3b6ea8")
        ax.set_xticks(x, [r[0] for r in rows])
        ax.set_ylabel(t["split_axis"])
        ax.set_ylim(0, 100)
        # the legend above the plot, never over a bar
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        _mark(fig, simulated, t["mark"])
        sections.append((t["split"], _svg(fig)))

        threshold = DEFAULT_THRESHOLD["absolute"]
        demand = queries.demand_types(db, period=per, top=len(registry), threshold=threshold)
        demand = within(demand).head(15)
        fig, ax = plt.subplots(figsize=(10, 4.4))
        bottom = np.zeros(len(demand))
        names = [place(r) for r in demand["region"]]
        for g, color in zip(TECH_GROUPS, ("#3b6ea8", "#e07b39", "#5b9a55")):
            share = 100 * demand[g].to_numpy(dtype=float)
            ax.bar(names, share, bottom=bottom, label=label(g), color=color)
            bottom += share
        ax.axhline(100 * threshold, color="black", lw=0.8, ls="--",
                   label=t["threshold"].format(pct=100 * threshold))
        ax.set_ylabel(t["demand_axis"])
        ax.set_ylim(0, 100)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
        ax.tick_params(axis="x", rotation=60)
        _mark(fig, simulated, t["mark"])
        sections.append((t["demand"], _svg(fig)))

        inds = queries.industries(db, period=per)
        inds = within(inds).head(20)
        lq = inds[[f"{i}_lq" for i in INDUSTRIES]].to_numpy(dtype=float)
        fig, ax = plt.subplots(figsize=(8, 7))
        image = ax.imshow(lq, cmap="RdBu_r", vmin=0, vmax=2, aspect="auto")
        ax.set_xticks(range(len(INDUSTRIES)), [label(i) for i in INDUSTRIES])
        ax.set_yticks(range(len(inds)), [place(r) for r in inds["region"]])
        fig.colorbar(image, ax=ax, label=t["lq"])
        _mark(fig, simulated, t["mark"])
        sections.append((t["heat"], _svg(fig)))

        sections.append((t["map"], _tier_map(plt, registry, ranks["application"], keep, t,
                                             place, simulated)))

        moves = queries.movers(db, category="application", period=per, n=0)
        if moves["risers"].attrs.get("note"):
            # a full year against a few weeks would rank noise: say why there is no chart
            note = moves["risers"].attrs["note"] if lang == "en" else \
                "数据不够两年，没有上一年同期的完整数据"     # the note itself is English
            sections.append((t["movers"], "<p>" + html.escape(t["no_yoy"].format(note=note))
                             + "</p>"))
        else:
            fig, ax = plt.subplots(figsize=(8, 4))
            both = pd.concat([within(moves["risers"]).head(10),
                              within(moves["fallers"]).head(10)])
            if not both.empty:
                ax.barh([place(r) for r in both["region"]], both["rank_change"].astype(float),
                        color=["#5b9a55" if v > 0 else "#b2182b" for v in both["rank_change"]])
            ax.set_xlabel(t["movers_axis"])
            _mark(fig, simulated, t["mark"])
            sections.append((t["movers"], _svg(fig)))

        tables = "".join(_top_table(label(d), within(ranks[d].dropna(subset=["rank"])).head(10),
                                    t, place, province) for d in DIMENSIONS)
        sections.append((t["tables"], f'<div class="tables">{tables}</div>'))
        # the driver rule in the words the code applies (analysis.demand.rule_text)
        sections.append((t["method"], METHOD[lang].replace(
            "{demand_rule_" + lang + "}", rule_text("absolute", threshold, lang))))
        focus = ""
        if keep is not None:
            shown_area = (english.get("cluster", {}).get(area_name)
                          or english.get("province", {}).get(area_name)
                          or place(area_name)) if lang == "en" else area_name
            focus = "<p>" + html.escape(t["focus"].format(area=shown_area, n=len(keep))) + "</p>"
    finally:
        db.close()
    through = html.escape(str(span[1])) if span else "—"
    banner = t["simulated"] if simulated else t["real"]
    body = "\n".join(f"<section><h2>{html.escape(title)}</h2>{content}</section>"
                     for title, content in sections)
    period_line = t["period"].format(label=per.label, days=per.days, with_data=days_with_data,
                                     through=through)
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<title>aicity {html.escape(t['title'])} {html.escape(per.label)}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em;max-width:1200px}}
.banner{{padding:.6em 1em;background:{'#fde8d7' if simulated else '#e8f0fb'};border-radius:4px}}
svg{{max-width:100%;height:auto}}section{{margin:2em 0}}
.tables{{display:flex;flex-wrap:wrap;gap:1.5em}}
table{{border-collapse:collapse;font-size:.85em}}caption{{font-weight:bold;text-align:left}}
th,td{{padding:.15em .5em;border-bottom:1px solid #ddd}}td.n{{text-align:right}}</style></head>
<body><h1>{html.escape(t['title'])}</h1>
<p class="banner">{html.escape(banner)} {html.escape(period_line)}</p>
{focus}
{body}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    from aicity.service.export import atomic_write
    with atomic_write(out) as fh:
        fh.write(page)
    return out


def _top_table(title: str, top: pd.DataFrame, t: dict, place, province) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t["cols"])

    def share(value) -> str:
        return "" if value != value else f"{float(value):.0%}"
    rows = "".join(
        f"<tr><td class=n>{int(r['rank'])}</td><td>{html.escape(place(r['region']))}</td>"
        f"<td>{html.escape(province(r['province'] or ''))}</td>"
        f"<td class=n>{float(r['value']):,.1f}</td><td class=n>{share(r['coverage'])}</td>"
        f"</tr>" for _, r in top.iterrows())
    return f"<table><caption>{html.escape(title)}</caption><tr>{head}</tr>{rows}</table>"


def _tier_map(plt, registry, application: pd.DataFrame, keep, t: dict, place,
              simulated: bool) -> str:
    """Provinces, SARs, 台湾省 and the claimed areas as one outline map (Natural Earth), the
    cities coloured by application-demand tier and the first ten named; the South China Sea
    and its dashed line in an inset, as Chinese maps show them."""
    from matplotlib.collections import LineCollection, PolyCollection

    from aicity.db.outlines import outlines
    areas = [ring for o in outlines() if o.kind != "nine_dash_line" for ring in o.parts]
    dashes = [line for o in outlines() if o.kind == "nine_dash_line" for line in o.parts]
    regions = {r.code: r for r in registry if r.level == "city" and r.lon is not None}
    app = application.dropna(subset=["rank"])
    if keep is not None:
        app = app[app["region_code"].isin(keep)]
    fig, ax = plt.subplots(figsize=(9, 7.5))

    def land(axis):
        axis.add_collection(PolyCollection(areas, facecolor="#f2efe9", edgecolor="#9a9a9a",
                                           linewidth=0.4))
        axis.add_collection(LineCollection(dashes, colors="#555555", linewidth=1.0))

    land(ax)
    for tier, color in zip((1, 2, 3, 4), TIER_COLOURS):
        rows = app[app["tier"] == tier]
        xy = [(regions[c].lon, regions[c].lat) for c in rows["region_code"] if c in regions]
        if xy:
            ax.scatter(*zip(*xy), s=16 if tier < 4 else 8, color=color, zorder=3,
                       label=t["tier"].format(tier=tier), edgecolors="white", linewidths=0.3)
    for _, row in app.head(10).iterrows():
        r = regions.get(row["region_code"])
        if r is not None:
            ax.annotate(place(row["region"]), (r.lon, r.lat), xytext=(3, 3),
                        textcoords="offset points", fontsize=7, zorder=4)
    if keep is not None:
        xs = [regions[c].lon for c in keep if c in regions]
        ys = [regions[c].lat for c in keep if c in regions]
        lo_x, hi_x, lo_y, hi_y = min(xs) - 1.5, max(xs) + 1.5, min(ys) - 1.2, max(ys) + 1.2
    else:
        lo_x, hi_x, lo_y, hi_y = 73, 135.5, 17.5, 54
        inset = ax.inset_axes([0.80, 0.02, 0.19, 0.30])
        land(inset)
        inset.set_xlim(106, 123)
        inset.set_ylim(3, 24)
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_aspect(1.0 / np.cos(np.radians(13)))
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_aspect(1.0 / np.cos(np.radians((lo_y + hi_y) / 2)))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8)
    _mark(fig, simulated, t["mark"])
    return _svg(fig)


def _national_components(db):
    frame = results.components_of(db, "d:basic", 0, "all")
    if frame is None:
        return None
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
