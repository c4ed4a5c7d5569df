"""Regional briefing CSVs for people who open them in Excel (`aicity export briefing`).

One file per scope (national; north and south of the chosen line; each province; each city
cluster; or the one region asked for), a row per city. Files are UTF-8 with a BOM and CRLF line
ends, headers in Chinese (default) or snake_case English, numbers written as numbers. A text cell
that starts with = + - or @ is prefixed with an apostrophe so Excel shows it instead of running
it as a formula (numbers are left alone: -0.12 is a number, not a formula). File names keep
Chinese but lose anything a file system or a shell could trip on. A manifest lists the files,
the period, the data source (real or simulated) and the export time.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aicity.service import queries
from aicity.service.cells import neutralise
from aicity.analysis.periods import Period
from aicity.db import store
from aicity.vocabulary import (COMBINED_COGNITION, DIMENSIONS, INDUSTRIES, LABELS_ZH,
                               TECH_GROUPS)

HEADERS_ZH = {
    "region_code": "地区代码", "region": "城市", "province": "省份", "tier_2017": "2017城市等级",
    "cluster": "城市群", "qinling_huaihe": "秦岭淮河南北", "yangtze": "长江南北",
    "demand_type": "技术需求类型", "demand_drivers": "驱动技术", "specialisations": "行业专长",
    "full_demand": "全需求城市", "data_source": "数据来源",
}
DIM_ZH = {**LABELS_ZH, COMBINED_COGNITION: "综合认知"}
FIELD_ZH = {"value": "值", "rank": "排名", "tier": "梯队", "rank_low": "排名下限",
            "rank_high": "排名上限", "yoy": "同比变化", "share": "占比",
            "coverage": "高于门槛天数占比"}


def safe_filename(name: str) -> str:
    """Keep letters (Chinese included), digits, '-', '_' and '.'; nothing else, no leading dot."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).strip("._")
    return cleaned[:80] or "region"


@dataclass
class BriefingResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    manifest: Path | None = None
    period: str = ""
    source: str = ""
    level: str = "city"
    missing: str = ""        # what the briefing lacks, in words ('' when nothing)
    basis: str = "series"    # or 'distribution': a regional-distribution snapshot
    workbook: Path | None = None


