"""Writers at once: the write lock from a transaction's start, analysis beside a running crawl,
the crawl stopping when storage fails, statements committed outside a block."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aicity.emulator.process import running_emulator
from aicity.db import store

from tests.conftest import import_days

ROOT = Path(__file__).resolve().parent.parent



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


def test_a_writer_waits_for_the_lock_in_steps_under_a_millisecond(db_path, monkeypatch):
    """SQLite's busy handler sleeps 1 ms, then 2, 5, 10 …; a crawler's transaction holds the
    lock for about half a millisecond, so two crawlers waited twice as long as needed."""
    from aicity.db import connection
    a = store.connect(db_path)
    b = store.connect(db_path, busy_timeout=5)
    pauses = []

    def other_writer_commits(seconds):       # a's transaction ends while b waits
        pauses.append(seconds)
        a.conn.execute("COMMIT")

    a.conn.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO crawl_state(key, value) VALUES ('a', '1')")
    monkeypatch.setattr(connection.time, "sleep", other_writer_commits)
    with b.atomic():
        b.execute("INSERT INTO crawl_state(key, value) VALUES ('b', '2')")
    assert len(pauses) == 1 and pauses[0] < 0.001
    assert b.execute("SELECT count(*) FROM crawl_state WHERE key IN ('a', 'b')"
                     ).fetchone()[0] == 2
    # every other statement still waits under the busy timeout
    assert b.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    a.close()
    b.close()


def test_a_writer_gives_up_after_the_busy_timeout(db_path):
    a = store.connect(db_path)
    b = store.connect(db_path, busy_timeout=0.05)
    a.conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        with b.atomic():
            pass
    assert b.execute("PRAGMA busy_timeout").fetchone()[0] == 50
    a.conn.rollback()
    with b.atomic():                        # free again: it proceeds
        b.execute("INSERT INTO crawl_state(key, value) VALUES ('b', '2')")
    a.close()
    b.close()


def test_analyze_refits_what_a_run_that_started_before_it_writes_after_it(db_path, tmp_path):
    from aicity.service.refit import analyze
    import_days(db_path, tmp_path, "a.csv", "成都", "2017-01-01", 120)
    analyze(db_path, workers=1)
    db = store.connect(db_path)
    collect_run = store.start_run(db, "collect", "emulator")     # still going
    db.conn.commit()
    rows = [50 + d % 7 for d in range(1, 29)] + [50 + d % 7 for d in range(1, 29)] + \
           [50 + d % 7 for d in range(1, 32)] + [50 + d % 7 for d in range(1, 31)]
    store.save_series(db, "人工智能", 910, "2017-01-01", "2017-04-30", "day", {"all": rows},
                      "emulator", collect_run.id)
    db.conn.commit()
    import_days(db_path, tmp_path, "b.csv", "杭州", "2017-01-01", 120)   # a later run
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
    from aicity.service.refit import analyze
    for i, city in enumerate(["成都", "杭州", "武汉"]):
        import_days(db_path, tmp_path, f"{i}.csv", city, "2017-01-01", 90)
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
    # A stand-in for a full disk: the fourth series cannot be stored. It is the second of the
    # second answer (two keywords a region), which goes whole or not at all.
    db.execute("CREATE TRIGGER full BEFORE INSERT ON coverage WHEN "
               "(SELECT count(*) FROM coverage) >= 3 BEGIN "
               "SELECT RAISE(ABORT, 'database or disk is full'); END")
    db.conn.commit()
    db.close()
    code = textwrap.dedent(f"""
        import json, os
        from aicity.crawler.config import SiteAccess
        from aicity.service.collect import collect
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
    covered = db.execute("SELECT region, count(*) FROM coverage GROUP BY region").fetchall()
    assert len(covered) == 1 and covered[0][1] == 2       # the first answer, whole
    status, error = db.execute("SELECT status, error FROM runs WHERE kind = 'collect'"
                               ).fetchone()
    db.close()
    assert status == "failed" and "disk is full" in error


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
