"""`aicity collect` against the emulator on loopback: real spiders, middlewares and pipeline.

Each crawl runs in a child process (Scrapy's reactor starts once per process), like the CLI.
"""
from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aicity.emulator.process import running_emulator
from aicity.emulator.world import World
from aicity.db import store
from aicity.db.regions import default_registry
from aicity.keywords.taxonomy import default_taxonomy
from tests.recorded import OG_PTBK, asked_words, encipher

ROOT = Path(__file__).resolve().parent.parent
LATEST = "2026-11-20"
SEED = 11
SECRET = "s3cr3tBDUSSvalue"
COOKIES = f"BDUSS={SECRET}a; BAIDUID=x\nBDUSS={SECRET}b"


def world(seed=SEED):
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group, t.since))
    return World(default_registry(), words, seed=seed, latest=date.fromisoformat(LATEST))


# The real site's habits, less the two that need a second run to fill what the first left
# (blank answers, expiring tokens): tests/test_real_site.py covers those.
HABITS = "lowercase,block-type,unpublished,strict-token,region-one-word,top-cities=10,floor"
FLOOR = 57


@pytest.fixture(scope="module")
def emulator():
    with running_emulator(seed=SEED, latest=LATEST, habits=HABITS) as url:
        yield url


def collect(db_path, url, *args, cookies=COOKIES, env=None, check=True):
    full_env = dict(os.environ, AICITY_BAIDU_COOKIES=cookies, PYTHONPATH=str(ROOT),
                    AICITY_LOG_LEVEL="INFO")
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "aicity", "--db", str(db_path), "collect", "--base-url", url,
           "--delay", "0", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=ROOT,
                            timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def stored(db_path, keyword, region, device="all", granularity="day"):
    db = store.connect(db_path)
    kw_id, _ = store.resolve_keyword(db, keyword)
    frame = store.series(db, kw_id, region, device=device, granularity=granularity)
    return [(d, None if pd.isna(v) else int(v)) for d, v in zip(frame["date"], frame["value"])]


def served(w, keyword, region, start, end, device="all"):
    values = w.series(keyword, region, date.fromisoformat(start), date.fromisoformat(end), device)
    values = np.where(values < FLOOR, np.nan, values)     # the site's reporting floor
    day = date.fromisoformat(start)
    return [((day + timedelta(days=i)).isoformat(), None if math.isnan(v) else int(v))
            for i, v in enumerate(values)]


def observation_rows(db_path):
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT k.term, o.region, o.device, o.granularity, o.date, o.value, "
                           "o.source FROM observations o JOIN keywords k ON k.id = o.keyword_id "
                           "ORDER BY 1, 2, 3, 4, 5").fetchall()
    finally:
        con.close()


KEYWORDS = "人工智能,深度学习,自动驾驶"
REGIONS = "成都,911,0"


def test_daily_series_equal_what_the_emulator_served(db_path, emulator):
    result = collect(db_path, emulator, "--regions", REGIONS, "--keywords", KEYWORDS,
                     "--start", "2016-11-01", "--end", "2017-03-31")
    assert "0 pieces still missing" in result.stdout
    w = world()
    chengdu = default_registry().resolve("成都").code
    for keyword in KEYWORDS.split(","):
        for region in (chengdu, 911, 0):
            for device in ("all", "pc", "wise"):
                got = stored(db_path, keyword, region, device)
                assert got == served(w, keyword, region, "2016-11-01", "2017-03-31", device)
    assert {r[6] for r in observation_rows(db_path)} == {"emulator"}