def briefing_frame(db, period: Period, line: str = "qinling-huaihe",
                   level: str = "city", basis: str = "series") -> pd.DataFrame:
    """Every city (or province) with its registry facts and, per dimension, value, rank, tier
    and 90% rank interval, year-on-year change; demand type and shares; industry
    specialisations. A dimension without data leaves its columns empty.

    basis 'distribution': from a regional-distribution snapshot (period = its window): no
    rank interval, no year-on-year."""
    regions = store.regions_frame(store.registry(db), level=level).set_index("code")
    frame = pd.DataFrame(index=regions.index)
    frame["region_code"] = regions.index
    frame["region"] = regions["name"]
    frame["province"] = regions["province"]
    frame["tier_2017"] = regions["tier_2017"]
    frame["cluster"] = regions["cluster"]
    frame["qinling_huaihe"] = regions["qinling_huaihe"]
    frame["yangtze"] = regions["yangtze"]
    # 同比 only when this period and the one a year before are both wholly within the data
    frame.attrs["yoy_gap"] = yoy_gap = queries.year_on_year_gap(db, period) \
        if basis == "series" else "a snapshot has no year before it"
    partial: list[str] = []
    compared: list[str] = []
    for dim in DIMENSIONS:
        try:
            table = queries.rank(db, category=dim, level=level, uncertainty=True, basis=basis,
                                 period=period)
        except queries.NoResults:
            table = pd.DataFrame(columns=["region_code", "value", "rank", "tier", "rank_low",
                                          "rank_high", "coverage"])
        table = table.set_index("region_code")
        for col in ("value", "rank", "tier", "rank_low", "rank_high", "coverage"):
            frame[f"{dim}_{col}"] = table[col].reindex(frame.index)
        frame[f"{dim}_yoy"] = np.nan
        if yoy_gap:
            continue
        try:
            # like with like: the terms that existed through both years (the value columns
            # keep every term)
            now, before, why, terms = queries.year_on_year(db, category=dim, period=period,
                                                           level=level)
            if terms:
                compared.append(f"{LABELS_ZH.get(dim, dim)}: {terms}")
            prev = before.reindex(frame.index)
            frame[f"{dim}_yoy"] = (now.reindex(frame.index) - prev) / prev.where(prev > 0)
            if why:
                partial.append(f"{LABELS_ZH.get(dim, dim)}: {why}")
        except queries.NoResults:
            pass
    try:
        demand = queries.demand_types(db, period=period, top=len(frame), level=level,
                                      basis=basis).set_index("region_code")
    except queries.NoResults:
        demand = pd.DataFrame(columns=["type", "drivers", *TECH_GROUPS])
    frame["demand_type"] = demand["type"].reindex(frame.index)
    frame["demand_drivers"] = demand["drivers"].reindex(frame.index)
    for g in TECH_GROUPS:
        frame[f"{g}_share"] = demand[g].reindex(frame.index)
    try:
        industries = queries.industries(db, period=period, level=level,
                                        basis=basis).set_index("region_code")
    except queries.NoResults:
        industries = pd.DataFrame(columns=["specialisations", "full_demand",
                                           *(f"{i}_share" for i in INDUSTRIES)])
    frame["specialisations"] = industries["specialisations"].reindex(frame.index)
    frame["full_demand"] = industries["full_demand"].reindex(frame.index)
    for ind in INDUSTRIES:
        frame[f"{ind}_share"] = industries[f"{ind}_share"].reindex(frame.index)
    # the combined cognition index (basic, professional, technical each over its mean), at the
    # end: the briefing's earlier columns keep their places for the scripts that read them
    try:
        cognition = queries.rank(db, category=COMBINED_COGNITION, level=level, uncertainty=True,
                                 basis=basis, period=period).set_index("region_code")
    except queries.NoResults:
        cognition = pd.DataFrame(columns=["value", "rank", "tier", "rank_low", "rank_high"])
    for col in ("value", "rank", "tier", "rank_low", "rank_high"):
        frame[f"cognition_{col}"] = cognition[col].reindex(frame.index)
    frame = frame[frame["basic_value"].notna() | frame["application_value"].notna()]
    out = frame.sort_values(["application_rank", "basic_rank"], na_position="last")
    out.attrs["yoy_gap"] = yoy_gap or "; ".join(partial)
    out.attrs["yoy_terms"] = "; ".join(compared)
    return out


def as_percent(frame: pd.DataFrame) -> pd.DataFrame:
    """Year-on-year changes and shares as percentages with one decimal (what people read in a
    spreadsheet); the column names say so (_pct, or (%) in Chinese)."""
    frame = frame.copy()
    cols = [c for c in frame.columns if c.endswith(("_yoy", "_share", "_coverage"))]
    for col in cols:
        frame[col] = (frame[col].astype(float) * 100).round(1)
    return frame.rename(columns={c: f"{c}_pct" for c in cols})


UNITS_SNAPSHOT = {
    "value": "mean daily Baidu search index over the snapshot's days from Baidu's regional "
             "distribution (地域分布), not seasonally adjusted, summed over the dimension's "
             "keywords the snapshot has; a city its province's answer leaves out counts 0",
    "coverage_pct": "100 where the snapshot reported the region, 0 where it did not",
}
UNITS = {
    "value": "mean daily Baidu search index over the period, seasonally adjusted (STL), summed "
             "over the dimension's keywords; a day below Baidu's reporting floor (sent empty) "
             "counts 0, as in Baidu's own weekly values",
    "coverage_pct": "percent of the asked keyword-days behind the value that were above Baidu's "
                    "reporting floor (a low figure: the value rests on few reported days)",
    "rank": "1 = highest value among the regions of the level",
    "tier": "1: ranks 1-10, 2: 11-30, 3: 31-100, 4: the rest (the first cut is the report's, "
            "the cuts at 30 and 100 are ours)",
    "rank_low/rank_high": "90% interval of the rank (block bootstrap over weeks)",
    "yoy_pct": "change against the same days one year earlier, percent; empty when either span "
               "is not wholly within the data",
    "share_pct": "percent of the region's application (speech, vision, deep_learning) or "
                 "industry demand",
    "cognition_value": "combined cognition index: basic, professional and technical cognition "
                       "each over its mean across the regions, then the mean of the three "
                       "(1 = the regions' mean on every layer); rank, tier and interval as for "
                       "a dimension",
}


