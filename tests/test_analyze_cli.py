"""`aicity analyze` and the analysis commands on a small simulated national database."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from aicity.analysis.decompose import DecomposeConfig, decompose
from aicity.service.refit import analyze
from aicity.cli import cli
from aicity.db import store
from aicity.importer import import_csv
from aicity.db.regions import default_registry
from aicity.keywords.taxonomy import default_taxonomy
from tests.conftest import CITIES, add_world_data, first_difference

def run(path, *args):
    result = CliRunner().invoke(cli, ["--db", str(path), *args], catch_exceptions=False)
    return result


def test_fixture_database_is_not_empty(national_db):
    db = store.connect(national_db)
    assert store.count_observations(db) > 1_000_000
    assert db.execute("SELECT count(*) FROM components").fetchone()[0] > 2000


def test_rank_csv_contract_and_simulated_label(national_db):
    result = run(national_db, "rank", "--dimension", "professional", "--period", "2017",
                 "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0] == "rank,region_code,region,province,value,tier,coverage,source,unit"
    assert all(line.endswith(",simulated,index/day") for line in lines[1:])
    assert len(lines) - 1 == sum(1 for r in default_registry().filter(level="city"))
    ranked = [line.split(",") for line in lines[1:21]]
    assert [int(r[0]) for r in ranked] == sorted(int(r[0]) for r in ranked)
    assert "SIMULATED data" in result.stderr


def naive_ranks(path, category, period_start, period_end):
    """The whole job done plainly: one query and one STL per series, then sums and ranks. A
    stored empty day is a day below Baidu's floor: 0."""
    db = store.connect(path)
    kw_ids = [r[0] for r in db.execute("SELECT keyword_id FROM keyword_groups WHERE category = ?",
                                       [category])]
    totals: dict[int, float] = {}
    for kw in kw_ids:
        for (region,) in db.execute("SELECT DISTINCT region FROM observations WHERE "
                                    "keyword_id = ?", [kw]).fetchall():
            rows = db.execute("SELECT date, value FROM observations WHERE keyword_id = ? AND "
                              "region = ? AND device = 'all' AND granularity = 'day' "
                              "ORDER BY date", [kw, region]).fetchall()
            s = pd.Series([0.0 if v is None else v for _, v in rows],
                          index=pd.to_datetime([d for d, _ in rows]), dtype=float)
            s = s.reindex(pd.date_range(s.index[0], s.index[-1]))
            adjusted = pd.Series(decompose(s.to_numpy(), "day", DecomposeConfig()).adjusted,
                                 index=s.index).astype(np.float32).astype(float)
            value = adjusted[period_start:period_end].mean()
            if not np.isnan(value):
                totals[region] = totals.get(region, 0.0) + value
    cities = {r.code for r in default_registry().filter(level="city")}
    values = pd.Series({k: v for k, v in totals.items() if k in cities})
    return values.rank(ascending=False, method="min").astype(int)


def test_stored_ranks_equal_the_naive_job(national_db):
    db = store.connect(national_db)
    from aicity.service import queries
    table = queries.rank(db, category="technical", period="2017")
    ours = table.dropna(subset=["rank"]).set_index("region_code")["rank"].astype(int)
    naive = naive_ranks(national_db, "technical", "2017-01-01", "2017-12-31")
    assert ours.sort_index().to_dict() == naive.sort_index().to_dict()


def test_uncertainty_brackets_the_rank(national_db):
    result = run(national_db, "rank", "--dimension", "basic", "--period", "2017",
                 "--uncertainty", "--top", "10", "--format", "json")
    rows = json.loads(result.stdout)
    assert len(rows) == 10
    for r in rows:
        assert r["rank_low"] <= r["rank"] <= r["rank_high"]
        assert 0 <= r["tier_confidence"] <= 1


def test_province_level_and_per_capita(national_db):
    result = run(national_db, "rank", "--dimension", "basic", "--period", "2017",
                 "--normalize", "per-capita", "--format", "json")
    values = [r["value"] for r in json.loads(result.stdout) if r["value"] is not None]
    assert values == sorted(values, reverse=True) and len(values) >= 15


