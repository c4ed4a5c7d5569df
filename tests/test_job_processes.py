"""The nightly job: a relative database path, children that die with a killed job, runs left
'running' by a dead process, a damaged database."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import dry_run_job, job_order, wait_for_exit
from aicity import scheduler as nightly
from aicity.lock import LockHeld, RunLock
from aicity.db import store


ROOT = Path(__file__).resolve().parent.parent



# --- the nightly job with a relative database path --------------------------------------------

def test_the_job_works_with_a_relative_database_path(tmp_path, monkeypatch):
    result = dry_run_job(tmp_path, monkeypatch, {"AICITY_BAIDU_COOKIES": "BDUSS=a",
                                                 "AICITY_BAIDU_BASE_URL": "http://127.0.0.1:9"})
    assert result.stages["collect"]["status"] == "ok", result.stages
    assert result.stages["analyze"]["status"] == "ok", result.stages
    assert not (ROOT / "rel.db").exists()


# --- a killed job leaves no child running and no run 'running' ---------------------------------

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
    assert wait_for_exit(child), "the stage's child outlived its job"
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
    assert wait_for_exit(child)
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
                             out=tmp_path / "out",
                             order=job_order(["--dry-run"], {"AICITY_BAIDU_COOKIES": "BDUSS=a"}))
    assert result.status == "failed" and result.stages["check"]["status"] == "failed"
    assert not (tmp_path / "out").exists()


def test_a_spawned_stage_holds_the_run_lock_it_inherits(tmp_path):
    """The job hands its lock to each stage's spawned child (children.Inherited): while the
    child lives, the lock stays held even when the job's own handle is gone."""
    from aicity.children import spawned_pool
    lock = RunLock(tmp_path / "a.db").__enter__()
    with spawned_pool(1, keep_fds=(lock.fh.fileno(),)) as pool:
        assert pool.submit(os.getpid).result() != os.getpid()     # the child is up
        lock.fh.close()                                           # as if the job were killed
        with pytest.raises(LockHeld):
            with RunLock(tmp_path / "a.db"):
                pass
    with RunLock(tmp_path / "a.db") as again:                     # the child gone: free
        assert again.took_over.startswith("pid ")