def _header(col: str, lang: str) -> str:
    if lang == "en":
        return col
    if col in HEADERS_ZH:
        return HEADERS_ZH[col]
    head, _, tail = col.rpartition("_")
    if col.endswith("_pct"):
        return f"{_header(col[:-4], lang)}(%)"
    if head in DIM_ZH and tail in FIELD_ZH:
        return f"{DIM_ZH[head]}{FIELD_ZH[tail]}"
    for key in (*INDUSTRIES, *TECH_GROUPS):
        if col == f"{key}_share":
            return f"{LABELS_ZH.get(key, key)}占比"
    if col.endswith(("_rank_low", "_rank_high")):
        dim = col.split("_rank_")[0]
        return f"{DIM_ZH.get(dim, dim)}{FIELD_ZH['rank_' + col.rsplit('_', 1)[1]]}"
    return col


SIDE_ZH = {"north": "北", "south": "南"}
# queries.industries' label, as each file's language says it
LABEL_ZH = {"full demand": "全需求", "specialised": "专业化", "too sparse to say": "数据过稀"}
LABEL_EN = {"full demand": "full demand", "specialised": "specialised",
            "too sparse to say": "too sparse to say"}
DEMAND_TYPE_ZH = {"single": "单技术驱动", "dual": "双技术驱动", "all": "全技术驱动", "none": "无"}
TIER_EN = {"一线": "tier 1", "新一线": "new tier 1", "二线": "tier 2"}


def english_names(registry) -> dict[str, dict]:
    """Chinese → English for the place-name columns of a briefing (the registry's name_en;
    a region without one keeps its Chinese name)."""
    from aicity.db.regions import cluster_names_en
    return {"region": {r.name: r.name_en for r in registry if r.name_en},
            "province": {r.name: r.name_en for r in registry
                         if r.level == "province" and r.name_en},
            "cluster": cluster_names_en()}


def localise(frame: pd.DataFrame, lang: str, names: dict | None = None) -> pd.DataFrame:
    """Code values in the file's language: a Chinese briefing says 北, 双技术驱动 and
    深度学习+语音语义; an English one tier 1 for 一线 and, given `names` (see english_names),
    Chengdu, Sichuan and Chengdu-Chongqing for the place names."""
    frame = frame.copy()

    def joined(text, labels):
        if not isinstance(text, str) or not text:
            return text
        return "+".join(labels.get(part, part) for part in text.split("+"))

    if "label" in frame:        # industries' label: one language per file
        labels = LABEL_ZH if lang == "zh" else LABEL_EN
        frame["label"] = frame["label"].map(lambda v: labels.get(v, v))
    if lang == "zh":
        for col in ("qinling_huaihe", "yangtze"):
            if col in frame:
                frame[col] = frame[col].map(lambda v: SIDE_ZH.get(v, v))
        if "demand_type" in frame:
            frame["demand_type"] = frame["demand_type"].map(lambda v: DEMAND_TYPE_ZH.get(v, v))
        for col in ("demand_drivers", "specialisations"):
            if col in frame:
                frame[col] = frame[col].map(lambda v: joined(v, LABELS_ZH))
    else:
        if "tier_2017" in frame:
            frame["tier_2017"] = frame["tier_2017"].map(lambda v: TIER_EN.get(v, v))
        for col, table in (names or {}).items():
            if col not in frame:
                continue
            if col == "cluster":
                frame[col] = frame[col].map(lambda v, t=table: ";".join(
                    t.get(c, c) for c in v.split(";")) if isinstance(v, str) else v)
            else:
                frame[col] = frame[col].map(lambda v, t=table: t.get(v, v))
    return frame


def refuse_unless_regular(path: Path) -> None:
    """OSError naming `path` when it exists and is not a regular file (or is a symlink)."""
    import errno
    import stat
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if
                stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise OSError(errno.EEXIST, f"is {kind}, not a regular file: refusing to replace it; "
                                    f"give a new path or a regular file", str(path))


