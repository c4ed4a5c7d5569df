"""The crawl's one writer: a unit of work the crawler's pipeline hands its items to.

The pipeline decides what an item means (which series, which days are confirmed); how it
reaches the database is decided here, and nothing outside db/ knows the engine or a
transaction's flags:

- SQLite: each item is its own transaction (its one writer at a time would wait for a batch);
  the crawler's item is an answer's series (up to five).
- PostgreSQL: a commit (a WAL flush) per series cost more than the series' rows, so several
  items share one transaction (up to `items`, or `seconds` old), sent in pipeline mode (three
  round trips a series were most of a stored row's cost), nested transactions flattened (a
  savepoint is two round trips), the `touched` notes written last (the writers' lock is held
  for that moment, not the whole batch), and plain inserts where nothing is stored yet.
  Another writer that inserted the same days meanwhile makes the commit fail with a unique
  violation: the batch is rolled back and stored again with upserts.
- A server that restarted: the lost batch is stored again once it is back.

What a batch counts (`count`) is reported when it commits: a rolled-back batch stored nothing,
one stored again counts once.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from typing import Callable

from aicity.db.connection import (Database, reconnect_if_lost, storage_errors,
                                  write_conflicts)
from aicity.db.observations import pipelined, stored_changes
from aicity.db.runs import defer_touched, flush_touched, set_run_source

logger = logging.getLogger(__name__)

# items a PostgreSQL transaction holds by default
SERVER_BATCH_ITEMS = 25


class BatchWriter:
    """Store items through `write(item)` (which calls store functions on `db` and `count`),
    batched as the engine wants. `committed(counts)` receives what each committed batch (or
    unbatched item) counted; `refusals` are exceptions a `write` raises before it writes
    anything (the batch goes on without that item)."""

    def __init__(self, db: Database, *, items: int = 0, seconds: float = 2.0,
                 rows_key: str = "rows_written",
                 committed: Callable[[Counter], None] = lambda counts: None,
                 stored_again: Callable[[int], None] = lambda n: None,
                 refusals: tuple[type[BaseException], ...] = ()):
        self.db = db
        server = db.dialect == "postgresql"
        self.items = items or (SERVER_BATCH_ITEMS if server else 1)
        self.seconds = seconds
        self.rows_key = rows_key
        self.committed = committed
        self.stored_again = stored_again
        self.refusals = refusals
        if self.items > 1 and server:
            db.flat_nesting = True      # a batch is one transaction, no savepoints
            db.fresh_inserts = True     # a batch can be stored again (_store_again)
        self._batch: contextlib.ExitStack | None = None
        self._in_batch = 0
        self._since = 0.0
        self._stored_before: int | None = None
        self._pending: list[tuple[object, Callable]] = []   # to store again
        self._counts: Counter = Counter()
        self._source: tuple | None = None
        self._source_before: tuple | None = None

    # --- what the pipeline calls -------------------------------------------------------------
    def store(self, item, write: Callable, size: int = 1):
        """write(item) within the open batch (opened if need be); the batch commits once full
        (`size`: how many of the batch's items this one counts for, an answer's series) or
        old enough. Returns what write returned."""
        self._open()
        if self._batch is None:            # an item a transaction: its own
            return write(item)
        self._pending.append((item, write))
        try:
            out = write(item)
        except self.refusals:
            self._pending.pop()            # refused before anything was written
            raise
        except write_conflicts() as err:
            self._store_again(err)
            return item
        self._in_batch += size
        if self._in_batch >= self.items or time.monotonic() - self._since > self.seconds:
            self.flush()
        return out

    def count(self, key: str, n: int | None = 1) -> None:
        """Count `n` for `key` in what the open batch stored (None: not known yet, a pipelined
        batch's rows, counted as it commits)."""
        if n is None:
            return
        if self._batch is None:
            self.committed(Counter({key: n}))
        else:
            self._counts[key] += n

    def note_source(self, run_id: int | None, source: str) -> None:
        """Rows take their provenance from their run: say where they come from before the first
        row of a source (kept with the batch: rolled back, it is said again)."""
        if run_id is not None and self._source != (run_id, source):
            set_run_source(self.db, run_id, source)
            self._source = (run_id, source)

    def flush(self) -> None:
        """Commit the open batch, if any (stored again should another writer have inserted
        some of its days)."""
        if self._batch is None:
            return
        try:
            self._finish()
        except write_conflicts() as err:
            self._store_again(err)

    def roll_back(self, err: BaseException) -> None:
        """Give up the open batch (its items go back: not covered, asked again)."""
        self.db.touched_later = [] if self.items > 1 else None
        batch, self._batch, self._in_batch = self._batch, None, 0
        self._counts.clear()
        self._pending = []
        if batch is not None:
            self._source = self._source_before       # its record was rolled back too
            try:
                batch.__exit__(type(err), err, err.__traceback__)
            except storage_errors():
                pass                      # the rollback of a broken connection: gone anyway

    def recover(self, err: BaseException) -> bool:
        """After a failed write: roll back; True when the server had restarted and the batch is
        stored again on the new connection; False for a failure waiting cannot mend (a full
        disk, a damaged file). DatabaseProblem when the server never came back; a storage
        error when storing again failed too."""
        items = list(self._pending)
        self.roll_back(err)
        if not reconnect_if_lost(self.db):
            return False
        try:
            if items:
                self._store_items(items)
        except storage_errors() as again:
            self.roll_back(again)
            raise
        return True

    # --- inside ------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.items > 1 and self._batch is None:
            defer_touched(self.db)
            batch = contextlib.ExitStack()
            if hasattr(self.db, "pipelined"):
                batch.enter_context(self.db.pipelined())
            batch.enter_context(self.db.atomic())
            self._batch, self._since = batch, time.monotonic()
            self._stored_before = stored_changes(self.db) if pipelined(self.db) else None
            self._source_before = self._source

    def _finish(self) -> None:
        flush_touched(self.db)
        self._batch.__exit__(None, None, None)   # commits; if that fails, still to roll back
        self._batch, self._in_batch = None, 0
        if self._stored_before is not None:
            self._counts[self.rows_key] += stored_changes(self.db) - self._stored_before
        counts, self._counts = self._counts, Counter()
        self._pending = []
        if counts:
            self.committed(counts)

    def _store_again(self, err: BaseException) -> None:
        """Another writer inserted some of the batch's days while it was open: roll it back and
        store its items again, with upserts (they wait for the other writer, then update)."""
        items = self._pending
        self.roll_back(err)
        logger.info("another writer stored some of the same days: storing %d items again",
                    len(items))
        self.stored_again(len(items))
        self._store_items(items)

    def _store_items(self, items: list) -> None:
        """Store `items` as one batch, with upserts."""
        fresh, self.db.fresh_inserts = self.db.fresh_inserts, False
        try:
            self._open()
            if self._batch is None:          # an item a transaction: each stands alone
                for item, write in items:
                    write(item)
                return
            for item, write in items:
                self._pending.append((item, write))
                write(item)
            self._finish()
        finally:
            self.db.fresh_inserts = fresh
