"""The crawl on the real site's habits, as public crawlers report them (2024-2026), each
switched on alone in the emulator, and the budget-aware plan of a night."""
from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aicity.emulator.process import running_emulator
from aicity.emulator.world import World
from aicity.crawler.plan import Area, Piece, outlook, plan_night
from aicity.db import store
from aicity.db.regions import default_registry
from aicity.keywords.taxonomy import default_taxonomy

ROOT = Path(__file__).resolve().parent.parent
LATEST = "2026-11-20"
SEED = 5
SECRET = "r3alS1teSecret"
CHENGDU = 97


def world(latest=LATEST):
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group))
    return World(default_registry(), words, seed=SEED, latest=date.fromisoformat(latest))


def served(keyword, region, start, end, latest=LATEST):
    values = world(latest).series(keyword, region, date.fromisoformat(start),
                                  date.fromisoformat(end))
    day = date.fromisoformat(start)
    return [((day + timedelta(days=i)).isoformat(), None if math.isnan(v) else int(v))
            for i, v in enumerate(values)]


def collect(db_path, url, *args, env=None, cookies=f"BDUSS={SECRET}", expect=0):
    full_env = dict(os.environ, AICITY_BAIDU_COOKIES=cookies, PYTHONPATH=str(ROOT),
                    AICITY_LOG_LEVEL="INFO", **(env or {}))
    result = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db_path), "collect",
                             "--base-url", url, "--delay", "0", *args], capture_output=True,
                            text=True, env=full_env, cwd=ROOT, timeout=300)
    assert result.returncode in (expect if isinstance(expect, tuple) else (expect,)), \
        result.stdout + result.stderr[-3000:]
    assert SECRET not in result.stdout + result.stderr
    return result


def stored(db_path, keyword, region, granularity="day"):
    db = store.connect(db_path)
    try:
        kw_id, _ = store.resolve_keyword(db, keyword)
        frame = store.series(db, kw_id, region, granularity=granularity)
    finally:
        db.close()
    return [(d, None if pd.isna(v) else int(v)) for d, v in zip(frame["date"], frame["value"])]