def test_split_contract(national_db):
    result = run(national_db, "split", "--dimension", "professional", "--period", "2017",
                 "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0] == \
        "side,regions,total,share,mean,median,top10,top50,p_value,coverage,line,source"
    assert "no p-value" in result.stderr
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert int(rows["north"][1]) + int(rows["south"][1]) == len(CITIES)
    assert int(rows["north"][6]) + int(rows["south"][6]) == 10
    assert abs(float(rows["north"][3]) + float(rows["south"][3]) - 1) < 1e-9


def test_demand_types_contract(national_db):
    result = run(national_db, "demand-types", "--period", "2017", "--format", "csv")
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(frame.columns) == ["region_code", "region", "total", "speech", "vision",
                                   "deep_learning", "type", "drivers", "rule", "source"]
    assert set(frame["rule"]) == {"absolute"}
    assert "at least 25% of the city's demand for the three technologies" in result.stderr
    assert set(frame["source"]) == {"simulated"}
    assert len(frame) == 15
    assert set(frame["type"]) <= {"single", "dual", "all"}
    assert np.allclose(frame[["speech", "vision", "deep_learning"]].sum(axis=1), 1, atol=1e-3)
    for _, row in frame.iterrows():
        assert len(row["drivers"].split("+")) == {"single": 1, "dual": 2, "all": 3}[row["type"]]


def test_industries_have_shares_lqs_and_labels(national_db):
    result = run(national_db, "industries", "--period", "2017", "--format", "json")
    rows = json.loads(result.stdout)
    assert len(rows) == len(CITIES)
    assert {"driving_share", "finance_lq", "specialisations", "full_demand",
            "label"} <= set(rows[0])
    assert sum(r["full_demand"] for r in rows) >= 1
    # one language a column: English labels in the command's output (it said 全需求)
    assert {r["label"] for r in rows} <= {"full demand", "specialised", "too sparse to say", ""}


def test_movers_compare_with_the_year_before(national_db):
    result = run(national_db, "movers", "--dimension", "application", "--period", "2017",
                 "--show", "growth", "--top", "0", "--format", "json")
    rows = [r for r in json.loads(result.stdout) if r["value"] is not None]
    assert len(rows) == len(CITIES) and all(r["previous"] is not None for r in rows)
    assert any(r["change"] and r["change"] > 0 for r in rows)  # 2017 grew (turning point)


def test_series_components_add_up(national_db):
    result = run(national_db, "series", "--keyword", "人工智能", "--region", "成都",
                 "--start", "2017-03-01", "--end", "2017-03-31", "--components", "--format",
                 "json")
    rows = json.loads(result.stdout)
    assert len(rows) == 31
    for r in rows:
        assert abs(r["trend"] + r["seasonal"] + r["resid"] - r["value"]) < 0.05


@pytest.mark.slow
def test_one_new_day_is_analysed_incrementally(db_copy, tmp_path):
    reg = default_registry()
    codes = [reg.resolve(c, level="city").code for c in CITIES] + [0]
    add_world_data(db_copy, codes, "2018-01-01", "2018-01-01")
    result = analyze(db_copy, workers=2)
    assert not result.full and result.series == 0
    assert result.appended == len(default_taxonomy().unique_terms()) * len(codes)
    out = run(db_copy, "series", "--keyword", "人工智能", "--region", "成都", "--start",
              "2017-12-31", "--components", "--format", "json")
    rows = json.loads(out.stdout)
    last = rows[-1]
    assert last["date"] == "2018-01-01" and last["trend"] is not None
    # provisional: the last fitted trend level and the season of the same weekday a week back
    fitted = {r["date"]: r for r in json.loads(run(
        db_copy, "series", "--keyword", "人工智能", "--region", "成都", "--start", "2017-12-25",
        "--end", "2017-12-31", "--components", "--format", "json").stdout)}
    assert abs(last["trend"] - fitted["2017-12-31"]["trend"]) < 1e-3
    assert abs(last["seasonal"] - fitted["2017-12-25"]["seasonal"]) < 1e-3
    ranked = run(db_copy, "rank", "--dimension", "basic", "--period", "2018-01-01..2018-01-01",
                 "--format", "json")
    assert json.loads(ranked.stdout)[0]["value"] > 0


@pytest.mark.slow
def test_each_night_adds_only_its_own_days_to_the_provisional_tails(db_copy):
    reg = default_registry()
    codes = [reg.resolve(c, level="city").code for c in CITIES] + [0]
    db = store.connect(db_copy)

    def tails(day):
        return dict(((s_, r), (t, a)) for s_, r, t, a in db.execute(
            "SELECT subject, region, trend, adjusted FROM components_tail WHERE date = ?",
            [day]))

    add_world_data(db_copy, codes, "2018-01-01", "2018-01-01")
    analyze(db_copy, workers=1)
    first_night = tails("2018-01-01")
    db.execute("UPDATE components_tail SET trend = -1 WHERE date = '2018-01-01'")
    db.conn.commit()
    add_world_data(db_copy, codes, "2018-01-02", "2018-01-02")
    result = analyze(db_copy, workers=1)
    assert not result.full and result.series == 0
    # the second night did not redo the first night's days (they rest on the same fit) ...
    assert set(t for t, _ in tails("2018-01-01").values()) == {-1}
    # ... and wrote its own, for keywords and aggregates alike
    second = tails("2018-01-02")
    assert set(second) == set(first_night) and any(s_.startswith("d:") for s_, _ in second)
    assert all(second[k][0] == first_night[k][0] for k in second)   # the same fitted level


def test_aggregate_tails_cover_every_members_days():
    from aicity.service.refit import _aggregate_spans
    membership = {1: [("basic", "")], 2: [("basic", "")]}
    spans = _aggregate_spans({(1, 97): ("2018-01-05", "2018-01-05"),
                              (2, 97): ("2018-01-02", "2018-01-04"),
                              (2, 98): ("2018-01-05", "2018-01-05")}, membership,
                             {("d:basic", 98)})
    assert spans == {("d:basic", 97): ("2018-01-02", "2018-01-05")}


def test_changed_history_refits_only_that_series(db_copy, tmp_path):
    path = tmp_path / "fix.csv"
    path.write_text("keyword,region,date,value\n人工智能,成都,2017-06-01,99999\n",
                    encoding="utf-8")
    db = store.connect(db_copy)
    import_csv(db, path, level="city")
    db.close()
    result = analyze(db_copy, workers=1)
    assert (result.full, result.series, result.appended) == (False, 1, 0)
    assert result.aggregates >= 1  # basic dimension for 成都
    db = store.connect(db_copy)
    assert db.execute("SELECT count(*) FROM anomalies WHERE date = '2017-06-01'").fetchone()[0] >= 1


@pytest.mark.slow
def test_new_history_for_most_series_is_analysed_as_a_full_run(db_copy, tmp_path):
    """An incremental run would read every member series again for the aggregates in one
    process; with most series to refit, a full run is cheaper (and says so in its run)."""
    reg = default_registry()
    codes = [reg.resolve(c, level="city").code for c in CITIES] + [0]
    add_world_data(db_copy, codes, "2017-06-01", "2017-06-01")   # a day of history rewritten
    db = store.connect(db_copy)
    db.execute("UPDATE obs SET value = value + 5000 WHERE day = ?",
               [store.day_number("2017-06-01")])
    db.conn.commit()
    db.close()
    result = analyze(db_copy, workers=2)
    assert result.full and result.series == len(default_taxonomy().unique_terms()) * len(codes)
    db = store.connect(db_copy)
    assert db.execute("SELECT detail FROM runs WHERE id = ?", [result.run_id]
                      ).fetchone()[0].startswith('{"full": true')
    assert db.execute("SELECT count(*) FROM anomalies WHERE date = '2017-06-01'"
                      ).fetchone()[0] >= len(codes)


def test_queries_before_analysis_say_what_to_do(db_path):
    result = run(db_path, "rank", "--dimension", "basic")
    assert result.exit_code == 1
    assert "run `aicity analyze`" in result.output


RANK_CASES = [
    ["--dimension", "professional", "--period", "2017"],
    ["--dimension", "basic", "--normalize", "per-capita", "--tiers", "breaks"],
    ["--dimension", "application", "--group", "vision", "--normalize", "share",
     "--period", "2016"],
    ["--keyword", "人工智能", "--normalize", "score", "--top", "7", "--period", "2017-03"],
]


@pytest.mark.parametrize("args", RANK_CASES)
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_rank_from_the_terminal_prints_the_library_table(national_db, args, fmt):
    """The command answers without pandas; it must print what queries.rank returns."""
    import io

    from aicity.service import queries
    from aicity.cli import emit, with_source
    options = dict(zip(args[::2], args[1::2]))
    db = store.connect(national_db)
    frame = queries.rank(
        db, category=options.get("--dimension"), group=options.get("--group"),
        keyword=options.get("--keyword"), level=options.get("--level", "city"),
        period=options.get("--period"), normalize=options.get("--normalize", "raw"),
        tiers=options.get("--tiers", "bands"))
    db.close()
    top = int(options.get("--top", 0))
    expected = io.StringIO()
    shown = with_source(frame.head(top) if top else frame, None)
    emit(shown[[c for c in shown.columns if c != "unit"] + ["unit"]], fmt, out=expected)
    result = run(national_db, "rank", *args, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert not (diff := first_difference(result.stdout, expected.getvalue())), diff
    assert frame["rank"].notna().sum() >= 7


def test_rank_values_are_the_summed_period_means_of_the_adjusted_series(national_db):
    """An independent pandas reading of the stored arrays gives the ranked values."""
    from aicity.service import queries
    from aicity.analysis.periods import parse_period
    db = store.connect(national_db)
    table = queries.rank(db, category="professional", period="2017")
    subjects, _ = queries._subjects(db, "professional", None, None)
    codes = list(table["region_code"])
    matrix = queries.adjusted_matrix(db, subjects, parse_period("2017"), codes)
    db.close()
    by_region = matrix.mean().groupby(level="region").sum(min_count=1)
    got = table.set_index("region_code")["value"].dropna()
    assert len(got) >= 20
    np.testing.assert_allclose(got.to_numpy(), by_region.reindex(got.index).round(4).to_numpy(),
                               rtol=0, atol=1e-4)
    assert list(got.index) == list(by_region.reindex(got.index).sort_values(
        ascending=False, kind="stable").index)


def test_rank_needs_a_dimension_or_keyword(national_db):
    result = run(national_db, "rank", "--period", "2017")
    assert result.exit_code == 2 and "exactly one of --dimension or --keyword" in result.output


def test_bad_period_is_one_line(national_db):
    result = run(national_db, "rank", "--dimension", "basic", "--period", "last year")
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: period 'last year' is not a year")


def _blocked_worker(pids) -> None:
    """A pool worker as analyze forks one: the command's Python SIGTERM handler inherited, a
    second thread (a BLAS thread) running, and the main thread blocked where signals do not
    reach it (so SIGTERM lands on the other thread)."""
    import os
    import signal
    import threading
    import time

    from aicity.service.refit import _start_worker
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(143)))
    _start_worker(None)
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    pids.put(os.getpid())
    threading.Event().wait(60)


