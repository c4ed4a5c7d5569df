"""`aicity export briefing`: Excel-ready, neutralised, labelled CSVs and a manifest."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from aicity.service.export import neutralise, safe_filename
from aicity.cli import cli
from aicity.db import store


def run(path, *args):
    return CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)


def read(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:  # a BOM-aware reader
        return list(csv.reader(fh))


def test_briefings_for_every_scope_with_manifest(db_copy, tmp_path):
    out = tmp_path / "brief"
    result = run(db_copy, "export", "briefing", "--out", str(out), "--period", "2017")
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.glob("*.csv")}
    assert {"briefing_全国.csv", "briefing_北方_秦岭淮河.csv",
            "briefing_南方_秦岭淮河.csv", "briefing_省_四川.csv",
            "briefing_城市群_长三角.csv"} <= names
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["period"] == "2017" and manifest["data_source"] == "simulated"
    assert {f["file"] for f in manifest["files"]} == names
    national = read(out / "briefing_全国.csv")
    assert (out / "briefing_全国.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert national[0][:3] == ["地区代码", "城市", "省份"]
    assert "基础认知排名" in national[0] and "技术需求类型" in national[0]
    assert manifest["files"][0]["rows"] == len(national) - 1 == 20
    source_col = national[0].index("数据来源")
    assert {row[source_col] for row in national[1:]} == {"模拟数据 (emulator)"}


def test_chinese_survives_and_numbers_stay_numbers(db_copy, tmp_path):
    out = tmp_path / "brief"
    run(db_copy, "export", "briefing", "--out", str(out), "--period", "2017", "--lang", "en")
    rows = read(out / "briefing_national.csv")
    header = rows[0]
    # an English file names places in English (the registry's name_en)
    chengdu = next(r for r in rows if r[header.index("region")] == "Chengdu")
    assert chengdu[header.index("province")] == "Sichuan"
    float(chengdu[header.index("basic_value")])          # plain numbers, no quotes or units
    assert int(chengdu[header.index("basic_rank")]) >= 1
    assert b"\r\n" in (out / "briefing_national.csv").read_bytes()
    run(db_copy, "export", "briefing", "--out", str(tmp_path / "zh"), "--period", "2017")
    rows = read(tmp_path / "zh" / "briefing_全国.csv")
    chengdu = next(r for r in rows if r[rows[0].index("城市")] == "成都市")
    assert chengdu[rows[0].index("省份")] == "四川"


def test_formula_like_names_are_neutralised_in_every_csv(db_copy, tmp_path):
    db = store.connect(db_copy)
    db.execute("UPDATE regions SET name = '=HYPERLINK(\"http://x\",\"x\")' WHERE code = 97")
    db.execute("UPDATE regions SET name = '@SUM(A1)' WHERE code = 94")
    db.execute("UPDATE keywords SET term = '=1+1' WHERE term = '人工智能'")
    db.conn.commit()
    db.close()
    out = tmp_path / "brief"
    run(db_copy, "export", "briefing", "--out", str(out), "--period", "2017")
    files = list(out.glob("*.csv"))
    assert files
    cells = [cell for p in files for row in read(p) for cell in row]
    assert not any(c.startswith(("=", "@", "+")) for c in cells)
    assert "'=HYPERLINK(\"http://x\",\"x\")" in cells and "'@SUM(A1)" in cells
    for args in (["rank", "--dimension", "basic", "--period", "2017"],
                 ["regions", "--level", "city"]):
        text = run(db_copy, *args, "--format", "csv").stdout
        cells = [c for row in csv.reader(text.splitlines()) for c in row]
        assert not any(c.startswith(("=", "@")) for c in cells), args
    listed = run(db_copy, "series", "--keyword", "=1+1", "--region", "上海市", "--format", "csv")
    assert listed.exit_code == 0  # the renamed keyword is still found by its name


@pytest.mark.parametrize("name,expected", [
    ("briefing_省_四川", "briefing_省_四川"), ("../etc/passwd", "etc_passwd"),
    ("a/b\\c:d*e?f", "a_b_c_d_e_f"), ("...", "region"),
])
def test_file_names_are_safe(name, expected):
    assert safe_filename(name) == expected


def test_neutralise_leaves_numbers_alone():
    assert neutralise(-0.12) == -0.12 and neutralise("-x") == "'-x" and neutralise("ok") == "ok"


def test_one_region_scope(db_copy, tmp_path):
    out = tmp_path / "one"
    result = run(db_copy, "export", "briefing", "--region", "四川", "--out", str(out),
                 "--period", "2017")
    assert result.exit_code == 0
    # one name for 四川's briefing, asked alone or with the rest (issue 37 §3.5)
    assert [p.name for p in out.glob("*.csv")] == ["briefing_省_四川.csv"]
    rows = read(out / "briefing_省_四川.csv")
    assert len(rows) == 2 and rows[1][1] == "成都市"


def test_xlsx_is_one_workbook_a_sheet_per_briefing_with_frozen_headers_and_formats(
        db_copy, tmp_path):
    import openpyxl
    db = store.connect(db_copy)
    db.execute("UPDATE regions SET name = '=HYPERLINK(\"http://x\",\"x\")', "
               "name_en = '=HYPERLINK(\"http://x\",\"x\")' WHERE code = 97")
    db.conn.commit()
    db.close()
    out = tmp_path / "brief"
    result = run(db_copy, "export", "briefing", "--out", str(out), "--period", "2017",
                 "--lang", "en", "--xlsx")
    assert result.exit_code == 0 and "workbook" in result.output
    csvs = sorted(out.glob("*.csv"))
    book = openpyxl.load_workbook(out / "briefings.xlsx")
    assert len(book.sheetnames) == len(csvs) + 1 and book.sheetnames[-1] == "manifest"
    assert all(len(name) <= 31 for name in book.sheetnames)
    national = book["national"]
    rows = read(out / "briefing_national.csv")
    assert [c.value for c in national[1]] == rows[0]
    assert national.freeze_panes == "D2" and national.max_row == len(rows)
    header = rows[0]
    chengdu = next(r for r in national.iter_rows(min_row=2) if r[1].value == "Shenzhen")
    value, rank = chengdu[header.index("basic_value")], chengdu[header.index("basic_rank")]
    assert isinstance(value.value, float) and value.number_format == "#,##0.0"
    assert isinstance(rank.value, int) and rank.number_format == "0"
    pct = chengdu[header.index("basic_coverage_pct")]
    assert pct.number_format == "0.0" and 0 <= pct.value <= 100
    # a formula-like name stays text: never a formula in Excel
    cells = [c for row in national.iter_rows() for c in row if isinstance(c.value, str)
             and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" and c.value.startswith("'") for c in cells)
    manifest = {r[0].value: r[1].value for r in book["manifest"].iter_rows()}
    assert manifest["period"] == "2017" and manifest["data_source"] == "simulated"
    assert json.loads((out / "manifest.json").read_text("utf-8"))["workbook"] == "briefings.xlsx"
