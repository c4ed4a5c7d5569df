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


def _run_of_a_dead_process(db, kind: str) -> int:
    """A run left 'running' by a process of this host that is gone; its pid."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    db.execute("INSERT INTO runs(kind, status, started_at, detail) VALUES "
               "(?, 'running', '2017-03-01T18:30:00+00:00', ?)",
               [kind, json.dumps({"pid": dead.pid, "host": os.uname().nodename})])
    db.conn.commit()
    return dead.pid


def test_a_run_whose_process_died_is_marked_interrupted(db_path):
    db = store.connect(db_path)
    _run_of_a_dead_process(db, "job")
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


# --- a nightly job killed outright takes its stages with it (issue 34 §1) --------------------

def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _until(what, timeout: float = 120.0):
    """Poll `what` until it returns something true, for `timeout` seconds at the most."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not so within {timeout} s")


def _stored(db_path) -> int:
    import sqlite3
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM coverage").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_job_killed_while_its_collect_stores_leaves_no_child_and_the_next_job_runs(
        db_path, tmp_path):
    """kill -9 of `aicity schedule --once` (the OOM killer, a crashed agent) while its collect
    child is storing: the child caught the death signal to stop cleanly, went back to its pool
    and waited there for ever, holding the run lock; the next night was refused."""
    from aicity.emulator.process import running_emulator
    env = dict(os.environ, PYTHONPATH=str(ROOT), AICITY_BAIDU_COOKIES="BDUSS=killed-job",
               AICITY_BAIDU_DAILY_BUDGET="0")
    # eight years of a few regions: the collect stores for seconds (planning the whole world's
    # 100,000 pieces first took most of the test)
    scope = "--regions 0,四川,广东,浙江,成都 --start 2019-01-01"
    with running_emulator(seed=5, rate_limit="0", habits="none") as url:
        job = subprocess.Popen(
            [sys.executable, "-m", "aicity", "--db", str(db_path), "schedule", "--once",
             "--log-dir", str(tmp_path), "--collect-args",
             f"--base-url {url} --delay 0 {scope}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _until(lambda: _stored(db_path) > 20)             # the collect is storing
            children = _children_of(job.pid)
            assert children
        finally:
            job.kill()
            job.wait()
        for child in children:
            assert wait_for_exit(child, 5), f"stage child {child} outlived its killed job"
        db = store.connect(db_path)
        collect = db.execute("SELECT status FROM runs WHERE kind = 'collect' ORDER BY id DESC"
                             ).fetchone()[0]
        db.close()
        assert collect != "ok"                                 # never a killed night as ok
        status = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db_path), "status"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert "interrupted" in status.stdout and "run lock" in status.stdout
        assert "free" in next(line for line in status.stdout.splitlines() if "run lock" in line)
        again = subprocess.run(
            [sys.executable, "-m", "aicity", "--db", str(db_path), "schedule", "--once",
             "--log-dir", str(tmp_path), "--collect-args", f"--base-url {url} --dry-run {scope}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "holds the lock" not in again.stderr, again.stderr[-2000:]
    assert "started: collecting through" in again.stderr and "finished" in again.stderr


def test_status_tells_a_lock_kept_by_an_orphan_from_a_live_job(tmp_path):
    from aicity.lock import lock_state
    assert lock_state(tmp_path / "a.db").describe() == "free"
    with RunLock(tmp_path / "a.db"):
        live = lock_state(tmp_path / "a.db")
        assert live.held and live.holder_alive and f"pid {os.getpid()}" in live.describe()
    child = _killed_parent(tmp_path / "a.db", "keep")       # a stage that did not die
    try:
        state = lock_state(tmp_path / "a.db")
        assert state.held and not state.holder_alive and state.orphans == (child,)
        assert f"held by pid {child}, left running by a run that died" in state.describe()
        with pytest.raises(LockHeld, match=f"kill {child}"):
            with RunLock(tmp_path / "a.db"):
                pass
    finally:
        os.kill(child, signal.SIGKILL)
    assert wait_for_exit(child)


def test_a_collect_told_to_stop_stops_within_ten_seconds_whatever_the_site_does(db_path):
    """SIGTERM while the site holds every request unanswered: Scrapy's graceful stop waited
    for the request's timeout and the retries after it."""
    import socket
    import time
    site = socket.create_server(("127.0.0.1", 0))
    port = site.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT), AICITY_BAIDU_COOKIES="BDUSS=stopped",
               AICITY_DOWNLOAD_TIMEOUT="300")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aicity", "--db", str(db_path), "collect", "--base-url",
         f"http://127.0.0.1:{port}", "--delay", "0", "--regions", "成都", "--start",
         "2017-01-01", "--end", "2017-01-31"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        site.settimeout(120)
        held, _ = site.accept()              # the crawl's first request is in flight
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        held.close()
    finally:
        proc.kill()
        site.close()
    assert took < 10, f"took {took:.1f} s to stop"
    assert proc.returncode != 0
    assert "Traceback" not in err
    db = store.connect(db_path)
    status = db.execute("SELECT status FROM runs WHERE kind = 'collect'").fetchone()[0]
    db.close()
    assert status != "ok"


def test_a_run_whose_process_is_gone_reads_as_interrupted_wherever_runs_are_listed(db_path):
    """A collect that exits on a full disk cannot record its end: its run stayed 'running'."""
    from click.testing import CliRunner

    from aicity.cli import cli
    db = store.connect(db_path)
    pid = _run_of_a_dead_process(db, "collect")
    runs = store.runs_frame(db)
    db.close()
    assert runs["status"].tolist() == ["interrupted"]
    assert runs["error"].tolist() == [f"its process {pid} is gone"]
    shown = CliRunner().invoke(cli, ["--db", str(db_path), "status", "--format", "json"])
    rows = {row["item"]: row["value"] for row in json.loads(shown.output)}
    assert rows["last collect"].startswith(f"interrupted (run {runs['id'][0]}")


def test_a_stage_child_whose_crawl_is_over_still_ends_on_sigterm(db_path):
    """Scrapy's SIGTERM handler outlived the crawl in the stage's child: the orphan of a killed
    job, told to stop, went on waiting in its pool."""
    from aicity.children import spawned_pool
    from aicity.emulator.process import running_emulator
    from aicity.scheduler import collect_stage
    with running_emulator(seed=5, rate_limit="0", habits="none", latest="2017-03-01") as url:
        order = job_order(["--base-url", url, "--delay", "0", "--regions", "0", "--keywords",
                           "人工智能", "--start", "2017-02-01", "--end", "2017-02-28"],
                          {"AICITY_BAIDU_COOKIES": "BDUSS=stage"})
        with spawned_pool(1) as pool:
            ok, summary = pool.submit(collect_stage, str(db_path), order).result()
            assert ok, summary
            child = pool.submit(os.getpid).result()
            os.kill(child, signal.SIGTERM)
            assert wait_for_exit(child, 10), "the stage's child ignored SIGTERM"
