"""The first nights on one or two accounts: a regional-distribution snapshot of every city's last
30 days stands in for the city series until they come in rotation, so the first night already
gives a city briefing (issue 9)."""
from __future__ import annotations

import pytest

import json
import math
from datetime import date, datetime, timedelta

import numpy as np

from tests.conftest import job_order
from aicity import scheduler as nightly
from aicity.emulator.process import running_emulator
from aicity.emulator.world import World
from aicity.crawler.plan import plan_snapshot, snapshot_order
from aicity.db import store
from aicity.db.regions import default_registry
from aicity.keywords.taxonomy import default_taxonomy

# every test here runs the nightly job (or the demo) in child processes
pytestmark = pytest.mark.slow

NOW = datetime(2017, 3, 2, 14, 0, tzinfo=nightly.SHANGHAI)   # after publication: through 03-01
END = "2017-03-01"
HABITS = "lowercase,block-type,unpublished,strict-token,region-one-word,top-cities=10,floor"
TERMS = len(default_taxonomy().unique_terms())
SECRET = "f1rstN1ghtSecret"


def cities_of(*provinces):
    reg = default_registry()
    return {r.code: r.name for r in reg.filter(level="city") if r.province in provinces}


# Two provinces and every one of their cities: a small country.
CITIES = cities_of("四川", "浙江")
SCOPE = ["--regions", ",".join(map(str, [0, 914, 917, *CITIES])), "--start", "2016-01-01",
         "--delay", "0"]


def test_snapshot_order_advances_every_group_in_step():
    strata = [(f"p{i}", "professional/") for i in range(20)] + \
             [(f"v{i}", "application/vision") for i in range(5)] + [("v0", "basic/")]
    order = snapshot_order(strata)
    assert sorted(order) == sorted({k for k, _ in strata})
    first = order[:10]               # a budget for 10 keywords: 8 of 20 and 2 of 5, in step
    assert sum(k.startswith("p") for k in first) == 8
    assert sum(k.startswith("v") for k in first) == 2


def test_snapshot_plan_carries_on_its_window_until_complete():
    end = date(2017, 3, 10)
    old = (date(2017, 2, 5), date(2017, 3, 6))                 # 30 days, 4 days ago, unfinished
    answered = {old: {("a", 901), ("a", 902)}}
    plan = plan_snapshot(["a", "b"], [901, 902], end, answered, budget=2)   # 1 kept for retries
    assert (plan.start, plan.end) == old and plan.calls == [("b", 901)] and plan.deferred == 1
    assert plan.done_keywords == 1
    answered[old] |= {("b", 901), ("b", 902)}
    done = plan_snapshot(["a", "b"], [901, 902], end, answered, budget=None)
    assert done.complete and not done.calls and "complete" in done.reason
    # a month later the old snapshot is too old to carry on: a new window ends at `end`
    later = plan_snapshot(["a", "b"], [901, 902], end + timedelta(days=30), answered, budget=None)
    assert later.end == end + timedelta(days=30) and len(later.calls) == 4


def run_night(db_path, tmp_path, url, cookie, budget):
    env = {"AICITY_BAIDU_COOKIES": cookie, "AICITY_BAIDU_DAILY_BUDGET": str(budget),
           "AICITY_BAIDU_BASE_URL": url}
    return nightly.run_job(db_path, now=NOW, out=tmp_path / "out", order=job_order(SCOPE, env))