def test_empty_days_inside_an_answer_are_stored_as_below_the_floor(db_path, emulator):
    """A day under Baidu's floor between two reported ones is stored empty at once (asked,
    nothing reported), never 0 and never held back."""
    w = world()
    chengdu = default_registry().resolve("成都").code
    values = served(w, "机器学习", chengdu, "2016-01-01", "2016-12-31")
    empty_day = next(d for (_, a), (d, v), (_, b) in zip(values, values[1:], values[2:])
                     if v is None and a is not None and b is not None)
    before = (date.fromisoformat(empty_day) - timedelta(days=1)).isoformat()
    after = (date.fromisoformat(empty_day) + timedelta(days=1)).isoformat()
    result = collect(db_path, emulator, "--regions", "成都", "--keywords", "机器学习",
                     "--start", before, "--end", after)
    assert "0 pieces still missing" in result.stdout and "empty days" not in result.stdout
    assert stored(db_path, "机器学习", chengdu) == served(w, "机器学习", chengdu, before, after)
    assert stored(db_path, "机器学习", chengdu)[1] == (empty_day, None)


def test_long_ranges_are_stored_weekly_never_spread_over_days(db_path, emulator):
    collect(db_path, emulator, "--regions", "成都", "--keywords", "人工智能",
            "--start", "2015-01-01", "--end", "2016-12-31", "--window-days", "3650")
    w = world()
    chengdu = default_registry().resolve("成都").code
    daily = w.series("人工智能", chengdu, date(2015, 1, 1), date(2016, 12, 31))
    weeks = w.weekly(daily, date(2015, 1, 1))
    monday = date(2014, 12, 29)          # 2015-01-01 is a Thursday: its calendar week's Monday
    want = [((monday + timedelta(days=7 * i)).isoformat(),
             None if math.isnan(v) else int(v)) for i, v in enumerate(weeks)]
    assert stored(db_path, "人工智能", chengdu, granularity="week") == want
    assert stored(db_path, "人工智能", chengdu, granularity="day") == []


def test_second_run_fetches_nothing_and_changes_nothing(db_path, emulator):
    args = ["--regions", "成都", "--keywords", "人工智能", "--start", "2017-01-01",
            "--end", "2017-01-31"]
    collect(db_path, emulator, *args)
    before = observation_rows(db_path)
    again = collect(db_path, emulator, *args)
    assert "nothing to do" in again.stdout
    assert observation_rows(db_path) == before


def test_killed_run_resumes_to_exactly_the_uninterrupted_result(tmp_path, db_path, emulator):
    args = ["--regions", REGIONS, "--keywords", KEYWORDS, "--start", "2017-01-01",
            "--end", "2017-12-31"]
    # the library's collect with a test extension that dies by SIGKILL after four items
    code = textwrap.dedent(f"""
        from aicity.crawler.config import SiteAccess
        from aicity.service.collect import collect
        access = SiteAccess(base_url={emulator!r}, delay=0, cookies={tuple(COOKIES.splitlines())!r})
        collect({str(db_path)!r}, access=access, regions={REGIONS.split(",")!r},
                keywords={KEYWORDS.split(",")!r}, start="2017-01-01", end="2017-12-31",
                settings={{"EXTENSIONS": {{"tests.crawl_hooks.KillAfterItems": 100}},
                           "KILL_AFTER_ITEMS": 4}})
    """)
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL, mid-run
    partial = len(observation_rows(db_path))
    assert partial > 0
    collect(db_path, emulator, *args)
    reference = tmp_path / "reference.db"
    store.init_db(reference, taxonomy=default_taxonomy())
    collect(reference, emulator, *args)
    assert observation_rows(db_path) == observation_rows(reference)
    assert len(observation_rows(db_path)) > partial
    db = store.connect(db_path)
    assert db.execute("SELECT status, error FROM runs ORDER BY id").fetchall()[:2] == [
        ("failed", "interrupted"), ("ok", "")]


