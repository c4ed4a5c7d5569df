"""The real site's second round of habits (research note 2026, issue 25): calendar weeks, the
generalRatio check, 403 throttling, refused municipal codes, key rotation, escalating blocks and
the blank policy. Recorded answers are in tests/fixtures/protocol/, written from the study."""
from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.crawler import confirm
from aicity.crawler.accounts import AccountPool
from aicity.crawler.acs import AcsError, read_acs
from aicity.crawler.cipher import load_cipher
from aicity.crawler.parsing import (checksum_problems, expected_count, series_items,
                                    value_dates)
from aicity.db.regions import default_registry
from aicity.emulator.process import running_emulator
from aicity.vocabulary import SHANGHAI
from tests.recorded import load
from tests.test_real_site import CHENGDU, LATEST, SEED, collect, served, stored


# --- calendar weeks ----------------------------------------------------------------------

def test_a_range_counts_the_calendar_weeks_it_touches():
    # the example: six months from a Thursday are 27 weekly values, not 25 or 26
    assert expected_count(date(2026, 1, 1), date(2026, 6, 30), "week") == 27
    assert expected_count(date(2016, 1, 4), date(2017, 1, 1), "week") == 52   # Mon..Sun


def test_a_recorded_calendar_week_answer_is_stored_on_each_weeks_monday():
    rec = load("search_index_calendar_weeks.json")
    req = rec["request"]
    (item,) = series_items(rec["response"], rec["ptbk_response"]["data"], req["area"],
                           (req["startDate"], req["endDate"]), keywords=tuple(req["word"]))
    assert item.granularity == "week"
    assert item.values["all"] == rec["expected"]["values"]
    assert [d.isoformat() for d in value_dates(item)] == rec["expected"]["dates"]
    assert checksum_problems(rec["response"], [item]) == {}


# --- the answer's own average ------------------------------------------------------------

def test_a_key_that_is_not_the_answers_is_caught_by_its_average():
    rec = load("search_index_checksum.json")
    req = rec["request"]
    args = (req["area"], (req["startDate"], req["endDate"]))
    good = series_items(rec["response"], rec["ptbk_response"]["data"], *args,
                        keywords=tuple(req["word"]))
    assert [i.values["all"] for i in good] == list(rec["expected"].values())
    assert checksum_problems(rec["response"], good) == {}
    wrong = series_items(rec["response"], rec["stale_ptbk_response"]["data"], *args,
                         keywords=tuple(req["word"]))
    assert all(v is None or v > 0 for i in wrong for v in i.values["all"])   # plausible...
    assert set(checksum_problems(rec["response"], wrong)) == {"人工智能", "AI"}   # ...and wrong


def test_two_keywords_with_one_series_are_flagged_and_a_missing_average_is_no_verdict():
    rec = load("search_index_checksum.json")
    req = rec["request"]
    items = series_items(rec["response"], rec["ptbk_response"]["data"], req["area"],
                         (req["startDate"], req["endDate"]), keywords=tuple(req["word"]))
    items[1].values["all"] = list(items[0].values["all"])
    payload = json.loads(json.dumps(rec["response"]))
    payload["data"]["generalRatio"] = [0, 0]         # BIH: sometimes 0 instead of an object
    problems = checksum_problems(payload, items)
    assert set(problems) == {"人工智能", "AI"} and "same series" in problems["AI"]


def test_a_wrong_key_whose_numbers_pass_one_average_stores_nothing_of_its_answer():
    """The key is the answer's: when it decodes one series against that series' average, the
    series that pass were decoded with it too (a demo stored nine such series, each number
    wrong). The whole piece is asked again; only the last try keeps the series that pass."""
    from scrapy import Request
    from scrapy.http import TextResponse
    from scrapy.utils.test import get_crawler
    from aicity.crawler.items import IndexAnswerItem
    from aicity.crawler.plan import Piece
    from aicity.crawler.spiders.search_index import CHECKSUM_RETRIES, SearchIndexSpider
    from tests.recorded import OG_PTBK, encipher
    # 5 and 6 swapped: what decoding with a key that is not the answer's own looks like
    plain = OG_PTBK[15:]
    swapped = OG_PTBK[:15] + plain.translate(str.maketrans("56", "65"))
    series = {"人工智能": [56, 65], "深度学习": [57, 58]}      # the first passes its average
    payload = {"status": 0, "data": {"uniqid": "u", "userIndexes": [
        {"word": [{"name": k, "wordType": 1}], "type": "day",
         "all": {"startDate": "2026-01-01", "endDate": "2026-01-02", "data": encipher(v)}}
        for k, v in series.items()],
        "generalRatio": [{"all": {"avg": sum(v) / 2}} for v in series.values()]}}
    piece = Piece(CHENGDU, date(2026, 1, 1), date(2026, 1, 2), tuple(series))
    crawler = get_crawler(SearchIndexSpider, {"AICITY_DEVICES": ["all"]})
    spider = SearchIndexSpider.from_crawler(crawler, pieces=[piece], base_url="http://x")

    def answered(key: str, tries: int) -> list:
        request = Request("http://x/Interface/ptbk?uniqid=u", priority=5,
                          meta={"baidu_payload": {"status": 0, "data": key},
                                "checksum_tries": tries})
        response = TextResponse(request.url, body=b"{}", request=request)
        return list(spider.parse_ptbk(response, piece, payload))

    (again,) = answered(swapped, 0)
    assert isinstance(again, Request) and again.meta["checksum_tries"] == 1
    assert again.cb_kwargs["piece"].keywords == tuple(series)        # both, not the one
    (last,) = answered(swapped, CHECKSUM_RETRIES)
    assert isinstance(last, IndexAnswerItem)
    assert [(i.keyword, i.values["all"]) for i in last.series] == [("人工智能", [65, 56])]
    (good,) = answered(OG_PTBK, 0)
    assert [i.values["all"] for i in good.series] == list(series.values())


