"""Misuse that once lost data or answered wrong (issue 10): each test failed before its fix."""
from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from aicity import demo
from aicity import scheduler as nightly
from aicity.lock import LockHeld, RunLock
from aicity.cli import cli
from aicity.emulator.process import running_emulator
from aicity.db import store

from tests.conftest import write_csv, first_difference

ROOT = Path(__file__).resolve().parent.parent


# --- demo --out never deletes what it did not create -----------------------------------------

def test_demo_refuses_a_folder_with_someone_elses_files(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "precious.txt").write_text("keep", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--regions", "成都",
                                      "--days", "30"])
    assert result.exit_code != 0
    assert "not empty" in result.output and "previous demo" in result.output
    assert (out / "precious.txt").read_text(encoding="utf-8") == "keep"


def test_a_previous_demo_folder_loses_only_the_demos_files(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    (out / "briefings").mkdir()
    (out / "briefings" / "全国.csv").write_text("x", encoding="utf-8")
    (out / "aicity.db").write_text("x", encoding="utf-8")
    demo._record_demo_files(out, [out / "briefings" / "全国.csv", out / "aicity.db"])
    (out / "briefings" / "my-notes.txt").write_text("mine", encoding="utf-8")
    (out / "mine.csv").write_text("mine", encoding="utf-8")
    for _ in range(3):     # the second run left the user's file; a third must too
        demo.prepare_demo_dir(out)
        assert not (out / "aicity.db").exists()
        assert not (out / "briefings" / "全国.csv").exists()
        assert (out / "briefings" / "my-notes.txt").read_text(encoding="utf-8") == "mine"
        assert (out / "mine.csv").read_text(encoding="utf-8") == "mine"
        (out / "briefings" / "全国.csv").write_text("y", encoding="utf-8")
        demo._record_demo_files(out, [out / "briefings" / "全国.csv"])


def test_a_demo_file_the_user_changed_is_not_replaced(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    (out / "briefings").mkdir()
    (out / "briefings" / "全国.csv").write_text("x", encoding="utf-8")
    demo._record_demo_files(out, [out / "briefings" / "全国.csv"])
    (out / "briefings" / "全国.csv").write_text("my edits", encoding="utf-8")
    with pytest.raises(demo.DemoFolderError, match="全国.csv changed since the demo wrote it"):
        demo.prepare_demo_dir(out)
    assert (out / "briefings" / "全国.csv").read_text(encoding="utf-8") == "my edits"


def test_a_demo_marker_cannot_make_it_delete_outside_its_folder(tmp_path):
    out = tmp_path / "demo"
    demo.prepare_demo_dir(out)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    (out / demo.DEMO_MARKER).write_text(json.dumps({"files": ["../victim.txt"]}),
                                           encoding="utf-8")
    (out / "report.html").write_text("x", encoding="utf-8")
    demo.prepare_demo_dir(out)
    assert victim.read_text(encoding="utf-8") == "keep"


# --- the nightly job with a relative database path --------------------------------------------

def test_the_job_works_with_a_relative_database_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from aicity.keywords.taxonomy import default_taxonomy
    store.init_db("rel.db", taxonomy=default_taxonomy())
    env = {"AICITY_BAIDU_COOKIES": "BDUSS=a", "AICITY_BAIDU_BASE_URL": "http://127.0.0.1:9"}
    result = nightly.run_job("rel.db", now=nightly.datetime(2017, 3, 2, 2, 30,
                                                            tzinfo=nightly.SHANGHAI),
                             out=tmp_path / "out", env=env,
                             collect_args=["--dry-run", "--regions", "成都", "--start",
                                           "2017-01-01"])
    assert result.stages["collect"]["status"] == "ok", result.stages
    assert result.stages["analyze"]["status"] == "ok", result.stages
    assert not (ROOT / "rel.db").exists()


# --- a killed job leaves no child running and no run 'running' ---------------------------------

def _wait_for_exit(pid: int, timeout: float = 30.0) -> bool:
    """Block until process pid (not our child) exits: a pidfd becomes readable then."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


JOB_PARENT = textwrap.dedent("""
    import os, signal, subprocess, sys
    from aicity.children import die_with_parent
    from aicity.lock import RunLock
    with RunLock(sys.argv[1]) as lock:
        fn = die_with_parent(os.getpid()) if sys.argv[2] == "die" else None
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 pass_fds=(lock.fh.fileno(),), preexec_fn=fn,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(child.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_parent(db_path, mode) -> int:
    proc = subprocess.run([sys.executable, "-c", JOB_PARENT, str(db_path), mode],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -signal.SIGKILL
    return int(proc.stdout.split()[0])


def test_a_stage_child_dies_with_its_killed_job(tmp_path):
    child = _killed_parent(tmp_path / "a.db", "die")
    assert _wait_for_exit(child), "the stage's child outlived its job"
    with RunLock(tmp_path / "a.db") as lock:
        assert lock.took_over.startswith("pid ")


def test_the_lock_is_held_while_any_stage_child_lives(tmp_path):
    child = _killed_parent(tmp_path / "a.db", "keep")
    try:
        with pytest.raises(LockHeld):
            with RunLock(tmp_path / "a.db"):
                pass
    finally:
        os.kill(child, signal.SIGKILL)
    assert _wait_for_exit(child)
    with RunLock(tmp_path / "a.db"):
        pass


def test_a_run_whose_process_died_is_marked_interrupted(db_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    db = store.connect(db_path)
    db.execute("INSERT INTO runs(kind, status, started_at, detail) VALUES "
               "('job', 'running', '2017-03-01T18:30:00+00:00', ?)",
               [json.dumps({"pid": dead.pid, "host": os.uname().nodename})])
    live = store.start_run(db, "collect", "")
    db.conn.commit()
    alive_again = store.start_run(db, "analyze", "")      # our own live run stays running
    db.conn.commit()
    rows = dict(((r[0], (r[1], r[2])) for r in db.execute(
        "SELECT id, status, error FROM runs ORDER BY id")))
    db.close()
    assert list(rows.values())[0] == ("failed", "interrupted")
    assert rows[live.id] == ("running", "") and rows[alive_again.id] == ("running", "")


# --- two writers at once -----------------------------------------------------------------------

def test_a_save_that_reads_first_holds_the_write_lock_from_its_start(db_path):
    a = store.connect(db_path)
    b = store.connect(db_path, busy_timeout=0.05)
    with a.atomic():
        store.keyword_ids(a, ["人工智能"])          # a read first, as every save does
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            b.execute("INSERT INTO crawl_state(key, value) VALUES ('x', 'y')")
        # with a deferred BEGIN, b's commit above would make this write fail at once
        store.save_series(a, "人工智能", 911, "2017-01-01", "2017-01-02", "day",
                          {"all": [5, 6]}, "import", None)
    assert store.count_observations(a) == 2
    a.close()
    b.close()


def _import(db_path, tmp_path, name, region, start, days, base=100):
    import datetime as dt
    first = dt.date.fromisoformat(start)
    rows = [["人工智能", region, (first + dt.timedelta(days=i)).isoformat(), base + i % 7]
            for i in range(days)]
    path = write_csv(tmp_path / name, ["keyword", "region", "date", "value"], rows)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_analyze_refits_what_a_run_that_started_before_it_writes_after_it(db_path, tmp_path):
    from aicity.analysis.refit import analyze
    _import(db_path, tmp_path, "a.csv", "成都", "2017-01-01", 120)
    analyze(db_path, workers=1)
    db = store.connect(db_path)
    collect_run = store.start_run(db, "collect", "emulator")     # still going
    db.conn.commit()
    rows = [50 + d % 7 for d in range(1, 29)] + [50 + d % 7 for d in range(1, 29)] + \
           [50 + d % 7 for d in range(1, 32)] + [50 + d % 7 for d in range(1, 31)]
    store.save_series(db, "人工智能", 910, "2017-01-01", "2017-04-30", "day", {"all": rows},
                      "emulator", collect_run.id)
    db.conn.commit()
    _import(db_path, tmp_path, "b.csv", "杭州", "2017-01-01", 120)   # a later run
    first = analyze(db_path, workers=1)
    assert first.series >= 2
    # the run that started first writes again, after the analysis took its watermark
    store.save_series(db, "人工智能", 94, "2017-01-01", "2017-04-30", "day", {"all": rows},
                      "emulator", collect_run.id)
    db.conn.commit()
    second = analyze(db_path, workers=1)
    assert second.series == 1
    fitted = db.execute("SELECT count(*) FROM components WHERE region = 94 AND subject LIKE 'k:%'"
                        ).fetchone()[0]
    db.close()
    assert fitted == 1


def test_analyze_leaves_the_database_writable_between_batches(db_path, tmp_path):
    from aicity.analysis.refit import analyze
    for i, city in enumerate(["成都", "杭州", "武汉"]):
        _import(db_path, tmp_path, f"{i}.csv", city, "2017-01-01", 90)
    other = store.connect(db_path, busy_timeout=0.05)
    writes = []

    def progress(stage, done, total):
        other.execute("INSERT INTO crawl_state(key, value) VALUES (?, 'x')",
                      [f"{stage}-{done}"])
        other.conn.commit()
        writes.append(stage)

    analyze(db_path, full=True, workers=1, progress=progress)
    other.close()
    assert "series" in writes and "aggregates" in writes


# --- the crawler stops when storage fails -------------------------------------------------------

def test_a_storage_failure_stops_the_crawl_with_its_cause(db_path):
    db = store.connect(db_path)
    # A stand-in for a full disk: the fourth piece cannot be stored.
    db.execute("CREATE TRIGGER full BEFORE INSERT ON coverage WHEN "
               "(SELECT count(*) FROM coverage) >= 3 BEGIN "
               "SELECT RAISE(ABORT, 'database or disk is full'); END")
    db.conn.commit()
    db.close()
    code = textwrap.dedent(f"""
        import json, os
        from aicity.crawler.config import SiteAccess
        from aicity.crawler.run import collect
        access = SiteAccess(base_url=os.environ["URL"], delay=0,
                            cookies=("BDUSS=a", "BDUSS=b"))
        r = collect({str(db_path)!r}, access=access, start="2017-01-01", end="2017-02-28",
                    regions=["成都", "武汉", "西安", "广州", "深圳", "杭州"],
                    keywords=["人工智能", "机器学习"], check=False, devices=("all",))
        print(json.dumps({{"cause": r.stopped_cause, "stopped": r.stopped,
                          "status": r.status, "requests": r.requests}}))
    """)
    with running_emulator(seed=3, latest="2017-03-01", rate_limit="0", habits="none") as url:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT, timeout=300,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), URL=url))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["cause"] == "storage" and out["status"] == "failed"
    assert "disk is full" in out["stopped"]
    assert "Traceback" not in proc.stderr
    db = store.connect(db_path)
    assert db.execute("SELECT count(*) FROM coverage").fetchone()[0] == 3
    status, error = db.execute("SELECT status, error FROM runs WHERE kind = 'collect'"
                               ).fetchone()
    db.close()
    assert status == "failed" and "disk is full" in error


# --- import stores nothing wrong -------------------------------------------------------------

def _import_file(db_path, path, *args):
    return CliRunner().invoke(cli, ["--db", str(db_path), "import", str(path), *args])


def _terms(db_path) -> set[str]:
    db = store.connect(db_path)
    try:
        return {r[0] for r in db.execute("SELECT DISTINCT k.term FROM observations o JOIN "
                                         "keywords k ON k.id = o.keyword_id")}
    finally:
        db.close()


def test_a_repeated_wide_column_is_refused_not_renamed(db_path, tmp_path):
    path = write_csv(tmp_path / "w.csv", ["date", "人工智能", "机器学习", "人工智能"],
                     [["2017-01-01", 1, 2, 3]])
    result = _import_file(db_path, path, "--region", "成都")
    assert result.exit_code == 1
    assert "w.csv:1: column 4 repeats '人工智能' (column 2)" in result.output
    assert _terms(db_path) == set()


def test_a_gbk_line_in_a_utf8_file_is_refused_with_its_line(db_path, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("keyword,region,date,value\n人工智能,成都,2017-01-01,5\n".encode("utf-8")
                     + "机器学习,成都,2017-01-01,6\n".encode("gbk"))
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert "mixed.csv:3: not valid UTF-8" in result.output
    assert _terms(db_path) == set()


def test_a_taxonomy_alias_is_stored_as_its_term(db_path, tmp_path):
    path = write_csv(tmp_path / "a.csv", ["keyword", "region", "date", "value"],
                     [["人工智慧", "成都", "2017-01-01", 5], ["人工智能", "成都", "2017-01-02", 6]])
    result = _import_file(db_path, path)
    assert result.exit_code == 0, result.output
    assert _terms(db_path) == {"人工智能"}


def test_an_alias_and_its_term_disagreeing_on_a_day_is_an_error(db_path, tmp_path):
    path = write_csv(tmp_path / "a.csv", ["keyword", "region", "date", "value"],
                     [["人工智慧", "成都", "2017-01-01", 5], ["人工智能", "成都", "2017-01-01", 6]])
    result = _import_file(db_path, path)
    assert result.exit_code == 1 and "a.csv:3:" in result.output


def test_a_row_cut_off_before_its_value_is_refused(db_path, tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text("keyword,region,date,value\n人工智能,成都,2017-01-01,5\n"
                    "人工智能,成都,2017-01-02\n\n人工智能,成都,2017-01-03,\n", encoding="utf-8")
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert "cut.csv:3: 3 fields where the header has 4" in result.output
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('keyword,region,date,value\n"人工智能",成都,2017-01-01,5\n'
                      '"人工智能",成都,2017-01-02\n', encoding="utf-8")
    assert "quoted.csv:3: 3 fields" in _import_file(db_path, quoted).output
    assert _terms(db_path) == set()


@pytest.mark.parametrize("value", ["9007199254740993", "inf", "1e400"])
def test_a_value_a_float_cannot_hold_is_refused(db_path, tmp_path, value):
    path = write_csv(tmp_path / "big.csv", ["keyword", "region", "date", "value"],
                     [["人工智能", "成都", "2017-01-01", 5],
                      ["人工智能", "成都", "2017-01-02", value]])
    result = _import_file(db_path, path)
    assert result.exit_code == 1
    assert f"big.csv:3: value '{value}' is not a finite number" in result.output
    assert _terms(db_path) == set()


# --- dates, periods without data, like-with-like year-on-year, movers' options ------------------

def _cli(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


@pytest.mark.parametrize("args", [
    ["series", "--keyword", "人工智能", "--region", "成都", "--start", "2017/01/01"],
    ["series", "--keyword", "人工智能", "--region", "成都", "--start", "2017-13-45"],
    ["series", "--keyword", "人工智能", "--region", "成都", "--end", "20170101"],
    ["collect", "--start", "2017-02-30", "--dry-run"],
    ["rank", "--dimension", "basic", "--period", "2017-01-01..2017/03/01"],
])
def test_every_date_option_is_checked_the_same_way(national_db, args):
    result = _cli(national_db, *args)
    assert result.exit_code != 0
    assert "not a date" in result.output or "not a real date" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["rank", "--dimension", "basic", "--period", "2015"],
    ["split", "--dimension", "basic", "--period", "2015"],
    ["movers", "--period", "2015"],
])
def test_a_period_without_data_says_which_period_has_data(national_db, args):
    result = _cli(national_db, *args)
    assert result.exit_code == 1
    assert "no data for period 2015" in result.output
    assert "the data covers 2016-01-01..2017-12-31: try --period 2017" in result.output


def test_briefing_and_report_for_a_period_without_data_write_nothing(national_db, tmp_path):
    result = _cli(national_db, "export", "briefing", "--period", "2015", "--out",
                  str(tmp_path / "b"))
    assert result.exit_code == 1 and "no data for period 2015" in result.output
    assert not (tmp_path / "b").exists()
    result = _cli(national_db, "report", "--period", "2015", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and "no data for period 2015" in result.output
    assert not (tmp_path / "r.html").exists()


def test_year_on_year_needs_the_whole_previous_year(national_db, tmp_path):
    # 2016 is the first year of data: there is no 2015 to compare it with
    result = _cli(national_db, "movers", "--period", "2016", "--show", "risers")
    assert result.exit_code == 1
    assert "needs 2015-01-01..2015-12-31 in full; the data starts 2016-01-01" in result.output
    growth = _cli(national_db, "movers", "--period", "2016", "--show", "growth",
                  "--format", "csv")
    assert growth.exit_code == 0 and "change left empty" in growth.stderr
    import io
    import pandas as pd
    frame = pd.read_csv(io.StringIO(growth.stdout))
    assert frame["change"].isna().all() and frame["value"].notna().any()
    # half of 2016 against half of 2017 is like with like
    ok = pd.read_csv(io.StringIO(_cli(national_db, "movers", "--period",
                                      "2017-01-01..2017-06-30", "--show", "growth",
                                      "--format", "csv").stdout))
    assert ok["change"].notna().any()


def test_the_briefing_leaves_yoy_empty_with_the_reason(national_db, tmp_path):
    from aicity.analysis.export import export_briefings
    result = export_briefings(national_db, tmp_path / "b", period="2016", lang="en")
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert "year-on-year" in manifest["missing"] and "2016-01-01" in manifest["missing"]
    import pandas as pd
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig")
    assert frame["basic_yoy_pct"].isna().all() and frame["basic_value"].notna().any()
    full = export_briefings(national_db, tmp_path / "c", period="2017", lang="en")
    assert pd.read_csv(full.files[0], encoding="utf-8-sig")["basic_yoy_pct"].notna().any()


def test_movers_honours_top_and_the_selection_for_every_table(national_db):
    import io
    import pandas as pd

    def table(*args):
        result = _cli(national_db, "movers", "--period", "2017", "--format", "csv", *args)
        assert result.exit_code == 0, result.output
        return pd.read_csv(io.StringIO(result.stdout))

    for show in ("risers", "fallers", "growth", "tiers"):
        assert len(table("--show", show, "--top", "3")) <= 3
    assert len(table("--show", "growth", "--top", "5")) == 5
    by_app = table("--show", "tiers", "--top", "20")
    by_basic = table("--show", "tiers", "--top", "20", "--dimension", "basic")
    by_kw = table("--show", "tiers", "--top", "20", "--keyword", "人脸识别")
    assert not (by_app.equals(by_basic) and by_app.equals(by_kw))


# --- one line, no traceback, nothing half-written ----------------------------------------------

def test_unusable_database_files_get_one_line(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database", encoding="utf-8")
    for args, expected in [
        (["--db", str(tmp_path / "no" / "x.db"), "init"], "folder"),
        (["--db", str(garbage), "regions"], "not a usable SQLite database"),
    ]:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_a_truncated_database_gets_one_line(db_path, tmp_path):
    cut = tmp_path / "cut.db"
    cut.write_bytes(db_path.read_bytes()[:40_000])
    result = CliRunner().invoke(cli, ["--db", str(cut), "rank", "--dimension", "basic"])
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output


def test_a_file_of_blank_lines_is_refused(db_path, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n", encoding="utf-8")
    result = _import_file(db_path, path)
    assert result.exit_code == 1 and "blank.csv:1: the first line is blank" in result.output


def test_an_export_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import errno

    import pandas as pd

    from aicity.analysis import export
    path = tmp_path / "briefing.csv"
    frame = pd.DataFrame({"region": ["成都", "武汉", "西安"], "basic_value": [1.0, 2.0, 3.0]})
    export.write_csv(frame, path, "zh", "test")
    before = path.read_bytes()
    calls = {"n": 0}
    real = export._cell

    def full_disk(value, lang="zh"):
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(value, lang)

    monkeypatch.setattr(export, "_cell", full_disk)
    with pytest.raises(OSError):
        export.write_csv(frame.assign(basic_value=[4.0, 5.0, 6.0]), path, "zh", "test")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["briefing.csv"]


def test_industries_answer_when_one_group_has_no_data(db_copy):
    db = store.connect(db_copy)
    db.execute("DELETE FROM components WHERE subject IN (SELECT 'k:' || keyword_id FROM "
               "keyword_groups WHERE category = 'industry' AND group_name = 'finance')")
    db.conn.commit()
    from aicity.analysis import queries
    out = queries.industries(db, period="2017")
    db.close()
    assert out["finance_share"].fillna(0).eq(0).all()
    assert out["healthcare_share"].notna().any()


def test_the_english_briefing_has_no_chinese_yes(national_db, tmp_path):
    from aicity.analysis.export import export_briefings
    result = export_briefings(national_db, tmp_path / "b", period="2017", lang="en")
    text = "".join(p.read_text(encoding="utf-8-sig") for p in result.files)
    assert "是" not in text


def test_the_job_does_not_start_on_a_damaged_database(db_copy, tmp_path):
    data = bytearray(db_copy.read_bytes())
    page = 4096
    for offset in range(20 * page, len(data) - page, 97 * page):   # scribble on b-tree pages
        data[offset:offset + 64] = b"\xff" * 64
    db_copy.write_bytes(bytes(data))
    db = store.connect(db_copy)
    damage = store.integrity_problem(db)
    db.close()
    assert damage
    result = nightly.run_job(db_copy, now=nightly.datetime(2018, 1, 2, 2, 30,
                                                           tzinfo=nightly.SHANGHAI),
                             out=tmp_path / "out", env={"AICITY_BAIDU_COOKIES": "BDUSS=a"},
                             collect_args=["--dry-run"])
    assert result.status == "failed" and result.stages["check"]["status"] == "failed"
    assert not (tmp_path / "out").exists()


# --- what a new user expects --------------------------------------------------------------------

def test_the_chinese_briefing_has_no_english_codes_and_gives_percentages(national_db, tmp_path):
    import pandas as pd

    from aicity.analysis.export import export_briefings
    result = export_briefings(national_db, tmp_path / "zh", period="2017", lang="zh")
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig", dtype=str).fillna("")
    codes = {"north", "south", "single", "dual", "all", "speech", "vision", "deep_learning",
             "finance", "retail", "driving", "security", "healthcare", "manufacturing"}
    cells = {part for col in frame.columns if col not in ("城市", "省份", "城市群")
             for v in frame[col] for part in v.split("+")}
    assert not cells & codes
    assert set(frame["秦岭淮河南北"]) <= {"北", "南"}
    assert "基础认知同比变化(%)" in frame.columns and "语音语义占比(%)" in frame.columns
    share = frame["语音语义占比(%)"].replace("", float("nan")).astype(float)
    assert share.max() > 1          # percent, not a fraction
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["data_through"] == "2017-12-31" and "share_pct" in manifest["units"]


def test_a_typo_in_a_region_suggests_the_closest(national_db):
    result = _cli(national_db, "series", "--keyword", "人工智能", "--region", "成督")
    assert result.exit_code == 1 and "did you mean 成都市?" in result.output


def test_export_takes_a_city_cluster_and_a_level(national_db, tmp_path):
    result = _cli(national_db, "export", "briefing", "--period", "2017", "--region", "长三角",
                  "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "c").glob("*.csv")] == ["briefing_城市群_长三角.csv"]
    # the fixture has cities and the nation, no province
    result = _cli(national_db, "export", "briefing", "--period", "2017", "--level", "province",
                  "--out", str(tmp_path / "p"))
    assert result.exit_code == 1 and "at province level" in result.output


def test_groups_answer_to_their_chinese_names(national_db):
    a = _cli(national_db, "rank", "--dimension", "industry", "--group", "金融", "--period",
             "2017", "--format", "csv")
    b = _cli(national_db, "rank", "--dimension", "industry", "--group", "finance", "--period",
             "2017", "--format", "csv")
    assert a.exit_code == 0 and len(a.stdout.splitlines()) > 10
    assert not (diff := first_difference(a.stdout, b.stdout)), diff
    bad = _cli(national_db, "rank", "--dimension", "industry", "--group", "金", "--period", "2017")
    assert bad.exit_code == 1 and "finance (金融)" in bad.output


def test_status_says_how_fresh_each_level_is(db_path, tmp_path):
    _import(db_path, tmp_path, "a.csv", "成都", "2017-01-01", 60)
    result = _cli(db_path, "status", "--format", "json", "--check")
    assert result.exit_code == 0, result.output
    items = {r["item"]: r["value"] for r in json.loads(result.stdout)}
    assert items["city data through"].startswith("2017-03-01 (1 of ")
    assert items["country data through"].startswith("no data")
    assert items["last nightly job"] == "never" and items["integrity"] == "ok"


def test_anomalies_by_region_and_date_and_the_named_views(national_db):
    import io

    import pandas as pd
    result = _cli(national_db, "anomalies", "--region", "成都", "--start", "2017-06-01",
                  "--top", "0", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) > 0 and set(frame["region"]) == {"成都市"}
    assert frame["date"].min() >= "2017-06-01"
    assert list(frame["date"]) == sorted(frame["date"], reverse=True)
    db = store.connect(national_db)
    named = db.execute("SELECT count(*) FROM anomalies_named WHERE region = '成都市' AND "
                       "date >= '2017-06-01'").fetchone()[0]
    kinds = {r[0] for r in db.execute("SELECT DISTINCT kind FROM components_named")}
    db.close()
    assert named == len(frame) and kinds == {"keyword", "dimension", "group"}


def test_the_english_briefing_names_places_in_english(national_db, tmp_path):
    import pandas as pd

    from aicity.analysis.export import export_briefings
    result = export_briefings(national_db, tmp_path / "en", period="2017", lang="en",
                              region="成渝")
    frame = pd.read_csv(result.files[0], encoding="utf-8-sig", dtype=str).fillna("")
    assert {"Chengdu", "Chongqing"} <= set(frame["region"])
    assert "Sichuan" in set(frame["province"])
    assert all("Chengdu-Chongqing" in c for c in frame["cluster"])
    text = "".join(frame[c].str.cat() for c in ("region", "province", "cluster", "tier_2017"))
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_a_block_after_a_bare_statement_is_committed_not_left_as_a_savepoint(db_path):
    # Python's sqlite3 opens a transaction for a bare INSERT and leaves it open; a later
    # atomic() block once became a savepoint inside it, and close() rolled everything back.
    db = store.connect(db_path)
    run = store.start_run(db, "import", "test")           # a bare INSERT
    kw = store.keyword_ids(db, ["人工智能"])["人工智能"]
    with db.atomic():
        store.upsert_observations(db, [(kw, 97, "all", "day", "2017-01-01", 5, "test", "", run.id)])
        store.finish_run(db, run, "ok", 1)
    with db.atomic():
        with db.atomic():                                  # nested: still one transaction
            store.upsert_observations(db, [(kw, 97, "all", "day", "2017-01-02", 6, "test", "",
                                            run.id)])
    db.close()
    db = store.connect(db_path)
    assert db.execute("SELECT status FROM runs WHERE id = ?", [run.id]).fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 2
    db.close()


DEMO_PARENT = textwrap.dedent("""
    import multiprocessing as mp, os, signal, time
    from concurrent.futures import ProcessPoolExecutor
    from aicity.demo import crawler_start
    if __name__ == "__main__":
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                                 initializer=crawler_start, initargs=(os.getpid(),)) as pool:
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 600)          # busy, as a crawler is: not reading its queue
            os.kill(os.getpid(), signal.SIGKILL)
""")


def test_the_demo_crawlers_die_with_a_killed_demo(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(DEMO_PARENT, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -signal.SIGKILL
    assert _wait_for_exit(int(proc.stdout.split()[0])), "a crawler outlived its demo"


def test_a_demo_with_an_unknown_region_stops_before_it_starts(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--regions", "成都,Atlantis"],
                                obj={})
    assert result.exit_code == 1 and "Atlantis" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_only_db_commits():
    """Transactions are db/'s: no module outside it commits (issue 29 §4); a run's start and
    end are committed by store.open_run and store.close_run."""
    from pathlib import Path

    import aicity
    package = Path(aicity.__file__).parent
    outside = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if p.relative_to(package).parts[0] != "db"
               and ".commit()" in p.read_text(encoding="utf-8")]
    assert outside == []
