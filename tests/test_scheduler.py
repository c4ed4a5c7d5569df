"""The nightly job: stages, the cross-process lock, catch-up, recovery after a failed stage."""
from __future__ import annotations

import pytest

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger

from tests.conftest import job_order
from aicity import scheduler as nightly
from aicity.lock import RunLock
from click.testing import CliRunner

from aicity.cli import cli
from aicity.emulator.process import running_emulator
from aicity.db import store
from aicity.keywords.taxonomy import default_taxonomy

# every test here runs the nightly job (or the demo) in child processes
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2017, 3, 2, 2, 30, tzinfo=nightly.SHANGHAI)   # injected: no waiting
# At 02:30 Baidu has not yet published 2017-03-01 (it does so in the morning): the job collects
# through the day before.
END = "2017-02-28"
HABITS = "lowercase,block-type,unpublished,strict-token,region-one-word,top-cities=10"
SCOPE = ["--regions", "成都,北京市,0", "--start", "2017-01-01", "--delay", "0"]
ENV = {"AICITY_BAIDU_COOKIES": "BDUSS=job-a\nBDUSS=job-b", "AICITY_BAIDU_DAILY_BUDGET": "0"}


def jobs(db_path):
    db = store.connect(db_path)
    try:
        return [(status, json.loads(detail)["stages"]) for status, detail in db.execute(
            "SELECT status, detail FROM runs WHERE kind = 'job' ORDER BY id")]
    finally:
        db.close()


def test_job_collects_analyses_and_exports(db_path, tmp_path):
    with running_emulator(seed=3, latest="2017-03-01", rate_limit="0", habits=HABITS) as url:
        result = nightly.run_job(db_path, now=NOW, out=tmp_path / "out",
                                 order=job_order(SCOPE, {**ENV, "AICITY_BAIDU_BASE_URL": url}))
    assert result.status == "ok", result.stages
    assert [s["status"] for s in result.stages.values()] == ["ok"] * 4
    assert list(result.stages) == ["snapshot", "collect", "analyze", "export"]
    # without a budget the index collect reaches every city tonight: no snapshot is asked for
    assert "no snapshot needed" in result.stages["snapshot"]["summary"]
    db = store.connect(db_path)
    assert db.execute("SELECT max(date) FROM observations").fetchone()[0] == END
    assert db.execute("SELECT count(*) FROM components").fetchone()[0] > 0
    briefings = list((tmp_path / "out" / END).glob("*.csv"))
    assert briefings and (tmp_path / "out" / END / "manifest.json").exists()
    assert jobs(db_path)[0][0] == "ok"


def test_failed_stage_is_recorded_and_the_next_run_recovers(db_path, tmp_path):
    # Nothing listens on this loopback port: collection fails, the job still records all stages.
    first = nightly.run_job(db_path, now=NOW, out=tmp_path / "out",
                            order=job_order(SCOPE, {**ENV, "AICITY_BAIDU_BASE_URL": "http://127.0.0.1:9"}))
    assert first.stages["collect"]["status"] == "failed"
    assert first.status in ("partial", "failed")
    with running_emulator(seed=3, latest="2017-03-01", rate_limit="0", habits=HABITS) as url:
        second = nightly.run_job(db_path, now=NOW, out=tmp_path / "out",
                                 order=job_order(SCOPE, {**ENV, "AICITY_BAIDU_BASE_URL": url}))
    assert second.status == "ok"
    statuses = [s for s, _ in jobs(db_path)]
    assert statuses[0] in ("partial", "failed") and statuses[1] == "ok"


def test_first_night_without_cities_exports_by_province_and_says_what_is_missing(db_path,
                                                                                tmp_path):
    scope = ["--regions", "0,四川,广东,浙江", "--start", "2017-01-01", "--delay", "0"]
    with running_emulator(seed=3, latest="2017-03-01", rate_limit="0", habits=HABITS) as url:
        result = nightly.run_job(db_path, now=NOW, out=tmp_path / "out",
                                 order=job_order(scope, {**ENV, "AICITY_BAIDU_BASE_URL": url}))
    assert result.stages["export"]["status"] == "ok", result.stages
    assert "province level" in result.stages["export"]["summary"]
    manifest = json.loads((tmp_path / "out" / END / "manifest.json").read_text("utf-8"))
    assert manifest["level"] == "province" and manifest["regions_with_data"] == 3
    assert "no city has data yet" in manifest["missing"]
    (briefing,) = (tmp_path / "out" / END).glob("*.csv")
    text = briefing.read_text(encoding="utf-8-sig")
    assert "四川" in text and "广东" in text and "浙江" in text


def test_a_second_concurrent_run_is_refused(db_path):
    with RunLock(db_path):
        proc = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db_path), "schedule",
                               "--once"], capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 3
    assert "another run holds the lock" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert jobs(db_path) == []  # the refused run did nothing


def test_a_stale_lock_from_a_dead_run_is_taken_over(db_path, caplog):
    Path(str(db_path) + ".lock").write_text("pid 999999 since 2017-03-01T02:30:00+08:00",
                                            encoding="utf-8")
    with RunLock(db_path) as lock:
        assert lock.took_over == "pid 999999 since 2017-03-01T02:30:00+08:00"
    # and after a clean exit the file names no holder
    assert Path(str(db_path) + ".lock").read_text(encoding="utf-8") == ""


