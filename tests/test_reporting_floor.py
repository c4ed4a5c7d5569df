"""Baidu's reporting floor on a planted world: the site sends nothing for a day under about 57
(research note 2026 §1), so most city series are mostly empty. Sparse cities rank by what they
really search, every value carries its coverage, no anomaly comes from the floor, planted demand
types survive it, per-capita ranks cover every city, and the 2026 vocabulary ranks."""
from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from aicity.service import queries
from aicity.analysis.periods import parse_period
from aicity.service.ranked import rank_values_of
from aicity.service.refit import analyze
from aicity.cli import cli
from aicity.db import store
from aicity.importer import import_csv
from aicity.db.regions import default_registry
from aicity.keywords.taxonomy import default_taxonomy

FLOOR = 57
DAYS = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
REG = default_registry()
CITY = {name: REG.resolve(name, level="city").code for name in
        ("成都", "绵阳", "乐山", "雅安", "阿坝", "杭州", "宁波", "温州")}
DENSE, SPARSE_HIGH, SPARSE_LOW, SILENT, NEVER_ASKED = "成都", "绵阳", "乐山", "雅安", "阿坝"
TERM = "TensorFlow"          # a technical term
GROUP_TERMS = {g: [t.term for t in default_taxonomy().select("application", g)][:2]
               for g in ("speech", "vision", "deep_learning")}
# planted application demand: daily searches per group (two terms each, split evenly)
PLANTED_TYPES = {"杭州": ({"speech": 400, "vision": 50, "deep_learning": 50}, "single"),
                 "宁波": ({"speech": 220, "vision": 220, "deep_learning": 60}, "dual"),
                 "温州": ({"speech": 170, "vision": 170, "deep_learning": 170}, "all")}


def shown(true: np.ndarray) -> list:
    """What the site reports of true daily volumes: nothing below the floor."""
    return [None if v < FLOOR else int(v) for v in np.round(true)]


def planted_series(rng) -> dict[tuple[str, str], tuple[list, np.ndarray]]:
    """(term, city) -> (reported values, true values)."""
    out = {}
    weekly = np.resize([1.0, 1.02, 1.03, 1.0, 0.97, 0.95, 0.96], len(DAYS))
    # every day 60-66
    dense = rng.uniform(60, 66, len(DAYS)) * weekly
    # 15% of days 70-80, otherwise searched but under the floor (10-50)
    high = rng.uniform(10, 50, len(DAYS))
    up = rng.random(len(DAYS)) < 0.15
    high[up] = rng.uniform(70, 80, up.sum())
    # 5% of days 60-70, otherwise 0-30
    low = rng.uniform(0, 30, len(DAYS))
    up = rng.random(len(DAYS)) < 0.05
    low[up] = rng.uniform(60, 70, up.sum())
    silent = rng.uniform(0, 20, len(DAYS))
    for city, true in ((DENSE, dense), (SPARSE_HIGH, high), (SPARSE_LOW, low),
                       (SILENT, silent)):
        out[(TERM, city)] = (shown(true), true)
    for city, (volumes, _) in PLANTED_TYPES.items():
        for group, volume in volumes.items():
            for term in GROUP_TERMS[group]:
                true = volume / 2 * rng.lognormal(0, 0.1, len(DAYS)) * weekly
                out[(term, city)] = (shown(true), true)
    return out


@pytest.fixture(scope="module")
def floor_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("floor")
    path = tmp / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    truth = planted_series(np.random.default_rng(26))
    src = tmp / "planted.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["keyword", "region", "date", "value"])
        for (term, city), (reported, _) in truth.items():
            for day, v in zip(DAYS, reported):
                writer.writerow([term, CITY[city], day.isoformat(), "" if v is None else v])
    db = store.connect(path)
    import_csv(db, src, source="emulator")
    db.close()
    analyze(path, workers=1)
    return path, truth


def cli_run(path, *args):
    return CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)


