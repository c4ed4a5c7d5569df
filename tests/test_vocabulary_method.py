"""Like with like includes the vocabulary (issue 35 §3): a term born between two periods is not
growth, a dimension says how much of it is new vocabulary, and ambiguous terms can be left out.

The planted world: in 成都 and 西安, 人工智能 is flat at 300 a day from 2025-01-01; DeepSeek (its
`since` moved to 2025-06-01 in this world's taxonomy) adds 300 a day from its birth in 成都
only. 豆包 (also a steamed bun) is huge in 西安 and small in 成都; ChatGPT (basic cognition and
generative AI) the reverse.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from aicity.cli import cli
from aicity.db import store
from aicity.importer import import_csv
from aicity.keywords.taxonomy import TAXONOMY_TOML, load_taxonomy
from aicity.service.refit import analyze
from tests.conftest import write_csv

BORN = date(2025, 6, 1)
PERIOD = "2026-01-01..2026-11-30"


def cli_run(path, *args):
    return CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def newborn_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vocabulary")
    text = TAXONOMY_TOML.read_text("utf-8")
    assert text.count("since = 2023-11-02") == 2          # DeepSeek, in basic and generative
    taxonomy = tmp / "taxonomy.toml"
    taxonomy.write_text(text.replace("since = 2023-11-02", f"since = {BORN}"), "utf-8")
    path = tmp / "aicity.db"
    store.init_db(path, taxonomy=load_taxonomy(taxonomy))
    rng = np.random.default_rng(35)
    rows = []
    day = date(2025, 1, 1)
    while day <= date(2026, 11, 30):
        for city in ("成都", "西安"):
            rows.append(["人工智能", city, day.isoformat(), int(300 * rng.uniform(.97, 1.03))])
            chatgpt, doubao = (400, 20) if city == "成都" else (20, 900)
            rows.append(["ChatGPT", city, day.isoformat(), int(chatgpt * rng.uniform(.97, 1.03))])
            rows.append(["豆包", city, day.isoformat(), int(doubao * rng.uniform(.97, 1.03))])
        if day >= BORN:
            rows.append(["DeepSeek", "成都", day.isoformat(), int(300 * rng.uniform(.97, 1.03))])
        day += timedelta(days=1)
    db = store.connect(path)
    import_csv(db, write_csv(tmp / "world.csv", ["keyword", "region", "date", "value"], rows),
               source="import")
    db.close()
    analyze(path, workers=1)
    return path


def _growth(path, *extra):
    result = cli_run(path, "movers", "--dimension", "basic", "--period", PERIOD,
                     "--show", "growth", "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return {r["region"]: r for r in json.loads(result.stdout)}, result.stderr


def test_year_on_year_leaves_out_a_term_born_in_between_and_says_so(newborn_db):
    rows, said = _growth(newborn_db)
    # 人工智能 alone is flat in both cities: no growth, whatever DeepSeek's birth added
    assert rows["成都市"]["change"] == pytest.approx(0.0, abs=0.03)
    assert rows["西安市"]["change"] == pytest.approx(0.0, abs=0.03)
    assert "came into being after 2025-01-01 left out" in said and "DeepSeek" in said
    assert "--with-new-terms" in said


def test_with_new_terms_the_birth_counts_as_growth(newborn_db):
    rows, said = _growth(newborn_db, "--with-new-terms")
    # 人工智能 300 + ChatGPT 400 + DeepSeek 300 now; before, DeepSeek on 183 of 334 days
    assert rows["成都市"]["change"] == pytest.approx(1000 / (700 + 300 * 183 / 334) - 1,
                                                  abs=0.03)
    assert rows["西安市"]["change"] == pytest.approx(0.0, abs=0.03)
    assert "came into being" not in said


def test_the_briefing_year_on_year_compares_the_same_terms(newborn_db):
    from aicity.analysis.periods import parse_period
    from aicity.db.regions import default_registry
    from aicity.service.export import briefing_frame
    db = store.connect(newborn_db)
    try:
        frame = briefing_frame(db, parse_period(PERIOD)).set_index("region_code")
    finally:
        db.close()
    chengdu = default_registry().resolve("成都").code
    assert frame.loc[chengdu, "basic_yoy"] == pytest.approx(0.0, abs=0.03)
    assert frame.loc[chengdu, "basic_value"] == pytest.approx(1000, rel=0.05)  # every term
    assert "DeepSeek" in frame.attrs["yoy_terms"]


def test_each_value_can_say_how_much_of_it_is_vocabulary_added_since_2017(newborn_db):
    result = cli_run(newborn_db, "rank", "--dimension", "basic", "--period", PERIOD,
                     "--added-share", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["region"]: r for r in json.loads(result.stdout)}
    # 成都: ChatGPT 400 and DeepSeek 300 of 1000 come from the 2026 revision
    assert rows["成都市"]["added_terms_pct"] == pytest.approx(70.0, abs=1.5)
    assert rows["西安市"]["added_terms_pct"] == pytest.approx(100 * 20 / 320, abs=1.5)
    report = cli_run(newborn_db, "rank", "--dimension", "basic", "--period", PERIOD,
                     "--added-share", "--vocabulary", "report-2017", "--format", "json")
    assert {r["added_terms_pct"] for r in json.loads(report.stdout) if r["value"]} == {0.0}


def test_the_unambiguous_vocabulary_leaves_out_terms_with_another_sense(newborn_db):
    def top(*extra):
        result = cli_run(newborn_db, "rank", "--dimension", "application", "--group",
                         "generative", "--period", PERIOD, "--format", "json", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]["region"]

    assert top() == "西安市"                      # on 豆包, which is also a steamed bun
    assert top("--vocabulary", "unambiguous") == "成都市"
    listed = CliRunner().invoke(cli, ["keywords", "list", "--format", "json"])
    ambiguous = {r["term"]: r["ambiguous"] for r in json.loads(listed.stdout) if r["ambiguous"]}
    assert {"豆包", "Sora", "CNN", "TPU"} <= set(ambiguous)
    assert "steamed bun" in ambiguous["豆包"]


def test_a_taxonomy_term_with_two_senses_in_two_places_is_refused(tmp_path):
    from aicity.keywords.taxonomy import TaxonomyError
    path = tmp_path / "t.toml"
    path.write_text('[basic]\nlabel = "基础认知"\n'
                    'terms = [{ term = "豆包", ambiguous = "a bun" }]\n'
                    '[application.generative]\nlabel = "生成式AI"\n'
                    'terms = [{ term = "豆包", ambiguous = "a dumpling" }]\n', "utf-8")
    with pytest.raises(TaxonomyError, match=r"t.toml:6: ambiguous of '豆包' differs from line 3"):
        load_taxonomy(path)
