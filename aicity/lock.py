"""One run at a time per database, across processes: an `flock` on a file next to a SQLite
database, a PostgreSQL advisory lock for a database on a server (so across hosts).

The kernel (or the server, when the holder's connection drops) releases the lock when its
holder dies, so a lock left by a crashed run never blocks the next; a note names the holder
for the message a refused run gives.
"""
from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path

from aicity.vocabulary import SHANGHAI


class LockHeld(RuntimeError):
    """Another run holds the lock."""


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
            self.fh.seek(0)
            holder = self.fh.read().strip() or "unknown"
            self.fh.close()
            raise LockHeld(f"another run holds the lock {self.path} ({holder})") from None
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

    def __exit__(self, *exc):
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.flush()
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()
