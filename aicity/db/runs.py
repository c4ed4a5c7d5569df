"""Runs (a collect, an import, an analysis) and the `touched` notes incremental analysis reads."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from sqlite_utils import Database

from aicity.db.connection import frame, now_iso

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Run:
    id: int
    kind: str
    source: str


def start_run(db: Database, kind: str, source: str = "", detail: dict | None = None) -> Run:
    """Record a run as running, with the process that runs it (so a killed run can be told
    from a live one), after closing the runs whose process died."""
    close_abandoned_runs(db)
    detail = {**(detail or {}), "pid": os.getpid(), "host": socket.gethostname()}
    run_id = db.execute(
        "INSERT INTO runs(kind, status, source, started_at, detail) VALUES (?, 'running', ?, ?, ?) "
        "RETURNING id", [kind, source, now_iso(), json.dumps(detail, ensure_ascii=False)]
    ).fetchone()[0]
    return Run(run_id, kind, source)


def run_detail(db: Database, run_id: int) -> dict:
    """A run's recorded detail (what it was asked, what it did)."""
    row = db.execute("SELECT detail FROM runs WHERE id = ?", [run_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def last_run_start(db: Database, kind: str) -> str | None:
    """When the newest run of a kind started (ISO, UTC), None if there was none."""
    return db.execute("SELECT max(started_at) FROM runs WHERE kind = ?", [kind]).fetchone()[0]


def runs_version(db: Database) -> tuple:
    """What changes whenever a run starts or ends (the newest id, how many, the last end): an
    answer computed from the data stays true until it changes."""
    return tuple(db.execute("SELECT max(id), count(*), max(finished_at) FROM runs").fetchone())


def set_run_source(db: Database, run_id: int, source: str) -> None:
    with db.atomic():
        db.execute("UPDATE runs SET source = ? WHERE id = ?", [source, run_id])


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's process: alive
        return True
    return True


def gone(detail: dict) -> bool:
    """A run of this host whose process no longer lives (a run of another host is judged
    there; one recorded before pids were kept counts as gone)."""
    if detail.get("host", socket.gethostname()) != socket.gethostname():
        return False
    pid = detail.get("pid")
    return pid is None or not process_alive(int(pid))


def shown_status(status: str, error: str, detail: dict) -> tuple[str, str]:
    """(status, error) as a run is shown: one still 'running' whose process is gone was killed
    outright (or could not record its end, on a full disk) and reads as interrupted."""
    if status == "running" and gone(detail):
        return "interrupted", f"its process {detail.get('pid')} is gone"
    return status, error


def read_detail(text: str | None) -> dict:
    """A run's detail column as a dict (empty when unreadable)."""
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def close_abandoned_runs(db: Database) -> list[int]:
    """Mark 'running' runs of this host whose process is gone as failed ('interrupted').

    A run killed with SIGKILL (or by a power cut) cannot record its own end; without this it
    would stay 'running' for ever. Runs from other hosts, and runs whose process lives, are
    left alone; runs recorded before pids were kept count as gone.
    """
    dead = [run_id for run_id, detail in db.execute(
        "SELECT id, detail FROM runs WHERE status = 'running'").fetchall()
        if gone(read_detail(detail))]
    if dead:
        db.conn.executemany("UPDATE runs SET status = 'failed', error = 'interrupted', "
                            "finished_at = ? WHERE id = ? AND status = 'running'",
                            [(now_iso(), r) for r in dead])
    return dead


def open_run(db: Database, kind: str, source: str = "", detail: dict | None = None) -> Run:
    """start_run, committed at once: `status` and the next job see the run while it works."""
    run = start_run(db, kind, source, detail)
    db.conn.commit()
    return run


def close_run(db: Database, run: Run, status: str = "ok", rows_written: int = 0,
              detail: dict | None = None, error: str = "", source: str | None = None) -> None:
    """finish_run (and the run's source, when given), committed at once."""
    finish_run(db, run, status, rows_written, detail, error=error)
    if source is not None:
        set_run_source(db, run.id, source)
    db.conn.commit()


def finish_run(db: Database, run: Run, status: str = "ok", rows_written: int = 0,
               detail: dict | None = None, error: str = "") -> None:
    sets = ["status = ?", "finished_at = ?", "rows_written = ?", "error = ?"]
    args: list = [status, now_iso(), rows_written, error]
    if detail is not None:
        sets.append("detail = ?")
        args.append(json.dumps(detail, ensure_ascii=False))
    db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", [*args, run.id])


def runs_frame(db: Database, kind: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The newest runs, their status as shown (a dead process's run reads as interrupted)."""
    where, args = ("WHERE kind = ?", [kind]) if kind else ("", [])
    runs = frame(db, f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", [*args, limit])
    if len(runs):
        shown = [shown_status(st, err or "", read_detail(det))
                 for st, err, det in zip(runs["status"], runs["error"], runs["detail"])]
        runs["status"] = [st for st, _ in shown]
        runs["error"] = [err for _, err in shown]
    return runs


def record_touched(db: Database, run_id: int,
                   pairs: Iterable[tuple[int, int, str, str]]) -> None:
    """Note that run_id wrote (keyword_id, region) between two dates (for incremental analysis).

    Every write takes the next `seq`, in commit order (writers hold the write lock), so
    `analyze` can take everything up to the highest seq it saw and miss nothing that a run
    still going, started before it, writes afterwards.
    """
    pairs = list(pairs)
    later = getattr(db, "touched_later", None)
    if later is not None:
        # a batch of several series (crawler pipeline on PostgreSQL): written by
        # flush_touched just before the batch commits, so the writers' lock is held for that
        # moment and not the whole batch (it made four workers wait for each other)
        later.append((run_id, pairs))
        return
    least, greatest = ("min", "max") if db.dialect == "sqlite" else ("least", "greatest")
    if db.dialect == "postgresql":
        db.lock_writers()   # seq in commit order, as SQLite's one writer at a time gives it
    db.conn.executemany(
        "INSERT INTO touched(run_id, keyword_id, region, min_date, max_date, seq) "
        "VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM touched)) "
        "ON CONFLICT(run_id, keyword_id, region) DO UPDATE SET "
        f"min_date = {least}(touched.min_date, excluded.min_date), "
        f"max_date = {greatest}(touched.max_date, excluded.max_date), seq = excluded.seq",
        [(run_id, *p) for p in pairs])


def defer_touched(db: Database) -> None:
    """From now on record_touched collects its notes until flush_touched writes them (inside
    the same transaction, as its last statement)."""
    db.touched_later = []


def flush_touched(db: Database) -> None:
    """Write the notes record_touched collected since defer_touched, then collect again."""
    later, db.touched_later = getattr(db, "touched_later", None), None
    if later:
        merged: dict[tuple[int, int, int], list] = {}
        for run_id, pairs in later:
            for kw, region, lo, hi in pairs:
                key = (run_id, kw, region)
                if key in merged:
                    merged[key] = [min(merged[key][0], lo), max(merged[key][1], hi)]
                else:
                    merged[key] = [lo, hi]
        by_run: dict[int, list] = {}
        for (run_id, kw, region), (lo, hi) in merged.items():
            by_run.setdefault(run_id, []).append((kw, region, lo, hi))
        for run_id, pairs in by_run.items():
            record_touched(db, run_id, pairs)
    if later is not None:
        db.touched_later = []


def sources(db: Database) -> list[str]:
    """Data sources of the runs that wrote observations (e.g. ['emulator'], ['baidu', 'import']).

    Read from runs, not observations: a DISTINCT over tens of millions of rows took seconds.
    """
    return [r[0] for r in db.execute(
        "SELECT DISTINCT source FROM runs WHERE kind IN ('import', 'collect') "
        "AND rows_written > 0 AND source != '' ORDER BY 1")]


def source_label(db: Database) -> str:
    """Where the data comes from, for every output: 'simulated' for the emulator's, else the
    sources by name ('baidu', 'import'), joined with '+' when mixed."""
    return "+".join("simulated" if s_ == "emulator" else s_ for s_ in sources(db))