@contextlib.contextmanager
def atomic_write(path: Path, encoding: str = "utf-8", newline: str | None = None):
    """Write to a hidden temporary file next to `path`, then rename it over `path`: a full disk
    or a crash leaves the old file (or none), never a 0-byte or cut-off one. Only a regular
    file or a new path is written: a device, a FIFO or a symlink would be replaced by a file."""
    refuse_unless_regular(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_table(frame: pd.DataFrame, lang: str, source_label: str, names: dict | None = None
               ) -> tuple[list[str], list[str], list[list]]:
    """(headers, column ids, rows) of a briefing as its files show it: localised, the data
    source last, cells plain numbers or neutralised text."""
    frame = localise(frame, lang, names)
    frame["data_source"] = source_label
    headers = [neutralise(_header(c, lang)) for c in frame.columns]
    rows = [[_cell(v, lang) for v in row] for row in frame.itertuples(index=False)]
    return headers, list(frame.columns), rows


def write_csv(frame: pd.DataFrame, path: Path, lang: str, source_label: str,
              names: dict | None = None) -> Path:
    headers, _, rows = file_table(frame, lang, source_label, names)
    return write_table(path, headers, rows)


def write_table(path: Path, headers: list[str], rows: list[list]) -> Path:
    """A file_table as an Excel-ready CSV: UTF-8 with a BOM, CRLF, written whole or not at all."""
    with atomic_write(path, encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def data_source_text(sources: list[str], lang: str) -> str:
    """The data source column's text: simulated (emulator) or Baidu Index, in the file's
    language, with any other sources mixed in named."""
    simulated = "emulator" in sources
    label = ("模拟数据 (emulator)" if lang == "zh" else "simulated (emulator)") if simulated \
        else ("百度指数" if lang == "zh" else "baidu index")
    if simulated and len(sources) > 1:
        label += " + " + ",".join(s for s in sources if s != "emulator")
    return label


def files_listed(paths: list[Path]) -> list[dict]:
    """The manifest's files: each name and its rows (the header not counted)."""
    return [{"file": p.name, "rows": sum(1 for _ in p.open(encoding="utf-8-sig")) - 1}
            for p in paths]


def _number_format(column: str) -> str:
    """Excel's format for a briefing column: whole numbers for ranks, tiers and codes, one
    decimal for percentages, thousands separators for index values."""
    if column.endswith("_pct"):
        return "0.0"
    if column.endswith(("_rank", "_tier", "_rank_low", "_rank_high")) or column in (
            "region_code", "rank", "tier", "rank_low", "rank_high"):
        return "0"
    if column.endswith("_lq"):
        return "0.00"
    return "#,##0.0"


def sheet_names(stems: list[str]) -> list[str]:
    """Excel sheet names for the files: without 'briefing_', at most 31 characters, none of
    []:*?/\\, unique (Excel refuses a workbook otherwise)."""
    out: list[str] = []
    for stem in stems:
        base = re.sub(r"[\[\]:*?/\\]", "_", stem.removeprefix("briefing_"))[:31] or "sheet"
        name, n = base, 2
        while name.casefold() in {o.casefold() for o in out}:
            suffix = f"~{n}"
            name, n = base[:31 - len(suffix)] + suffix, n + 1
        out.append(name)
    return out


def write_workbook(path: Path, tables: list[tuple[str, list[str], list[str], list[list]]],
                   manifest: dict) -> Path:
    """One .xlsx: a sheet per (stem, headers, column ids, rows) with a frozen, filtered header
    row and number formats, and the manifest as the last sheet. Text is always written as text
    (XlsxWriter would otherwise take '=…' for a formula)."""
    import xlsxwriter
    refuse_unless_regular(path)
    tmp = path.with_name(f".{path.name}.part")
    book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False,
                                          "strings_to_urls": False,
                                          "strings_to_numbers": False})
    try:
        head = book.add_format({"bold": True, "text_wrap": True, "valign": "top",
                                "bottom": 1})
        formats: dict[str, object] = {}
        for sheet_name, (_, headers, columns, rows) in zip(
                sheet_names([t[0] for t in tables]), tables):
            sheet = book.add_worksheet(sheet_name)
            for j, (text, column) in enumerate(zip(headers, columns)):
                sheet.write_string(0, j, str(text), head)
                numeric = any(not isinstance(row[j], str) for row in rows)
                number = _number_format(column) if numeric else "@"
                fmt = formats.setdefault(number, book.add_format({"num_format": number}))
                width = 12 if column not in ("region", "province", "cluster",
                                             "specialisations", "demand_drivers") else 18
                sheet.set_column(j, j, width, fmt)
            for i, row in enumerate(rows, start=1):
                for j, value in enumerate(row):
                    if isinstance(value, str):
                        if value:
                            sheet.write_string(i, j, value)
                    else:
                        sheet.write_number(i, j, value)
            sheet.freeze_panes(1, 3 if len(columns) > 3 else 0)
            if rows:
                sheet.autofilter(0, 0, len(rows), len(columns) - 1)
        info = book.add_worksheet("manifest")
        info.set_column(0, 0, 24)
        info.set_column(1, 1, 100)
        r = 0
        for key, value in manifest.items():
            if key == "files":
                continue
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, v in items:
                info.write_string(r, 0, f"{key}.{sub}" if sub else key, head if not r else None)
                text = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
                info.write_string(r, 1, text)
                r += 1
        book.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def _cell(value, lang: str = "zh"):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):       # a blank would read as "not known"
        return ("是" if lang == "zh" else "yes") if value else ("否" if lang == "zh" else "no")
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    return neutralise(str(value))