def test_missed_night_is_caught_up_once():
    trigger = CronTrigger(hour=2, minute=30, timezone=nightly.SHANGHAI)
    today_0900 = datetime(2017, 3, 2, 9, 0, tzinfo=nightly.SHANGHAI)
    yesterday_run = datetime(2017, 3, 1, 2, 31, tzinfo=nightly.SHANGHAI)
    today_run = datetime(2017, 3, 2, 2, 31, tzinfo=nightly.SHANGHAI)
    week_ago = today_0900 - timedelta(days=7)
    assert nightly.missed_night(trigger, yesterday_run, today_0900)        # 02:30 today missed
    assert nightly.missed_night(trigger, week_ago, today_0900)             # many missed: once
    assert not nightly.missed_night(trigger, today_run, today_0900)        # already ran
    assert not nightly.missed_night(trigger, yesterday_run,
                                    datetime(2017, 3, 2, 1, 0, tzinfo=nightly.SHANGHAI))
    assert nightly.missed_night(trigger, None, today_0900)                 # never ran


def test_schedule_rejects_a_bad_time(db_path):
    proc = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db_path), "schedule",
                           "--at", "25:00"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2 and "'25:00' is not HH:MM" in proc.stderr


def test_a_small_demo_runs_end_to_end_and_labels_its_data_simulated(tmp_path):
    # In a child with a deadline: the demo's analysis once hung for good (a worker forked from
    # the process that had run the crawl).
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "aicity", "demo", "--out", str(out), "--regions",
                           "成都,0", "--days", "90"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SIMULATED" in proc.stdout and "--period" in proc.stdout
    # the site's refusals the crawler handles are summed up once, not warned of one by one
    assert "WARNING" not in proc.stderr and "backing off" not in proc.stderr
    listed = len(list((out / "briefings").glob("*.csv")))
    assert listed <= 3 or f"and {listed - 3} more briefing" in proc.stdout
    # said once, of the briefings: the rankings folder lists every file it has
    assert proc.stdout.count("more briefing") == (listed > 3)
    assert (out / "rankings" / "manifest.json").exists()
    manifest = json.loads((out / "briefings" / "manifest.json").read_text("utf-8"))
    assert manifest["data_source"] == "simulated" and manifest["regions_with_data"] == 1
    assert (out / "report.html").stat().st_size > 10_000
    # the demo collects the related-word graph too: suggestions work on its database
    suggest = subprocess.run([sys.executable, "-m", "aicity", "--db", str(out / "aicity.db"),
                              "keywords", "suggest", "--limit", "5", "--format", "csv"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert suggest.returncode == 0 and len(suggest.stdout.splitlines()) > 5, suggest.stderr
    assert all(line.endswith(",simulated") for line in suggest.stdout.splitlines()[1:])
    db = store.connect(out / "aicity.db")
    try:
        # every day stored, but for an empty last day, which waits to be confirmed (the site
        # leaves days it has not published yet empty)
        waiting = db.execute("SELECT count(*) FROM unconfirmed WHERE accepted_at IS NULL"
                             ).fetchone()[0]
        assert waiting <= 4
        # a day waiting to be confirmed is unknown, never an anomaly of 0
        assert db.execute("SELECT count(*) FROM anomalies a JOIN unconfirmed u ON "
                          "u.region = a.region AND u.date = a.date AND u.accepted_at IS NULL "
                          "AND a.subject = 'k:' || u.keyword_id").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM observations").fetchone()[0] + waiting == \
            2 * len(default_taxonomy().unique_terms()) * 90
        assert db.execute("SELECT count(*) FROM components").fetchone()[0] > 0
    finally:
        db.close()


def test_a_demo_of_twenty_regions_crawls_with_two_crawlers_into_one_database(tmp_path):
    from aicity.db.regions import default_registry
    from aicity.demo import crawl_parts
    codes = [str(r.code) for r in default_registry().filter(level="city")][:20]
    assert crawl_parts(codes[:19]) == [codes[:19]]          # small: one crawler
    halves = crawl_parts(codes)
    assert sorted(halves[0] + halves[1], key=codes.index) == codes and len(halves[0]) == 10
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "aicity", "demo", "--out", str(out), "--regions",
                           ",".join(codes), "--days", "30"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 crawlers" in proc.stderr
    db = store.connect(out / "aicity.db")
    try:
        runs = db.execute("SELECT count(*), sum(status = 'ok') FROM runs WHERE kind = 'collect'"
                          ).fetchone()
        assert runs[0] >= 2 and runs[0] == runs[1]
        waiting = db.execute("SELECT count(*) FROM unconfirmed WHERE accepted_at IS NULL"
                             ).fetchone()[0]
        stored = db.execute("SELECT count(*) FROM observations").fetchone()[0]
        assert stored + waiting == 20 * len(default_taxonomy().unique_terms()) * 30
        assert db.execute("SELECT count(DISTINCT region) FROM coverage").fetchone()[0] == 20
    finally:
        db.close()


def test_a_night_without_cookies_says_so_in_its_snapshot_stage_and_promises_no_briefings(
        db_path, tmp_path):
    """Without an account the index collect reaches no city: the snapshot stage must not say
    "no snapshot needed", and status must not point at briefings that were never written."""
    result = nightly.run_job(db_path, now=NOW, out=tmp_path / "out",
                             order=job_order(SCOPE, {"AICITY_BAIDU_COOKIES": "",
                                  "AICITY_BAIDU_BASE_URL": "http://127.0.0.1:9"}))
    snapshot = result.stages["snapshot"]
    assert snapshot["status"] == "failed" and "no Baidu cookies" in snapshot["summary"]
    assert "no snapshot needed" not in snapshot["summary"]
    status = CliRunner().invoke(cli, ["--db", str(db_path), "status", "--format", "json"])
    rows = {r["item"]: r["value"] for r in json.loads(status.stdout)}
    assert rows["last briefings"] == "none written yet"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.csv"))
