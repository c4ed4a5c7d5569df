"""One run at a time per database, across processes: an `flock` on a file next to it.

The kernel releases the lock when its holder dies, so a lock left by a crashed run never blocks
the next; the file names the holder for the message a refused run gives.
"""
from __future__ import annotations

import fcntl
import os
from datetime import datetime
from pathlib import Path

from aicity.vocabulary import SHANGHAI


class LockHeld(RuntimeError):
    """Another run holds the lock."""


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