def scopes(frame: pd.DataFrame, registry, line: str, region: str | None):
    """(kind, name, rows) triples: national, north, south, each province, each cluster; or one
    region. kind is national, north, south, province, cluster or region."""
    side = "qinling_huaihe" if line == "qinling-huaihe" else "yangtze"
    clusters = sorted({c for cs in frame["cluster"].dropna() for c in cs.split(";") if c})
    in_cluster = {c: frame["cluster"].fillna("").str.split(";").apply(lambda cs, c=c: c in cs)
                  for c in clusters}
    if region:
        name = registry.cluster(region)
        if name:                                      # 长三角 and the other city clusters
            yield "cluster", name, frame[in_cluster[name]] if name in in_cluster \
                else frame.iloc[0:0]
            return
        # a province's briefing has one name whichever way it was asked for (briefing_省_四川;
        # asked alone it was briefing_四川); the nation and a city are named by themselves
        r = registry.resolve(region)
        if r.level == "country":
            yield "national", r.name, frame
        elif r.level == "province":
            yield "province", r.name, frame[frame["province"] == r.name]
        else:
            yield "region", r.name, frame[frame["region_code"] == r.code]
        return
    yield "national", "全国", frame
    yield "north", line, frame[frame[side] == "north"]
    yield "south", line, frame[frame[side] == "south"]
    for prov in sorted(frame["province"].dropna().unique()):
        yield "province", prov, frame[frame["province"] == prov]
    for cluster in clusters:
        yield "cluster", cluster, frame[in_cluster[cluster]]


SCOPE_ZH = {"national": "", "north": "北方_", "south": "南方_", "province": "省_",
            "cluster": "城市群_", "region": ""}


# the dividing lines as a Chinese file name says them (it said briefing_北方_qinling-huaihe)
LINE_ZH = {"qinling-huaihe": "秦岭淮河", "yangtze": "长江"}


def briefing_stem(kind: str, name: str, lang: str, names: dict | None = None) -> str:
    """The file name (without .csv) of a briefing, in the file's language: briefing_省_四川 or
    briefing_province_Sichuan; briefing_全国 or briefing_national; briefing_北方_秦岭淮河 or
    briefing_north_qinling-huaihe."""
    if lang == "zh":
        if kind in ("north", "south"):
            name = LINE_ZH.get(name, name)
        return safe_filename(f"briefing_{SCOPE_ZH[kind]}{name}")
    names = names or {}
    table = names.get("cluster", {}) if kind == "cluster" else \
        {**names.get("province", {}), **names.get("region", {})} if kind == "region" else \
        names.get("province", {})
    english = table.get(name, name)
    label = {"national": "national", "north": f"north_{name}", "south": f"south_{name}",
             "province": f"province_{english}", "cluster": f"cluster_{english}",
             "region": english}[kind]
    return safe_filename(f"briefing_{label}")


def _best_briefing(db, period: str | None, line: str, level: str, may_use_snapshot: bool
                   ) -> tuple[Period, pd.DataFrame, str]:
    """(period, frame, basis): from the analysed series; or, when a regional-distribution
    snapshot covers more regions of the level than the series do (the first nights, before
    the city series come in rotation), from the newest snapshot."""
    try:
        per = queries.resolve_period(db, period)
        frame = briefing_frame(db, per, line, level)
    except queries.NoResults:
        if not may_use_snapshot:
            raise
        per, frame = None, pd.DataFrame()
    if may_use_snapshot:
        try:
            snap = queries.distribution_period(db)
        except queries.NoResults:
            snap = None
        if snap is not None:
            snap_frame = briefing_frame(db, snap, line, level, basis="distribution")
            if len(snap_frame) > len(frame):
                return snap, snap_frame, "distribution"
    if per is None:
        per = queries.resolve_period(db, period)   # says what the data covers
    return per, frame, "series"


