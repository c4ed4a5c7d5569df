"""The region registry: contents, geography, name matching and validation."""
from __future__ import annotations

import csv
import shutil

import pytest

from aicity.db import build_regions, store
from aicity.db.regions import REGIONS_CSV, RegionError, default_registry, read_registry
from tests.conftest import first_difference

SOUTH = ["成都", "重庆", "武汉", "南京", "合肥", "上海", "杭州", "长沙", "广州", "深圳"]
NORTH = ["北京", "天津", "西安", "郑州", "济南", "青岛", "沈阳"]


def test_registry_has_every_kind_of_area_code():
    reg = default_registry()
    levels = [r.level for r in reg]
    assert levels.count("country") == 1
    assert levels.count("province") == 34
    cities = reg.filter(level="city")
    assert len(cities) >= 330
    assert all(r.lon is not None and r.lat is not None for r in cities)
    assert all(r.qinling_huaihe in ("north", "south") and r.yangtze in ("north", "south")
               for r in cities)


@pytest.mark.parametrize("name", SOUTH)
def test_southern_cities_are_south_of_qinling_huaihe(name):
    assert default_registry().resolve(name, level="city").qinling_huaihe == "south"


@pytest.mark.parametrize("name", NORTH)
def test_northern_cities_are_north_of_qinling_huaihe(name):
    assert default_registry().resolve(name, level="city").qinling_huaihe == "north"


def test_yangtze_side_differs_from_qinling_for_cities_between_the_lines():
    reg = default_registry()
    # 合肥 and 成都 lie north of the Yangtze main stem but south of the Huai / Qinling.
    for name in ("合肥", "成都"):
        city = reg.resolve(name, level="city")
        assert (city.qinling_huaihe, city.yangtze) == ("south", "north")
    assert reg.resolve("上海", level="city").yangtze == "south"


def test_clusters_and_tiers_are_filled():
    reg = default_registry()
    assert reg.resolve("苏州").clusters == ("长三角",)
    assert set(reg.resolve("上饶").clusters) == {"长江中游", "海峡西岸"}
    assert reg.resolve("深圳").tier_2017 == "一线"
    assert reg.resolve("东莞").tier_2017 == "新一线"
    clusters = {c for r in reg for c in r.clusters}
    assert len(clusters) == 19


@pytest.mark.parametrize("text,code", [
    ("成都", 97), ("成都市", 97), ("97", 97), (" 成都 ", 97), ("黔南", 3), ("黔南州", 3),
    ("黔南布依族苗族自治州", 3), ("延边", 525), ("重庆市", 11), ("内蒙古自治区", 905),
    ("广东省", 913), ("香港特别行政区", 933),
])
def test_resolve_accepts_names_codes_and_short_forms(text, code):
    assert default_registry().resolve(text).code == code


def test_resolve_says_when_a_name_is_ambiguous():
    with pytest.raises(RegionError,
                       match=r"'北京' is ambiguous: 911 北京 \(province.*514 北京市 \(city"):
        default_registry().resolve("北京")
    assert default_registry().resolve("北京", level="city").code == 514
    assert default_registry().resolve("北京", level="province").code == 911


def test_resolve_says_when_a_name_is_unknown():
    with pytest.raises(RegionError, match="unknown region '火星'"):
        default_registry().resolve("火星")
    with pytest.raises(RegionError, match="unknown area code 99999"):
        default_registry().resolve("99999")


def test_packaged_regions_csv_matches_its_sources():
    assert build_regions.main(["--check"]) == 0


def _edited_copy(tmp_path, edit):
    rows = list(csv.DictReader(REGIONS_CSV.open(encoding="utf-8")))
    fields = list(rows[0])
    edit(rows)
    path = tmp_path / "regions.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_validator_rejects_duplicate_codes(tmp_path):
    path = _edited_copy(tmp_path, lambda rows: rows.append(dict(rows[40])))
    n = len(REGIONS_CSV.read_text(encoding="utf-8").splitlines()) + 1
    with pytest.raises(RegionError, match=rf"regions.csv:{n}: duplicate area code \d+ "
                                          rf"\(first at line 42\)"):
        read_registry(path)


def test_validator_rejects_city_without_coordinates(tmp_path):
    def drop(rows):
        rows[50]["lon"] = ""
    path = _edited_copy(tmp_path, drop)
    with pytest.raises(RegionError, match=r"regions.csv:52: city .* has no coordinates"):
        read_registry(path)


def test_validator_rejects_unknown_province(tmp_path):
    def move(rows):
        rows[60]["province"] = "火星省"
    path = _edited_copy(tmp_path, move)
    with pytest.raises(RegionError, match=r"regions.csv:62: unknown province '火星省'"):
        read_registry(path)


def test_side_override_wins_over_geometry(tmp_path, monkeypatch):
    ref = tmp_path / "reference"
    shutil.copytree(build_regions.REFERENCE, ref)
    (ref / "side_overrides.csv").write_text(
        "code,qinling_huaihe,yangtze,reason\n97,north,,test\n", encoding="utf-8")
    monkeypatch.setattr(build_regions, "REFERENCE", ref)
    chengdu = next(r for r in build_regions.build_rows() if r["code"] == 97)
    assert chengdu["qinling_huaihe"] == "north"
    assert chengdu["yangtze"] == "north"  # not overridden: still computed


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("all_columns", [False, True])
def test_regions_answers_without_pandas_exactly_as_the_frame_printer_did(db_path, run, fmt,
                                                                        all_columns):
    import io

    from aicity.cli import REGION_SHOWN, emit
    db = store.connect(db_path)
    frame = store.regions_frame(store.registry(db), include_legacy=True)
    db.close()
    if not all_columns:
        frame = frame[list(REGION_SHOWN)]
    expected = io.StringIO()
    emit(frame, fmt, out=expected)
    args = ["regions", "--include-legacy", "--format", fmt] + (["--all-columns"] if all_columns
                                                               else [])
    result = run(*args)
    assert result.exit_code == 0
    assert not (diff := first_difference(result.stdout, expected.getvalue())), diff
    assert len(frame) > 300