# --- accounts: blocks, throttling ---------------------------------------------------------

def test_blocks_rest_one_two_four_hours_then_until_the_next_night_and_are_kept():
    now = [0.0]
    wall = datetime(2026, 12, 4, 2, 30, tzinfo=SHANGHAI)
    pool = AccountPool(["BDUSS=a"], cooldown=3600, clock=lambda: now[0], wall=lambda: wall)
    acct = pool.accounts[0]
    assert [pool.block(acct) for _ in range(3)] == [3600, 7200, 14400]
    assert pool.block(acct) == (datetime(2026, 12, 5, 0, 0, tzinfo=SHANGHAI)
                                - wall).total_seconds()
    kept = pool.state(acct)
    assert kept["blocks"] == 4 and kept["resting_until"].startswith("2026-12-05T00:00")
    later = AccountPool(["BDUSS=a"], cooldown=3600, clock=lambda: 50.0, wall=lambda: wall)
    later.restore(later.accounts[0], kept)
    assert isinstance(later.acquire(), float)        # still resting in the next run
    assert later.block(later.accounts[0]) > 14400    # and the next block does not start over
    assert later.answered(later.accounts[0]) and later.accounts[0].blocks == 0


def test_throttling_rests_an_account_doubling_until_it_answers():
    pool = AccountPool(["BDUSS=a"], throttle_cooldown=60, clock=lambda: 0.0)
    acct = pool.accounts[0]
    assert [pool.throttled(acct) for _ in range(3)] == [60, 120, 240]
    pool.answered(acct)
    assert pool.throttled(acct) == 60


# --- blanks ------------------------------------------------------------------------------

def test_a_blank_series_is_accepted_when_blank_again_on_another_night():
    days = ["2026-11-01", "2026-11-02"]
    night1 = datetime(2026, 11, 20, 18, 30, tzinfo=timezone.utc)
    first = confirm.judge([None, None], days, {}, night1)
    assert first.keep == 0 and first.unconfirmed[0][1] == confirm.BLANK
    prior = {d: (1, night1.isoformat(), confirm.BLANK) for d in days}
    same_night = confirm.judge([None, None], days, prior, night1 + timedelta(hours=1))
    next_night = confirm.judge([None, None], days, prior, night1 + timedelta(hours=24))
    assert same_night.keep == 0 and next_night.keep == 2


# --- municipalities, constants -----------------------------------------------------------

def test_municipal_cities_are_asked_as_their_province_and_stored_under_both():
    reg = default_registry()
    for city, province in (("北京市", "北京"), ("上海市", "上海"), ("天津市", "天津"),
                           ("重庆市", "重庆")):
        c, p = reg.resolve(city, "city").code, reg.resolve(province, "province").code
        assert reg.asked_as(c) == p and c in reg.stored_also_as(p)
    assert reg.asked_as(CHENGDU) == CHENGDU and reg.stored_also_as(914) == []


def test_the_packaged_constants_are_2026_10_with_the_earlier_sets_to_fall_back_on():
    cipher = load_cipher()
    assert (cipher.key, cipher.t0) == ("gugimaoaaiqcsmqw", 1791086660893)
    assert ("goqwgaiiacaykuwo", 1763957172935, "1.0.0.5") in cipher.previous
    assert "2026-10-04" in cipher.describe()


