"""Regenerate db/regions.csv from the source tables in db/sources/ and the curated db/reference/.

    python -m aicity.db.build_regions            # rewrite db/regions.csv
    python -m aicity.db.build_regions --check    # exit 1 if regions.csv is not what sources give

Derived columns: coordinates and GB adcode (from the cpca and Jia et al. tables), population
with its year and source (a city's 2020 census resident population, 常住人口 on 2020-11-01; a
province's year-end 2020 resident population from the yearbooks; the country the provinces' sum),
the side of the Qinling–Huaihe line and of the Yangtze main stem (computed from coordinates against
the two polylines), city-cluster membership and the 2017 第一财经 tier. A side can be overridden per
row in reference/side_overrides.csv, with a reason; the override wins over the geometry.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from aicity.db.regions import COLUMNS, REGIONS_CSV, RegionError, read_registry, short_names

HERE = Path(__file__).parent
SOURCES = HERE / "sources"
REFERENCE = HERE / "reference"

Point = tuple[float, float]
POPULATION_YEAR = 2020
CITY_SOURCE = "census 2020 resident (常住人口), city bulletins"
PROVINCE_SOURCE = "yearbook year-end 2020 resident (年末常住人口)"


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _polyline(*paths: Path) -> list[Point]:
    points: list[Point] = []
    for path in paths:
        points.extend((float(r["lon"]), float(r["lat"])) for r in _read(path))
    return points


def south_polygon(line: list[Point]) -> list[Point]:
    """Close a west-to-east dividing line into a polygon covering everything south of it.

    The line is extended due west from its first point and due east from its last, so places beyond
    its ends (the Tibetan plateau for the Qinling line, the sea for both) still get a side.
    """
    (_, y0), (_, y1) = line[0], line[-1]
    return [(60.0, y0), *line, (140.0, y1), (140.0, -10.0), (60.0, -10.0)]


def inside(point: Point, polygon: list[Point]) -> bool:
    """Even-odd ray casting; the Yangtze doubles back (the first bend at Shigu), so a polygon
    test is needed rather than comparing latitudes at one longitude."""
    x, y = point
    result = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
        j = i
    return result


def side(point: Point, polygon: list[Point]) -> str:
    return "south" if inside(point, polygon) else "north"


def _short(name: str) -> str:
    for suffix in ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def build_rows() -> list[dict]:
    baidu = _read(SOURCES / "baidu_area_codes.csv")
    prefectures = _read(SOURCES / "prefecture_cities_338.csv")
    cpca = _read(SOURCES / "cpca_adcodes.csv")
    pop_rows = _read(SOURCES / "province_population_2003_2022.csv")
    census = {r["adcode"]: r for r in _read(SOURCES / "prefecture_population_census2020.csv")}
    extras = {int(r["code"]): r for r in _read(REFERENCE / "region_extras.csv")}
    overrides = {int(r["code"]): r for r in _read(REFERENCE / "side_overrides.csv")}

    qinling = south_polygon(_polyline(REFERENCE / "qinling_huaihe.csv"))
    yangtze = south_polygon(_polyline(SOURCES / "yangtze_mainstem_ne50m.csv",
                                      REFERENCE / "yangtze_estuary.csv"))

    by_pref = {(r["name"], _short(r["province"])): r for r in prefectures}
    by_cpca: dict[str, list[dict]] = {}
    for r in cpca:
        by_cpca.setdefault(r["name"], []).append(r)
    # One measure for every row of a level: resident population in 2020 (the census for cities;
    # provinces from the yearbook table, whose city bulletins leave some zones out)
    province_pop = {r["地区"]: float(r[f"{POPULATION_YEAR}年"]) * 10_000 for r in pop_rows
                    if r.get(f"{POPULATION_YEAR}年")}

    clusters: dict[tuple[str, str], list[str]] = {}
    for r in _read(REFERENCE / "clusters.csv"):
        for member in r["member"].split(";"):
            clusters.setdefault((r["province"], member), []).append(r["cluster"])
    tiers = {m: r["tier"] for r in _read(REFERENCE / "tiers_2017.csv")
             for m in r["members"].split(";")}

    names_en = {(r["level"], r["name"]): r["name_en"] for r in _read(REFERENCE / "names_en.csv")}

    rows: list[dict] = []
    matched_clusters: set[tuple[str, str]] = set()
    matched_tiers: set[str] = set()
    for b in baidu:
        code, name, level, province = int(b["code"]), b["name"], b["level"], b["province"]
        extra = extras.get(code, {})
        row = {c: "" for c in COLUMNS}
        row.update(code=code, name=name, level=level, province=province,
                   legacy=extra.get("legacy", "0") or "0", note=extra.get("note", ""),
                   name_en=names_en.get((level, name), ""))
        if level == "province":
            full = [r for r in cpca
                    if r["adcode"].endswith("0000000000") and _short(r["name"]) == name]
            src = full[0] if full else None
            if src:
                row.update(lon=src["longitude"], lat=src["latitude"], adcode=src["adcode"][:6])
            if name in province_pop:
                row.update(population=round(province_pop[name]),
                           population_year=POPULATION_YEAR, population_source=PROVINCE_SOURCE)
        elif level == "city":
            lookup = extra.get("lookup") or name
            pref = by_pref.get((lookup, province))
            if pref:
                row.update(lon=pref["lon"], lat=pref["lat"], adcode=pref["adcode6"])
                row["name_en"] = row["name_en"] or pref["city_en"]
            else:
                cands = by_cpca.get(lookup, [])
                if len(cands) == 1:
                    row.update(lon=cands[0]["longitude"], lat=cands[0]["latitude"],
                               adcode=cands[0]["adcode"][:6])
            counted = census.get(row["adcode"])
            if counted:
                row.update(population=int(counted["population"]),
                           population_year=int(counted["year"]), population_source=CITY_SOURCE)
            elif row["legacy"] != "1":
                raise RegionError(f"prefecture_population_census2020.csv has no adcode "
                                  f"{row['adcode'] or '(none)'} for {name} ({code})")
            if extra.get("successor") and not row["note"]:
                row["note"] = f"legacy code; use {extra['successor']}"
            if row["legacy"] != "1":
                forms = short_names(name, level)
                mine = sorted({c for (prov, member), cs in clusters.items()
                               if prov == province and member in forms for c in cs})
                matched_clusters.update((province, m) for m in forms if (province, m) in clusters)
                row["cluster"] = ";".join(mine)
                tier_keys = forms & tiers.keys()
                if tier_keys:
                    key = tier_keys.pop()
                    row["tier_2017"] = tiers[key]
                    matched_tiers.add(key)
        if row["lon"]:
            point = (float(row["lon"]), float(row["lat"]))
            row["qinling_huaihe"] = side(point, qinling)
            row["yangtze"] = side(point, yangtze)
        if code in overrides:
            for col in ("qinling_huaihe", "yangtze"):
                if overrides[code][col]:
                    row[col] = overrides[code][col]
        rows.append(row)

    # Legacy rows may name a successor listed after them; fill their coordinates now.
    by_code = {r["code"]: r for r in rows}
    for code, extra in extras.items():
        row = by_code.get(code)
        if row and not row["lon"] and extra.get("successor"):
            succ = by_code[int(extra["successor"])]
            row.update(lon=succ["lon"], lat=succ["lat"], adcode=succ["adcode"],
                       qinling_huaihe=succ["qinling_huaihe"], yangtze=succ["yangtze"])

    unmatched = sorted(set(clusters) - matched_clusters)
    if unmatched:
        raise RegionError("clusters.csv members not found: "
                          + ", ".join(f"{p}/{m}" for p, m in unmatched))
    missing_tiers = sorted(set(tiers) - matched_tiers)
    if missing_tiers:
        raise RegionError("tiers_2017.csv members not found: " + ", ".join(missing_tiers))
    # provinces the yearbook table lacks (内蒙古, 黑龙江): the sum of their cities' census
    # figures, which are complete there (the bulletins fall short only for 河北, 陕西, 海南, 吉林
    # and 新疆; research/data/SOURCES.md)
    for row in rows:
        if row["level"] == "province" and row["population"] == "":
            members = [r for r in rows if r["level"] == "city" and r["province"] == row["name"]
                       and r["legacy"] != "1" and r["population"] != ""]
            if members:
                row.update(population=sum(int(r["population"]) for r in members),
                           population_year=POPULATION_YEAR,
                           population_source="sum of its cities' census 2020 figures")
    population_total = sum(int(r["population"]) for r in rows
                           if r["level"] == "province" and r["population"] != "")
    if rows[0]["level"] == "country":
        rows[0].update(population=population_total, population_year=POPULATION_YEAR,
                       population_source="sum of the provinces")
    return rows


def render(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    parser.add_argument("--out", type=Path, default=REGIONS_CSV)
    args = parser.parse_args(argv)
    try:
        text = render(build_rows())
    except RegionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} differs from what the sources give; "
                  f"run python -m aicity.db.build_regions",
                  file=sys.stderr)
            return 1
        return 0
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    read_registry(tmp)  # never replace a good file with one that does not validate
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