def query(db_path, sql):
    con = sqlite3.connect(db_path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_latin_keywords_answered_in_lowercase_are_stored_under_their_own_names(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="lowercase") as url:
        first = collect(db_path, url, "--regions", "成都", "--keywords", "AI,人工智能,TensorFlow",
                        "--start", "2026-10-01", "--end", LATEST)
        again = collect(db_path, url, "--regions", "成都", "--keywords", "AI,人工智能,TensorFlow",
                        "--start", "2026-10-01", "--end", LATEST)
    assert "0 pieces still missing" in first.stdout
    for keyword in ("AI", "TensorFlow"):
        assert stored(db_path, keyword, CHENGDU) == served(keyword, CHENGDU, "2026-10-01",
                                                           LATEST)
    assert query(db_path, "SELECT count(*) FROM keywords WHERE term IN ('ai', 'tensorflow')"
                 ) == [(0,)]
    assert "nothing to do" in again.stdout


def test_a_blank_answer_is_asked_again_and_never_stored_as_missing(db_path):
    args = ("--regions", "成都,0", "--keywords", "人工智能,深度学习", "--start", "2026-09-01",
            "--end", LATEST, "--format", "json")
    with running_emulator(seed=SEED, latest=LATEST, habits="blank=1.0") as url:
        result = json.loads(collect(db_path, url, *args).stdout)
    assert result["remaining_pieces"] == 0 and result["waiting_days"] == 0
    # the check, then every piece twice; the blank first answers hold no number, so only
    # the second answers need their ptbk key
    assert result["answers_without_key"] == 2
    assert result["requests"] == 1 + 2 * 2 + 2
    for keyword in ("人工智能", "深度学习"):
        assert stored(db_path, keyword, CHENGDU) == served(keyword, CHENGDU, "2026-09-01",
                                                           LATEST)
    assert query(db_path, "SELECT count(*) FROM unconfirmed") == [(0,)]   # filled, forgotten


def test_unpublished_days_wait_however_often_they_are_asked(db_path):
    """Days after the newest the site has published wait to be asked again, however many
    answers left them empty (they were accepted as below the floor after `tries`, and stayed so
    when the site published them: issue 36 §3)."""
    end = (date.fromisoformat(LATEST) + timedelta(days=2)).isoformat()
    args = ("--regions", "成都", "--keywords", "人工智能", "--start", "2026-11-01", "--end", end)
    env = {"AICITY_UNCONFIRMED_TRIES": "2", "AICITY_UNCONFIRMED_DAYS": "0"}
    with running_emulator(seed=SEED, latest=LATEST, habits="unpublished") as url:
        first = collect(db_path, url, *args, env=env)
        assert "0 pieces still missing; 2 empty days to ask again later" in first.stdout
        assert stored(db_path, "人工智能", CHENGDU) == served("人工智能", CHENGDU, "2026-11-01",
                                                            LATEST)
        collect(db_path, url, *args, env=env)
        third = collect(db_path, url, *args, env=env)
    assert stored(db_path, "人工智能", CHENGDU)[-1] == (LATEST, served(
        "人工智能", CHENGDU, LATEST, LATEST)[0][1])
    assert query(db_path, "SELECT count(*) FROM unconfirmed WHERE accepted_at IS NULL"
                 ) == [(2,)]
    assert "2 empty days to ask again later" in third.stdout


@pytest.mark.slow
def test_three_nights_on_every_habit_store_what_the_server_meant(db_path):
    """Night n: the site has published through L+n; the job asks one day further. After three
    nights every stored value is what the site meant; a fourth run asks only for the day that
    is still unpublished."""
    latest = date.fromisoformat(LATEST)
    scope = ("--regions", "成都,四川,0",
             "--keywords", "AI,人工智能,深度学习,TensorFlow,人脸识别,语音识别",
             "--start", "2026-01-01")
    for night in range(3):
        published = latest + timedelta(days=night)
        ask = (published + timedelta(days=1)).isoformat()
        with running_emulator(seed=SEED, latest=published.isoformat(),
                              habits="real,blank=0.3,token-expiry=0.2") as url:
            result = collect(db_path, url, *scope, "--end", ask,
                             env={"AICITY_BAIDU_BACKOFF": "0.01"})
            assert "empty days to ask again later" in result.stdout   # the unpublished day
    final = (latest + timedelta(days=2)).isoformat()
    for keyword in ("AI", "人工智能", "TensorFlow", "人脸识别"):
        for region in (CHENGDU, 914, 0):
            got = dict(stored(db_path, keyword, region))
            meant = dict(served(keyword, region, "2026-01-01", final, final))
            assert {d: meant[d] for d in got} == got, (keyword, region)    # nothing wrong
            # nothing lost either: every day published since the first night (a blank answer
            # on the newest days may wait for the next night)
            assert set(got) >= {d for d in meant if d <= LATEST}
    with running_emulator(seed=SEED, latest=final, habits="real,blank=0") as url:
        dry = collect(db_path, url, *scope, "--end", (latest + timedelta(days=3)).isoformat(),
                      "--dry-run", "--format", "json")
    plan = json.loads(dry.stdout)
    # no index request for the covered range: only the newest days, in one window per region
    # and keyword batch (6 keywords: 2 batches × 3 regions)
    assert plan["pieces"] == 6 and plan["requests_planned"] == 6 * 2 + 1


def test_a_declared_weekly_answer_is_stored_weekly(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="block-type") as url:
        result = collect(db_path, url, "--regions", "成都", "--keywords", "人工智能",
                         "--start", "2015-01-01", "--end", "2016-12-31", "--window-days", "3650")
    assert "0 pieces still missing" in result.stdout and "undecodable" not in result.stdout
    w = world()
    weeks = w.weekly(w.series("人工智能", CHENGDU, date(2015, 1, 1), date(2016, 12, 31)),
                     date(2015, 1, 1))
    monday = date(2014, 12, 29)          # 2015-01-01 is a Thursday: its calendar week's Monday
    want = [((monday + timedelta(days=7 * i)).isoformat(),
             None if math.isnan(v) else int(v)) for i, v in enumerate(weeks)]
    assert len(want) == 105              # the calendar weeks that 731 days touch
    assert stored(db_path, "人工智能", CHENGDU, granularity="week") == want


def test_an_expired_token_is_renewed_before_any_back_off(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="strict-token,token-expiry=0.3") \
            as url:
        result = collect(db_path, url, "--regions", "成都,四川", "--keywords",
                         "人工智能,深度学习,自动驾驶", "--start", "2025-01-01", "--end", LATEST,
                         env={"AICITY_BAIDU_BACKOFF": "0.01"})
    assert "asking again with a new token" in result.stderr
    assert "0 pieces still missing" in result.stdout


def test_a_changed_site_token_stops_the_run_with_the_cause(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="strict-token",
                          site_key="newkeynewkey1234") as url:
        result = collect(db_path, url, "--regions", "成都,四川,0", "--keywords",
                         "人工智能,深度学习", "--start", "2025-01-01", "--end", LATEST,
                         "--format", "json", env={"AICITY_BAIDU_BACKOFF": "0.01"}, expect=4)
        doctor = subprocess.run([sys.executable, "-m", "aicity", "doctor", "--base-url", url],
                                capture_output=True, text=True, cwd=ROOT,
                                env=dict(os.environ, AICITY_BAIDU_COOKIES=f"BDUSS={SECRET}",
                                         PYTHONPATH=str(ROOT)))
    assert "refused our Cipher-Text" in result.stderr and "aicity doctor" in result.stderr
    assert json.loads(result.stdout)["requests"] <= 15   # a streak of 10, not thousands
    assert doctor.returncode == 1 and "FAIL token" in doctor.stdout
    assert SECRET not in doctor.stdout + doctor.stderr


def test_doctor_names_the_failing_part(db_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def doctor(url, cookies):
        return subprocess.run([sys.executable, "-m", "aicity", "doctor", "--base-url", url,
                               "--timeout", "5"], capture_output=True, text=True, cwd=ROOT,
                              env={**env, "AICITY_BAIDU_COOKIES": cookies})

    with running_emulator(seed=SEED, habits="real") as url:
        good = doctor(url, f"BDUSS={SECRET}")
        dead = doctor(url, f"BDUSS={SECRET}\nBDUSS=expired{SECRET}")
    gone = doctor("http://127.0.0.1:9", f"BDUSS={SECRET}")
    assert good.returncode == 0 and "protocol as expected: 7 daily values" in good.stdout
    assert dead.returncode == 1 and "FAIL cookie: account #2" in dead.stdout
    assert gone.returncode == 1 and "FAIL network" in gone.stdout
    assert not any(SECRET in r.stdout + r.stderr for r in (good, dead, gone))


def test_a_server_that_is_gone_stops_the_run_early(db_path):
    result = collect(db_path, "http://127.0.0.1:9", "--regions", "成都,四川,0,杭州",
                     "--start", "2025-01-01", "--end", LATEST, "--format", "json",
                     env={"AICITY_BAIDU_UNREACHABLE_STREAK": "5"}, expect=3)
    assert "did not answer 5 requests in a row" in result.stderr
    assert json.loads(result.stdout)["requests"] < 40   # of 2 × 4 regions × 23 batches planned


def test_region_distribution_one_keyword_a_call_top_cities_and_fractional_shares(db_path):
    with running_emulator(seed=SEED, latest=LATEST,
                          habits="region-one-word,top-cities=10") as url:
        collect(db_path, url, "--what", "region", "--regions", "四川,0", "--keywords",
                "人工智能,深度学习", "--start", "2026-10-01", "--end", "2026-10-31")
    rows = query(db_path, "SELECT keyword, area, region, value, share_permille "
                          "FROM region_distribution")
    for keyword in ("人工智能", "深度学习"):                        # national: top cities only
        assert len({r[2] for r in rows if r[0] == keyword and r[1] == 0 and r[2] < 900}) == 10
    assert {r[0] for r in rows} == {"人工智能", "深度学习"}
    assert any(isinstance(r[4], float) and r[4] != int(r[4]) for r in rows)  # kept fractional
    assert sum(1 for r in rows if r[1] == 914 and r[2] < 900) > 10        # 四川: all its cities


def test_the_daily_budget_is_kept_across_runs(db_path):
    args = ("--regions", "成都,杭州,0", "--keywords", "人工智能,深度学习", "--start",
            "2026-10-01", "--end", LATEST, "--daily-budget", "5", "--format", "json")
    with running_emulator(seed=SEED, latest=LATEST, habits="none") as url:
        first = json.loads(collect(db_path, url, *args).stdout)
        second = json.loads(collect(db_path, url, *args).stdout)
    # 1 keyword check + 2 pieces × 2 requests fit in 5; the third region waits for tomorrow
    assert first["requests"] == 5 and first["deferred_pieces"] == 1
    assert first["status"] == "ok"
    assert second["budget_left"] == 0 and second["pieces"] == 0 and second["requests"] == 0
    assert [r[0] for r in query(db_path, "SELECT DISTINCT region FROM observations "
                                         "ORDER BY 1")] == [0, 97]    # nation, then the larger city
    (key, used), = query(db_path, "SELECT account, used FROM account_budget")
    assert used == 5 and SECRET not in key


# --- the plan of a night (pure) ---------------------------------------------------------------

D = date.fromisoformat
AREAS = [Area(0, "country", 1e9), Area(914, "province", 8e7), Area(97, "city", 2e7),
         Area(138, "city", 1e7)]


def test_night_plan_puts_recent_days_of_every_region_before_history():
    kws = [f"k{i}" for i in range(5)]
    night = plan_night(kws, AREAS, D("2025-01-01"), D("2026-11-20"), {}, budget=2 * 6,
                       window_days=300)
    assert [p.region for p in night.pieces] == [0, 914, 97, 138, 0, 914]
    assert all(p.end == D("2026-11-20") for p in night.pieces[:4])     # recent window first
    assert night.pieces[4].end == D("2026-11-20") - timedelta(days=300)  # then history
    assert len(night.deferred) == 12 - 6                  # 689 days: three windows a region


def test_night_plan_rotates_cities_stalest_first_and_keeps_leads_fresh():
    kws = ["a"]
    covered = {("a", 0): [(D("2026-01-01"), D("2026-11-19"))],
               ("a", 914): [(D("2026-01-01"), D("2026-11-19"))],
               ("a", 97): [(D("2026-01-01"), D("2026-11-18"))],
               ("a", 138): [(D("2026-01-01"), D("2026-11-10"))]}
    night = plan_night(kws, AREAS, D("2026-01-01"), D("2026-11-20"), covered, budget=6)
    assert [(p.region, p.start) for p in night.pieces] == [
        (0, D("2026-11-20")), (914, D("2026-11-20")), (138, D("2026-11-11"))]
    assert night.deferred == [Piece(97, D("2026-11-19"), D("2026-11-20"), ("a",))]


def test_outlook_with_one_two_and_twelve_accounts():
    areas = [Area(0, "country", 1e9)] + [Area(900 + i, "province", 1e7) for i in range(1, 35)] \
        + [Area(i, "city", 1e6 - i) for i in range(1, 365)]
    views = {n: outlook(112, areas, D("2024-11-22"), D("2026-11-20"), {}, budget=1500 * n,
                        check_requests=8) for n in (1, 2, 12)}
    assert views[12].staleness == {"country": 0, "province": 0, "city": 1}
    assert views[2].staleness["province"] == 0 and views[2].staleness["city"] > 1
    assert views[1].nights_until_all_collected is not None       # no level starves
    assert views[1].nights_until_history > views[2].nights_until_history \
        > views[12].nights_until_history


def test_judge_keeps_blank_and_trailing_empty_days_unconfirmed_until_accepted():
    from datetime import datetime, timezone

    from aicity.crawler.confirm import BLANK, RECENT_END, judge
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert judge([1, None, 3], days, {}, now).keep == 3               # a real gap
    blank = judge([None, None, None], days, {}, now)
    assert blank.keep == 0 and {m[1] for m in blank.unconfirmed} == {BLANK}
    tail = judge([1, None, None], days, {}, now)
    assert tail.keep == 1 and [m[2] for m in tail.unconfirmed] == [1, 1]
    old = (now.replace(day=20)).isoformat()
    prior = {"2026-11-19": (2, old), "2026-11-20": (1, now.isoformat())}
    later = judge([1, None, None], days, prior, now)
    # 11-19: third try, first seen four days ago: accepted; 11-20 keeps waiting
    assert later.keep == 2 and [(m[0], m[1], m[4]) for m in later.unconfirmed] == [
        ("2026-11-19", RECENT_END, True), ("2026-11-20", RECENT_END, False)]


def test_the_emulated_world_answers_any_range_alike_and_provinces_sum_their_cities():
    # Draws come in blocks of days, each from its own stream: a range across a block boundary
    # must read the same as its two halves, and an aggregate the sum of its cities.
    world = World(default_registry(), {"人工智能": ("basic", "")}, seed=SEED,
                  latest=date(2018, 5, 1))
    whole = world.series("人工智能", CHENGDU, date(2011, 12, 1), date(2013, 2, 1))
    parts = np.concatenate([world.series("人工智能", CHENGDU, date(2011, 12, 1),
                                         date(2012, 6, 30)),
                            world.series("人工智能", CHENGDU, date(2012, 7, 1),
                                         date(2013, 2, 1))])
    assert len(whole) == 429 and np.array_equal(whole, parts, equal_nan=True)
    sichuan = world.by_code[CHENGDU].province
    cities = [c.code for c in world.cities if c.province == sichuan]
    span = (date(2011, 12, 1), date(2013, 2, 1))
    total = sum(np.nan_to_num(world.series("人工智能", c, *span)) for c in cities)
    assert np.array_equal(world.series("人工智能", world.provinces[sichuan].code, *span), total)
    pc = sum(np.nan_to_num(world.series("人工智能", c, *span, device="pc")) for c in cities)
    assert np.array_equal(world.series("人工智能", world.provinces[sichuan].code, *span,
                                       device="pc"), pc)


def test_the_emulated_history_does_not_change_when_a_day_is_published():
    words = {"人工智能": ("basic", ""), "深度学习": ("professional", "")}
    before = World(default_registry(), words, seed=SEED, latest=date(2017, 3, 1))
    after = World(default_registry(), words, seed=SEED, latest=date(2018, 5, 1))
    for region in (CHENGDU, 914, 0):
        a = before.series("人工智能", region, date(2016, 1, 1), date(2017, 3, 1))
        b = after.series("人工智能", region, date(2016, 1, 1), date(2017, 3, 1))
        assert len(a) == 426 and ((a == b) | (np.isnan(a) & np.isnan(b))).all()


def test_an_empty_ptbk_key_is_a_passing_fault_the_same_uniqid_mends():
    """The site sometimes sends an empty key and answers the same uniqid when asked again
    (BIH retries it so): the emulator's fault passes too, and the key it then sends is the
    one the index answer was enciphered with."""
    from aicity.emulator import build_state
    from aicity.emulator.server import Api
    api = Api(build_state(latest=date(2026, 11, 20), seed=SEED, rate_limit="0", habits="none",
                          faults="empty_ptbk=0.5"))
    word = json.dumps([[{"name": "人工智能", "wordType": 1}]], ensure_ascii=False)
    answer = api.search_index({"word": [word], "area": ["0"], "startDate": ["2026-11-01"],
                               "endDate": ["2026-11-20"]})
    uniqid = answer["data"]["uniqid"]
    keys = [api.ptbk({"uniqid": [uniqid]})["data"] for _ in range(40)]
    assert "" in keys
    assert len(set(keys) - {""}) == 1
    assert len(next(k for k in keys if k)) == 30
