"""Opening the database (SQLite or PostgreSQL), creating it, and saying what went wrong with it."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from sqlite_utils import Database

from aicity.db import postgres
from aicity.db.schema import migrations

if TYPE_CHECKING:
    import pandas as pd


DEFAULT_DB = "aicity.db"


class NotInitialised(RuntimeError):
    """The database has no schema yet (run `aicity init`)."""


class DatabaseProblem(RuntimeError):
    """The database file cannot be used (missing folder, not SQLite, damaged)."""


def db_path(path: str | os.PathLike | None = None) -> Path | str:
    """The database, named once for everyone (commands, the nightly job's children, the
    crawl's settings, logs): a file as its absolute path, the path given or else ./aicity.db
    (`aicity --db` and AICITY_DB are the command line's); a postgresql:// URL as given."""
    if postgres.is_url(path):
        return path
    return Path(path or DEFAULT_DB).resolve()


def is_server(path) -> bool:
    """True when `path` names a PostgreSQL database rather than a SQLite file."""
    return postgres.is_url(path)


def shown(path) -> str:
    """The database as it may be printed or logged (a URL's password hidden)."""
    return postgres.without_password(str(db_path(path)))


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class AicityDatabase(Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    sqlite-utils' `atomic()` says BEGIN (deferred): a transaction that reads before it writes
    (every save looks keyword ids up first) then fails at once with "database is locked" when
    another process wrote in between, because SQLite cannot upgrade a stale snapshot and does
    not wait for it. BEGIN IMMEDIATE waits for the lock under the busy timeout instead.
    """

    dialect = "sqlite"
    _atomic_depth = 0

    @contextlib.contextmanager
    def atomic(self):
        if self._atomic_depth:   # nested: a savepoint, as sqlite-utils does
            self._atomic_depth += 1
            try:
                with super().atomic():
                    yield self
            finally:
                self._atomic_depth -= 1
            return
        if self.conn.in_transaction:
            # A statement run outside atomic() left the transaction Python's sqlite3 opened for
            # it: that statement is done, so commit it. Taken as a savepoint instead, this block
            # would be committed by nobody, and close() would roll it back without a word.
            self.conn.commit()
        self._begin_immediate()
        self._atomic_depth = 1
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise
        finally:
            self._atomic_depth = 0

    # the busy timeout connect() set, in ms (None: SQLite's busy handler is left alone)
    busy_ms: int | None = None

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, waiting for another writer in steps that start at a tenth of a
        millisecond. SQLite's busy handler sleeps 1, 2, 5, 10 … ms between tries, while a
        crawler's transaction holds the lock for about half a millisecond: the demo's two
        crawlers each waited about twice as long as the lock was held. The wait still ends
        with "database is locked" after the busy timeout."""
        if self.busy_ms is None:
            self.conn.execute("BEGIN IMMEDIATE")
            return
        import sqlite3
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            deadline, pause = None, 0.0001
            while True:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as err:
                    if err.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self.busy_ms / 1000
                    if now >= deadline:
                        raise
                time.sleep(min(pause, max(0.0, deadline - now)))
                pause = min(pause * 1.5, 0.005)
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")


# Seconds a writer waits for another writer before giving up. The nightly job, an analyst's
# import and `analyze` may overlap; collect waits longer (see crawler.settings), since giving
# up there means a night's pieces are asked for again.
BUSY_TIMEOUT = 30.0


WAL_CHECKPOINT_PAGES = 10_000


def connect(path: str | os.PathLike | None = None, *, create: bool = False,
            busy_timeout: float = BUSY_TIMEOUT, readonly: bool = False) -> Database:
    """Open the database with the pragmas every writer relies on (a SQLite file), or connect to
    the PostgreSQL server a postgresql:// URL names. `readonly` (the explorer): SQLite opened
    with mode=ro (readers never block the nightly collect's writes in WAL mode), PostgreSQL
    sessions whose transactions are read-only."""
    if readonly:
        return _connect_readonly(path, busy_timeout)
    if postgres.is_url(path):
        try:
            db = postgres.PostgresDatabase(path, connect_timeout=min(busy_timeout, 30.0))
        except postgres.DatabaseUnavailable as err:
            raise DatabaseProblem(str(err)) from None
        if not create and not db.has_schema():
            db.close()
            raise NotInitialised(f"no aicity schema at {shown(path)}; run `aicity init` first")
        db.session_settings.append(f"SET lock_timeout = {int(busy_timeout * 1000)}")
        db.execute(db.session_settings[-1])
        return db
    path = db_path(path)
    if not create and not path.exists():
        raise NotInitialised(f"no database at {path}; run `aicity init` first")
    if create and not path.parent.is_dir():
        raise DatabaseProblem(f"cannot create {path}: folder {path.parent} does not exist")
    import sqlite3
    try:
        # No sqlite-utils plugins: we call none, and finding them scans every installed
        # package's entry points (30-50 ms of every command)
        db = AicityDatabase(path, execute_plugins=False)
        db.execute("PRAGMA schema_version").fetchone()   # reads the header: garbage fails here
    except sqlite3.DatabaseError as err:
        said = storage_problem(err, path)
        if "damaged" in said or said.endswith(f": {err}"):
            said = (f"{path}: not a usable SQLite database ({err}); restore it from a backup "
                    f"or point --db at another file")
        raise DatabaseProblem(said) from None
    db.execute("PRAGMA foreign_keys = ON")
    db.busy_ms = int(busy_timeout * 1000)
    db.execute(f"PRAGMA busy_timeout = {db.busy_ms}")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    # A checkpoint copies the WAL's pages into the file every WAL_CHECKPOINT_PAGES: a crawl's
    # answers land all over the file, and at SQLite's 1,000 (4 MB) a page was copied again and
    # again. At 10,000 storing answers took 12% less CPU, and the demo about 8% less time
    # (medians of eight alternating pairs); 30,000 added little. The WAL grows to about 40 MB
    # before it is copied, and the last connection to close still empties it.
    db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    return db


def _connect_readonly(path, busy_timeout: float) -> Database:
    if postgres.is_url(path):
        db = connect(path, busy_timeout=busy_timeout)
        db.session_settings.append("SET default_transaction_read_only = on")
        db.execute(db.session_settings[-1])
        return db
    import sqlite3
    from urllib.parse import quote
    path = db_path(path)
    if not path.exists():
        raise NotInitialised(f"no database at {path}; run `aicity init` first")
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                               timeout=busy_timeout)
        db = AicityDatabase(conn, execute_plugins=False)
        db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as err:
        raise DatabaseProblem(f"{path}: cannot be read ({err})") from None
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return db


def server_errors() -> tuple[type[BaseException], ...]:
    """PostgreSQL's errors, once psycopg is loaded: a process that never connected to a server
    cannot raise them, and importing psycopg to find out would cost every command 0.15 s."""
    psycopg = sys.modules.get("psycopg")
    return (psycopg.Error,) if psycopg is not None else ()


def write_conflicts() -> tuple[type[BaseException], ...]:
    """What a plain insert raises when another writer inserted the same rows meanwhile (the
    crawler's PostgreSQL batches; see FRESH_SERIES_PG): store again with upserts."""
    psycopg = sys.modules.get("psycopg")
    return (psycopg.errors.UniqueViolation,) if psycopg is not None else ()


def reconnect_if_lost(db: Database) -> bool:
    """True when `db`'s server closed its connection (a PostgreSQL restart) and a new one is
    open now (postgres.RECONNECT_WAITS: about a minute); False when nothing was lost (SQLite,
    or another error). DatabaseProblem, naming the server, when it never came back. What the
    lost connection had not committed is gone: the caller does it again."""
    lost = getattr(db, "connection_lost", None)
    if lost is None or not lost():
        return False
    try:
        db.reconnect()
    except postgres.DatabaseUnavailable as err:
        raise DatabaseProblem(str(err)) from None
    return True


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a failed read or write raises on either engine (and the disk under SQLite)."""
    import sqlite3
    return (sqlite3.Error, OSError, *server_errors())


def storage_problem(err: BaseException, where) -> str:
    """One line saying what a failed read or write of the database at `where` means and what
    to do: a full disk and a read-only file system are not damage (nothing to restore)."""
    import shutil
    import sqlite3
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    name = getattr(err, "sqlite_errorname", "") or ""
    errno_ = getattr(err, "errno", None)
    folder = Path(str(where)).resolve().parent if not is_server(where) else None
    try:
        free = shutil.disk_usage(folder).free if folder else None
    except OSError:
        free = None
    files = open_files_problem(err)
    if files:
        return f"database {shown(where)}: {files}"
    if name.startswith("SQLITE_FULL") or errno_ == 28 or "disk is full" in text or \
            (name.startswith("SQLITE_IOERR") and free is not None and free < (1 << 20)):
        return (f"database {shown(where)}: the disk is full ({free or 0:,} bytes free on "
                f"{folder}); nothing was half-stored: free some space and run again")
    read_only = False
    if folder is not None:
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or \
                not os.access(folder, os.W_OK)
        except OSError:
            pass
    if name.startswith("SQLITE_READONLY") or errno_ == 30 or "readonly" in text or \
            "read-only" in text or (read_only and not name.startswith("SQLITE_CORRUPT")):
        return (f"database {shown(where)}: cannot write: the file or its file system is "
                f"read-only ({text}); give a writable --db or remount read-write")
    if isinstance(err, sqlite3.DatabaseError) and (
            name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text
            or "not a database" in text):
        return (f"database {shown(where)} is damaged ({text}); restore it from a backup "
                f"(`aicity status --check` says what is wrong)")
    return f"database {shown(where)}: {text}"


def open_files_problem(err: BaseException | None = None) -> str:
    """'' unless this process has run out of file descriptors (EMFILE, or SQLite's 'unable to
    open database file' with every descriptor in use): then what to do, in words."""
    import resource
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if getattr(err, "errno", None) != 24:
        if "unable to open database file" not in str(err) and err is not None:
            return ""
        try:
            in_use = len(os.listdir("/proc/self/fd")) - 1     # less listdir's own
        except OSError as listing:
            in_use = limit if listing.errno == 24 else 0       # none left even to look
        # SQLite says only that it could not open a file (its journal, a temporary file);
        # the descriptors may have been given back since: most of them in use is enough
        if not in_use or limit == resource.RLIM_INFINITY or in_use < limit * 3 // 4:
            return ""
    return (f"too many open files (this process may open {limit}: `ulimit -n`); raise the "
            f"limit, or use fewer accounts at once")


def integrity_problem(db: Database) -> str:
    """'' when `PRAGMA quick_check` finds nothing, else its first finding. A damaged file can
    answer some queries and silently miss rows in others; the nightly job checks first.
    (A PostgreSQL server keeps its own pages; there is nothing to check from here.)"""
    if db.dialect != "sqlite":
        return ""
    import sqlite3
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as err:
        return str(err)
    return "" if rows == ["ok"] else "; ".join(rows)


def require_schema(db: Database) -> None:
    if db.dialect == "postgresql":
        if db.schema_version() != postgres.SCHEMA_VERSION:
            raise NotInitialised("the database schema is missing or out of date; run "
                                 "`aicity init`")
        return
    if migrations.pending(db):
        raise NotInitialised("the database schema is missing or out of date; run `aicity init`")


def _upsert(db: Database, table: str, rows: list[dict], pk: tuple[str, ...]) -> int:
    """Insert rows (dicts with the same keys) or update the rows with their keys; returns rows
    written. One statement both engines run (sqlite-utils' upsert_all is SQLite's only)."""
    if not rows:
        return 0
    cols = list(rows[0])
    quoted = [f'"{c}"' for c in cols]
    rest = [f'{q} = excluded.{q}' for c, q in zip(cols, quoted) if c not in pk]
    sql = (f"INSERT INTO {table}({', '.join(quoted)}) VALUES ({', '.join('?' * len(cols))}) "
           f"ON CONFLICT({', '.join(f'{chr(34)}{k}{chr(34)}' for k in pk)}) "
           + (f"DO UPDATE SET {', '.join(rest)}" if rest else "DO NOTHING"))
    before = db.conn.total_changes
    db.conn.executemany(sql, [[r[c] for c in cols] for r in rows])
    return db.conn.total_changes - before


def frame(db: Database, sql: str, params: Sequence = ()) -> pd.DataFrame:
    """A query's rows as a DataFrame, on either engine (pandas reads only sqlite3 connections
    without SQLAlchemy)."""
    import pandas as pd
    cur = db.execute(sql, list(params))
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def size_bytes(db: Database) -> int:
    """What the database takes: the SQLite file's pages, or the PostgreSQL database's size."""
    if db.dialect == "postgresql":
        return int(db.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    return pages * db.execute("PRAGMA page_size").fetchone()[0]

