"""The second fault campaign (issue 27): each probe that found a wrong answer, a lost file or a
traceback, as a test that fails before its fix."""
from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from aicity.analysis.refit import analyze
from aicity.cli import cli
from aicity.db import store
from aicity.db.importer import import_csv
from aicity.keywords.taxonomy import default_taxonomy


def cli_run(path, *args, input=None):
    return CliRunner().invoke(cli, ["--db", str(path), *args], input=input,
                              catch_exceptions=False)


def _write_rows(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["keyword", "region", "date", "value"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def uneven_db(tmp_path_factory):
    """成都 stored from 2025-01-01, 西安 only from 2025-06-01, both through 2026-11-30."""
    tmp = tmp_path_factory.mktemp("yoy")
    path = tmp / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    rng = np.random.default_rng(27)
    rows = []
    day = date(2025, 1, 1)
    while day <= date(2026, 11, 30):
        growth = 1.0 + (day - date(2025, 1, 1)).days / 700
        rows.append(["语音识别", "成都", day.isoformat(), int(300 * growth * rng.uniform(.95, 1.05))])
        if day >= date(2025, 6, 1):
            rows.append(["语音识别", "西安", day.isoformat(),
                         int(200 * growth * rng.uniform(.95, 1.05))])
        day += timedelta(days=1)
    db = store.connect(path)
    import_csv(db, _write_rows(tmp / "uneven.csv", rows), source="import")
    db.close()
    analyze(path, workers=1)
    return path


def test_year_on_year_compares_like_with_like_region_by_region(uneven_db):
    result = cli_run(uneven_db, "movers", "--keyword", "语音识别", "--period",
                     "2026-01-01..2026-11-30", "--show", "growth", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["region"]: r for r in json.loads(result.stdout)}
    assert rows["成都市"]["change"] == pytest.approx(0.41, abs=0.03)
    # 西安's year before holds six months: no change is given rather than a wrong one
    assert rows["西安市"]["change"] is None and rows["西安市"]["previous"] is None
    assert "left empty for 1 region(s)" in result.stderr


def test_the_briefing_leaves_the_uneven_region_empty_and_says_why(uneven_db):
    from aicity.analysis.export import briefing_frame
    from aicity.analysis.periods import parse_period
    from aicity.db.regions import default_registry
    db = store.connect(uneven_db)
    try:
        frame = briefing_frame(db, parse_period("2026-01-01..2026-11-30"))
    finally:
        db.close()
    reg = default_registry()
    frame = frame.set_index("region_code")
    assert np.isnan(frame.loc[reg.resolve("西安").code, "application_yoy"])
    assert frame.loc[reg.resolve("成都").code, "application_yoy"] > 0.3
    assert "left empty for 1 region(s)" in frame.attrs["yoy_gap"]