def test_an_analysis_worker_ends_on_sigterm_whichever_thread_receives_it():
    # Pool.terminate sends SIGTERM; a worker that left it to a Python handler was never woken
    # when a BLAS thread received it, and analyze waited for the worker for ever.
    import multiprocessing as mp
    import os
    import signal

    from tests.conftest import wait_for_exit
    ctx = mp.get_context("fork")
    pids = ctx.Queue()
    worker = ctx.Process(target=_blocked_worker, args=(pids,))
    worker.start()
    try:
        pid = pids.get(timeout=30)
        os.kill(pid, signal.SIGTERM)
        assert wait_for_exit(pid, 20), "the worker outlived SIGTERM"
        worker.join(5)
        assert worker.exitcode == -signal.SIGTERM
    finally:
        if worker.is_alive():
            worker.kill()


def _stop_requests_in_a_worker(_):
    """In a worker as analyze starts one: a stop request during a job ends the job; one that
    comes between jobs (while the pool sends a result) ends nothing until the next job."""
    import os

    from aicity.service.refit import STOP_JOB, WorkerStopped, _run_job, _start_worker
    _start_worker(None)
    seen = []

    def job(_):
        os.kill(os.getpid(), STOP_JOB)
        seen.append("the job went on")
    try:
        _run_job(job, None)
    except WorkerStopped:
        seen.append("job stopped")
    os.kill(os.getpid(), STOP_JOB)          # as if it came while the result was being sent
    seen.append("between jobs: nothing raised")
    try:
        _run_job(lambda _: seen.append("next job ran"), None)
    except WorkerStopped:
        seen.append("next job stopped before it started")
    return seen