def test_first_night_on_one_account_gives_every_city_a_briefing(db_path, tmp_path, run):
    # 300 requests: the index series of the nation, two provinces and two cities alone would
    # need 5 × 27 × 2 = 270 and the snapshot of both provinces' 32 cities 2 × 131 = 262.
    with running_emulator(seed=3, latest=END, rate_limit="0", habits=HABITS) as url:
        result = run_night(db_path, tmp_path, url, f"BDUSS={SECRET}", 300)
    assert result.stages["snapshot"]["status"] == "ok", result.stages
    assert result.stages["export"]["status"] == "ok", result.stages
    folder = tmp_path / "out" / END
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["level"] == "city" and manifest["basis"] == "distribution"
    assert (manifest["start"], manifest["end"]) == ("2017-01-31", END)
    assert manifest["snapshot_keywords"] == manifest["keywords"] == TERMS
    assert manifest["data_source"] == "simulated"
    assert "regional distribution" in manifest["missing"]
    cities = cities_of("四川", "浙江")
    assert manifest["regions_with_data"] == len(cities) > 20
    text = (folder / "briefing_全国.csv").read_text(encoding="utf-8-sig")
    assert all(name in text for name in cities.values())
    assert "模拟数据" in text
    # a value is what the server meant: the mean over the 30 days, Latin names under their own
    # (days under the site's floor of 57 counting 0); a city whose mean is 0 is not listed
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group, t.since))
    world = World(default_registry(), words, seed=3, latest=date.fromisoformat(END))
    db = store.connect(db_path)
    stored = dict(db.execute("SELECT keyword, value FROM region_distribution WHERE region = 97 "
                             "AND start = '2017-01-31' AND end = ?", [END]).fetchall())
    db.close()

    def meant(kw):
        v = world.series(kw, 97, date(2017, 1, 31), date.fromisoformat(END))
        return int(np.round(np.where(v < 57, 0.0, v).mean()))

    listed = {kw for kw in world.keywords if meant(kw)}
    assert set(stored) == listed and "AI" in stored and "ai" not in stored
    assert "ChatGPT" not in stored and len(listed) > 20     # nobody searched it in 2017
    for kw in ("AI", "人工智能", "TensorFlow"):
        assert stored[kw] == meant(kw)
    for stage in result.stages.values():
        assert SECRET not in json.dumps(stage)
    # analysts ask the snapshot the same way
    ranked = run("rank", "--dimension", "basic", "--basis", "distribution", "--format", "json")
    assert ranked.exit_code == 0, ranked.output
    rows = json.loads(ranked.output[ranked.output.index("["):])
    measured = [r for r in rows if r["value"] is not None]
    assert {r["region_code"] for r in measured} == set(CITIES)
    assert measured[0]["rank"] == 1 and measured[0]["value"] >= measured[-1]["value"]
    wrong = run("rank", "--dimension", "basic", "--basis", "distribution", "--period", "2017")
    assert wrong.exit_code != 0 and "no snapshot for 2017-01-01..2017-12-31" in wrong.output


def test_a_snapshot_cut_short_says_so_and_the_next_night_completes_it(db_path, tmp_path):
    with running_emulator(seed=3, latest=END, rate_limit="0", habits=HABITS) as url:
        first = run_night(db_path, tmp_path, url, "BDUSS=night-one", 100)
        manifest = json.loads((tmp_path / "out" / END / "manifest.json").read_text("utf-8"))
        assert manifest["basis"] == "distribution"
        # 100 requests less 3 for retries: 97 calls, two provinces a keyword
        assert manifest["snapshot_keywords"] == 48
        assert f"from 48 of {TERMS} keywords (the rest follow" in manifest["missing"]
        # every dimension is measured already, with a value for every city
        assert "no data for" not in manifest["missing"], manifest["missing"]
        second = run_night(db_path, tmp_path, url, "BDUSS=night-two", 200)
    assert first.stages["export"]["status"] == second.stages["export"]["status"] == "ok"
    manifest = json.loads((tmp_path / "out" / END / "manifest.json").read_text("utf-8"))
    assert manifest["snapshot_keywords"] == TERMS
    assert "the rest follow" not in manifest["missing"]
    assert not math.isnan(manifest["regions_with_data"])


def test_dry_run_tells_of_the_snapshot_nights(db_path, run, monkeypatch):
    monkeypatch.setenv("AICITY_BAIDU_COOKIES", "BDUSS=dry-run")
    one = run("collect", "--dry-run", "--end", END, "--daily-budget", "1500")
    assert one.exit_code == 0, one.output
    assert (f"first a city snapshot (regional distribution, last 30 days): 44 of {TERMS} "
            f"keywords for every city the first night, complete after 3 night(s)") in one.output
    # without a budget the index series reach every city tonight: no snapshot
    unlimited = run("collect", "--dry-run", "--end", END, "--daily-budget", "0")
    assert unlimited.exit_code == 0 and "snapshot" not in unlimited.output
