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
