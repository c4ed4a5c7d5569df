"""The database on PostgreSQL (psycopg 3): the same schema and the same `store` functions.

`store.connect("postgresql://…")` returns a `PostgresDatabase`, which answers the small part
of sqlite-utils' `Database` that db/ uses (`execute`, `conn.execute`/`executemany`/`commit`,
`atomic()`, `query`, `close`), so the statements in db/ are written once. They are written
in the SQL both engines share: `?` parameters (turned into psycopg's `%s` here), upserts with
`ON CONFLICT (key)`, `RETURNING`. Where the two differ (SQLite's scalar min/max against
LEAST/GREATEST, json_each against unnest), `db.dialect` picks the statement.

psycopg is imported only here, so an install without it (the embedded default) never needs it.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
from importlib import resources

# What `schema_version` holds: the SQLite migration whose tables postgresql.sql reproduces.
SCHEMA_VERSION = "m013_ambiguous_terms"
# A database made at an older version: the next version, the views to recreate (their
# definitions are read from postgresql.sql, so each is written once) and the statements to run
# (shared with the SQLite migration of the same name).
UPGRADES = {
    "m010_series_key": ("m011_observations_seek", ("observations", "observations_named"), ()),
    "m011_observations_seek": ("m012_world_2026", (), "WORLD_2026"),
    "m012_world_2026": ("m013_ambiguous_terms", (), "AMBIGUOUS_TERMS"),
}
URL_SCHEMES = ("postgresql://", "postgres://")
# pg_advisory_xact_lock key every writer of observations takes (see store.record_touched)
WRITE_LOCK = 0x61696369   # 'aici'
# pg_try_advisory_lock key of the nightly job (one scheduler at a time, across hosts)
NIGHTLY_LOCK = 0x6e696768  # 'nigh'


def is_url(path) -> bool:
    return isinstance(path, str) and path.startswith(URL_SCHEMES)


def without_password(url: str) -> str:
    """The URL as it may be shown: a password in it becomes '***'."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class _SecondPipelineError(logging.Filter):
    """psycopg warns, when a pipeline closes after an error, that closing it failed too: the
    first error is being raised at that moment (and reported or handled: a batch stored again),
    so the warning only repeats it, with the server's address."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_SecondPipelineError())
logger = logging.getLogger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The PostgreSQL server cannot be reached or refused the login."""


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    # '%' is psycopg's placeholder character: a literal one (LIKE 'k:%') is doubled first.
    return sql.replace("%", "%%").replace("?", "%s")


def _number(data) -> int | float:
    text = bytes(data).decode()
    try:
        return int(text)
    except ValueError:
        return float(text)


class _Connection:
    """The connection db/ code sees as `db.conn`: sqlite3's execute/executemany/commit and
    `total_changes` (rows inserted, updated or deleted so far by this connection)."""

    def __init__(self, raw):
        self.raw = raw
        self._changes = 0
        # In pipeline mode (PostgresDatabase.pipelined) a statement's row count arrives with
        # its result, later: the cursors wait here to be counted.
        self.pipeline = None
        self._uncounted: list = []
        # Rows a run reports as written (its observations), counted apart from the rest
        # (coverage, notes) while `counting_stored` is set: see observations.save_series
        self.counting_stored = False
        self._stored = 0

    @property
    def in_transaction(self) -> bool:
        import psycopg
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def total_changes(self) -> int:
        """Rows inserted, updated or deleted so far; in pipeline mode reading it waits for the
        results sent so far (a round trip): read it once a batch, not once a statement."""
        self.count_sent()
        return self._changes

    @property
    def stored_changes(self) -> int:
        """The part of total_changes made while counting_stored was set."""
        self.count_sent()
        return self._stored

    def count_sent(self) -> None:
        if self._uncounted:
            if self.pipeline is not None:
                self.pipeline.sync()
            uncounted, self._uncounted = self._uncounted, []
            for cur, stored in uncounted:
                self._add_changes(cur, stored)

    def _count(self, cur) -> None:
        if self.pipeline is not None:
            self._uncounted.append((cur, self.counting_stored))
        else:
            self._add_changes(cur, self.counting_stored)

    def _add_changes(self, cur, stored: bool) -> None:
        if cur.rowcount and cur.rowcount > 0 and cur.description is None:
            self._changes += cur.rowcount
            if stored:
                self._stored += cur.rowcount

    def execute(self, sql: str, params=None):
        cur = self.raw.cursor()
        if params:
            cur.execute(_translate(sql), list(params))
        else:
            cur.execute(sql)
        self._count(cur)
        return cur

    def executemany(self, sql: str, rows):
        rows = [list(r) for r in rows]
        cur = self.raw.cursor()
        if rows:
            cur.executemany(_translate(sql), rows)
            self._count(cur)
        return cur

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