def test_http_errors_malformed_json_and_empty_keys_still_collect_everything(tmp_path, db_path):
    with running_emulator(seed=SEED, latest=LATEST,
                          faults="5xx=0.1,malformed=0.05,empty_ptbk=0.05", habits=HABITS) as url:
        result = collect(db_path, url, "--regions", REGIONS, "--keywords", KEYWORDS,
                         "--start", "2017-01-01", "--end", "2017-12-31")
    assert "0 pieces still missing" in result.stdout
    reference = tmp_path / "reference.db"
    store.init_db(reference, taxonomy=default_taxonomy())
    with running_emulator(seed=SEED, latest=LATEST, habits=HABITS) as url:
        collect(reference, url, "--regions", REGIONS, "--keywords", KEYWORDS,
                "--start", "2017-01-01", "--end", "2017-12-31")
    assert observation_rows(db_path) == observation_rows(reference)


def test_timeouts_are_retried(db_path):
    with running_emulator(seed=SEED, latest=LATEST, faults="timeout=0.1",
                          timeout_delay=5, habits=HABITS) as url:
        result = collect(db_path, url, "--regions", "成都", "--keywords", KEYWORDS,
                         "--start", "2017-01-01", "--end", "2017-12-31",
                         env={"AICITY_DOWNLOAD_TIMEOUT": "1"})
    assert "0 pieces still missing" in result.stdout


def test_unindexed_keyword_is_reported_and_does_not_sink_its_batch(db_path, emulator):
    for extra in ([], ["--no-check"]):  # with the pre-check, and via 10002 and a split
        result = collect(db_path, emulator, "--regions", "成都", "--keywords",
                         "人工智能,不存在的词语,深度学习", "--start", "2017-01-01",
                         "--end", "2017-01-10", *extra)
        assert "not indexed: 不存在的词语" in result.stdout
        assert "keyword '不存在的词语' is not indexed" in result.stderr
    chengdu = default_registry().resolve("成都").code
    assert len(stored(db_path, "深度学习", chengdu)) == 10


def test_expired_cookie_account_is_retired_and_named_by_index(db_path, emulator):
    result = collect(db_path, emulator, "--regions", "成都", "--keywords", KEYWORDS,
                     "--start", "2017-01-01", "--end", "2017-03-01",
                     cookies=f"BDUSS=expired{SECRET}\nBDUSS={SECRET}")
    assert "account #1 retired" in result.stderr
    assert "0 pieces still missing" in result.stdout


def test_no_account_left_stops_cleanly_keeping_what_was_collected(db_path, emulator):
    result = collect(db_path, emulator, "--regions", "成都", "--keywords", KEYWORDS,
                     "--start", "2017-01-01", "--end", "2017-03-01",
                     cookies=f"BDUSS=expired{SECRET}", check=False)
    assert result.returncode == 2
    assert "no Baidu account left" in result.stderr
    assert "#1 (not logged in, 10000)" in result.stderr
    db = store.connect(db_path)
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "failed"


def test_rate_limited_account_is_parked_and_the_run_stops_with_rows_kept(db_path):
    # 4 requests a minute: the keyword check, two index requests (two windows) and at least one
    # ptbk get through, so at least one piece is stored before the block.
    with running_emulator(seed=SEED, latest=LATEST, rate_limit="4/60", habits=HABITS) as url:
        result = collect(db_path, url, "--regions", "成都", "--keywords", KEYWORDS,
                         "--start", "2016-01-01", "--end", "2016-12-31",
                         cookies=f"BDUSS={SECRET}", env={"AICITY_BAIDU_MAX_WAIT": "0"},
                         check=False)
    assert result.returncode == 2
    assert "blocked by Baidu (10001, 1 in a row); parked for 3600 s" in result.stderr
    assert len(observation_rows(db_path)) > 0  # the piece before the block is kept