def test_sparse_cities_rank_by_what_they_really_search(floor_db):
    path, truth = floor_db
    true_means = {city: truth[(TERM, city)][1].mean() for city in
                  (DENSE, SPARSE_HIGH, SPARSE_LOW, SILENT)}
    assert sorted(true_means, key=true_means.get, reverse=True) == \
        [DENSE, SPARSE_HIGH, SPARSE_LOW, SILENT]
    result = cli_run(path, "rank", "--keyword", TERM, "--period", "2025", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_code = {r["region_code"]: r for r in rows}
    ranked = [r for r in rows if r["value"] is not None]
    # the order of their true means, the silent city last with value 0 and coverage 0 (not
    # missing, not first); the city never asked has no value
    assert [r["region_code"] for r in ranked] == \
        [CITY[c] for c in (DENSE, SPARSE_HIGH, SPARSE_LOW, SILENT)]
    silent = by_code[CITY[SILENT]]
    assert silent["value"] == 0 and silent["coverage"] == 0 and silent["rank"] == 4
    assert by_code[CITY[NEVER_ASKED]]["value"] is None
    assert by_code[CITY[NEVER_ASKED]]["coverage"] is None
    # coverage: the share of asked days above the floor
    for city in (DENSE, SPARSE_HIGH, SPARSE_LOW):
        reported = truth[(TERM, city)][0]
        share = sum(v is not None for v in reported) / len(reported)
        assert by_code[CITY[city]]["coverage"] == pytest.approx(share, abs=1e-4)
    assert by_code[CITY[DENSE]]["coverage"] == 1.0
    assert 0.1 < by_code[CITY[SPARSE_HIGH]]["coverage"] < 0.2
    # a sparse city's value is its reported days' sum over every asked day (empty = 0)
    reported = truth[(TERM, SPARSE_HIGH)][0]
    assert by_code[CITY[SPARSE_HIGH]]["value"] == pytest.approx(
        sum(v or 0 for v in reported) / len(reported), rel=1e-4)
    # the table prints coverage beside the value
    table = cli_run(path, "rank", "--keyword", TERM, "--period", "2025", "--format", "csv")
    assert table.stdout.splitlines()[0] == \
        "rank,region_code,region,province,value,tier,coverage,source,unit"


def test_no_anomaly_comes_from_the_floor(floor_db):
    path, _ = floor_db
    db = store.connect(path)
    try:
        kw_id, _ = store.resolve_keyword(db, TERM)
        notes = dict(db.execute("SELECT region, note FROM components WHERE subject = ?",
                                [f"k:{kw_id}"]).fetchall())
        for city in (SPARSE_HIGH, SPARSE_LOW, SILENT):
            assert notes[CITY[city]].startswith("sparse:"), notes[CITY[city]]
            assert "above Baidu's floor" in notes[CITY[city]]
        assert notes[CITY[DENSE]].startswith("ok")
        flagged = {r[0] for r in db.execute("SELECT DISTINCT region FROM anomalies")}
        assert not flagged & {CITY[c] for c in (SPARSE_HIGH, SPARSE_LOW, SILENT)}
    finally:
        db.close()
    frame = queries.components_for(store.connect(path), kw_id, CITY[SPARSE_HIGH])
    assert frame["trend"].isna().all()          # nothing fitted where the floor rules


def test_planted_demand_types_survive_the_floor(floor_db):
    path, truth = floor_db
    # the small group of the single and dual cities is under the floor every day
    assert all(v is None for v in truth[(GROUP_TERMS["deep_learning"][0], "宁波")][0])
    db = store.connect(path)
    try:
        types = queries.demand_types(db, period="2025", top=3)
    finally:
        db.close()
    got = dict(zip(types["region_code"], types["type"]))
    assert got == {CITY[c]: kind for c, (_, kind) in PLANTED_TYPES.items()}


def test_split_and_briefing_values_carry_their_coverage(floor_db):
    path, _ = floor_db
    split = cli_run(path, "split", "--keyword", TERM, "--period", "2025", "--format", "json")
    sides = json.loads(split.stdout)
    assert all(0 <= s["coverage"] <= 1 for s in sides if s["regions"])
    db = store.connect(path)
    try:
        from aicity.service.export import briefing_frame
        frame = briefing_frame(db, parse_period("2025"))
    finally:
        db.close()
    row = frame.set_index("region_code").loc[CITY["宁波"]]
    assert 0 < row["application_coverage"] < 1      # one of its terms never reported


def test_per_capita_ranks_every_city_by_its_census_population():
    cities = list(REG.filter(level="city"))
    assert len(cities) == 364
    assert all(c.population and c.population_year == 2020 and "census" in c.population_source
               for c in cities)
    ranked = rank_values_of(np.full(len(cities), 100.0), cities, parse_period("2020"),
                            "per-capita", min_population=0)
    assert not np.isnan(ranked.value).any()
    floored = rank_values_of(np.full(len(cities), 100.0), cities, parse_period("2020"),
                             "per-capita")
    assert np.isnan(floored.value).sum() == sum(c.population < 300_000 for c in cities) == 16
    wuhan = REG.resolve("武汉", level="city")
    smaller = sum(c.population < wuhan.population for c in cities)
    place = ranked.region_code.index(wuhan.code)
    assert ranked.rank[place] == 1 + smaller       # an equal index: the fewer people, the higher


def test_per_capita_output_names_its_measure(floor_db):
    path, _ = floor_db
    result = cli_run(path, "rank", "--keyword", TERM, "--period", "2025", "--normalize",
                     "per-capita", "--format", "csv")
    assert result.exit_code == 0
    assert "per million residents" in result.stderr and "census 2020" in result.stderr


def test_the_2026_vocabulary_ranks_and_the_2017_selection_leaves_it_out(tmp_path):
    path = tmp_path / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    src = tmp_path / "vocab.csv"
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["keyword", "region", "date", "value"])
        for day in days:
            # 成都 searches AI more; 杭州 searches ChatGPT far more
            for term, city, v in (("AI", "成都", 300), ("AI", "杭州", 200),
                                  ("ChatGPT", "成都", 100), ("ChatGPT", "杭州", 900)):
                writer.writerow([term, CITY[city], day.isoformat(), v])
    db = store.connect(path)
    import_csv(db, src, source="import")
    db.close()
    analyze(path, workers=1)

    def first(*args):
        out = cli_run(path, "rank", "--dimension", "basic", "--period", "2024", *args,
                      "--format", "json")
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)[0]["region"]

    assert first() == "杭州市"
    assert first("--vocabulary", "report-2017") == "成都市"
    generative = cli_run(path, "rank", "--dimension", "application", "--group", "generative",
                         "--period", "2024", "--format", "json")
    assert json.loads(generative.stdout)[0]["region"] == "杭州市"