# A server that went away (a restart, a fail-over) is waited for: a new connection is tried
# after each of these pauses, about a minute in all; then the caller says which server failed.
RECONNECT_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, connect_timeout: float = 10.0):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise DatabaseUnavailable("a postgresql:// database needs psycopg: "
                                      "pip install 'aicity[scale]'") from None
        self.url = url
        self.connect_timeout = connect_timeout
        self.session_settings: list[str] = []    # SET statements a new connection gets again
        self.conn = self._open()

    def _open(self) -> _Connection:
        import psycopg
        from psycopg.adapt import Loader

        class NumberLoader(Loader):
            # sum() of integers is NUMERIC here; SQLite gives an int, and so does this
            def load(self, data):
                return _number(data)

        try:
            # autocommit: a statement outside atomic() commits at once, as db/ code expects of
            # sqlite3 after its explicit commit(); atomic() opens a real transaction.
            raw = psycopg.connect(self.url, autocommit=True,
                                  connect_timeout=int(self.connect_timeout))
        except psycopg.OperationalError as err:
            unavailable = DatabaseUnavailable(f"{without_password(self.url)}: "
                                              f"{_first_line(err)}")
            unavailable.reason = _first_line(err)
            raise unavailable from None
        raw.adapters.register_loader("numeric", NumberLoader)
        for statement in getattr(self, "session_settings", ()):
            raw.execute(statement)
        return _Connection(raw)

    def connection_lost(self) -> bool:
        """The server closed this connection (a restart) or it broke."""
        return bool(self.conn.raw.closed or self.conn.raw.broken)

    def reconnect(self, waits=RECONNECT_WAITS) -> None:
        """A new connection to the same server once it answers again, tried after each pause
        of `waits`; DatabaseUnavailable, in one line naming the server, when it never does.
        Whatever the lost connection had not committed is gone: the caller does it again."""
        import contextlib
        import time
        with contextlib.suppress(Exception):
            self.conn.close()
        last = None
        for wait in waits:
            time.sleep(wait)
            try:
                self.conn = self._open()
            except DatabaseUnavailable as err:
                last = getattr(err, "reason", str(err))
                continue
            self._atomic_depth = 0
            logger.warning("PostgreSQL %s is back; carrying on", without_password(self.url))
            return
        raise DatabaseUnavailable(f"PostgreSQL {without_password(self.url)} did not come back "
                                  f"within {sum(waits):.0f} s ({last})")

    def execute(self, sql: str, params=None):
        import psycopg
        try:
            return self.conn.execute(sql, params)
        except psycopg.OperationalError:
            # outside a transaction a statement stands alone: done again on a new connection
            # once the server is back (a restart cost the run; the budget and accounts'
            # bookkeeping came back as 'free space or fix the database')
            if self._atomic_depth or self.conn.pipeline is not None \
                    or not self.connection_lost():
                raise
        logger.warning("PostgreSQL %s went away; waiting for it", without_password(self.url))
        self.reconnect()
        return self.conn.execute(sql, params)

    def query(self, sql: str, params=None):
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    # True while a caller holds one transaction for many writes (the crawler's batches): a
    # nested atomic() is then part of it, not a savepoint (two round trips each, a third of a
    # stored series' cost); an error rolls the whole transaction back, and the caller says so
    flat_nesting = False
    _atomic_depth = 0
    # True while the crawler's batches may insert a range nothing is stored in without an
    # upsert (observations.save_series); they store the batch again with upserts if another writer
    # inserted the same days meanwhile (a unique violation)
    fresh_inserts = False

    @contextlib.contextmanager
    def atomic(self):
        if self.flat_nesting and self._atomic_depth:
            yield self
            return
        self._atomic_depth += 1
        try:
            with self.conn.raw.transaction():
                yield self
        finally:
            self._atomic_depth -= 1

    @contextlib.contextmanager
    def pipelined(self):
        """Send statements without waiting for each answer (psycopg's pipeline mode): a batch
        of writes costs one round trip, not one a statement. A statement whose rows are read
        (fetchone) still waits for its answer; an error surfaces at the next wait at the
        latest, and rolls back the transaction it belongs to."""
        with self.conn.raw.pipeline() as pipeline:
            self.conn.pipeline = pipeline
            try:
                yield self
                self.conn.count_sent()      # while the results can still be read
            finally:
                self.conn.pipeline = None
                self.conn._uncounted = []   # after an error: rolled back, nothing to count

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()

    # --- schema ----------------------------------------------------------------------------
    def has_schema(self) -> bool:
        return self.execute("SELECT to_regclass('schema_version')").fetchone()[0] is not None

    def schema_version(self) -> str | None:
        if not self.has_schema():
            return None
        row = self.execute("SELECT version FROM schema_version").fetchone()
        return row[0] if row else None

    def create_schema(self) -> list[str]:
        """Create every table and view (an empty database), or bring an existing schema up to
        SCHEMA_VERSION."""
        ddl = resources.files("aicity.db").joinpath("postgresql.sql").read_text("utf-8")
        if self.has_schema():
            return self._upgrade(ddl)
        with self.atomic():
            self.conn.raw.execute(ddl)
            self.execute("INSERT INTO schema_version(version) VALUES (?)", [SCHEMA_VERSION])
        return [f"postgresql schema {SCHEMA_VERSION}"]

    def _upgrade(self, ddl: str) -> list[str]:
        views = {name: sql for sql, name in re.findall(r"^(CREATE VIEW (\w+) AS\b.*?;)$", ddl,
                                                        re.S | re.M)}
        applied, version = [], self.schema_version()
        from aicity.db import schema
        while version in UPGRADES:
            version, names, statements = UPGRADES[version]
            with self.atomic():
                for name in reversed(names):      # dependants first
                    self.conn.raw.execute(f"DROP VIEW {name}")
                for name in names:
                    self.conn.raw.execute(views[name])
                if statements:
                    for statement in getattr(schema, statements):
                        self.conn.raw.execute(statement)
                    schema.refresh_populations(self)
                self.execute("UPDATE schema_version SET version = ?", [version])
            applied.append(f"postgresql {version}")
        return applied

    # --- locks -----------------------------------------------------------------------------
    def try_lock(self, key: int) -> bool:
        """Take a lock held as long as this connection lives (a killed holder frees it)."""
        return bool(self.execute("SELECT pg_try_advisory_lock(?)", [key]).fetchone()[0])

    def unlock(self, key: int) -> None:
        self.execute("SELECT pg_advisory_unlock(?)", [key])

    def lock_writers(self) -> None:
        """Inside a transaction: wait for every other writer of observations to commit first,
        so `touched.seq` follows commit order (analysis takes everything up to a seq)."""
        self.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK])
