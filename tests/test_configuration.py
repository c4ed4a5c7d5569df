"""Configuration flows one way: the command line reads options and their environment variables;
the library takes explicit arguments and reads no environment."""
from __future__ import annotations

import json
from pathlib import Path
from datetime import datetime

from click.testing import CliRunner

from aicity.cli import cli
from aicity.crawler.config import SiteAccess, Tuning
from aicity.service.collect import collect, latest_published
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
    for name, key, setting in (("delay", "AICITY_BAIDU_DELAY", "DOWNLOAD_DELAY"),
                               ("daily_budget", "AICITY_BAIDU_DAILY_BUDGET",
                                "AICITY_BAIDU_DAILY_BUDGET")):
        assert envvars[name] == key and setting in access
        assert defaults[setting] == getattr(SiteAccess, name)
        checked += 1
    assert "AICITY_BAIDU_DELAY" not in defaults       # the pace has one setting, Scrapy's
    assert access["AICITY_BAIDU_COOKIES"] == ["BDUSS=a"] and envvars["cookies_text"] == \
        "AICITY_BAIDU_COOKIES"
    assert checked == len(dataclasses.fields(Tuning)) + 2


def _account_slots(db_path, delay: float, accounts: int) -> dict:
    """(delay, concurrency) of the download slot Scrapy makes for each account's requests
    under the crawl's settings (run in a child: Scrapy's downloader needs the reactor the
    settings name installed, which a test process must not keep)."""
    from scrapy import Request
    from scrapy.core.downloader import Downloader
    from scrapy.utils.reactor import install_reactor
    from scrapy.utils.test import get_crawler

    from aicity.service.collect import crawl_settings
    access = SiteAccess(cookies=tuple(f"BDUSS={i}" for i in range(accounts)), delay=delay)
    settings = crawl_settings(db_path, 1, "emulator", accounts,
                              {**access.settings(), **Tuning().settings()})
    install_reactor(settings["TWISTED_REACTOR"])
    downloader = Downloader(get_crawler(settings_dict=settings.copy_to_dict()))
    slots = {}
    for account in [*range(1, accounts + 1), 1]:
        request = Request("https://index.baidu.com/api/SearchApi/index",
                          meta={"download_slot": f"account-{account}"})
        key, slot = downloader._get_slot(request)
        slots[key] = (slot.delay, slot.concurrency)
    return {"slots": slots, "concurrent": settings.getint("CONCURRENT_REQUESTS")}


def test_the_pace_reaches_each_accounts_download_slot_one_way(db_path):
    """--delay becomes Scrapy's DOWNLOAD_DELAY and nothing else; the slot Scrapy makes for an
    account's requests takes it, with one request in flight (it came three ways, one of them
    a setting nothing read)."""
    from aicity.children import in_child
    got = in_child(_account_slots, db_path, 7.5, 3)
    assert got == {"slots": {f"account-{i}": (7.5, 1) for i in (1, 2, 3)}, "concurrent": 3}


def test_serve_without_db_takes_the_one_default_then_the_demos(tmp_path, monkeypatch, db_path):
    """./aicity.db (the one default, db/connection.py) when it exists, else the demo's; --db and
    AICITY_DB always win."""
    import shutil

    import aicity.explorer.serve as explorer
    served = []
    monkeypatch.setattr(explorer, "serve", lambda where, **kw: served.append(where))
    monkeypatch.delenv("AICITY_DB", raising=False)
    here = tmp_path / "here"
    (here / "demo-output").mkdir(parents=True)
    monkeypatch.chdir(here)
    shutil.copy(db_path, here / "demo-output" / "aicity.db")
    first = CliRunner().invoke(cli, ["serve"])
    assert first.exit_code == 0, first.output
    assert "serving the demo's database" in first.stderr
    shutil.copy(db_path, here / "aicity.db")
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    other = tmp_path / "other.db"
    shutil.copy(db_path, other)
    assert CliRunner().invoke(cli, ["serve"], env={"AICITY_DB": str(other)}).exit_code == 0
    assert served == [str(Path("demo-output", "aicity.db")), None, str(other)]
