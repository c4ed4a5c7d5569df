"""`aicity export briefing`: Excel-ready, neutralised, labelled CSVs and a manifest."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from aicity.analysis.export import neutralise, safe_filename
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
    assert {"briefing_全国.csv", "briefing_北方_qinling-huaihe.csv",
            "briefing_南方_qinling-huaihe.csv", "briefing_省_四川.csv",
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
    assert [p.name for p in out.glob("*.csv")] == ["briefing_四川.csv"]
    rows = read(out / "briefing_四川.csv")
    assert len(rows) == 2 and rows[1][1] == "成都市"