def test_parked_accounts_come_back_after_the_cooldown(db_path):
    # Blocks drawn per request from the emulator's seeded generator, not from a rate limit: a
    # rate limit blocks only a crawler quick enough to exceed it, which a loaded machine is not
    with running_emulator(seed=SEED, latest=LATEST, faults="block=0.2", habits=HABITS) as url:
        result = collect(db_path, url, "--regions", "成都,北京市", "--keywords", KEYWORDS,
                         "--start", "2017-01-01", "--end", "2017-12-31",
                         env={"AICITY_BAIDU_COOLDOWN": "0.3"})
    assert "parked" in result.stderr
    assert "0 pieces still missing" in result.stdout


def test_abnormal_access_backs_off_and_warns(db_path):
    with running_emulator(seed=SEED, latest=LATEST, faults="abnormal=0.5", habits=HABITS) as url:
        result = collect(db_path, url, "--regions", REGIONS, "--keywords", KEYWORDS,
                         "--start", "2017-01-01", "--end", "2017-12-31",
                         env={"AICITY_BAIDU_BACKOFF": "0.01",
                              "AICITY_BAIDU_ABNORMAL_RETRIES": "30",
                              "AICITY_BAIDU_TOKEN_STREAK": "1000"})
    assert "abnormal access (10018)" in result.stderr
    assert "0 pieces still missing" in result.stdout


def test_cookie_never_reaches_logs_errors_or_the_database(db_path, emulator):
    outputs = []
    for cookies in (COOKIES, f"BDUSS=expired{SECRET}"):
        r = collect(db_path, emulator, "--regions", "成都", "--keywords", KEYWORDS,
                    "--start", "2017-01-01", "--end", "2017-02-01", cookies=cookies,
                    env={"AICITY_LOG_LEVEL": "DEBUG"}, check=False)
        outputs += [r.stdout, r.stderr]
    assert any("Crawled (200)" in o for o in outputs)  # DEBUG logging really was on
    assert not any(SECRET in o for o in outputs)
    con = sqlite3.connect(db_path)
    dump = "\n".join(con.iterdump())
    con.close()
    assert "成都" in dump or "97" in dump
    assert SECRET not in dump


def test_each_account_keeps_its_connection_alive(db_path, emulator):
    """An account's next request reuses its connection, as a browser's would: one connection
    an account for the whole crawl, not one a request (Scrapy's keep-alive pool was sized one
    for the site's host, so all but one account connected again for every request)."""
    from tests.servers import counting_relay
    four = "\n".join(f"BDUSS={SECRET}{i}" for i in range(4))
    with counting_relay(emulator) as (url, connections):
        result = collect(db_path, url, "--regions", "成都,北京市", "--start", "2026-03-01",
                         "--end", "2026-03-31", cookies=four)
    requests = int(re.search(r"([\d,]+) requests", result.stdout)[1].replace(",", ""))
    assert requests > 100
    assert 1 <= len(connections) <= 4 + 2, (len(connections), requests)


def test_blank_series_are_asked_again_five_to_a_request(db_path, emulator):
    """Most city series of rare terms are blank (below the floor): those of one region and
    range are asked again together, five a request, not a request for each piece's one or
    two; and what is stored is still what the site meant."""
    small = "湖州市,舟山市,海东市,玉树藏族自治州"
    result = collect(db_path, emulator, "--regions", small, "--start", "2025-11-21",
                     "--end", "2026-11-20", "--window-days", "366", "--format", "json",
                     env={"AICITY_BLANK_REST_HOURS": "0"})
    run = json.loads(result.stdout)
    assert run["status"] == "ok" and run["remaining_pieces"] == 0
    blank, reasks = run["blank_reasks"], run["blank_reask_requests"]
    assert blank > 40, run
    assert reasks <= math.ceil(blank / 5) + 4            # a part-filled pack per region
    # nothing else asked: the keyword checks, then an index request per piece and per pack
    # of blanks, and a ptbk for each of those answers with a number in it
    answers = run["pieces"] + reasks
    assert run["answers_without_key"] > reasks / 2, run          # blank packs stay blank
    assert run["requests"] == math.ceil(131 / 15) + 2 * answers - run["answers_without_key"]
    w = world()
    hai_dong = default_registry().resolve("海东市").code
    for keyword in ("人工智能", "卷积神经网络", "知识图谱"):
        assert stored(db_path, keyword, hai_dong) == served(w, keyword, hai_dong, "2025-11-21",
                                                           "2026-11-20")