def test_a_term_counts_zero_before_it_existed(tmp_path):
    """ChatGPT (since 2022-11-30) over 2022: its 32 days of searches spread over the year,
    not taken as the year's mean; the days before it existed are not asked, so coverage is
    over the days it existed."""
    path = tmp_path / "aicity.db"
    store.init_db(path, taxonomy=default_taxonomy())
    src = tmp_path / "chatgpt.csv"
    born = date(2022, 11, 30)
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["keyword", "region", "date", "value"])
        for i in range(32):
            writer.writerow(["ChatGPT", CITY["成都"], (born + timedelta(days=i)).isoformat(),
                             365])
    db = store.connect(path)
    import_csv(db, src, source="import")
    db.close()
    analyze(path, workers=1)
    row = json.loads(cli_run(path, "rank", "--keyword", "ChatGPT", "--period", "2022",
                             "--format", "json").stdout)[0]
    assert row["value"] == pytest.approx(365 * 32 / 365, rel=1e-3) and row["coverage"] == 1.0


def test_a_trailing_empty_day_the_site_has_published_is_below_the_floor_at_once():
    """Another answer of the run had a value on 11-20: the site published it, so an empty
    11-20 at the end of this answer is below the floor (no re-asking for days); 11-21 still
    waits, and a blank answer is never settled this way (the site's transient blanks empty
    whole series)."""
    from datetime import datetime, timezone

    from aicity.crawler import confirm
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    tail = confirm.judge([80, None, None], days, {}, now, published_through="2026-11-20")
    assert tail.keep == 2 and [(m[0], m[4]) for m in tail.unconfirmed] == [
        ("2026-11-20", True), ("2026-11-21", False)]
    blank = confirm.judge([None, None, None], days, {}, now, published_through="2026-11-21")
    assert blank.keep == 0 and not any(m[4] for m in blank.unconfirmed)


def test_days_waiting_in_one_state_are_judged_as_day_by_day():
    """The usual answer (a blank series asked again, the last days of a night) has every
    waiting day in one state and is judged once: the verdict is the day-by-day one, on random
    answers, priors, ages and publishing days."""
    import random
    from datetime import datetime, timezone

    from aicity.crawler import confirm
    rng = random.Random(7)
    now = datetime(2026, 11, 22, 3, tzinfo=timezone.utc)
    days = [(date(2026, 10, 1) + timedelta(days=i)).isoformat() for i in range(40)]
    seen = {"kept": 0, "refused": 0, "both": 0}
    for _ in range(400):
        n = rng.randint(1, 40)
        values = [rng.choice([None, 80]) for _ in range(rng.randint(0, n))]
        values += [None] * (n - len(values))
        dates = days[:n]
        state = rng.choice([None, (1, (now - timedelta(hours=rng.choice([1, 13, 60])))
                                   .isoformat()),
                            (2, (now - timedelta(days=3)).isoformat(), confirm.BLANK),
                            (rng.randint(1, 4), now.isoformat(), confirm.RECENT_END)])
        prior = {} if state is None else dict.fromkeys(dates, state)
        through = rng.choice([None, "", *dates])
        rules = dict(tries=rng.randint(1, 3), days=rng.choice([0.0, 2.0]),
                     blank_rest_hours=rng.choice([0.0, 12.0]), published_through=through)
        verdict = confirm.judge(values, dates, prior, now, **rules)
        cut = confirm.first_unconfirmed(values)
        if cut == n:
            continue
        first_time = (0, now.isoformat())
        expected = confirm.judged_day_by_day(
            dates[cut:], [prior.get(d, first_time) for d in dates[cut:]], cut,
            confirm.BLANK if cut == 0 else confirm.RECENT_END,
            confirm.waiting_rules(rules["tries"], rules["days"], rules["blank_rest_hours"]),
            now, through)
        assert verdict == expected, (values, state, rules)
        accepted = [m[4] for m in verdict.unconfirmed]
        seen["kept" if all(accepted) else "refused" if not any(accepted) else "both"] += 1
    assert min(seen.values()) > 10, seen      # every kind of verdict was met