def export_briefings(db_path, out: Path, *, period: str | None = None, region: str | None = None,
                     lang: str = "zh", line: str = "qinling-huaihe",
                     level: str | None = None, xlsx: bool = False,
                     readonly: bool = False) -> BriefingResult:
    """Briefing CSVs and a manifest. `level` None: cities, or provinces while no city has data
    yet (a fresh deployment collects the nation and provinces first); the manifest and the
    result say what is missing. `xlsx`: also one workbook, a sheet per briefing and the
    manifest as a sheet (简报.xlsx, or briefings.xlsx in English). `readonly`: open the
    database read-only (the explorer's downloads)."""
    if lang not in ("zh", "en"):
        raise ValueError("lang must be zh or en")
    db = store.connect(db_path, readonly=readonly)
    try:
        sources = store.sources(db)
        simulated = "emulator" in sources
        label = data_source_text(sources, lang)
        registry = store.registry(db)
        chosen = level or "city"
        per, frame, basis = _best_briefing(db, period, line, chosen, level is None)
        if frame.empty and level is None:
            chosen = "province"
            per, frame, basis = _best_briefing(db, period, line, chosen, True)
        if frame.empty:
            where = f"{level} level" if level else "city or province level"
            raise queries.NoResults(f"no analysed data for {per.label} at {where}; run "
                                    f"`aicity collect` and `aicity analyze`")
        total = len(registry.filter(level=chosen))
        missing = []
        snapshot = None
        if basis == "distribution":
            snapshot = queries.snapshot_keywords(db, per)
            missing.append("from Baidu's regional distribution"
                           + (" (地域分布)" if lang == "zh" else "") + f" of {per.start}.."
                           f"{per.end}: a mean per region over those days, not seasonally "
                           f"adjusted, from {snapshot[0]} of {snapshot[1]} keywords"
                           + (" (the rest follow on the next nights)"
                              if snapshot[0] < snapshot[1] else "")
                           + "; no rank interval until the series come in")
        if chosen != "city":
            missing.append("no city has data yet: this briefing is by province")
        if len(frame) < total:
            missing.append(f"{total - len(frame)} of {total} {chosen} regions have no data yet")
        if frame.attrs.get("yoy_gap"):
            missing.append(("year-on-year (同比)" if lang == "zh" else "year-on-year")
                           + f" left empty: {frame.attrs['yoy_gap']}")
        if frame.attrs.get("yoy_terms"):
            missing.append(("year-on-year (同比)" if lang == "zh" else "year-on-year")
                           + f" compares the terms of both years: {frame.attrs['yoy_terms']}")
        empty_dims = [d for d in DIMENSIONS if frame[f"{d}_value"].isna().all()]
        if empty_dims:
            missing.append("no data for " + ", ".join(empty_dims))
        out.mkdir(parents=True, exist_ok=True)
        result = BriefingResult(out=out, period=per.label, source=label, level=chosen,
                                missing="; ".join(missing), basis=basis)
        used: set[str] = set()
        tables = []
        names = english_names(registry) if lang == "en" else None
        parts = scopes(frame, registry, line, region) if chosen == "city" else \
            [("", "briefing_全国_分省" if lang == "zh" else "briefing_national_by_province",
              frame)]
        for kind, name, rows in parts:
            if rows.empty:
                continue
            base = briefing_stem(kind, name, lang, names) if kind else safe_filename(name)
            stem, n = base, 2
            while stem in used:
                stem, n = f"{base}_{n}", n + 1
            used.add(stem)
            headers, columns, cells = file_table(as_percent(rows), lang, label, names)
            if xlsx:
                tables.append((stem, headers, columns, cells))
            result.files.append(write_table(out / f"{stem}.csv", headers, cells))
        manifest = {
            "period": per.label, "start": per.start.isoformat(), "end": per.end.isoformat(),
            "period_days": per.days,
            "period_days_with_data": (per.days if basis == "distribution"
                                      else queries.days_with_data(db, per)),
            "data_source": "simulated" if simulated else "real",
            "sources": sources, "exported_at": store.now_iso(), "lang": lang, "line": line,
            "data_through": max([per.end] if basis == "distribution" else []
                                + [(queries.data_span(db) or (per.end, per.end))[1]]
                                ).isoformat(),
            "units": {**UNITS, **UNITS_SNAPSHOT} if basis == "distribution" else UNITS,
            "basis": basis,
            **({"snapshot_keywords": snapshot[0], "keywords": snapshot[1]} if snapshot else {}),
            "level": chosen, "regions_with_data": len(frame), "regions": total,
            "missing": result.missing,
            "files": files_listed(result.files),
        }
        if xlsx:
            result.workbook = out / ("briefings.xlsx" if lang == "en" else "简报.xlsx")
            manifest["workbook"] = result.workbook.name
            write_workbook(result.workbook, tables, manifest)
        result.manifest = out / "manifest.json"
        with atomic_write(result.manifest) as fh:
            fh.write(json.dumps(manifest, ensure_ascii=False, indent=1))
        return result
    finally:
        db.close()