def test_dry_run_counts_requests_and_time_at_the_pacing(db_path, emulator):
    result = subprocess.run(
        [sys.executable, "-m", "aicity", "--db", str(db_path), "collect", "--base-url", emulator,
         "--regions", "成都,北京市", "--keywords", KEYWORDS, "--start", "2017-01-01",
         "--end", "2017-12-31", "--delay", "15", "--dry-run"],
        capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, AICITY_BAIDU_COOKIES=COOKIES, PYTHONPATH=str(ROOT)))
    # 2 regions × 2 windows (300 days, then 65) = 4 pieces; 2 requests each + 1 check
    assert "4 pieces to fetch: 9 requests, about 68 s" in result.stdout
    assert observation_rows(db_path) == []


def test_collect_without_cookies_says_how_to_give_them(db_path, emulator):
    result = collect(db_path, emulator, "--regions", "成都", "--keywords", "人工智能",
                     "--start", "2017-01-01", "--end", "2017-01-02", cookies="", check=False)
    assert result.returncode == 1
    assert "no Baidu cookies: set AICITY_BAIDU_COOKIES" in result.stderr


class _OtherServer:
    """A different, minimal server of the protocol (stdlib http.server): only the /api/ ptbk
    path, the research note's captured key, no emulator marker, no Cipher-Text check."""

    KEY = OG_PTBK
    VALUES = [870, 822, 851, None, 903, 0, 777]

    def __enter__(self):
        import json as _json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                q = parse_qs(url.query)
                if url.path == "/api/AddWordApi/checkWordsExists":
                    body = {"status": 0, "data": {"result": []}}
                elif url.path == "/api/SearchApi/index":
                    words = asked_words(q["word"][0])
                    block = {"startDate": q["startDate"][0], "endDate": q["endDate"][0],
                             "data": encipher(outer.VALUES)}
                    body = {"status": 0, "message": 0, "data": {"uniqid": "ABC123", "userIndexes": [
                        {"word": [{"name": w, "wordType": 1}], "type": "day", "all": block,
                         "pc": block, "wise": block} for w in words]}}
                elif url.path == "/Interface/api/ptbk" and q.get("uniqid") == ["ABC123"]:
                    body = {"status": 0, "data": outer.KEY}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = _json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_collect_works_against_another_server_of_the_protocol(db_path):
    with _OtherServer() as url:
        result = collect(db_path, url, "--regions", "成都", "--keywords", "人工智能",
                         "--start", "2017-01-01", "--end", "2017-01-07")
    assert "0 pieces still missing" in result.stdout
    chengdu = default_registry().resolve("成都").code
    days = [(date(2017, 1, 1) + timedelta(days=i)).isoformat() for i in range(7)]
    assert stored(db_path, "人工智能", chengdu) == list(zip(days, _OtherServer.VALUES))
    assert {r[6] for r in observation_rows(db_path)} == {"other"}  # not labelled real or simulated


def test_region_distribution_is_collected_for_provinces_and_cities(db_path, emulator):
    collect(db_path, emulator, "--what", "region", "--regions", "四川,0", "--keywords",
            "人工智能,深度学习", "--start", "2017-01-01", "--end", "2017-01-31")
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT keyword, area, region, value FROM region_distribution").fetchall()
    con.close()
    w = world()
    chengdu = default_registry().resolve("成都").code
    want = round(float(np.nanmean(w.series("人工智能", chengdu, date(2017, 1, 1),
                                            date(2017, 1, 31)))))
    got = {(k, a, r): v for k, a, r, v in rows}
    assert got[("人工智能", 914, chengdu)] == want   # 四川's answer lists its cities
    assert ("深度学习", 0, 914) in got              # the national answer lists provinces
    assert {a for _, a, _, _ in rows} == {0, 914}


