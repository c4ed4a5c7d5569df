"""Typed access to the aicity database. Other packages read and write only through here."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from sqlite_utils import Database

from aicity.db import postgres
from aicity.db.regions import COLUMNS as REGION_COLUMNS
from aicity.db.regions import Region, RegionRegistry, default_registry, read_registry
from aicity.db.schema import migrate, migrations
from aicity.vocabulary import BLANK_ANSWER, DEVICES

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_DB = "aicity.db"
GRANULARITIES = ("day", "week")


class NotInitialised(RuntimeError):
    """The database has no schema yet (run `aicity init`)."""


class DatabaseProblem(RuntimeError):
    """The database file cannot be used (missing folder, not SQLite, damaged)."""


class UnknownKeyword(LookupError):
    """A keyword the database has never seen (neither a taxonomy term, alias nor imported)."""


def db_path(path: str | os.PathLike | None = None) -> Path | str:
    """The database file: the path given, else ./aicity.db (`aicity --db` and AICITY_DB are the
    command line's); a postgresql:// URL stays the text it is."""
    if postgres.is_url(path):
        return path
    return Path(path or DEFAULT_DB)


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
        self.conn.execute("BEGIN IMMEDIATE")
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


# Seconds a writer waits for another writer before giving up. The nightly job, an analyst's
# import and `analyze` may overlap; collect waits longer (see crawler.settings), since giving
# up there means a night's pieces are asked for again.
BUSY_TIMEOUT = 30.0


def connect(path: str | os.PathLike | None = None, *, create: bool = False,
            busy_timeout: float = BUSY_TIMEOUT) -> Database:
    """Open the database with the pragmas every writer relies on (a SQLite file), or connect to
    the PostgreSQL server a postgresql:// URL names."""
    if postgres.is_url(path):
        try:
            db = postgres.PostgresDatabase(path, connect_timeout=min(busy_timeout, 30.0))
        except postgres.DatabaseUnavailable as err:
            raise DatabaseProblem(str(err)) from None
        if not create and not db.has_schema():
            db.close()
            raise NotInitialised(f"no aicity schema at {shown(path)}; run `aicity init` first")
        db.execute(f"SET lock_timeout = {int(busy_timeout * 1000)}")
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
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
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


def init_db(path: str | os.PathLike | None = None, registry: RegionRegistry | None = None,
            taxonomy=None) -> dict:
    """Create or migrate the database and load the region registry and keyword taxonomy."""
    db = connect(path, create=True)
    try:
        applied = db.create_schema() if db.dialect == "postgresql" else migrate(db)
        if db.dialect == "postgresql" and db.schema_version() != postgres.SCHEMA_VERSION:
            raise NotInitialised(f"the PostgreSQL schema is at version {db.schema_version()}, "
                                 f"which this aicity cannot bring to {postgres.SCHEMA_VERSION}")
        registry = registry or default_registry()
        with db.atomic():
            load_regions(db, registry)
            n_terms = 0
            if taxonomy is not None:
                n_terms = load_taxonomy(db, taxonomy)
        return {"db": shown(path), "migrations": applied, "regions": len(registry),
                "keywords": n_terms}
    finally:
        db.close()


# --- regions ---------------------------------------------------------------------------------

def load_regions(db: Database, registry: RegionRegistry) -> int:
    rows = []
    for r in registry:
        row = r.as_row()
        row["legacy"] = int(r.legacy)
        rows.append(row)
    _upsert(db, "regions", rows, ("code",))
    return len(rows)


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


def registry(db: Database) -> RegionRegistry:
    """The registry as stored in this database (what imports and queries resolve against)."""
    rows = list(db.query("SELECT * FROM regions ORDER BY code"))   # code is SQLite's rowid
    if not rows:
        raise NotInitialised("the database has no regions; run `aicity init`")
    return RegionRegistry(Region(
        code=r["code"], name=r["name"], level=r["level"], province=r["province"], lon=r["lon"],
        lat=r["lat"], qinling_huaihe=r["qinling_huaihe"], yangtze=r["yangtze"],
        cluster=r["cluster"], tier_2017=r["tier_2017"], adcode=r["adcode"],
        population=r["population"], legacy=bool(r["legacy"]), note=r["note"],
        name_en=r.get("name_en") or "", population_year=r.get("population_year"),
        population_source=r.get("population_source") or "") for r in rows)


def region_rows(reg: RegionRegistry, level: str | None = None, province: str | None = None,
                include_legacy: bool = False) -> tuple[list[str], list[tuple]]:
    """The registry's columns and one row of plain values a region (legacy as 0/1)."""
    columns = list(REGION_COLUMNS)
    rows = []
    for r in reg.filter(level=level, province=province, include_legacy=include_legacy):
        row = r.as_row()
        row["legacy"] = int(row["legacy"])
        rows.append(tuple(row[c] for c in columns))
    return columns, rows


def regions_frame(reg: RegionRegistry, level: str | None = None, province: str | None = None,
                  include_legacy: bool = False) -> pd.DataFrame:
    import pandas as pd
    columns, rows = region_rows(reg, level, province, include_legacy)
    frame = pd.DataFrame(rows, columns=columns)
    frame["population"] = frame["population"].astype("Int64")
    frame["population_year"] = frame["population_year"].astype("Int64")
    frame["legacy"] = frame["legacy"].astype(int)
    return frame


# --- keywords --------------------------------------------------------------------------------

def keyword_ids(db: Database, terms: Iterable[str], create: bool = True) -> dict[str, int]:
    """Ids for terms, adding terms outside the taxonomy when create is true. A term's id never
    changes, so a connection remembers those it has looked up (one query less a series)."""
    terms = list(dict.fromkeys(terms))
    known = db.__dict__.setdefault("_keyword_ids", {})
    if all(t in known for t in terms):
        return {t: known[t] for t in terms}
    found = _keyword_ids(db, terms, create)
    known.update(found)
    return found


def _keyword_ids(db: Database, terms: list[str], create: bool) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(terms), 500):
        part = terms[i:i + 500]
        marks = ",".join("?" * len(part))
        found.update((r[0], r[1]) for r in db.execute(
            f"SELECT term, id FROM keywords WHERE term IN ({marks})", part))
    missing = [t for t in terms if t not in found]
    if missing and create:
        # two crawlers meeting a new term at once: the second finds it made
        db.conn.executemany("INSERT INTO keywords(term) VALUES (?) ON CONFLICT(term) DO NOTHING",
                            [(t,) for t in missing])
        found.update(_keyword_ids(db, missing, create=False))
    return found