UNITS_RANKINGS = {
    "value": UNITS["value"] + " (the unit column says it: index/day)",
    "total": "the region's application (demand_types) or industry (industries) demand, "
             "index/day, as value",
    "coverage_pct": UNITS["coverage_pct"],
    "rank": UNITS["rank"], "tier": UNITS["tier"],
    "rank_low/rank_high": UNITS["rank_low/rank_high"],
    "vocabulary_rank_low/vocabulary_rank_high": "best and worst rank with each keyword left out "
                                                "in turn (how much the ranking rests on the "
                                                "choice of terms)",
    "tier_confidence_pct": "percent of bootstrap draws that put the region in its tier, at most "
                           "the percent of its rank interval inside the tier",
    "share_pct": "percent of the region's application (speech, vision, deep_learning) or "
                 "industry demand",
    "lq": "location quotient: the industry's share in the region over its share nationally "
          "(above 1: specialised)",
    "full_demand": "yes: in the national top ranks of all six industries (全需求)",
}


def rankings_as_percent(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rankings folder's convention, the briefings' own: every share, coverage or
    confidence a percentage with one decimal, its column ending in _pct."""
    frame = frame.copy()
    if name == "demand_types":
        frame = frame.rename(columns={g: f"{g}_share" for g in TECH_GROUPS if g in frame})
    cols = [c for c in frame.columns if c.endswith("_share") or c in ("coverage",
                                                                      "tier_confidence")]
    for col in cols:
        frame[col] = (frame[col].astype(float) * 100).round(1)
    return frame.rename(columns={c: f"{c}_pct" for c in cols})


def export_rankings(db_path, out_dir: Path, period: str | None = None, lang: str = "en"
                    ) -> list[Path]:
    """Rankings per dimension (with rank intervals), demand types and industry profiles as
    Excel-ready CSVs in one language (the briefing writer: BOM, CRLF, formula-like text
    neutralised, data source column), and a manifest.json saying their period, days with
    data, source and units. Returns the files, the manifest last."""
    db = store.connect(db_path)
    files = []
    try:
        sources = store.sources(db)
        simulated = "emulator" in sources
        per = queries.resolve_period(db, period)
        tables = {f"rank_{d}": queries.rank(db, category=d, period=per.label,
                                            uncertainty=True) for d in DIMENSIONS}
        with contextlib.suppress(queries.NoResults):    # a cognition layer not collected
            tables[f"rank_{COMBINED_COGNITION}"] = queries.rank(
                db, category=COMBINED_COGNITION, period=per.label, uncertainty=True)
        tables["demand_types"] = queries.demand_types(db, period=per.label)
        tables["industries"] = queries.industries(db, period=per.label)
        label = data_source_text(sources, lang)
        names = english_names(store.registry(db)) if lang == "en" else None
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            files.append(write_csv(rankings_as_percent(name, frame), out_dir / f"{name}.csv",
                                   lang, label, names))
        manifest = {
            "period": per.label, "start": per.start.isoformat(), "end": per.end.isoformat(),
            "period_days": per.days, "period_days_with_data": queries.days_with_data(db, per),
            "data_source": "simulated" if simulated else "real", "sources": sources,
            "exported_at": store.now_iso(), "lang": lang, "units": UNITS_RANKINGS,
            "files": files_listed(files),
        }
        path = out_dir / "manifest.json"
        with atomic_write(path) as fh:
            fh.write(json.dumps(manifest, ensure_ascii=False, indent=1))
        files.append(path)
    finally:
        db.close()
    return files
