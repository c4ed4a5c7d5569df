"""`aicity report`: one self-contained HTML file with the charts."""
from __future__ import annotations

import re

from click.testing import CliRunner

from cli import cli


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
