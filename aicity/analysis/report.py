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

from aicity.analysis import queries
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


def build_report(db_path, out: Path, period: str | None = None) -> Path:
    from aicity.analysis.export import refuse_unless_regular
    refuse_unless_regular(out)       # before the work, not after it
    plt = _plt()
    db = store.connect(db_path)
    try:
        per = queries.resolve_period(db, period)
        span = queries.data_span(db)
        days_with_data = queries.days_with_data(db, per)
        simulated = "emulator" in store.sources(db)
        sections: list[tuple[str, str]] = []
        ranks = {d: queries.rank(db, category=d, period=per) for d in DIMENSIONS}

        fig, axes = plt.subplots(1, 5, figsize=(16, 5.5))
        for ax, dim in zip(axes, DIMENSIONS):
            top = ranks[dim].dropna(subset=["rank"]).head(20).iloc[::-1]
            # each bar names its coverage: the share of asked days above Baidu's floor
            labels = [f"{r} {c:.0%}" if c == c else r
                      for r, c in zip(top["region"], top["coverage"].astype(float))]
            ax.barh(labels, top["value"], color="#3b6ea8")
            ax.set_title(f"{ZH[dim]} 前20")
        fig.tight_layout()
        sections.append(("各维度前20城市（城市名后为高于百度报告门槛的天数占比；门槛以下的日子计为0）",
                         _svg(fig)))

        comp = _national_components(db)
        if comp is not None:
            fig, axes = plt.subplots(3, 1, figsize=(11, 6), sharex=True)
            for ax, col, name in zip(axes, ("trend", "seasonal", "resid"),
                                     ("趋势", "周季节", "残差")):
                ax.plot(comp["date"], comp[col], lw=0.8, color="#1f4e79")
                ax.set_ylabel(name)
            axes[0].set_title("全国基础认知：趋势、季节与残差")
            sections.append(("全国趋势与分解", _svg(fig)))

        rows = []
        for dim in DIMENSIONS:
            table = queries.split(db, category=dim, period=per).set_index("side")
            rows.append((ZH[dim], table.loc["north", "share"], table.loc["south", "share"]))
        fig, ax = plt.subplots(figsize=(8, 3.5))
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r[1] for r in rows], 0.4, label="北方", color="#8c6d31")
        ax.bar(x + 0.2, [r[2] for r in rows], 0.4, label="南方", color="#3b6ea8")
        ax.set_xticks(x, [r[0] for r in rows])
        ax.set_ylabel("占全国城市总量")
        ax.legend()
        sections.append(("南北对比（秦岭—淮河）", _svg(fig)))

        demand = queries.demand_types(db, period=per)
        fig, ax = plt.subplots(figsize=(10, 4))
        bottom = np.zeros(len(demand))
        for g, color in zip(TECH_GROUPS, ("#3b6ea8", "#e07b39", "#5b9a55")):
            ax.bar(demand["region"], demand[g], bottom=bottom, label=ZH[g], color=color)
            bottom += demand[g].to_numpy()
        ax.axhline(0.25, color="grey", lw=0.6)
        ax.legend(ncol=3)
        ax.tick_params(axis="x", rotation=60)
        sections.append(("技术需求类型（前15城市）", _svg(fig)))

        inds = queries.industries(db, period=per).head(20)
        lq = inds[[f"{i}_lq" for i in INDUSTRIES]].to_numpy(dtype=float)
        fig, ax = plt.subplots(figsize=(8, 7))
        image = ax.imshow(lq, cmap="RdBu_r", vmin=0, vmax=2, aspect="auto")
        ax.set_xticks(range(len(INDUSTRIES)), [ZH[i] for i in INDUSTRIES])
        ax.set_yticks(range(len(inds)), inds["region"])
        fig.colorbar(image, ax=ax, label="区位商 LQ")
        sections.append(("行业需求热力图（区位商）", _svg(fig)))

        regions = store.regions_frame(store.registry(db), level="city").set_index("code")
        app = ranks["application"].set_index("region_code")
        fig, ax = plt.subplots(figsize=(8, 6))
        for tier, color in zip((1, 2, 3, 4), ("#b2182b", "#ef8a62", "#67a9cf", "#bbbbbb")):
            codes = app.index[app["tier"] == tier]
            ax.scatter(regions.loc[codes, "lon"], regions.loc[codes, "lat"], s=14, color=color,
                       label=f"第{tier}梯队")
        ax.set_xlabel("经度")
        ax.set_ylabel("纬度")
        ax.legend()
        sections.append(("城市梯队地图（应用需求）", _svg(fig)))

        moves = queries.movers(db, category="application", period=per)
        if moves["risers"].attrs.get("note"):
            # a full year against a few weeks would rank noise: say why there is no chart
            sections.append(("上升与下降城市（应用需求）",
                             f"<p>无同比数据：{html.escape(moves['risers'].attrs['note'])}</p>"))
        else:
            fig, ax = plt.subplots(figsize=(8, 4))
            both = pd.concat([moves["risers"], moves["fallers"]])
            if not both.empty:
                ax.barh(both["region"], both["rank_change"].astype(float),
                        color=["#5b9a55" if v > 0 else "#b2182b" for v in both["rank_change"]])
            ax.set_xlabel("名次变化（同比）")
            sections.append(("上升与下降城市（应用需求）", _svg(fig)))
    finally:
        db.close()
    through = html.escape(str(span[1])) if span else "—"
    banner = ("本报告基于模拟数据（emulator），不代表真实搜索量。" if simulated
              else "数据来源：百度指数。")
    body = "\n".join(f"<section><h2>{html.escape(t)}</h2>{svg}</section>" for t, svg in sections)
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>aicity 城市人工智能简报 {html.escape(per.label)}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em;max-width:1200px}}
.banner{{padding:.6em 1em;background:{'#fde8d7' if simulated else '#e8f0fb'};border-radius:4px}}
svg{{max-width:100%;height:auto}}section{{margin:2em 0}}</style></head>
<body><h1>城市人工智能认知与需求简报</h1>
<p class="banner">{html.escape(banner)} 时段：{html.escape(per.label)}（{per.days} 天，其中
{days_with_data} 天有数据）；数据截至 {through}</p>
{body}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    from aicity.analysis.export import atomic_write
    with atomic_write(out) as fh:
        fh.write(page)
    return out


def _national_components(db):
    frame = results.components_of(db, "d:basic", 0, "all")
    if frame is None:
        return None
    frame["date"] = pd.to_datetime(frame["date"])
    return frame