def test_word_graph_feeds_keyword_suggestions(db_path, emulator):
    collect(db_path, emulator, "--what", "word-graph", "--keywords", "人脸识别,自动驾驶",
            "--end", "2017-06-30")
    db = store.connect(db_path)
    graph = store.word_graph_frame(db)
    assert set(graph["keyword"]) == {"人脸识别", "自动驾驶"} and len(graph) > 10
    assert set(graph["source"]) == {"emulator"}
    result = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db_path), "keywords",
                             "suggest", "--format", "csv"], capture_output=True, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    assert "人脸识别教程,application,vision" in result.stdout


def test_nothing_is_asked_before_a_term_came_into_being(db_path, emulator):
    """ChatGPT came out on 2022-11-30: the year before it is not asked (nobody searched it; a
    blank there would be no reason to ask again), and a second run has nothing to do."""
    args = ("--regions", "成都", "--keywords", "ChatGPT", "--start", "2022-01-01",
            "--end", "2022-12-31")
    first = collect(db_path, emulator, *args)
    assert "0 pieces still missing" in first.stdout
    chengdu = default_registry().resolve("成都").code
    days = [d for d, _ in stored(db_path, "ChatGPT", chengdu)]
    assert days[0] == "2022-11-30" and days[-1] == "2022-12-31" and len(days) == 32
    again = collect(db_path, emulator, *args)
    assert "nothing to do" in again.stdout


def test_running_out_of_file_descriptors_is_said_in_one_line(tmp_path, emulator):
    """`ulimit -n` too low: the run said 'unable to open database file', or only tracebacks
    named the cause (issue 36 §5)."""
    import resource
    said = []
    for limit in (14, 17, 18):
        db_path = tmp_path / f"fd{limit}.db"
        store.init_db(db_path, taxonomy=default_taxonomy())
        env = dict(os.environ, AICITY_BAIDU_COOKIES="BDUSS=a\nBDUSS=b\nBDUSS=c\nBDUSS=d",
                   PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [sys.executable, "-m", "aicity", "--db", str(db_path), "collect", "--base-url",
             emulator, "--delay", "0", "--regions", "0,成都", "--start", "2026-01-01",
             "--end", LATEST], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
            preexec_fn=lambda n=limit: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)))
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        if proc.returncode:
            assert proc.returncode in (5, 6), proc.stderr[-3000:]   # storing, or the crawl
            errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1 and "too many open files" in errors[0], proc.stderr[-3000:]
            assert f"may open {limit}: `ulimit -n`" in errors[0]
            said.append(limit)
    assert said, "no limit was low enough to fail"


def test_a_connection_without_a_descriptor_left_stops_the_run_in_one_line(monkeypatch):
    """Twisted's ConnectBindError "24: Too many open files" went to Scrapy's retries and then
    its log as a traceback per request (seen once in three runs of the test above)."""
    from scrapy.exceptions import IgnoreRequest
    from scrapy.http import Request
    from scrapy.utils.test import get_crawler
    from twisted.internet.error import ConnectBindError
    from aicity.crawler import middlewares
    stops = []
    monkeypatch.setattr(middlewares, "stop_run", lambda crawler, cause, why: stops.append(
        (cause, why)))
    middleware = middlewares.ReachabilityMiddleware.from_crawler(get_crawler())
    with pytest.raises(IgnoreRequest):
        middleware.process_exception(Request("http://127.0.0.1:1/x"),
                                     ConnectBindError(24, "Too many open files"))
    assert stops and stops[0][0] == "crawl" and "too many open files" in stops[0][1]
    assert middleware.process_exception(Request("http://127.0.0.1:1/x"),
                                        ConnectBindError(98, "Address in use")) is None
