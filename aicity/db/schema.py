"""Database schema, created and migrated in order by sqlite-utils migrations.

Never edit an applied migration: add a new one, so databases created by older versions upgrade.
"""
from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("aicity")


# The columns of `components` (m003 made the table, m009 made it again as a rowid table; the
# same columns, written once).
COMPONENTS_COLUMNS = """
            subject TEXT NOT NULL,
            region INTEGER NOT NULL,
            device TEXT NOT NULL,
            granularity TEXT NOT NULL,
            start TEXT NOT NULL,
            step INTEGER NOT NULL,
            n INTEGER NOT NULL,
            trend BLOB NOT NULL,
            seasonal BLOB NOT NULL,
            resid BLOB NOT NULL,
            yearly BLOB,
            adjusted BLOB NOT NULL,
            note TEXT NOT NULL,
            anomalies INTEGER NOT NULL,
            analyzed_at TEXT NOT NULL,
            PRIMARY KEY (subject, region, device, granularity)
"""


@migrations()
def m001_core(db: Database) -> None:
    db.execute("""
        CREATE TABLE regions (
            code INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('country', 'province', 'city')),
            province TEXT NOT NULL DEFAULT '',
            lon REAL,
            lat REAL,
            qinling_huaihe TEXT NOT NULL DEFAULT '',
            yangtze TEXT NOT NULL DEFAULT '',
            cluster TEXT NOT NULL DEFAULT '',
            tier_2017 TEXT NOT NULL DEFAULT '',
            adcode TEXT NOT NULL DEFAULT '',
            population INTEGER,
            legacy INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT ''
        )""")
    # Keywords are stored once and referred to by id: observations repeat them millions of times.
    db.execute("""
        CREATE TABLE keywords (
            id INTEGER PRIMARY KEY,
            term TEXT NOT NULL UNIQUE,
            in_taxonomy INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT ''
        )""")
    # A term may serve several dimensions, but only one group within a dimension.
    db.execute("""
        CREATE TABLE keyword_groups (
            keyword_id INTEGER NOT NULL REFERENCES keywords(id),
            category TEXT NOT NULL,
            group_name TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (keyword_id, category)
        )""")
    db.execute("""
        CREATE TABLE keyword_aliases (
            alias TEXT PRIMARY KEY,
            keyword_id INTEGER NOT NULL REFERENCES keywords(id)
        )""")
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'partial')),
            source TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL,
            finished_at TEXT,
            rows_written INTEGER NOT NULL DEFAULT 0,
            detail TEXT NOT NULL DEFAULT '{}',
            error TEXT NOT NULL DEFAULT ''
        )""")
    # CHECKs are written as OR chains: SQLite evaluates `x IN (...)` in a CHECK about twice as
    # slowly per row, which halved bulk import speed.
    # WITHOUT ROWID: the primary key is the only access path we need, and the table stays half
    # the size. Its order (keyword, region, device, granularity, date) serves `aicity series`
    # and every per-keyword scan of the analysis directly, so no secondary index is needed.
    db.execute("""
        CREATE TABLE observations (
            keyword_id INTEGER NOT NULL REFERENCES keywords(id),
            region INTEGER NOT NULL REFERENCES regions(code),
            device TEXT NOT NULL CHECK (device = 'all' OR device = 'pc' OR device = 'wise'),
            granularity TEXT NOT NULL CHECK (granularity = 'day' OR granularity = 'week'),
            date TEXT NOT NULL,
            value INTEGER CHECK (value IS NULL OR value >= 0),
            source TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            PRIMARY KEY (keyword_id, region, device, granularity, date)
        ) WITHOUT ROWID""")
    # Baidu's demand graph (需求图谱): related words per keyword and week, for `keywords suggest`.
    db.execute("""
        CREATE TABLE word_graph (
            keyword TEXT NOT NULL,
            word TEXT NOT NULL,
            period TEXT NOT NULL,
            pv INTEGER,
            ratio REAL,
            sim REAL,
            source TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            PRIMARY KEY (keyword, word, period)
        )""")
    # Incremental analysis asks "what did runs after N touch?".
    db.execute("CREATE INDEX idx_runs_kind ON runs(kind, id)")


@migrations()
def m002_crawl(db: Database) -> None:
    # What the crawler has fetched, per keyword, region and date range, written in the same
    # transaction as the observations, so planning after a crash re-fetches only what is missing.
    db.execute("""
        CREATE TABLE coverage (
            keyword_id INTEGER NOT NULL REFERENCES keywords(id),
            region INTEGER NOT NULL REFERENCES regions(code),
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            granularity TEXT NOT NULL,
            source TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            PRIMARY KEY (keyword_id, region, start, end)
        ) WITHOUT ROWID""")
    # Baidu's regional distribution (人群画像 · 地域分布): a period mean per region.
    db.execute("""
        CREATE TABLE region_distribution (
            keyword TEXT NOT NULL,
            area INTEGER NOT NULL,
            region INTEGER NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            value INTEGER,
            share_permille INTEGER,
            source TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            PRIMARY KEY (keyword, area, region, start, end)
        )""")
    # Keywords Baidu reports as not indexed, so planning can skip them and people can see them.
    db.execute("""
        CREATE TABLE unindexed_keywords (
            keyword TEXT PRIMARY KEY,
            checked_at TEXT NOT NULL,
            source TEXT NOT NULL
        )""")


@migrations()
def m003_analysis(db: Database) -> None:
    # Which (keyword, region) pairs each import or crawl wrote, and over which dates, so that
    # `analyze` finds what changed without scanning the observations.
    db.execute("""
        CREATE TABLE touched (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            keyword_id INTEGER NOT NULL,
            region INTEGER NOT NULL,
            min_date TEXT NOT NULL,
            max_date TEXT NOT NULL,
            PRIMARY KEY (run_id, keyword_id, region)
        ) WITHOUT ROWID""")
    # One row per decomposed series; the components are float32 arrays (little-endian) from
    # `start` in steps of `step` days. subject is k:<keyword id>, d:<dimension> or
    # g:<dimension>/<group>. Storing a row per day would mean 150 million rows nationally.
    db.execute(f"CREATE TABLE components ({COMPONENTS_COLUMNS}) WITHOUT ROWID")
    # Provisional components for days after a series' fitted end (incremental runs).
    db.execute("""
        CREATE TABLE components_tail (
            subject TEXT NOT NULL,
            region INTEGER NOT NULL,
            device TEXT NOT NULL,
            date TEXT NOT NULL,
            trend REAL,
            seasonal REAL,
            resid REAL,
            adjusted REAL,
            PRIMARY KEY (subject, region, device, date)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE anomalies (
            subject TEXT NOT NULL,
            region INTEGER NOT NULL,
            date TEXT NOT NULL,
            value REAL,
            resid REAL NOT NULL,
            PRIMARY KEY (subject, region, date)
        )""")
    db.execute("CREATE TABLE analysis_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migrations()
def m004_real_site(db: Database) -> None:
    # Empty values the site may yet fill: a whole series answered blank (a re-request usually
    # fixes it) or empty days at the end of an answer (not yet published). Such days are neither
    # stored nor covered until a later answer has them, or until they stayed empty for a few
    # tries over several days; then they are accepted as missing (stored NULL, covered) and the
    # row stays as the record of why.
    db.execute("""
        CREATE TABLE unconfirmed (
            keyword_id INTEGER NOT NULL REFERENCES keywords(id),
            region INTEGER NOT NULL,
            date TEXT NOT NULL,
            granularity TEXT NOT NULL,
            reason TEXT NOT NULL,
            tries INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            accepted_at TEXT,
            PRIMARY KEY (keyword_id, region, date)
        ) WITHOUT ROWID""")
    # Requests each account sent per Asia/Shanghai day, so a second run on one day does not
    # spend the budget again. Accounts are keyed by a salted hash of their BDUSS, never the
    # cookie; the salt is per database (crawl_state), so the key means nothing elsewhere.
    db.execute("""
        CREATE TABLE account_budget (
            account TEXT NOT NULL,
            day TEXT NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (account, day)
        ) WITHOUT ROWID""")
    db.execute("CREATE TABLE crawl_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migrations()
def m005_touch_order(db: Database) -> None:
    # `analyze` took everything touched by runs up to the highest run id it saw; a collect that
    # started before it and wrote after it has a lower id, so its later writes were never
    # refitted. A sequence number given at each write (commit order) fixes the watermark.
    # Existing rows take their run id, so the stored watermark (a run id) keeps its meaning.
    db.execute("ALTER TABLE touched ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE touched SET seq = run_id")
    db.execute("CREATE INDEX touched_seq ON touched(seq)")


# Views for sqlite3 and Datasette users (m006), made again when m009 rebuilds their tables.
OBSERVATIONS_NAMED = """
    CREATE VIEW observations_named AS
    SELECT k.term AS keyword, g.name AS region, o.region AS region_code, o.device,
           o.granularity, o.date, o.value, o.source
    FROM observations o JOIN keywords k ON k.id = o.keyword_id
    JOIN regions g ON g.code = o.region"""

ANOMALIES_NAMED = """
        CREATE VIEW anomalies_named AS
        SELECT a.date, r.name AS region, a.region AS region_code, r.level, s.kind,
               s.name AS subject, a.value, a.resid
        FROM anomalies a
        JOIN regions r ON r.code = a.region
        LEFT JOIN subject_names s ON s.subject = a.subject"""
COMPONENTS_NAMED = """
        CREATE VIEW components_named AS
        SELECT s.kind, s.name AS subject, r.name AS region, c.region AS region_code,
               c.device, c.granularity, c.start, c.step, c.n, c.note, c.anomalies,
               c.analyzed_at
        FROM components c
        JOIN regions r ON r.code = c.region
        LEFT JOIN subject_names s ON s.subject = c.subject"""


@migrations()
def m006_named_views(db: Database) -> None:
    # Components and anomalies are keyed by subject codes (k:<id>, d:<dimension>,
    # g:<dimension>/<group>) and area codes; these views give them names for sqlite3 and
    # Datasette users. The component arrays themselves are float32 blobs: read them with
    # `aicity series --components`.
    db.execute("""
        CREATE VIEW subject_names AS
        SELECT 'k:' || id AS subject, 'keyword' AS kind, term AS name FROM keywords
        UNION ALL
        SELECT DISTINCT 'd:' || category, 'dimension', category FROM keyword_groups
        UNION ALL
        SELECT DISTINCT 'g:' || category || '/' || group_name, 'group',
               category || '/' || group_name FROM keyword_groups WHERE group_name != ''""")
    db.execute(ANOMALIES_NAMED)
    db.execute(COMPONENTS_NAMED)


@migrations()
def m007_compact_observations(db: Database) -> None:
    # A row of `observations` cost about 100 bytes: the date as text and the source and fetch
    # time as text on every row, for tens of millions of rows. The data now lives in `obs`,
    # integers only (device 0 all, 1 pc, 2 wise; weekly 0/1; day = days since 1970-01-01), about
    # 25 bytes a row; where a row came from is its run (runs.source, runs.finished_at). The
    # name `observations` stays, as a view with the old columns, ISO dates and the run's
    # provenance, for sqlite3 and Datasette users and every query written against it.
    db.execute("""
        CREATE TABLE obs (
            keyword_id INTEGER NOT NULL,
            region INTEGER NOT NULL,
            device INTEGER NOT NULL,
            weekly INTEGER NOT NULL,
            day INTEGER NOT NULL,
            value INTEGER,
            run_id INTEGER,
            PRIMARY KEY (keyword_id, region, device, weekly, day)
        ) WITHOUT ROWID""")
    # Rows written without a run (none by this code, but a database may have them) get one
    # run per source, so their provenance survives the move.
    for (source,) in db.execute("SELECT DISTINCT source FROM observations WHERE run_id IS NULL "
                                "OR run_id NOT IN (SELECT id FROM runs)").fetchall():
        db.execute("INSERT INTO runs(kind, status, source, started_at, finished_at, detail) "
                   "SELECT 'import', 'ok', ?, min(fetched_at), max(fetched_at), "
                   "'{\"note\": \"rows stored before runs were recorded\"}' FROM observations "
                   "WHERE (run_id IS NULL OR run_id NOT IN (SELECT id FROM runs)) AND source = ?",
                   [source, source])
        db.execute("UPDATE observations SET run_id = last_insert_rowid() WHERE source = ? AND "
                   "(run_id IS NULL OR run_id NOT IN (SELECT id FROM runs))", [source])
    db.execute("""
        INSERT INTO obs(keyword_id, region, device, weekly, day, value, run_id)
        SELECT keyword_id, region,
               CASE device WHEN 'all' THEN 0 WHEN 'pc' THEN 1 ELSE 2 END,
               granularity = 'week',
               CAST(julianday(date) - 2440587.5 AS INTEGER), value, run_id
        FROM observations ORDER BY keyword_id, region, device, granularity, date""")
    db.execute("DROP TABLE observations")
    db.execute("""
        CREATE VIEW observations AS
        SELECT o.keyword_id, o.region,
               CASE o.device WHEN 0 THEN 'all' WHEN 1 THEN 'pc' ELSE 'wise' END AS device,
               CASE o.weekly WHEN 1 THEN 'week' ELSE 'day' END AS granularity,
               date(o.day * 86400, 'unixepoch') AS date, o.value,
               r.source, coalesce(r.finished_at, r.started_at) AS fetched_at, o.run_id
        FROM obs o LEFT JOIN runs r ON r.id = o.run_id""")
    db.execute(OBSERVATIONS_NAMED)


@migrations()
def m008_english_names(db: Database) -> None:
    # English names of regions, for English briefings (filled by `aicity init` from regions.csv).
    db.execute("ALTER TABLE regions ADD COLUMN name_en TEXT NOT NULL DEFAULT ''")


@migrations()
def m009_analysis_tables(db: Database) -> None:
    # The storage each table's rows suit (a full national analysis spent more time saving than
    # fitting): anomalies are small rows that were stored twice (a rowid table and its key's
    # index), so they become one WITHOUT ROWID tree; a components row is kilobytes of arrays,
    # which a WITHOUT ROWID tree keeps partly in overflow pages it cannot fill (a fifth to a
    # half more pages), so it becomes a rowid table with its key as a unique index.
    # Columns, keys and the views on them stay as they were.
    db.execute("DROP VIEW anomalies_named")
    db.execute("DROP VIEW components_named")
    db.execute("""
        CREATE TABLE anomalies_new (
            subject TEXT NOT NULL,
            region INTEGER NOT NULL,
            date TEXT NOT NULL,
            value REAL,
            resid REAL NOT NULL,
            PRIMARY KEY (subject, region, date)
        ) WITHOUT ROWID""")
    db.execute("INSERT INTO anomalies_new SELECT subject, region, date, value, resid "
               "FROM anomalies")
    db.execute("DROP TABLE anomalies")
    db.execute("ALTER TABLE anomalies_new RENAME TO anomalies")
    db.execute(f"CREATE TABLE components_new ({COMPONENTS_COLUMNS})")
    db.execute("INSERT INTO components_new SELECT subject, region, device, granularity, start, "
               "step, n, trend, seasonal, resid, yearly, adjusted, note, anomalies, analyzed_at "
               "FROM components")
    db.execute("DROP TABLE components")
    db.execute("ALTER TABLE components_new RENAME TO components")
    db.execute(ANOMALIES_NAMED)
    db.execute(COMPONENTS_NAMED)


@migrations()
def m010_series_key(db: Database) -> None:
    # A backfill stores a piece region by region, so its rows land all over a table keyed by
    # keyword first; SQLite compares the five key columns of every row it passes on the way in
    # (bench/obs_keys.py: 1.5 µs a row). The keyword, region, device and weekly bit now make one
    # integer, `series` (((keyword_id * 1024 + region) * 4 + device) * 2 + weekly: the same
    # order as before), and the key is (series, day): 1.0 µs and 17 instead of 19 bytes a row.
    # The view `observations` keeps its columns, decoded from `series`.
    db.execute("DROP VIEW observations_named")
    db.execute("DROP VIEW observations")
    db.execute("""
        CREATE TABLE obs_new (
            series INTEGER NOT NULL,
            day INTEGER NOT NULL,
            value INTEGER,
            run_id INTEGER,
            PRIMARY KEY (series, day)
        ) WITHOUT ROWID""")
    # obs is read in its key order, which is the new key's order: appended, never sorted
    db.execute("INSERT INTO obs_new SELECT ((keyword_id * 1024 + region) * 4 + device) * 2 "
               "+ weekly, day, value, run_id FROM obs ORDER BY keyword_id, region, device, "
               "weekly, day")
    db.execute("DROP TABLE obs")
    db.execute("ALTER TABLE obs_new RENAME TO obs")
    db.execute("""
        CREATE VIEW observations AS
        SELECT o.series >> 13 AS keyword_id, (o.series >> 3) & 1023 AS region,
               CASE (o.series >> 1) & 3 WHEN 0 THEN 'all' WHEN 1 THEN 'pc' ELSE 'wise' END
                   AS device,
               CASE o.series & 1 WHEN 1 THEN 'week' ELSE 'day' END AS granularity,
               date(o.day * 86400, 'unixepoch') AS date, o.value,
               r.source, coalesce(r.finished_at, r.started_at) AS fetched_at, o.run_id
        FROM obs o LEFT JOIN runs r ON r.id = o.run_id""")
    db.execute(OBSERVATIONS_NAMED)


# The view `observations` as a join that finds each series by its key: a filter on keyword,
# region, device or granularity picks rows of the small tables first and then seeks `obs` by
# `series`, where the m010 view decoded `series` from every row (a query for one series scanned
# the whole table: 1.3-2.3 s on the national bench, under a millisecond now). CROSS JOIN keeps
# `obs` innermost. Every obs row has its keyword and region in those tables (both are only ever
# added to), so the view holds the same rows.
OBSERVATIONS_SEEK = """
    CREATE VIEW observations AS
    SELECT k.id AS keyword_id, g.code AS region, d.device, w.granularity,
           date(o.day * 86400, 'unixepoch') AS date, o.value,
           r.source, coalesce(r.finished_at, r.started_at) AS fetched_at, o.run_id
    FROM keywords k CROSS JOIN regions g
    CROSS JOIN (SELECT 0 AS code, 'all' AS device UNION ALL SELECT 1, 'pc'
                UNION ALL SELECT 2, 'wise') d
    CROSS JOIN (SELECT 0 AS weekly, 'day' AS granularity UNION ALL SELECT 1, 'week') w
    JOIN obs o ON o.series = ((k.id * 1024 + g.code) * 4 + d.code) * 2 + w.weekly
    LEFT JOIN runs r ON r.id = o.run_id"""


@migrations()
def m011_observations_seek(db: Database) -> None:
    db.execute("DROP VIEW observations_named")
    db.execute("DROP VIEW observations")
    db.execute(OBSERVATIONS_SEEK)
    db.execute(OBSERVATIONS_NAMED)


@migrations()
def m012_world_2026(db: Database) -> None:
    # What a region's population measures (per-capita outputs name it; the values come from
    # the packaged registry, where every city now has its 2020 census figure), and when a
    # keyword came into being and which taxonomy revision added it (the 2017 selection).
    for statement in WORLD_2026:
        db.execute(statement)
    refresh_populations(db)


WORLD_2026 = (
    "ALTER TABLE regions ADD COLUMN population_year INTEGER",
    "ALTER TABLE regions ADD COLUMN population_source TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE keywords ADD COLUMN since TEXT",
    "ALTER TABLE keywords ADD COLUMN added TEXT NOT NULL DEFAULT ''",
)


@migrations()
def m013_ambiguous_terms(db: Database) -> None:
    # What else people mean by a term (豆包, a steamed bun): `--vocabulary unambiguous` leaves
    # such terms out. The taxonomy fills it in when it is loaded.
    for statement in AMBIGUOUS_TERMS:
        db.execute(statement)


AMBIGUOUS_TERMS = ("ALTER TABLE keywords ADD COLUMN ambiguous TEXT NOT NULL DEFAULT ''",)


def refresh_populations(db) -> None:
    """Population, year and source of every stored region from the packaged registry."""
    from aicity.db.regions import default_registry
    db.conn.executemany(
        "UPDATE regions SET population = ?, population_year = ?, population_source = ? "
        "WHERE code = ?", [(r.population, r.population_year, r.population_source, r.code)
                           for r in default_registry()])


def migrate(db: Database) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
