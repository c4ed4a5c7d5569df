"""Dates, periods without data, like-with-like year on year, movers' options."""
from __future__ import annotations

import json

import pytest

from tests.conftest import invoke





# --- dates, periods without data, like-with-like year-on-year, movers' options ------------------

@pytest.mark.parametrize("args", [
    ["series", "--keyword", "人工智能", "--region", "成都", "--start", "2017/01/01"],
    ["series", "--keyword", "人工智能", "--region", "成都", "--start", "2017-13-45"],
    ["series", "--keyword", "人工智能", "--region", "成都", "--end", "20170101"],
    ["collect", "--start", "2017-02-30", "--dry-run"],
    ["rank", "--dimension", "basic", "--period", "2017-01-01..2017/03/01"],
])
def test_every_date_option_is_checked_the_same_way(national_db, args):
    result = invoke(national_db, *args)
    assert result.exit_code != 0
    assert "not a date" in result.output or "not a real date" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["rank", "--dimension", "basic", "--period", "2015"],
    ["split", "--dimension", "basic", "--period", "2015"],
    ["movers", "--period", "2015"],
])
def test_a_period_without_data_says_which_period_has_data(national_db, args):
    result = invoke(national_db, *args)
    assert result.exit_code == 1
    assert "no data for period 2015" in result.output
    assert "the data covers 2016-01-01..2017-12-31: try --period 2017" in result.output


def test_briefing_and_report_for_a_period_without_data_write_nothing(national_db, tmp_path):
    result = invoke(national_db, "export", "briefing", "--period", "2015", "--out",
                  str(tmp_path / "b"))
    assert result.exit_code == 1 and "no data for period 2015" in result.output
    assert not (tmp_path / "b").exists()
    result = invoke(national_db, "report", "--period", "2015", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and "no data for period 2015" in result.output
    assert not (tmp_path / "r.html").exists()


def test_year_on_year_needs_the_whole_previous_year(national_db, tmp_path):
    # 2016 is the first year of data: there is no 2015 to compare it with
    result = invoke(national_db, "movers", "--period", "2016", "--show", "risers",
                    "--against", "year")
    assert result.exit_code == 1
    assert "needs 2015-01-01..2015-12-31 in full; the data starts 2016-01-01" in result.output
    # nor the year before it: automatic falls back to the previous period, which is 2015 too
    result = invoke(national_db, "movers", "--period", "2016", "--show", "risers")
    assert result.exit_code == 1 and "choose a shorter --period" in result.output
    growth = invoke(national_db, "movers", "--period", "2016", "--show", "growth",
                    "--against", "year", "--format", "csv")
    assert growth.exit_code == 0 and "change left empty" in growth.stderr
    import io
    import pandas as pd
    frame = pd.read_csv(io.StringIO(growth.stdout))
    assert frame["change"].isna().all() and frame["value"].notna().any()
    # half of 2016 against half of 2017 is like with like
    ok = pd.read_csv(io.StringIO(invoke(national_db, "movers", "--period",
                                      "2017-01-01..2017-06-30", "--show", "growth",
                                      "--format", "csv").stdout))
    assert ok["change"].notna().any()
    # the last half of 2016 against the first: period-over-period when no year is before it
    half = invoke(national_db, "movers", "--period", "2016-07-01..2016-12-29", "--show",
                  "growth", "--format", "csv")
    assert half.exit_code == 0
    assert "compared with the previous period 2016-01-01..2016-06-30" in half.stderr
    assert pd.read_csv(io.StringIO(half.stdout))["change"].notna().all()


def test_the_briefing_leaves_yoy_empty_with_the_reason(national_db, tmp_path):
    from aicity.service.export import export_briefings
    result = export_briefings(national_db, tmp_path / "b", period="2016", lang="en")
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert "year-on-year" in manifest["missing"] and "2016-01-01" in manifest["missing"]
    import pandas as pd
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig")
    assert frame["basic_yoy_pct"].isna().all() and frame["basic_value"].notna().any()
    full = export_briefings(national_db, tmp_path / "c", period="2017", lang="en")
    assert pd.read_csv(full.files[0], encoding="utf-8-sig")["basic_yoy_pct"].notna().any()


def test_movers_honours_top_and_the_selection_for_every_table(national_db):
    import io
    import pandas as pd

    def table(*args):
        result = invoke(national_db, "movers", "--period", "2017", "--format", "csv", *args)
        assert result.exit_code == 0, result.output
        return pd.read_csv(io.StringIO(result.stdout))

    for show in ("risers", "fallers", "growth", "tiers"):
        assert len(table("--show", show, "--top", "3")) <= 3
    assert len(table("--show", "growth", "--top", "5")) == 5
    by_app = table("--show", "tiers", "--top", "20")
    by_basic = table("--show", "tiers", "--top", "20", "--dimension", "basic")
    by_kw = table("--show", "tiers", "--top", "20", "--keyword", "人脸识别")
    assert not (by_app.equals(by_basic) and by_app.equals(by_kw))


def test_a_weekly_series_from_a_start_shows_the_week_that_holds_it(db_path, tmp_path):
    """`series --start 2015-01-01 --granularity week` left out the week stored on Monday
    2014-12-29, which holds 2015's first four days (issue 34 §6)."""
    from tests.conftest import write_csv
    rows = [["人工智能", "成都", day, 700 + i, "week"] for i, day in enumerate(
        ["2014-12-22", "2014-12-29", "2015-01-05", "2015-01-12"])]
    src = write_csv(tmp_path / "weeks.csv", ["keyword", "region", "date", "value",
                                             "granularity"], rows)
    assert invoke(db_path, "import", str(src)).exit_code == 0
    shown = invoke(db_path, "series", "--keyword", "人工智能", "--region", "成都", "--start",
                   "2015-01-01", "--granularity", "week", "--format", "csv")
    assert shown.exit_code == 0, shown.output
    assert [line.split(",")[0] for line in shown.stdout.splitlines()[1:]] == [
        "2014-12-29", "2015-01-05", "2015-01-12"]