@pytest.mark.parametrize("args", [["regions"], ["rank", "--dimension", "basic"]])
def test_regions_and_rank_load_neither_pandas_nor_psycopg_statsmodels_scrapy(national_db, args):
    """The quick commands stay quick: pandas alone costs 0.3-0.6 s to import here."""
    import subprocess
    import sys
    code = ("import sys\nfrom aicity.cli import cli\n"
            f"cli(['--db', {str(national_db)!r}, *{args!r}, '--format', 'csv'], obj={{}}, "
            "standalone_mode=False)\n"
            "import sqlite_utils.plugins\n"
            "print(sqlite_utils.plugins._plugins_loaded)\n"   # an entry-point scan: 30-50 ms
            "print(sorted(m for m in ('pandas', 'psycopg', 'statsmodels', 'scrapy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith(("code,name,", "rank,region_code,")) and len(lines) > 20
    assert lines[-2:] == ["False", "[]"]


def test_the_printer_prints_as_pandas_did():
    """Tables, CSV and JSON kept the bytes they had when pandas printed them."""
    import io
    import json

    import numpy as np
    import pandas as pd

    from aicity.service.tables import emit_rows
    frame = pd.DataFrame({
        "rank": pd.array([1, None, 3], dtype="Int64"), "region": ["长沙市", "=cmd", None],
        "value": [1234.5678, np.nan, -0.25], "lat": [28.228, 1.5, 0.0], "big": [1e20, 2.0, 3.5],
        "flag": [True, False, True]})
    rows = [(1, "长沙市", 1234.5678, 28.228, 1e20, True), (None, "=cmd", None, 1.5, 2.0, False),
            (3, None, -0.25, 0.0, 3.5, True)]
    columns = list(frame.columns)
    printed = {}
    for fmt in ("table", "csv", "json"):
        out = io.StringIO()
        emit_rows(columns, rows, fmt, out=out)
        printed[fmt] = out.getvalue()
    shown = frame.astype(object).where(frame.notna(), "")
    # pandas measured 长沙市 in characters until told its terminal columns (issue 37 §3.6)
    with pd.option_context("display.unicode.east_asian_width", True):
        assert printed["table"] == shown.to_string(index=False) + "\n"
    safe = frame.copy()
    safe["region"] = safe["region"].map(lambda v: "'" + v if isinstance(v, str) and
                                        v.startswith("=") else v)
    assert printed["csv"] == safe.to_csv(index=False, lineterminator="\n")
    assert json.loads(printed["json"]) == json.loads(frame.to_json(orient="records",
                                                                   force_ascii=False))


def test_validator_rejects_a_population_that_does_not_say_what_it_measures(tmp_path):
    def drop(rows):
        rows[50]["population_source"] = ""
    path = _edited_copy(tmp_path, drop)
    with pytest.raises(RegionError, match=r"regions.csv:52: population of .* has no "
                                          r"population_source"):
        read_registry(path)


def test_every_city_has_its_2020_census_population():
    reg = read_registry(REGIONS_CSV)
    cities = list(reg.filter(level="city"))
    assert len(cities) == 364 and all(c.population for c in cities)
    wuhan = reg.resolve("武汉", level="city")
    shenzhen = reg.resolve("深圳", level="city")
    # resident, not registered (hukou) population: 深圳 had 4.35 million hukou in 2017
    assert (wuhan.population, shenzhen.population) == (12326518, 17560061)
    assert {c.population_year for c in cities} == {2020}


def test_terminal_tables_line_up_with_chinese_names():
    """成都市 takes six terminal columns: padded by characters, the columns after it drifted."""
    import io
    from aicity.service.tables import display_width, emit_rows
    out = io.StringIO()
    emit_rows(["rank", "region", "value"], [(1, "北京市", 1.5), (2, "五家渠市", 22.25),
                                           (3, "Hong Kong", 3.0)], "table", out=out)
    lines = out.getvalue().splitlines()
    assert len({display_width(line) for line in lines}) == 1
    assert all(line.endswith(("value", "1.5", "22.25", "3.0")) for line in lines)


def test_the_registry_of_a_database_follows_its_regions_table(db_path, tmp_path):
    """Built once for the same rows (an export asks for it fifty times), yet an edited table
    is read at once, and another database has its own."""
    from aicity.db.lookups import registry
    db = store.connect(db_path)
    try:
        first = registry(db)
        assert registry(db) is first
        assert first.resolve("成都").name_en == "Chengdu"
        db.execute("UPDATE regions SET name_en = 'Chengdu City' WHERE name = '成都市'")
        db.conn.commit()
        assert registry(db).resolve("成都").name_en == "Chengdu City"
    finally:
        db.close()
    other = tmp_path / "other.db"
    store.init_db(other)
    db = store.connect(other)
    try:
        assert registry(db).resolve("成都").name_en == "Chengdu"
    finally:
        db.close()
