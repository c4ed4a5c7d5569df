"""Protocol pieces, planning and the account pool: pure functions, no network."""
from __future__ import annotations

import json
from datetime import date

import pytest

from aicity.crawler import protocol as proto
from aicity.crawler.accounts import AccountPool, NoAccountsLeft
from aicity.crawler.config import load_cookies
from aicity.crawler.parsing import numberless_items, series_items
from aicity.crawler.plan import Area, Piece, missing_ranges, plan_night
from tests.recorded import OG_PTBK, encipher

D = date.fromisoformat


def test_decoded_empty_items_are_missing_not_zero():
    assert proto.parse_values("5,,0,7") == [5, None, 0, 7]
    assert proto.parse_values("5, ,7.6,") == [5, None, 8, None]
    with pytest.raises(proto.ProtocolError, match="'x'"):
        proto.parse_values("5,,x")


def test_scrapy_logs_each_response_and_item_only_when_the_log_shows_debug():
    from scrapy.http import Request, Response
    from scrapy.utils.test import get_crawler

    from aicity.crawler.logformatter import QuietLogFormatter
    request = Request("http://127.0.0.1/api")
    response = Response(request.url, request=request)
    quiet = QuietLogFormatter.from_crawler(get_crawler(settings_dict={"LOG_LEVEL": "WARNING"}))
    assert quiet.crawled(request, response, None) is None
    assert quiet.scraped({"a": 1}, response, None) is None
    loud = QuietLogFormatter.from_crawler(get_crawler(settings_dict={"LOG_LEVEL": "DEBUG"}))
    assert "Crawled" in loud.crawled(request, response, None)["msg"]
    assert "Scraped" in loud.scraped({"a": 1}, response, None)["msg"]


def test_word_param_is_a_list_of_series_of_term_objects():
    text = proto.word_param(["人工智能", ["AI", "机器学习"]])
    # research note §3: a list of series, each a list of term objects
    assert json.loads(text) == [[{"name": "人工智能", "wordType": 1}],
                                [{"name": "AI", "wordType": 1},
                                 {"name": "机器学习", "wordType": 1}]]


def _payload(start, end, values, typ="day", word="人工智能"):
    block = {"startDate": start, "endDate": end, "data": encipher(values)}
    return {"status": 0, "data": {"uniqid": "u", "userIndexes": [
        {"word": [{"name": word, "wordType": 1}], "type": typ, "all": block, "pc": block,
         "wise": block}]}}


def test_series_items_take_granularity_and_dates_from_the_response():
    key = OG_PTBK
    # 547 days answered weekly: 79 weeks counted from the start date
    weekly = _payload("2015-01-01", "2016-06-30", list(range(79)), typ="week")
    (item,) = series_items(weekly, key, 97, ("2015-01-01", "2016-06-30"))
    assert item.granularity == "week" and len(item.values["all"]) == 79
    bad = _payload("2017-01-01", "2017-01-10", [1, 2, 3])
    with pytest.raises(proto.ProtocolError, match="3 values for 2017-01-01..2017-01-10"):
        series_items(bad, key, 97, ("2017-01-01", "2017-01-10"))


def test_series_items_decode_only_the_kept_devices_and_always_all():
    key = OG_PTBK
    payload = _payload("2017-01-01", "2017-01-03", [4, None, 6])
    # a pc block that does not decode sinks the piece only when pc is kept
    payload["data"]["userIndexes"][0]["pc"] = {"startDate": "2017-01-01",
                                               "endDate": "2017-01-03", "data": "x"}
    (item,) = series_items(payload, key, 97, ("2017-01-01", "2017-01-03"), devices=("wise",))
    assert item.values == {"all": [4, None, 6], "wise": [4, None, 6]}
    with pytest.raises(proto.ProtocolError, match="人工智能 pc: decoded item 'x' is not a"):
        series_items(payload, key, 97, ("2017-01-01", "2017-01-03"))


def test_an_answer_with_no_number_is_decoded_without_its_key_and_any_other_is_not():
    requested = ("2017-01-01", "2017-01-31")
    blank = _payload(*requested, [None] * 31)
    assert set(blank["data"]["userIndexes"][0]["all"]["data"]) == {"N"}     # 30 commas
    (item,) = numberless_items(blank, 97, requested)
    assert item.values == series_items(blank, OG_PTBK, 97, requested)[0].values
    assert item.values["all"] == [None] * 31
    two = _payload(*requested, [None] * 31)
    two["data"]["userIndexes"].append(
        {**two["data"]["userIndexes"][0], "word": [{"name": "深度学习", "wordType": 1}]})
    assert [i.keyword for i in numberless_items(two, 97, requested)] == ["人工智能", "深度学习"]
    # one number anywhere in the answer needs the key, even a kept device's alone
    assert numberless_items(_payload(*requested, [None] * 30 + [57]), 97, requested) is None
    some_pc = _payload(*requested, [None] * 31)
    some_pc["data"]["userIndexes"][0]["pc"] = {"startDate": requested[0],
                                               "endDate": requested[1],
                                               "data": encipher([None] * 30 + [80])}
    assert numberless_items(some_pc, 97, requested) is None
    assert numberless_items(some_pc, 97, requested, devices=("wise",)) is not None
    # a one-day answer of one repeated digit is a number, not commas: its count says so
    one_day = _payload("2017-01-01", "2017-01-01", [111])
    assert numberless_items(one_day, 97, ("2017-01-01", "2017-01-01")) is None
    empty_day = _payload("2017-01-01", "2017-01-01", [None])
    (item,) = numberless_items(empty_day, 97, ("2017-01-01", "2017-01-01"))
    assert item.values["all"] == [None]


