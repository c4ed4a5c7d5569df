"""The crawler against recorded answers and known-answer vectors (tests/fixtures/protocol/),
written from the protocol notes, not produced by any project code."""
from __future__ import annotations

import pytest

from aicity.crawler import protocol as proto
from aicity.crawler.parsing import region_items, series_items
from tests.recorded import OG_PTBK, encipher, load


def test_the_hand_cipher_matches_the_notes_vector():
    # research note §8: OG's key turns "+OoN+XXN+gDN" into "870,822,851,"
    assert encipher([870, 822, 851]) + "N" == "+OoN+XXN+gDN"
    assert proto.decode("+OoN+XXN+gDN", OG_PTBK) == "870,822,851,"


@pytest.mark.parametrize("vector", load("cipher_text.json")["vectors"],
                         ids=lambda v: f"{v['aes_key']}-{v['plaintext_bytes']}B")
def test_cipher_text_equals_the_openssl_known_answer(vector):
    header = proto.cipher_text(keyword=vector["keyword"], user_agent=vector["user_agent"],
                               aes_key=vector["aes_key"], t0=vector["t0"],
                               version=vector["version"], now_ms=vector["client_ts"])
    assert header == vector["header"]


def test_a_recorded_daily_answer_decodes_to_its_plain_values():
    rec = load("search_index_day.json")
    ptbk = rec["ptbk_response"]["data"]
    req = rec["request"]
    items = series_items(rec["response"], ptbk, req["area"], (req["startDate"], req["endDate"]),
                         keywords=tuple(req["word"]))
    # "AI" comes back as "ai": items carry the asked names, matched by position
    assert [i.keyword for i in items] == ["人工智能", "AI"]
    for item in items:
        assert (item.granularity, item.start, item.end) == ("day", "2017-01-01", "2017-01-07")
        assert item.values == rec["expected"][item.keyword]
    # an empty item is a missing day, never a zero; a real zero stays zero
    assert items[0].values["all"][2] is None and items[1].values["pc"][3] == 0


def test_a_recorded_weekly_answer_is_weekly_from_its_start_date():
    rec = load("search_index_week.json")
    req = rec["request"]
    (item,) = series_items(rec["response"], rec["ptbk_response"]["data"], req["area"],
                           (req["startDate"], req["endDate"]), keywords=tuple(req["word"]))
    assert item.granularity == "week" and item.start == "2016-01-04"
    assert (
        item.values["all"] == rec["expected"]["深度学习"]["all"] and len(item.values["all"]) == 52
    )


def test_a_recorded_region_answer_keeps_values_and_fractional_shares():
    rec = load("search_region.json")
    (item,) = region_items(rec["response"], 0, ["人工智能"])
    assert (item.start, item.end) == ("2017-12-01", "2017-12-30")
    assert item.values[911] == 1203 and item.values[514] == 1190 and item.values[94] == 611
    assert item.shares[95] == 5.5 and item.shares[913] == 15.11


@pytest.mark.parametrize("name", ["not_logged_in", "blocked", "bad_request", "abnormal"])
def test_a_recorded_error_envelope_is_no_series(name):
    body = load("errors.json")["responses"][name]
    with pytest.raises(proto.ProtocolError, match="no data.userIndexes"):
        series_items(body, OG_PTBK, 0, ("2017-01-01", "2017-01-07"), keywords=("人工智能",))