def _acs_like(table: list[str], rotation: int) -> str:
    """A file shaped like acs-2057.js (research note 2026 §1): a string table whose
    characters are replaced through two hex arrays and split on others, then rotated."""
    plain = sorted(set("".join(table)) | set("%"))
    coded = [0x5000 + 7 * i for i in range(len(plain))]
    separators = [0x7000, 0x7001]
    stored = table[-rotation:] + table[:-rotation]       # rotating left by n undoes this
    to_code = {ch: chr(c) for ch, c in zip(plain, coded)}
    body = chr(separators[0]).join("".join(to_code[c] for c in e) for e in stored)
    literal = "".join(f"\\u{ord(c):04x}" for c in body)
    hexes = lambda xs: ",".join(f"0x{x:x}" for x in xs)       # noqa: E731
    return (f"(function(){{var a=function(c,d){{var D=A['call'](y,[{hexes(map(ord, plain))}]);"
            f"var E=f([{hexes(separators)}],function(p){{return u(p);}});"
            f"var G=A['call'](E,[{hexes(coded)}]);}}(this,'{literal}');"
            f"(function(e,f){{}}(a,0x{rotation:x}));var v='\\x31\\x2e\\x32\\x2e\\x30';"
            f"a9['set'](x,'\\x31\\x2e\\x30\\x2e\\x30\\x2e\\x35');}})()")


def test_the_acs_constants_are_read_without_running_the_script(tmp_path, monkeypatch):
    table = ["gugimaoaaiqcsmqw", "1234567887654321", "push", "1791086660893_", "length"]
    found = read_acs(_acs_like(table, 3))
    assert (found.key, found.iv, found.t0, found.version) == (
        "gugimaoaaiqcsmqw", "1234567887654321", 1791086660893, "1.0.0.5")
    with pytest.raises(AcsError, match="string table"):
        read_acs("console.log('hello')")
    # doctor --acs keeps them in the user's configuration, the sets before as fallbacks
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    acs = tmp_path / "acs-2057.js"
    acs.write_text(_acs_like(["newkeynewkey1234", *table[1:]], 2), encoding="utf-8")
    result = CliRunner().invoke(cli, ["doctor", "--acs", str(acs)])
    assert result.exit_code == 0, result.output
    assert "kept in" in result.output and "T0 1791086660893" in result.output
    cipher = load_cipher()
    assert cipher.key == "newkeynewkey1234"
    assert ("gugimaoaaiqcsmqw", 1791086660893, "1.0.0.5") in cipher.previous


# --- against a server with every habit -------------------------------------------------------

HARSH = "real,blank=0.3,forbidden=0.15,wrong-digits=0.3,token-expiry=0.1"
FAST = {"AICITY_BAIDU_BACKOFF": "0.01", "AICITY_BAIDU_THROTTLE_COOLDOWN": "0.01",
        "AICITY_BLANK_REST_HOURS": "0"}


@pytest.mark.slow
def test_every_habit_on_three_runs_store_what_the_site_meant_and_a_fourth_asks_nothing(
        db_path):
    scope = ("--regions", "北京市,成都,0", "--keywords", "人工智能,深度学习,AI,语音识别",
             "--start", "2025-06-01", "--end", LATEST, "--format", "json")
    runs = []
    with running_emulator(seed=SEED, latest=LATEST, habits=HARSH) as url:
        for _ in range(4):
            runs.append(json.loads(collect(db_path, url, *scope, env=FAST,
                                           expect=(0, 1)).stdout))
    assert runs[3]["pieces"] == 0 and runs[3]["requests"] == 0
    assert sum(r["checksum_mismatches"] for r in runs) > 0        # caught, never stored
    assert sum(r["throttled"] for r in runs) > 0                   # rested, asked again
    beijing = default_registry().resolve("北京市", "city").code
    for keyword in ("人工智能", "AI", "语音识别"):
        meant = dict(served(keyword, 911, "2025-06-01", LATEST))
        assert dict(stored(db_path, keyword, 911)) == meant, keyword
        assert dict(stored(db_path, keyword, beijing)) == meant, keyword   # the city too
        assert dict(stored(db_path, keyword, CHENGDU)) == dict(
            served(keyword, CHENGDU, "2025-06-01", LATEST))
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM unindexed_keywords").fetchone() == (0,)


def test_a_refused_area_never_marks_the_keyword_unindexed(db_path):
    # 654 is a legacy code the site's area table no longer has: the refusal (10002) is the
    # area's, and checkWordsExists says the keyword is indexed
    with running_emulator(seed=SEED, latest=LATEST, habits="real") as url:
        result = collect(db_path, url, "--regions", "654", "--keywords", "人工智能",
                         "--start", "2026-10-01", "--end", LATEST, "--format", "json",
                         expect=(1,))
    assert json.loads(result.stdout)["failures"] == {"refused_area_or_dates": 1}
    assert "the area or the dates were refused" in result.stderr
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM unindexed_keywords").fetchone() == (0,)