def test_missing_ranges_subtracts_coverage():
    covered = [(D("2017-01-05"), D("2017-01-10")), (D("2017-01-20"), D("2017-02-01"))]
    assert missing_ranges(D("2017-01-01"), D("2017-01-31"), covered) == [
        (D("2017-01-01"), D("2017-01-04")), (D("2017-01-11"), D("2017-01-19"))]
    assert missing_ranges(D("2017-01-06"), D("2017-01-08"), covered) == []


def plan_pieces(keywords, regions, start, end, covered, window_days=300):
    return plan_night(keywords, [Area(r, "city") for r in regions], start, end, covered,
                      window_days=window_days).pieces


def test_plan_batches_five_keywords_and_splits_on_a_grid_counted_back_from_the_end():
    kws = [f"k{i}" for i in range(7)]
    pieces = plan_pieces(kws, [97], D("2016-01-01"), D("2016-12-31"), {}, window_days=300)
    # the newest 300 days share one window, the 66 days before it another
    assert {(p.start, p.end) for p in pieces} == {(D("2016-03-07"), D("2016-12-31")),
                                                  (D("2016-01-01"), D("2016-03-06"))}
    assert sorted(len(p.keywords) for p in pieces) == [2, 2, 5, 5]
    assert [p.recent for p in pieces] == [True, True, False, False]   # newest first


def test_plan_asks_only_for_what_is_missing():
    covered = {("a", 97): [(D("2017-01-01"), D("2017-06-30"))]}
    pieces = plan_pieces(["a", "b"], [97], D("2017-01-01"), D("2017-07-10"), covered)
    # b needs the whole range (one request); a only the ten days it lacks
    assert sorted(pieces, key=lambda p: p.keywords) == [
        Piece(97, D("2017-07-01"), D("2017-07-10"), ("a",)),
        Piece(97, D("2017-01-01"), D("2017-07-10"), ("b",))]


def test_plan_never_asks_before_2011():
    pieces = plan_pieces(["a"], [0], D("2009-01-01"), D("2011-01-05"), {})
    assert pieces == [Piece(0, D("2011-01-01"), D("2011-01-05"), ("a",))]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_pool_round_robin_park_and_retire():
    clock = Clock()
    pool = AccountPool(["BDUSS=a", "BDUSS=b"], cooldown=60, clock=clock)
    assert [pool.acquire().index for _ in range(3)] == [1, 2, 1]
    pool.park(pool.accounts[0])
    assert pool.acquire().index == 2 and pool.acquire().index == 2
    pool.retire(pool.accounts[1], "not logged in, 10000")
    assert pool.acquire() == pytest.approx(60.0)  # seconds until #1 is free
    clock.t = 61
    assert pool.acquire().index == 1
    pool.retire(pool.accounts[0], "not logged in, 10000")
    with pytest.raises(NoAccountsLeft, match=r"retired: #1 .*#2"):
        pool.acquire()


def test_pool_daily_budget_and_backoff_doubles():
    pool = AccountPool(["BDUSS=a"], daily_budget=2, abnormal_backoff=10, clock=Clock())
    pool.acquire(), pool.acquire()
    with pytest.raises(NoAccountsLeft, match="out of today's budget: #1"):
        pool.acquire()
    acct = pool.accounts[0]
    assert pool.back_off(acct) == 10 and pool.back_off(acct) == 20


def test_account_messages_never_contain_the_cookie():
    pool = AccountPool(["BDUSS=topsecret123; BAIDUID=x"], clock=Clock())
    acct = pool.accounts[0]
    pool.retire(acct, "not logged in, 10000")
    for text in (str(acct), repr(acct), pool.summary(), acct.label):
        assert "topsecret123" not in text


def test_cookies_from_env_text_and_file(tmp_path):
    assert load_cookies("BDUSS=a\n\n# comment\nbarevalue\n") == ["BDUSS=a", "BDUSS=barevalue"]
    path = tmp_path / "cookies.txt"
    path.write_text("BDUSS=x; BAIDUID=y\n", encoding="utf-8")
    assert load_cookies(path=path) == ["BDUSS=x; BAIDUID=y"]


def test_the_emulator_enciphers_what_the_crawler_deciphers_small_large_and_empty():
    import numpy as np

    from aicity.emulator import wire
    key = "abcdefghijklmno0123456789,.-+%"
    values = [0, 5, None, 70_000, 65_535, 65_536, 123, None]
    text = wire.encrypt_numbers(np.array([np.nan if v is None else v for v in values]), key)
    assert proto.parse_values(proto.decode(text, key)) == values
