"""`aicity report`: one self-contained HTML file with the charts."""
from __future__ import annotations

import re

from click.testing import CliRunner

from aicity.cli import cli


def test_report_is_self_contained_with_every_chart(national_db, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["--db", str(national_db), "report", "--out", str(out),
                                      "--period", "2017"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 7
    for title in ("各维度前20城市", "全国趋势与分解", "南北对比", "技术需求类型", "行业需求热力图",
                  "城市梯队地图", "上升与下降城市"):
        assert title in page
    assert "模拟数据" in page  # simulated data is labelled
    # nothing fetched from elsewhere: no scripts, stylesheets, fonts or images by URL
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert not re.search(r"url\((['\"])?(https?:)?//", page)
    assert "成都市" in page  # Chinese names are kept as text for the browser to render


def test_report_renders_in_headless_chromium(national_db, tmp_path):
    """A real browser: the page loads without console errors and the screenshot has charts."""
    import shutil
    import subprocess

    import numpy as np
    import pytest
    from matplotlib import image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    out = tmp_path / "report.html"
    CliRunner().invoke(cli, ["--db", str(national_db), "report", "--out", str(out), "--period",
                             "2017"], catch_exceptions=False)
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--window-size=1300,4200"]
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.stdout.count("<svg") == 7
    assert "CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", out.as_uri()], capture_output=True,
                   timeout=120, check=True)
    pixels = image.imread(shot)[..., :3]
    coloured = (np.abs(pixels - pixels.mean(axis=2, keepdims=True)).sum(axis=2) > 0.15).mean()
    assert coloured > 0.02  # bars, heat map and map points, not a blank page


def _report(db, tmp_path, *args):
    out = tmp_path / f"report{len(args)}.html"
    result = CliRunner().invoke(cli, ["--db", str(db), "report", "--out", str(out), "--period",
                                      "2017", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def _tables(page: str) -> list[list[list[str]]]:
    tables = re.findall(r"<table>(.*?)</table>", page, re.S)
    return [[re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
             for row in re.findall(r"<tr>(.*?)</tr>", t, re.S)] for t in tables]


def test_the_report_explains_itself_map_tables_method_units_and_the_simulated_mark(
        national_db, tmp_path):
    page = _report(national_db, tmp_path)
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 7 and all("模拟数据" in svg and "SIMULATED" not in svg for svg in svgs)
    assert not any(re.search(r">\s*1e[0-9]\s*<", svg) for svg in svgs)   # no offset labels
    tier_map = svgs[5]
    # a real map: the provinces' outlines (Natural Earth), tiers in a legend, cities named
    assert tier_map.count("<path") > 40 and "第1梯队" in tier_map and "成都市" in tier_map
    assert "日均搜索指数（季节调整后）" in svgs[0] and "占全国城市总量（%）" in svgs[2]
    assert "驱动门槛 25%" in svgs[3]              # the line at 25% says what it is
    tables = _tables(page)
    assert len(tables) == 5
    for table in tables:
        assert table[0] == ["名次", "城市", "省份", "日均指数", "高于门槛天数占比"]
        assert len(table) == 11 and all(row[4].endswith("%") for row in table[1:])
        assert [int(row[0]) for row in table[1:]] == sorted(int(row[0]) for row in table[1:])
    assert "<h2>方法</h2>" in page and "秦岭—淮河" in page


def test_the_english_report_is_english_and_a_focused_one_keeps_its_area(national_db,
                                                                       tmp_path):
    page = _report(national_db, tmp_path, "--lang", "en")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in page), \
        sorted({ch for ch in page if "\u4e00" <= ch <= "\u9fff"})[:20]
    assert "Top 10 cities per dimension" in page and "<h2>Method</h2>" in page
    assert "Chengdu" in page and "SIMULATED" in page
    sichuan = _report(national_db, tmp_path, "--region", "四川")
    assert "范围：四川" in sichuan
    for table in _tables(sichuan):
        assert table[1:] and {row[2] for row in table[1:]} == {"四川"}
    delta = _report(national_db, tmp_path, "--cluster", "Yangtze River Delta", "--lang", "en")
    cities = {row[1] for table in _tables(delta) for row in table[1:]}
    assert cities and cities <= {"Shanghai", "Hangzhou", "Nanjing", "Suzhou", "Hefei"}