def test_a_site_still_on_the_earlier_constants_is_reached_by_falling_back(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="strict-token",
                          site_key="goqwgaiiacaykuwo", site_t0=1763957172935) as url:
        result = collect(db_path, url, "--regions", "成都", "--keywords", "人工智能",
                         "--start", "2026-10-01", "--end", LATEST, "--format", "json",
                         env={"AICITY_BAIDU_BACKOFF": "0.01"})
    assert json.loads(result.stdout)["cipher_t0"] == 1763957172935
    assert "accepts the earlier constants of T0 1763957172935" in result.stderr
    assert dict(stored(db_path, "人工智能", CHENGDU)) == dict(
        served("人工智能", CHENGDU, "2026-10-01", LATEST))


def test_status_shows_each_accounts_rest_and_the_requests_spent_asking_again(db_path):
    with running_emulator(seed=SEED, latest=LATEST, habits="real,blank=1.0",
                          rate_limit="6/60") as url:
        collect(db_path, url, "--regions", "成都,四川", "--keywords", "人工智能,深度学习",
                "--start", "2026-06-01", "--end", LATEST, expect=(1, 2),
                env={"AICITY_BAIDU_MAX_WAIT": "0"})
    out = CliRunner().invoke(cli, ["--db", str(db_path), "status", "--format", "csv"],
                             env={"AICITY_BAIDU_COOKIES": "BDUSS=r3alS1teSecret"})
    assert out.exit_code == 0, out.output
    assert "blank series asked again at once" in out.output
    assert "account #1,resting until" in out.output and "1 block(s) in a row" in out.output
    assert "r3alS1teSecret" not in out.output


def test_unindexed_marks_are_listed_and_cleared(run, db_path):
    from aicity.db import store
    db = store.connect(db_path)
    store.mark_unindexed(db, ["具身智能", "Sora"], "baidu")
    db.close()
    listed = run("keywords", "unindexed", "--format", "csv")
    assert listed.exit_code == 0 and "具身智能" in listed.stdout and "Sora" in listed.stdout
    cleared = run("keywords", "unindexed", "--clear", "Sora", "--format", "csv")
    assert cleared.exit_code == 0 and "Sora" not in cleared.stdout
    assert "具身智能" in cleared.stdout
    wrong = run("keywords", "unindexed", "--clear", "人工智能")
    assert wrong.exit_code != 0 and "not marked" in wrong.output


def test_places_with_no_searches_are_not_flagged_for_sharing_a_series():
    rec = load("search_index_checksum.json")
    req = rec["request"]
    items = series_items(rec["response"], rec["ptbk_response"]["data"], req["area"],
                         (req["startDate"], req["endDate"]), keywords=tuple(req["word"]))
    for item in items:                 # 台湾 in the emulated world: the same 0 every day
        item.values["all"] = [0] * 7
    payload = json.loads(json.dumps(rec["response"]))
    payload["data"]["generalRatio"] = [{"all": {"avg": 0}}] * 2
    assert checksum_problems(payload, items) == {}


# --- days the site has not published yet (issue 36 §3) ----------------------------------------

@pytest.mark.slow
def test_days_the_site_has_not_published_are_never_stored_as_below_the_floor(db_path):
    """Asked past the site's latest day and again after the rest, the unpublished days were
    accepted as below the floor; when the site published them, they were never asked for."""
    quick = {**FAST, "AICITY_UNCONFIRMED_TRIES": "1", "AICITY_UNCONFIRMED_DAYS": "0"}
    scope = ("--regions", "0", "--keywords", "人工智能", "--format", "json")
    with running_emulator(seed=SEED, latest=LATEST, habits="unpublished") as url:
        collect(db_path, url, *scope, "--start", "2026-11-01", "--end", LATEST, env=quick)
        for _ in range(3):                                    # past the latest day, thrice
            collect(db_path, url, *scope, "--start", "2026-11-15", "--end", "2026-11-30",
                    env=quick, expect=(0, 1))
    assert max(d for d, _ in stored(db_path, "人工智能", 0)) == LATEST
    with running_emulator(seed=SEED, latest="2026-11-28", habits="unpublished") as url:
        collect(db_path, url, *scope, "--start", "2026-11-15", "--end", "2026-11-30",
                env=quick, expect=(0, 1))
    later = dict(stored(db_path, "人工智能", 0))
    meant = dict(served("人工智能", 0, "2026-11-21", "2026-11-28", latest="2026-11-28"))
    assert {d: later.get(d) for d in meant} == meant
    assert all(v is not None and v > 0 for v in meant.values())


def test_an_end_past_the_latest_published_day_is_clamped_and_said(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "collect", "--dry-run",
                                      "--regions", "0", "--start", "2026-12-01",
                                      "--end", "9999-12-31"])
    assert result.exit_code == 0, result.output
    assert "is after the latest day Baidu has published" in result.output
    assert "Traceback" not in result.output