def test_a_stopped_analysis_worker_drops_its_job_but_never_a_result_half_sent():
    # analyze stopped (SIGTERM, Ctrl-C) used to SIGTERM its workers; one ended while sending a
    # result left half a message in the pool's pipe, and analyze waited for the rest for ever
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as pool:
        seen = pool.submit(_stop_requests_in_a_worker, None).result(timeout=30)
    assert seen == ["job stopped", "between jobs: nothing raised",
                    "next job stopped before it started"]


# --- out of memory ends in one line, the run marked failed (issue 36 §5) ---------------------

FAILING_WORKER = """
import os, signal, sys
from aicity.service import refit

def dying(job):
    if sys.argv[2] == "killed":
        os.kill(os.getpid(), signal.SIGKILL)      # the OOM killer's way
    raise MemoryError()

refit._work_keyword = dying
try:
    refit.analyze(sys.argv[1], full=True, workers=2)
except refit.AnalysisFailed as err:
    print("FAILED:", err)
"""


@pytest.mark.parametrize("how, said", [
    ("killed", "an analysis worker died ("),
    ("memory", "not enough memory for the analysis (MemoryError); try --workers 1")])
def test_an_analysis_out_of_memory_ends_in_one_line_and_its_run_fails(db_path, how, said):
    """A worker killed for want of memory left multiprocessing.Pool waiting for ever on the
    queue lock it held; a MemoryError in a worker was a traceback."""
    import subprocess
    import sys
    from pathlib import Path
    add_world_data(db_path, [97, 94], "2017-01-01", "2017-02-28")    # a small world
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", FAILING_WORKER, str(db_path), how],
                          capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip()
    assert line.startswith(f"FAILED: {said}") and "try --workers 1" in line, \
        proc.stdout + proc.stderr[-2000:]
    assert "\n" not in line
    db = store.connect(db_path)
    status, error = db.execute("SELECT status, error FROM runs WHERE kind = 'analyze' "
                               "ORDER BY id DESC").fetchone()
    db.close()
    assert status == "failed" and error.startswith(said)


