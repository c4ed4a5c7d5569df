"""One run at a time per database, across processes: an `flock` on a file next to a SQLite
database, a PostgreSQL advisory lock for a database on a server (so across hosts).

The kernel (or the server, when the holder's connection drops) releases the lock when its
holder dies, so a lock left by a crashed run never blocks the next; a note names the holder
for the message a refused run gives.
"""
from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aicity.db.runs import process_alive
from aicity.vocabulary import SHANGHAI


class LockHeld(RuntimeError):
    """Another run holds the lock."""


@dataclass
class LockState:
    """Who holds a database's run lock, as `aicity status` and a refused run say it."""
    held: bool
    note: str = ""                # "pid N since …", as the holder wrote it
    holder_alive: bool = True     # the process named in the note still lives
    orphans: tuple[int, ...] = ()  # other processes keeping the lock when that one is gone

    def describe(self) -> str:
        if not self.held:
            return "free"
        if self.holder_alive or not self.orphans:
            return f"held ({self.note or 'unknown'})"
        pids = ", ".join(map(str, self.orphans))
        return (f"held by pid {pids}, left running by a run that died ({self.note}); it should "
                f"end within seconds, else stop it: kill {pids}")


def _pid_of(note: str) -> int | None:
    found = re.match(r"pid (\d+)", note)
    return int(found.group(1)) if found else None


def _openers(path: Path) -> list[int]:
    """Processes of this host that have `path` open (Linux /proc; those of other users are not
    seen unless we are root)."""
    try:
        target = path.stat()
    except OSError:
        return []
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            for fd in (proc / "fd").iterdir():
                st = fd.stat()
                if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                    found.append(int(proc.name))
                    break
        except OSError:
            continue
    return sorted(found)


def lock_state(db_path) -> LockState:
    """Whether the run lock of `db_path` is held, by whom, and whether its holder still lives
    (a stage child that outlived its job keeps the lock; the note names the job)."""
    from aicity.db import store
    if store.is_server(db_path):
        return DatabaseLock(db_path).state()
    return RunLock(db_path).state()


def run_lock(db_path):
    """The lock for this database: DatabaseLock on a server, RunLock (a file) otherwise."""
    from aicity.db import store
    return DatabaseLock(db_path) if store.is_server(db_path) else RunLock(db_path)


class DatabaseLock:
    """The nightly job's lock in the database itself: a session advisory lock, held by this
    process's connection, with the holder noted in crawl_state."""

    NOTE = "nightly_lock_holder"

    def __init__(self, url: str):
        self.url = url
        self.db = None
        self.took_over = ""

    def __enter__(self):
        import socket

        from aicity.db import postgres, store
        self.db = store.connect(self.url)
        if not self.db.try_lock(postgres.NIGHTLY_LOCK):
            holder = store.crawl_state(self.db, self.NOTE) or "unknown"
            self.db.close()
            raise LockHeld(f"another run holds the nightly lock in {store.shown(self.url)} "
                           f"({holder})")
        self.took_over = store.crawl_state(self.db, self.NOTE)
        since = datetime.now(SHANGHAI).isoformat(timespec="seconds")
        store.set_crawl_state(self.db, self.NOTE,
                              f"pid {os.getpid()} on {socket.gethostname()} since {since}")
        return self

    def state(self) -> LockState:
        from aicity.db import postgres, store
        db = store.connect(self.url)
        try:
            if db.try_lock(postgres.NIGHTLY_LOCK):
                db.unlock(postgres.NIGHTLY_LOCK)
                return LockState(False)
            # the server releases the lock with its holder's connection: a holder is alive
            return LockState(True, store.crawl_state(db, self.NOTE) or "")
        finally:
            db.close()

    def __exit__(self, *exc):
        from aicity.db import postgres, store
        store.set_crawl_state(self.db, self.NOTE, None)
        self.db.unlock(postgres.NIGHTLY_LOCK)
        self.db.close()


class RunLock:
    """An exclusive, crash-proof lock shared by every process using one database."""

    def __init__(self, db_path):
        self.path = Path(str(db_path) + ".lock")
        self.fh = None
        self.took_over = ""

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise LockHeld(f"another run holds the lock {self.path}: "
                           f"{self.state().describe()}") from None
        self.fh.seek(0)
        previous = self.fh.read().strip()
        if previous:
            # We got the lock although the file names a holder: that run died without cleaning up.
            self.took_over = previous
        self.fh.seek(0)
        self.fh.truncate()
        since = datetime.now(SHANGHAI).isoformat(timespec="seconds")
        self.fh.write(f"pid {os.getpid()} since {since}")
        self.fh.flush()
        return self

    def state(self) -> LockState:
        try:
            fh = open(self.path, encoding="utf-8")
        except FileNotFoundError:
            return LockState(False)
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                note = fh.read().strip()
            else:
                fcntl.flock(fh, fcntl.LOCK_UN)
                return LockState(False)
        pid = _pid_of(note)
        if pid is None or process_alive(pid):
            return LockState(True, note)
        return LockState(True, note, False, tuple(p for p in _openers(self.path)
                                                  if p != os.getpid()))

    def __exit__(self, *exc):
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.flush()
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()
