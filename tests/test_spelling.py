"""One spelling of a name (issue 36 §4): a keyword or region however it is written (full width,
traditional characters, Latin case) lands on the registry's name, and a name with a character
nobody can see is refused in one line, in every place a name enters."""
from __future__ import annotations

import json
import re

import pytest

from aicity.db import store
from aicity.db.regions import RegionError, default_registry
from aicity.keywords import classify
from aicity.spelling import SpellingError, clean, key
from tests.conftest import invoke, write_csv


@pytest.mark.parametrize("written, meant", [("ＡＩ", "AI"), ("９７", "97"),
                                            ("  深度　学习 ", "深度 学习")])
def test_a_name_is_kept_in_its_nfkc_form(written, meant):
    assert clean(written) == meant


@pytest.mark.parametrize("bad, code", [("人工智能\x00", "U+0000"), ("人工\u200b智能", "U+200B"),
                                       ("AI\u2060", "U+2060"), ("\u00adAI", "U+00AD")])
def test_a_name_with_an_invisible_character_is_refused_naming_it(bad, code):
    with pytest.raises(SpellingError, match=re.escape(code)):
        clean(bad, "keyword")


def test_spellings_of_one_name_share_a_key():
    assert key("ＡＩ") == key("ai") == key("AI")
    assert key("廣州") == key("广州")
    assert classify("ＡＩ安防")[0].term == classify("ai安防")[0].term


@pytest.mark.parametrize("written, code", [("廣州", 95), ("ＣＨＥＮＧＤＵ", 97), ("９７", 97),
                                           ("香港", 663), ("澳門", 664)])
def test_a_region_however_written_is_the_registrys(written, code):
    assert default_registry().resolve(written).code == code


def test_a_region_name_with_an_invisible_character_is_one_line():
    with pytest.raises(RegionError, match=re.escape("U+200B")):
        default_registry().resolve("成\u200b都")


def test_every_city_name_regions_prints_is_accepted_back():
    registry = default_registry()
    for region in registry.filter(level="city", include_legacy=False):
        try:
            found = registry.resolve(region.name)
        except RegionError as err:
            # a municipality's short name is also its province's: it needs a level there
            assert "ambiguous" in str(err) and region.name.endswith("市"), region.name
            found = registry.resolve(region.name, "city")
        assert found.code == region.code, region.name


def _stored_terms(db_path) -> dict[str, int]:
    db = store.connect(db_path)
    try:
        return dict(db.execute("SELECT k.term, count(*) FROM observations o JOIN keywords k "
                               "ON k.id = o.keyword_id GROUP BY k.term").fetchall())
    finally:
        db.close()


def _keyword_count(db_path) -> int:
    db = store.connect(db_path)
    try:
        return db.execute("SELECT count(*) FROM keywords").fetchone()[0]
    finally:
        db.close()


def test_an_import_files_every_spelling_under_the_registrys_keyword(db_path, tmp_path):
    before = _keyword_count(db_path)
    rows = [[written, "成都", f"2017-01-0{i + 1}", 100 + i]
            for i, written in enumerate(["ＡＩ", "ai", "Ai", "人工智慧", "人工智能"])]
    path = write_csv(tmp_path / "spellings.csv", ["keyword", "region", "date", "value"], rows)
    result = invoke(db_path, "import", str(path))
    assert result.exit_code == 0, result.output
    assert _stored_terms(db_path) == {"AI": 3, "人工智能": 2}
    assert _keyword_count(db_path) == before


def test_new_keywords_differing_only_in_width_or_case_are_one(db_path, tmp_path):
    before = _keyword_count(db_path)
    rows = [["ＮｅｗＴｅｒｍ", "成都", "2017-01-01", 100], ["newterm", "成都", "2017-01-02", 101]]
    path = write_csv(tmp_path / "new.csv", ["keyword", "region", "date", "value"], rows)
    assert invoke(db_path, "import", str(path)).exit_code == 0
    assert _stored_terms(db_path) == {"NewTerm": 2}
    assert _keyword_count(db_path) == before + 1


@pytest.mark.parametrize("bad", ["人工智能\x00", "人工\u200b智能"])
def test_an_import_with_an_invisible_character_is_refused_in_one_line(db_path, tmp_path, bad):
    before = _keyword_count(db_path)
    rows = [["人工智能", "成都", "2017-01-01", 100], [bad, "成都", "2017-01-02", 101]]
    path = write_csv(tmp_path / "bad.csv", ["keyword", "region", "date", "value"], rows)
    result = invoke(db_path, "import", str(path))
    assert result.exit_code != 0
    assert "bad.csv:3" in result.output and "invisible character" in result.output
    assert "Traceback" not in result.output
    assert _stored_terms(db_path) == {} and _keyword_count(db_path) == before


def test_a_lookup_takes_any_spelling(db_path, tmp_path):
    path = write_csv(tmp_path / "ai.csv", ["keyword", "region", "date", "value"],
                     [["AI", "广州", "2017-01-01", 100]])
    assert invoke(db_path, "import", str(path)).exit_code == 0
    shown = invoke(db_path, "series", "--keyword", "ａｉ", "--region", "廣州", "--format",
                   "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["value"] == 100


def test_collect_asks_for_the_registrys_keywords_however_written(db_path):
    before = _keyword_count(db_path)
    result = invoke(db_path, "collect", "--dry-run", "--keywords", "ＡＩ，ＤｅｅｐＳｅｅｋ",
                    "--regions", "ＣＨＥＮＧＤＵ", "--start", "2017-01-01", "--end",
                    "2017-01-31", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pieces"] == 1
    db = store.connect(db_path)
    try:
        from aicity.service.collect import scope
        terms, codes = scope(db, ["ＣＨＥＮＧＤＵ"], ["ＡＩ", "ｄｅｅｐｓｅｅｋ"])
    finally:
        db.close()
    assert terms == ["AI", "DeepSeek"] and codes == [97]
    assert _keyword_count(db_path) == before
    refused = invoke(db_path, "collect", "--dry-run", "--keywords", "人工\u200b智能")
    assert refused.exit_code != 0 and "U+200B" in refused.output