def keyword_aliases(db: Database) -> dict[str, str]:
    """Taxonomy aliases and the terms they stand for (人工智慧 → 人工智能)."""
    return dict(db.execute("SELECT a.alias, k.term FROM keyword_aliases a JOIN keywords k "
                           "ON k.id = a.keyword_id").fetchall())


def resolve_keyword(db: Database, text: str) -> tuple[int, str]:
    """A keyword id for a term or alias, as stored; KeyError if the database has never seen it."""
    row = db.execute("SELECT id, term FROM keywords WHERE term = ?", [text]).fetchone()
    if row is None:
        row = db.execute("SELECT k.id, k.term FROM keyword_aliases a JOIN keywords k "
                         "ON k.id = a.keyword_id WHERE a.alias = ?", [text]).fetchone()
    if row is None:
        raise UnknownKeyword(f"unknown keyword {text!r}")
    return row[0], row[1]


def load_taxonomy(db: Database, taxonomy) -> int:
    """Replace the stored taxonomy by `taxonomy` (a keywords.taxonomy.Taxonomy).

    Terms that left the taxonomy keep their id and observations; they are only unmarked.
    """
    terms = [t.term for t in taxonomy.terms]
    ids = keyword_ids(db, terms)
    db.execute("UPDATE keywords SET in_taxonomy = 0")
    db.execute("DELETE FROM keyword_groups")
    db.execute("DELETE FROM keyword_aliases")
    db.conn.executemany("UPDATE keywords SET in_taxonomy = 1, note = ?, since = ?, added = ? "
                        "WHERE id = ?",
                        [(t.note, t.since.isoformat() if t.since else None, t.added,
                          ids[t.term]) for t in taxonomy.terms])
    db.conn.executemany(
        "INSERT INTO keyword_groups(keyword_id, category, group_name) VALUES (?, ?, ?) "
        "ON CONFLICT(keyword_id, category) DO NOTHING",
        [(ids[t.term], t.category, t.group) for t in taxonomy.terms])
    db.conn.executemany(
        "INSERT INTO keyword_aliases(alias, keyword_id) VALUES (?, ?) "
        "ON CONFLICT(alias) DO NOTHING",
        [(a, ids[t.term]) for t in taxonomy.terms for a in t.aliases])
    return len(set(terms))


def first_dates(db: Database, terms: Sequence[str] | None = None) -> dict[str, date]:
    """term -> the day it came into being, for taxonomy terms that have one."""
    rows = db.execute("SELECT term, since FROM keywords WHERE since IS NOT NULL").fetchall()
    wanted = None if terms is None else set(terms)
    return {t: date.fromisoformat(s_) for t, s_ in rows if wanted is None or t in wanted}


def keyword_groups_frame(db: Database) -> pd.DataFrame:
    """term, category, group for every taxonomy membership."""
    import pandas as pd
    return pd.DataFrame(
        db.execute("SELECT k.term, g.category, g.group_name FROM keyword_groups g "
                   "JOIN keywords k ON k.id = g.keyword_id "
                   "ORDER BY g.category, g.group_name, k.term").fetchall(),
        columns=["term", "category", "group"])


# --- runs ------------------------------------------------------------------------------------

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


def taxonomy_terms(db: Database) -> list[str]:
    """The taxonomy's keywords in the order they were loaded."""
    return [r[0] for r in db.execute("SELECT term FROM keywords WHERE in_taxonomy = 1 "
                                     "ORDER BY id")]


def set_run_source(db: Database, run_id: int, source: str) -> None:
    with db.atomic():
        db.execute("UPDATE runs SET source = ? WHERE id = ?", [source, run_id])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's process: alive
        return True
    return True