def test_rank_by_the_combined_cognition_index(national_db):
    """`rank --dimension cognition` was refused; movers' tiers summed the layers raw."""
    result = run(national_db, "rank", "--dimension", "cognition", "--period", "2017",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert len(frame) == len(CITIES) and frame["rank"].iloc[0] == 1
    assert frame["unit"].iloc[0].startswith("cognition index")
    assert "combined cognition" in result.stderr
    assert "the cuts at 30 and 100 are ours" in result.stderr     # tiers say their source
    layers = {d: pd.read_csv(pd.io.common.StringIO(run(
        national_db, "rank", "--dimension", d, "--period", "2017", "--format", "csv").stdout)
    ).set_index("region_code")["value"] for d in ("basic", "professional", "technical")}
    expected = sum(v / v.mean() for v in layers.values()) / 3
    got = frame.set_index("region_code")["value"]
    assert np.allclose(got.sort_index(), expected.reindex(got.index).sort_index(), atol=1e-3)
    refused = run(national_db, "split", "--dimension", "cognition")
    assert refused.exit_code == 1 and "combined index" in refused.output


def test_split_on_both_lines_side_by_side_without_the_sars(national_db):
    from aicity.db.regions import default_registry
    from aicity.service.queries import _special_administrative
    result = run(national_db, "split", "--dimension", "basic", "--period", "2017", "--line",
                 "both", "--format", "json")
    rows = json.loads(result.stdout)
    assert [(r["line"], r["side"]) for r in rows] == [
        ("qinling-huaihe", "north"), ("qinling-huaihe", "south"), ("yangtze", "north"),
        ("yangtze", "south")]
    assert all(r["p_value"] is None for r in rows)
    frame = store.regions_frame(default_registry()).set_index("code")
    sars = sorted(frame.index[_special_administrative(frame)])
    assert sars == [663, 664, 933, 934]              # 香港, 澳门: cities and provinces


def test_the_cognition_ranking_has_both_intervals_and_the_briefing_carries_it(national_db):
    """`rank --dimension cognition --uncertainty` printed empty intervals, and the briefings
    had no cognition column (issue 35 §2, §7)."""
    from aicity.analysis.periods import parse_period
    from aicity.service.export import briefing_frame
    result = run(national_db, "rank", "--dimension", "cognition", "--period", "2017",
                 "--uncertainty", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout)).set_index("region_code")
    for col in ("rank_low", "rank_high", "vocabulary_rank_low", "vocabulary_rank_high"):
        assert frame[col].notna().all(), col
    assert (frame["rank_low"] <= frame["rank"]).all()
    assert (frame["rank"] <= frame["rank_high"]).all()
    assert (frame["vocabulary_rank_low"] <= frame["rank"]).all()
    assert (frame["rank"] <= frame["vocabulary_rank_high"]).all()
    db = store.connect(national_db)
    try:
        brief = briefing_frame(db, parse_period("2017")).set_index("region_code")
    finally:
        db.close()
    assert brief["cognition_rank"].reindex(frame.index).astype(int).tolist() == \
        frame["rank"].astype(int).tolist()
    assert list(brief.columns[-5:]) == ["cognition_value", "cognition_rank", "cognition_tier",
                                        "cognition_rank_low", "cognition_rank_high"]


