"""Configuration flows one way: the command line reads options and their environment variables;
the library takes explicit arguments and reads no environment."""
from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from aicity.cli import cli
from aicity.crawler.config import SiteAccess, Tuning
from aicity.crawler.run import collect, latest_published
from aicity.vocabulary import SHANGHAI

SECRET = "do-not-print-me-0123456789"


def test_a_cookie_on_the_command_line_is_refused_and_not_echoed(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "collect", "--dry-run",
                                      "--cookies", f"BDUSS={SECRET}"])
    assert result.exit_code == 2
    assert "AICITY_BAIDU_COOKIES" in result.output and SECRET not in result.output


def test_collect_options_take_their_environment_variables(db_path):
    env = {"AICITY_BAIDU_COOKIES": f"BDUSS={SECRET}a\nBDUSS={SECRET}b",
           "AICITY_BAIDU_DAILY_BUDGET": "7", "AICITY_BAIDU_DELAY": "2.5"}
    result = CliRunner().invoke(cli, ["--db", str(db_path), "collect", "--dry-run", "--regions",
                                      "成都", "--keywords", "人工智能", "--format", "json"],
                                env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["accounts"], out["daily_budget"], out["budget_left"]) == (2, 7, 14)
    assert SECRET not in result.output
    # an option given on the command line wins over its variable
    result = CliRunner().invoke(cli, ["--db", str(db_path), "collect", "--dry-run", "--regions",
                                      "成都", "--keywords", "人工智能", "--format", "json",
                                      "--daily-budget", "3"], env=env)
    assert json.loads(result.output)["daily_budget"] == 3


def test_a_bad_environment_value_names_its_variable(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "collect", "--dry-run"],
                                env={"AICITY_BAIDU_DELAY": "soon"})
    assert result.exit_code == 2 and "AICITY_BAIDU_DELAY" in result.output


def test_the_library_reads_no_environment(db_path, monkeypatch):
    monkeypatch.setenv("AICITY_BAIDU_COOKIES", "BDUSS=from-the-environment")
    monkeypatch.setenv("AICITY_BAIDU_DAILY_BUDGET", "7")
    monkeypatch.setenv("AICITY_BAIDU_LAG_DAYS", "5")
    result = collect(db_path, access=SiteAccess(cookies=("BDUSS=given",)), dry_run=True,
                     regions=["成都"], keywords=["人工智能"])
    assert (result.accounts, result.daily_budget) == (1, 1500)
    noon = datetime(2026, 12, 2, 13, 0, tzinfo=SHANGHAI)
    assert latest_published(noon).isoformat() == "2026-12-01"
    assert latest_published(noon, lag_days=5).isoformat() == "2026-11-27"


def test_site_access_never_shows_a_cookie():
    access = SiteAccess(cookies=(f"BDUSS={SECRET}",), base_url="http://127.0.0.1:9")
    assert SECRET not in repr(access) and SECRET not in str(access)
    assert "accounts=1" in repr(access)
    assert Tuning(cooldown=5).settings()["AICITY_BAIDU_COOLDOWN"] == 5


def test_each_environment_variable_names_the_scrapy_setting_it_feeds_and_defaults_are_one():
    """A setting takes one path: option or environment variable → SiteAccess/Tuning → the
    Scrapy setting of the variable's name, whose default is the dataclass field's (issue 29
    §3). Scrapy's own DOWNLOAD_TIMEOUT and LOG_LEVEL keep their names."""
    import dataclasses

    from scrapy.settings import Settings

    from aicity.cli import cli as command_line
    from aicity.crawler.config import SiteAccess, Tuning
    defaults = Settings()
    defaults.setmodule("aicity.crawler.settings")
    envvars = {p.name: p.envvar for p in command_line.commands["collect"].params
               if getattr(p, "envvar", None)}
    scrapy_own = {"DOWNLOAD_TIMEOUT": "AICITY_DOWNLOAD_TIMEOUT",
                  "LOG_LEVEL": "AICITY_LOG_LEVEL"}
    base = Tuning().settings()
    checked = 0
    for f in dataclasses.fields(Tuning):
        changed = Tuning(**{f.name: "x" if f.type == "str" else f.default + 1}).settings()
        (key,) = [k for k in base if changed[k] != base[k]]
        assert envvars[f.name] == scrapy_own.get(key, key), f.name
        assert defaults[key] == f.default, key
        checked += 1
    access = SiteAccess(cookies=("BDUSS=a",)).settings()
    for name, key in (("delay", "AICITY_BAIDU_DELAY"), ("daily_budget",
                                                        "AICITY_BAIDU_DAILY_BUDGET")):
        assert envvars[name] == key and key in access
        assert defaults[key] == getattr(SiteAccess, name)
        checked += 1
    assert access["AICITY_BAIDU_COOKIES"] == ["BDUSS=a"] and envvars["cookies_text"] == \
        "AICITY_BAIDU_COOKIES"
    assert checked == len(dataclasses.fields(Tuning)) + 2