def close_abandoned_runs(db: Database) -> list[int]:
    """Mark 'running' runs of this host whose process is gone as failed ('interrupted').

    A run killed with SIGKILL (or by a power cut) cannot record its own end; without this it
    would stay 'running' for ever. Runs from other hosts, and runs whose process lives, are
    left alone; runs recorded before pids were kept count as gone.
    """
    host = socket.gethostname()
    dead = []
    for run_id, detail in db.execute("SELECT id, detail FROM runs WHERE status = 'running'"
                                     ).fetchall():
        try:
            info = json.loads(detail or "{}")
        except ValueError:
            info = {}
        if info.get("host", host) != host:
            continue
        pid = info.get("pid")
        if pid is None or not _alive(int(pid)):
            dead.append(run_id)
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
    where, args = ("WHERE kind = ?", [kind]) if kind else ("", [])
    return frame(db, f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", [*args, limit])


# --- observations ----------------------------------------------------------------------------

# A series (keyword, region, device, weekly) is one integer in `obs` (m010), in the order of
# the five columns it stands for; regions are Baidu's codes (below 1024), devices DEVICES' index.
SERIES_SQL = "(((({k}) * 1024 + ({r})) * 4 + ({d})) * 2 + ({w}))"
REGION_LIMIT = 1024
# A region code outside 0..1023 would name another series: it makes the key NULL, and SQLite
# refuses the row (NOT NULL) instead.
UPSERT_OBS = f"""
INSERT INTO obs(series, day, value, run_id)
VALUES (CASE WHEN ?2 BETWEEN 0 AND {REGION_LIMIT - 1} AND ?3 BETWEEN 0 AND 3
             THEN {SERIES_SQL.format(k="?1", r="?2", d="?3", w="?4")} END, ?5, ?6, ?7)
ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
WHERE obs.value IS NOT excluded.value
"""
# One statement a series: SQLite expands the JSON array itself (json_each), a third of the cost
# of binding seven parameters a row from Python, which bounded the backfill crawl. The values
# are whole numbers or null (missing); `WHERE true` lets an upsert follow a SELECT.
UPSERT_SERIES = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?1, ?2 + ?3 * key, value, ?4 FROM json_each(?5) WHERE true
ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
WHERE obs.value IS NOT excluded.value
"""
# On PostgreSQL the key is made in Python (series_id refuses a region outside 0..1023).
UPSERT_OBS_PG = """
INSERT INTO obs(series, day, value, run_id) VALUES (?, ?, ?, ?)
ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
WHERE obs.value IS DISTINCT FROM excluded.value
"""
# The same on PostgreSQL: the values as one array parameter, numbered by unnest.
UPSERT_SERIES_PG = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?, ? + ? * (t.i - 1), t.value, ? FROM unnest(?::bigint[]) WITH ORDINALITY AS t(value, i)
ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
WHERE obs.value IS DISTINCT FROM excluded.value
"""

# Most series the crawler stores fill days never stored (a backfill; a night adds a few days
# to each): PostgreSQL inserts those plainly at about half an upsert's cost (whose speculative
# insertion checks each row as it goes). The first statement inserts the series if nothing of
# it is stored in its range, and notes in the transaction whether it did; the second, only if
# it did not, upserts. Another writer inserting the same days meanwhile makes the plain insert
# fail with a unique violation: the crawler then stores its batch again with upserts alone
# (fresh_inserts off).
FRESH_SERIES_PG = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?, ?::int + ?::int * (t.i::int - 1), t.value, ?
FROM unnest(?::bigint[]) WITH ORDINALITY AS t(value, i)
WHERE (SELECT set_config('aicity.fresh', (NOT EXISTS (
    SELECT 1 FROM obs WHERE series = ? AND day BETWEEN ? AND ?))::text, true))::boolean
"""
UPSERT_UNLESS_FRESH_PG = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?, ? + ? * (t.i - 1), t.value, ? FROM unnest(?::bigint[]) WITH ORDINALITY AS t(value, i)
WHERE current_setting('aicity.fresh') = 'false'
ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id
WHERE obs.value IS DISTINCT FROM excluded.value
"""


def _pg_array(values: Sequence[int | None]) -> str:
    """PostgreSQL's text form of an array of whole numbers and nulls, made by the json module
    (psycopg's own list dumper looks at every element in Python: a third of what a stored
    series cost on PostgreSQL)."""
    return "{" + json.dumps(list(values), separators=(",", ":"))[1:-1] + "}"


def series_id(keyword_id: int, region: int, device: int, weekly: int) -> int:
    """The integer `obs` keys a series by (see SERIES_SQL)."""
    if not 0 <= region < REGION_LIMIT:
        raise ValueError(f"region code {region} does not fit the observation key (0..1023)")
    return (((keyword_id * REGION_LIMIT + region) * 4 + device) * 2) + weekly


def keyword_series_range(keyword_id: int) -> tuple[int, int]:
    """The first and last series ids of a keyword (every region, device and granularity)."""
    return series_id(keyword_id, 0, 0, 0), series_id(keyword_id + 1, 0, 0, 0) - 1


DEVICE_CODE = {d: i for i, d in enumerate(DEVICES)}
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# Both are cached: a few thousand distinct days are asked millions of times (analysis, saves).
@functools.lru_cache(maxsize=None)
def day_number(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date (how `obs` stores dates)."""
    return date.fromisoformat(iso).toordinal() - EPOCH_ORDINAL


@functools.lru_cache(maxsize=None)
def iso_day(day: int) -> str:
    return date.fromordinal(int(day) + EPOCH_ORDINAL).isoformat()


def upsert_obs(db: Database, rows: Iterable[Sequence]) -> int:
    """Insert or update (keyword_id, region, device code, weekly 0/1, day number, value, run_id)
    rows; returns rows changed. A row whose value is already stored is left alone, so
    re-importing or re-crawling the same data changes nothing."""
    before = db.conn.total_changes
    if db.dialect == "postgresql":
        db.conn.executemany(UPSERT_OBS_PG, ((series_id(kw, region, device, weekly), day, value,
                                             run_id)
                                            for kw, region, device, weekly, day, value, run_id
                                            in rows))
    else:
        db.conn.executemany(UPSERT_OBS, rows)
    return db.conn.total_changes - before


def upsert_observations(db: Database, rows: Iterable[Sequence]) -> int:
    """upsert_obs for rows in the readable form (keyword_id, region, device, granularity,
    ISO date, value, source, fetched_at, run_id); source and fetch time belong to the run."""
    return upsert_obs(db, ((kw, region, DEVICE_CODE[device], int(gran == "week"),
                            day_number(day), value, run_id)
                           for kw, region, device, gran, day, value, _s, _f, run_id in rows))


def coverage_frame(db: Database, keyword_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Fetched ranges: keyword_id, region, start, end, granularity."""
    sql = 'SELECT keyword_id, region, start, "end", granularity FROM coverage'
    args: list = []
    if keyword_ids is not None:
        sql += f" WHERE keyword_id IN ({','.join('?' * len(keyword_ids))})"
        args = list(keyword_ids)
    return frame(db, sql, args)


def save_series(db: Database, keyword: str, region: int, start: str, end: str | None,
                granularity: str, values_by_device: dict[str, Sequence[int | None]],
                source: str, run_id: int | None,
                unconfirmed: Sequence[tuple[str, str, int, str, bool]] = (),
                values_from: str | None = None) -> int | None:
    """Store one fetched piece of one keyword (all devices) and mark start..end covered, in one
    transaction: after a crash a range is either fully stored and covered, or neither.

    `values_by_device`: each device's values, day by day (week by week when weekly) from
    `values_from` (default `start`; a calendar week's Monday may fall before it). `end` None
    covers nothing (the whole answer was unconfirmed). `unconfirmed` holds
    (date, reason, tries, first_seen, accepted) for the empty days at the end of the answer:
    those still waiting are recorded; an accepted one (below the floor) is a stored empty
    value like any other, and days that now have a value or were accepted lose an earlier
    mark. Returns the rows written; None while pipelined (a PostgreSQL batch counts them
    as it commits: stored_changes).
    """
    fetched_at = now_iso()
    first = day_number(values_from or start)
    step = 7 if granularity == "week" else 1
    counted = not pipelined(db)
    with db.atomic():
        kw_id = keyword_ids(db, [keyword])[keyword]
        weekly = int(granularity == "week")
        before = db.conn.total_changes if counted else 0
        with _counting_stored(db):
            for device, values in values_by_device.items():
                key = series_id(kw_id, region, DEVICE_CODE[device], weekly)
                if db.dialect == "postgresql" and db.fresh_inserts and values:
                    # (no values would leave aicity.fresh unset: those take the upsert below)
                    array = _pg_array(values)
                    db.conn.execute(FRESH_SERIES_PG, (key, first, step, run_id, array, key,
                                                      first, first + step * (len(values) - 1)))
                    db.conn.execute(UPSERT_UNLESS_FRESH_PG, (key, first, step, run_id, array))
                elif db.dialect == "postgresql":
                    db.conn.execute(UPSERT_SERIES_PG, (key, first, step, run_id,
                                                       _pg_array(values)))
                else:
                    db.conn.execute(UPSERT_SERIES, (key, first, step, run_id, json.dumps(values)))
        written = db.conn.total_changes - before if counted else None
        n = max((len(v) for v in values_by_device.values()), default=0)
        if n:
            last = iso_day(first + step * (n - 1))
            _settle_waiting_days(db, kw_id, region, first, step, last, values_by_device,
                                 [day for day, *_, accepted in unconfirmed if accepted])
            if run_id is not None:
                record_touched(db, run_id, [(kw_id, region, iso_day(first), last)])
        pending = [u for u in unconfirmed if not u[4]]
        if pending:
            db.conn.executemany(
                "INSERT INTO unconfirmed(keyword_id, region, date, granularity, reason, tries, "
                "first_seen, last_seen, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(keyword_id, region, date) DO UPDATE SET "
                "tries = excluded.tries, "   # the first reason stays
                "last_seen = excluded.last_seen, accepted_at = excluded.accepted_at",
                [(kw_id, region, day, granularity, reason, tries, first_seen, fetched_at, None)
                 for day, reason, tries, first_seen, _ in pending])
        if end is not None:
            db.execute('INSERT INTO coverage(keyword_id, region, start, "end", granularity, '
                       'source, run_id) VALUES (?, ?, ?, ?, ?, ?, ?) '
                       'ON CONFLICT(keyword_id, region, start, "end") DO UPDATE SET '
                       "granularity = excluded.granularity, source = excluded.source, "
                       "run_id = excluded.run_id",
                       [kw_id, region, start, end, granularity, source, run_id])
    return written


@contextlib.contextmanager
def _counting_stored(db: Database):
    # the statements inside write the rows a run reports as written; a pipelined connection
    # counts them when their answers come (PostgresDatabase.pipelined)
    if not hasattr(db.conn, "counting_stored"):
        yield
        return
    db.conn.counting_stored = True
    try:
        yield
    finally:
        db.conn.counting_stored = False


def stored_changes(db: Database) -> int:
    """Rows of observations written so far through save_series on a PostgreSQL connection
    (what a pipelined batch reports as written once it commits)."""
    return db.conn.stored_changes


def pipelined(db: Database) -> bool:
    """True while statements are sent without waiting for answers (a PostgreSQL batch): row
    counts are then known only when the batch commits."""
    return getattr(db.conn, "pipeline", None) is not None


def _settle_waiting_days(db: Database, kw_id: int, region: int, first: int, step: int,
                         last: str, values_by_device: dict[str, Sequence[int | None]],
                         accepted: list[str]) -> None:
    """A waiting day that now has a value, or is accepted as below the floor, waits no more."""
    def settled() -> list[str]:
        filled = sorted({i for values in values_by_device.values()
                         for i, v in enumerate(values) if v is not None})
        return [iso_day(first + step * i) for i in filled] + accepted

    if db.dialect == "postgresql":
        # one statement that needs no answer: it goes with the rest of a pipelined batch
        db.execute("DELETE FROM unconfirmed WHERE keyword_id = ? AND region = ? AND date "
                   "BETWEEN ? AND ? AND date = ANY(?::text[])",
                   [kw_id, region, iso_day(first), last, "{" + ",".join(settled()) + "}"])
        return
    # Most pieces have no day waiting: on SQLite looking is cheaper than deleting day by day.
    waiting = db.execute("SELECT 1 FROM unconfirmed WHERE keyword_id = ? AND region = ? "
                         "AND date BETWEEN ? AND ? LIMIT 1",
                         [kw_id, region, iso_day(first), last]).fetchone()
    if waiting:
        db.conn.executemany("DELETE FROM unconfirmed WHERE keyword_id = ? AND region = ? "
                            "AND date = ?", [(kw_id, region, d) for d in settled()])


def unconfirmed_state(db: Database, keyword: str, region: int, days: Sequence[str]
                      ) -> dict[str, tuple[int, str, str]]:
    """(tries so far, first seen, reason) of days still waiting to be confirmed, by date."""
    if not days:
        return {}
    ids = keyword_ids(db, [keyword], create=False)
    if keyword not in ids:
        return {}
    return {r[0]: (r[1], r[2], r[3]) for r in db.execute(
        "SELECT date, tries, first_seen, reason FROM unconfirmed WHERE keyword_id = ? "
        "AND region = ? "
        "AND date BETWEEN ? AND ? AND accepted_at IS NULL",
        [ids[keyword], region, min(days), max(days)])}


def waiting_days(db: Database, keyword_ids: Sequence[int], resting_since: str | None = None
                 ) -> list[tuple[str, int, str, int]]:
    """(term, region, date, days it stands for) of empty days still waiting to be confirmed;
    with `resting_since`, only the days of blank answers last seen since then (a whole-series
    blank is asked once a night: those rest until the next)."""
    if not keyword_ids:
        return []
    marks = ",".join("?" * len(keyword_ids))
    rest = " AND u.reason = ? AND u.last_seen >= ?" if resting_since else ""
    return [(r[0], r[1], r[2], 7 if r[3] == "week" else 1) for r in db.execute(
        f"SELECT k.term, u.region, u.date, u.granularity FROM unconfirmed u JOIN keywords k "
        f"ON k.id = u.keyword_id WHERE u.accepted_at IS NULL AND u.keyword_id IN ({marks})"
        f"{rest}", [*keyword_ids, *((BLANK_ANSWER, resting_since) if rest else ())])]


def blank_series(db: Database, terms: Sequence[str]) -> set[tuple[str, int]]:
    """(term, region) of series with a blank answer still waiting for a later night."""
    ids = keyword_ids(db, terms, create=False)
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    return {(r[0], r[1]) for r in db.execute(
        f"SELECT DISTINCT k.term, u.region FROM unconfirmed u JOIN keywords k ON k.id = "
        f"u.keyword_id WHERE u.accepted_at IS NULL AND u.reason = ? AND u.keyword_id IN "
        f"({marks})", [BLANK_ANSWER, *ids.values()])}


def below_floor_before(db: Database, asks: Sequence[tuple[str, int, str]]
                       ) -> set[tuple[str, int]]:
    """Of (term, region, first day asked), those whose stored day just before that is empty:
    asked before and below Baidu's floor (the daily `all` series)."""
    ids = keyword_ids(db, sorted({t for t, _, _ in asks}), create=False)
    out = set()
    for term, region, day in asks:
        if term not in ids or not 0 <= region < REGION_LIMIT:
            continue
        row = db.execute("SELECT value IS NULL FROM obs WHERE series = ? AND day = ?",
                         [series_id(ids[term], region, 0, 0), day_number(day) - 1]).fetchone()
        if row and row[0]:
            out.add((term, region))
    return out


def unconfirmed_frame(db: Database, accepted: bool | None = None) -> pd.DataFrame:
    """Days answered empty: keyword, region, date, reason, tries, first_seen, last_seen,
    accepted_at (None while they may still be filled)."""
    where = "" if accepted is None else \
        (" WHERE u.accepted_at IS NOT NULL" if accepted else " WHERE u.accepted_at IS NULL")
    return frame(
        db, "SELECT k.term AS keyword, u.region, u.date, u.granularity, u.reason, u.tries, "
        "u.first_seen, u.last_seen, u.accepted_at FROM unconfirmed u JOIN keywords k "
        f"ON k.id = u.keyword_id{where} ORDER BY 1, 2, 3")


# --- the crawl's own state -------------------------------------------------------------------

def crawl_state(db: Database, key: str) -> str:
    """A value the crawl or the nightly job keeps ('' when there is none)."""
    row = db.execute("SELECT value FROM crawl_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else ""


def set_crawl_state(db: Database, key: str, value: str | None) -> None:
    """Keep a value, or forget it (None)."""
    if value is None:
        db.execute("DELETE FROM crawl_state WHERE key = ?", [key])
    else:
        db.execute("INSERT INTO crawl_state(key, value) VALUES (?, ?) ON CONFLICT(key) "
                   "DO UPDATE SET value = excluded.value", [key, value])


def account_states(db: Database, keys: Sequence[str] | None = None) -> dict[str, dict]:
    """What the crawl keeps of each account between runs (block count, rest), by account key
    (a salted hash, never the cookie); every account's when `keys` is None."""
    rows = db.execute("SELECT key, value FROM crawl_state WHERE key LIKE 'account:%'").fetchall()
    states = {k[len("account:"):]: json.loads(v) for k, v in rows}
    return states if keys is None else {k: states[k] for k in keys if k in states}


def save_account_states(db: Database, states: dict[str, dict]) -> None:
    with db.atomic():
        for key, state in states.items():
            set_crawl_state(db, f"account:{key}", json.dumps(state, sort_keys=True))


def crawl_salt(db: Database) -> str:
    """This database's salt for account keys (made once, kept)."""
    row = db.execute("SELECT value FROM crawl_state WHERE key = 'account_salt'").fetchone()
    if row:
        return row[0]
    salt = secrets.token_hex(16)
    with db.atomic():
        db.execute("INSERT INTO crawl_state(key, value) VALUES ('account_salt', ?) "
                   "ON CONFLICT(key) DO NOTHING", [salt])
    return db.execute("SELECT value FROM crawl_state WHERE key = 'account_salt'").fetchone()[0]


def budget_used(db: Database, accounts: Sequence[str], day: str) -> dict[str, int]:
    """Requests each account key already sent on `day` (Asia/Shanghai)."""
    if not accounts:
        return {}
    marks = ",".join("?" * len(accounts))
    used = {a: 0 for a in accounts}
    used.update((r[0], r[1]) for r in db.execute(
        f"SELECT account, used FROM account_budget WHERE day = ? AND account IN ({marks})",
        [day, *accounts]))
    return used


def add_budget_used(db: Database, spent: dict[tuple[str, str], int]) -> None:
    """Add requests sent, keyed by (account key, day)."""
    if not spent:
        return
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO account_budget(account, day, used) VALUES (?, ?, ?) "
            "ON CONFLICT(account, day) DO UPDATE SET used = account_budget.used + excluded.used",
            [(a, d, n) for (a, d), n in spent.items() if n])


def _upsert_counted(db: Database, table: str, rows: list[dict], pk: tuple[str, ...]) -> int:
    with db.atomic():
        return _upsert(db, table, rows, pk)


def save_region_distribution(db: Database, rows: list[dict], run_id: int | None) -> int:
    stamp = {"fetched_at": now_iso(), "run_id": run_id}
    return _upsert_counted(db, "region_distribution", [{**r, **stamp} for r in rows],
                           ("keyword", "area", "region", "start", "end"))


def keyword_strata(db: Database, terms: Sequence[str]) -> list[tuple[str, str]]:
    """(term, 'category/group') for the terms' taxonomy memberships, in taxonomy order."""
    wanted = set(terms)
    return [(t, f"{c}/{g or ''}") for t, c, g in db.execute(
        "SELECT k.term, g.category, g.group_name FROM keyword_groups g "
        "JOIN keywords k ON k.id = g.keyword_id ORDER BY g.category, g.group_name, k.id")
        if t in wanted]


def distribution_answered(db: Database, since: str) -> dict[tuple[date, date],
                                                             set[tuple[str, int]]]:
    """Regional-distribution windows ending on or after `since`: (start, end) -> the
    (keyword, province area) pairs answered for it."""
    out: dict[tuple[date, date], set[tuple[str, int]]] = {}
    for kw, area, a, b in db.execute(
            'SELECT DISTINCT keyword, area, start, "end" FROM region_distribution '
            'WHERE "end" >= ? AND area BETWEEN 901 AND 999', [since]):
        out.setdefault((date.fromisoformat(a), date.fromisoformat(b)), set()).add((kw, area))
    return out


def distribution_means(db: Database, start: str, end: str, keyword_ids: Sequence[int]
                       ) -> pd.DataFrame:
    """keyword_id, area, region, value: the regional distribution's period means for the
    window [start, end] as answered by province queries (each names the province itself and
    its cities)."""
    import pandas as pd
    frames = [pd.DataFrame(columns=["keyword_id", "area", "region", "value"])]
    ids = list(keyword_ids)
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        frames.append(frame(
            db, "SELECT k.id AS keyword_id, d.area, d.region, d.value FROM region_distribution d "
            'JOIN keywords k ON k.term = d.keyword WHERE d.start = ? AND d."end" = ? '
            f"AND d.area BETWEEN 901 AND 999 AND k.id IN ({','.join('?' * len(part))})",
            [start, end, *part]))
    return pd.concat(frames, ignore_index=True)


def distribution_windows(db: Database) -> list[tuple[str, str, int]]:
    """(start, end, provinces asked) of each regional-distribution window of province
    queries, newest first."""
    return [tuple(r) for r in db.execute(
        'SELECT start, "end", COUNT(DISTINCT area) FROM region_distribution '
        'WHERE area BETWEEN 901 AND 999 GROUP BY start, "end" ORDER BY "end" DESC, start DESC')]


def save_word_graph(db: Database, rows: list[dict], run_id: int | None) -> int:
    stamp = {"fetched_at": now_iso(), "run_id": run_id}
    keep = ("keyword", "word", "period", "pv", "ratio", "sim", "source")
    return _upsert_counted(db, "word_graph", [{**{k: r[k] for k in keep}, **stamp} for r in rows],
                           ("keyword", "word", "period"))


def unindexed(db: Database, terms: Sequence[str] | None = None) -> set[str]:
    """Keywords Baidu reported as not indexed (among `terms` when given)."""
    found = {r[0] for r in db.execute("SELECT keyword FROM unindexed_keywords")}
    return found if terms is None else found & set(terms)


def unindexed_rows(db: Database) -> list[tuple[str, str, str]]:
    """(keyword, checked_at, source) of every keyword marked as not indexed."""
    return [tuple(r) for r in db.execute(
        "SELECT keyword, checked_at, source FROM unindexed_keywords ORDER BY keyword")]


def clear_unindexed(db: Database, keywords: Sequence[str]) -> int:
    """Forget marks (the next collect asks the site again); how many were there."""
    with db.atomic():
        n = 0
        for k in keywords:
            n += db.execute("DELETE FROM unindexed_keywords WHERE keyword = ?", [k]).rowcount
    return n


def mark_unindexed(db: Database, keywords: Iterable[str], source: str) -> None:
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO unindexed_keywords(keyword, checked_at, source) VALUES (?, ?, ?) "
            "ON CONFLICT(keyword) DO UPDATE SET checked_at = excluded.checked_at",
            [(k, now_iso(), source) for k in keywords])


def word_graph_frame(db: Database) -> pd.DataFrame:
    """Related words as stored: keyword, word, period, pv, ratio, sim, source."""
    return frame(db, "SELECT keyword, word, period, pv, ratio, sim, source FROM word_graph "
                     "ORDER BY keyword, period, word")


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


def anomalies_frame(db: Database, *, region: int | Sequence[int] | None = None,
                    start: str | None = None, end: str | None = None,
                    subjects: Sequence[str] | None = None, limit: int | None = 50
                    ) -> pd.DataFrame:
    """Anomalies with names (view anomalies_named): date, region, region_code, level, kind,
    subject, value, resid; newest first, the largest residual first within a day. `region`
    is one area code or several (a province and its cities, a cluster's cities)."""
    sql = ("SELECT a.date, r.name AS region, a.region AS region_code, r.level, s.kind, "
           "s.name AS subject, a.value, a.resid FROM anomalies a JOIN regions r ON "
           "r.code = a.region LEFT JOIN subject_names s ON s.subject = a.subject WHERE 1 = 1")
    args: list = []
    if isinstance(region, int):
        sql += " AND a.region = ?"
        args.append(region)
    elif region is not None:
        sql += f" AND a.region IN ({','.join('?' * len(region)) or 'NULL'})"
        args += list(region)
    if start:
        sql += " AND a.date >= ?"
        args.append(start)
    if end:
        sql += " AND a.date <= ?"
        args.append(end)
    if subjects is not None:
        sql += f" AND a.subject IN ({','.join('?' * len(subjects))})"
        args += list(subjects)
    sql += " ORDER BY a.date DESC, abs(a.resid) DESC, a.subject, a.region"   # ties: one order
    if limit:
        sql += " LIMIT ?"
        args.append(limit)
    return frame(db, sql, args)


def size_bytes(db: Database) -> int:
    """What the database takes: the SQLite file's pages, or the PostgreSQL database's size."""
    if db.dialect == "postgresql":
        return int(db.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    return pages * db.execute("PRAGMA page_size").fetchone()[0]


def count_observations(db: Database) -> int:
    return db.execute("SELECT count(*) FROM obs").fetchone()[0]


def count_covered(db: Database) -> int:
    """Fetched ranges recorded so far (a crawl's progress, as another process sees it)."""
    return db.execute("SELECT count(*) FROM coverage").fetchone()[0]


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


def series(db: Database, keyword_id: int, region: int, *, device: str = "all",
           granularity: str | None = None, start: str | None = None,
           end: str | None = None) -> pd.DataFrame:
    """One stored series: date, value, state (reported, below floor, waiting); a day never
    asked has no row.

    With granularity None, daily data is preferred and weekly used when there is no daily.
    """
    import pandas as pd
    dev = DEVICE_CODE[device]
    if granularity is None:
        # daily where the range has daily rows; weekly where it has only weekly ones (Baidu
        # answers long ranges weekly)
        daily = series_id(keyword_id, region, dev, 0)
        lo = day_number(start) if start else -(1 << 31)
        hi = day_number(end) if end else 1 << 31
        has = {r[0] for r in db.execute(
            "SELECT series FROM obs WHERE series = ? AND day BETWEEN ? AND ? UNION "
            "SELECT series FROM obs WHERE series = ? AND day BETWEEN ? AND ?",
            [daily, lo, hi, daily + 1, lo - 6, hi])}     # a week is dated by its Monday
        granularity = "day" if daily in has or not has else "week"
    sql = "SELECT day, value FROM obs WHERE series = ?"
    args: list = [series_id(keyword_id, region, dev, int(granularity == "week"))]
    if start:
        sql += " AND day >= ?"
        args.append(day_number(start))
    if end:
        sql += " AND day <= ?"
        args.append(day_number(end))
    rows = db.execute(sql + " ORDER BY day", args).fetchall()
    dates = [iso_day(d) for d, _ in rows]
    waiting = set()
    if any(v is None for _, v in rows):
        waiting = {r[0] for r in db.execute(
            "SELECT date FROM unconfirmed WHERE keyword_id = ? AND region = ? AND "
            "accepted_at IS NULL AND date BETWEEN ? AND ?",
            [keyword_id, region, dates[0], dates[-1]])}
    frame = pd.DataFrame({"date": dates,
                          "value": pd.array([v for _, v in rows], dtype="Int64"),
                          "state": [STATE_REPORTED if v is not None else
                                    STATE_WAITING if d in waiting else STATE_BELOW_FLOOR
                                    for d, (_, v) in zip(dates, rows)]})
    frame["value"] = frame["value"].astype("Int64")
    frame.attrs["granularity"] = granularity
    return frame


# What a stored day is: a value; asked and empty (below Baidu's reporting floor); or empty and
# waiting to be asked again (the site may not have published it). A day not asked has no row.
STATE_REPORTED = "reported"
STATE_BELOW_FLOOR = "below floor"
STATE_WAITING = "waiting"


__all__ = [
    "DEVICES", "GRANULARITIES", "upsert_obs", "day_number", "iso_day", "DEVICE_CODE",
    "NotInitialised", "Run", "UnknownKeyword", "connect", "count_observations", "db_path",
    "finish_run", "open_run", "close_run", "init_db", "keyword_groups_frame", "keyword_ids",
    "load_regions",
    "load_taxonomy", "now_iso", "read_registry", "registry", "regions_frame", "require_schema",
    "resolve_keyword", "runs_frame", "series", "sources", "start_run", "upsert_observations",
    "word_graph_frame", "coverage_frame", "save_series", "save_region_distribution",
    "distribution_answered", "keyword_strata", "distribution_means", "distribution_windows",
    "save_word_graph", "mark_unindexed", "unindexed", "unconfirmed_state", "unconfirmed_frame",
    "waiting_days", "blank_series", "unindexed_rows", "clear_unindexed", "account_states",
    "save_account_states", "crawl_salt",
    "budget_used", "add_budget_used", "close_abandoned_runs",
    "set_run_source", "keyword_aliases", "DatabaseProblem", "integrity_problem",
    "anomalies_frame", "AicityDatabase", "BUSY_TIMEOUT", "run_detail", "last_run_start",
    "taxonomy_terms", "frame", "is_server", "shown", "storage_errors", "size_bytes",
    "crawl_state", "set_crawl_state",
]