def test_a_dimension_is_a_series_whose_mean_is_its_ranked_value(national_db):
    """`series --keyword technical` was "unknown keyword": dimensions and groups over time, as
    the rankings sum them (issue 37 §3.2)."""
    out = run(national_db, "series", "--dimension", "technical", "--region", "成都",
              "--start", "2017-01-01", "--end", "2017-12-31", "--format", "csv")
    assert out.exit_code == 0, out.output
    days = pd.read_csv(pd.io.common.StringIO(out.stdout))
    assert len(days) == 365 and set(days["state"]) == {"adjusted"}
    ranked = pd.read_csv(pd.io.common.StringIO(run(
        national_db, "rank", "--dimension", "technical", "--period", "2017",
        "--format", "csv").stdout)).set_index("region")
    assert days["value"].mean() == pytest.approx(ranked.loc["成都市", "value"], rel=1e-4)
    group = run(national_db, "series", "--dimension", "application", "--group", "计算机视觉",
                "--region", "成都", "--start", "2017-03-01", "--end", "2017-03-02")
    assert group.exit_code == 0 and "adjusted" in group.stdout
    both = run(national_db, "series", "--keyword", "AI", "--dimension", "basic", "--region",
               "成都")
    assert both.exit_code == 2 and "one of them" in both.output
