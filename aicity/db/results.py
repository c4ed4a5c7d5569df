"""Analysis inputs and results in the database: every SQL statement analysis needs.

Analysis works on arrays and day numbers (days since 1970-01-01, as `obs.day`); this module reads
the observed series it decomposes and stores what comes out: components (four float32 arrays a
series, one row each), provisional tails for days after a series' fitted end, anomalies, and the
watermark over `touched` that makes the next run incremental.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from itertools import repeat
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from sqlite_utils import Database

from aicity.db.connection import connect, frame, is_server
from aicity.db.observations import (DEVICE_CODE, day_number, iso_day, keyword_series_range,
                                    series_id)

if TYPE_CHECKING:
    import pandas as pd

BLOB = np.dtype("<f4")
DAY_SPAN = 65536   # day numbers (days since 1970) stay below this until the year 2149


def pack(values) -> bytes:
    """A component array as stored: little-endian float32."""
    return np.asarray(values, dtype=BLOB).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=BLOB).astype(float)


def read_only(db_file):
    """A connection for a worker that only reads (on SQLite it never takes the write lock)."""
    if is_server(db_file):
        return connect(db_file)
    return sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)


def _dialect(conn) -> str:
    # workers read through a bare sqlite3 connection, which has no dialect of its own
    return getattr(conn, "dialect", "sqlite")


# --- observed series -------------------------------------------------------------------------

def _series_from_rows(rows) -> dict[tuple[int, str], tuple[int, int, np.ndarray]]:
    """(region, granularity) -> (start day, step, values with NaN gaps) from obs rows
    ((region * 2 + weekly) * DAY_SPAN + day, value or -1 for missing), in any order."""
    if not rows:
        return {}
    data = np.array(rows, dtype=np.int64)
    # Sorted here, not in SQL: SQLite sorts the rows of a keyword in a temporary B-tree
    # (device sits between region and day in the key) at about a third of the query's time.
    data = data[np.argsort(data[:, 0], kind="stable")]
    series, days = np.divmod(data[:, 0], DAY_SPAN)
    regions, weekly = np.divmod(series, 2)
    # a stored empty value is a day asked and below Baidu's floor: 0 (NaN is a day not asked)
    values = np.maximum(data[:, 1], 0).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    ends = np.r_[starts[1:], len(data)]
    out = {}
    for a, b in zip(starts, ends):
        step = 7 if weekly[a] else 1
        d = days[a:b]
        first = int(d[0])
        idx = (d - first) // step
        arr = np.full(int(idx[-1]) + 1, np.nan)
        arr[idx] = values[a:b]
        out[(int(regions[a]), "week" if weekly[a] else "day")] = (first, step, arr)
    return out


def _rows_keyword(conn, keyword_id: int, device: str, regions: list[int] | None):
    # Two integers a row instead of four (Python builds an object per cell); -1 for a missing
    # value keeps them integers. (series >> 3) & 1023 is the region, series & 1 the weekly bit.
    lo, hi = keyword_series_range(keyword_id)
    sql = (f"SELECT (((series >> 3) & 1023) * 2 + (series & 1)) * {DAY_SPAN} + day, "
           f"coalesce(value, -1) FROM obs WHERE series BETWEEN ? AND ? "
           f"AND (series >> 1) & 3 = ?")
    args: list = [lo, hi, DEVICE_CODE[device]]
    if regions is not None:
        sql += f" AND (series >> 3) & 1023 IN ({','.join('?' * len(regions))})"
        args += regions
    return _series_from_rows(conn.execute(sql, args).fetchall())


# One text a series, built by SQLite from an in-order primary-key search (one per region and
# granularity): a row costs a third of fetching it as a Python tuple, the largest cost of a
# full analysis. The regions are those the keyword has rows for, found by one index seek each
# (a recursive step to the next region), not taken from the registry. SQL does not promise
# the order inside group_concat, so each series comes with its first and last day (one index
# seek each: as aggregates over every row they cost a third of the query) and sum(day * value);
# a series whose text does not add up (or has gaps) is read row by row.
_PACKED = ("WITH RECURSIVE r(code) AS (SELECT (min(series) >> 3) & 1023 FROM obs "
           "WHERE series BETWEEN ?1 AND ?2 "
           "UNION ALL SELECT (SELECT (min(series) >> 3) & 1023 FROM obs WHERE series BETWEEN "
           "?1 + (r.code + 1) * 8 AND ?2) FROM r WHERE r.code IS NOT NULL), "
           "s(code, weekly, id) AS (SELECT code, w.weekly, ?1 + code * 8 + ?3 * 2 + w.weekly "
           "FROM r, (SELECT 0 AS weekly UNION ALL SELECT 1) AS w WHERE code IS NOT NULL) "
           "SELECT code, weekly, (SELECT day FROM obs WHERE series = id ORDER BY day LIMIT 1), "
           "(SELECT day FROM obs WHERE series = id ORDER BY day DESC LIMIT 1), "
           "(SELECT ifnull(sum(day * value), 0) || ':' || group_concat(coalesce(value, -1)) "
           "FROM obs WHERE series = id) FROM s WHERE true")
# The same on PostgreSQL, whose string_agg keeps the order it is told.
_PACKED_PG = ("SELECT code, weekly, lo, hi, text FROM (SELECT ((series >> 3) & 1023)::integer "
              "AS code, (series & 1)::integer AS weekly, min(day) AS lo, max(day) AS hi, "
              "coalesce(sum(day::bigint * value), 0) || ':' || "
              "string_agg(coalesce(value, -1)::text, ',' ORDER BY day) AS text FROM obs "
              "WHERE series BETWEEN ? AND ? AND (series >> 1) & 3 = ? GROUP BY series) s "
              "WHERE true")


def load_keyword(conn, keyword_id: int, device: str = "all",
                 regions: list[int] | None = None):
    """(region, granularity) -> (first day, step, values) of one keyword: 0 for a day asked and
    below Baidu's floor (stored empty), NaN for a day not asked or still waiting."""
    dev = DEVICE_CODE[device]
    lo, hi = keyword_series_range(keyword_id)
    sql, args = (_PACKED_PG if _dialect(conn) == "postgresql" else _PACKED), [lo, hi, dev]
    if regions is not None:
        sql += f" AND code IN ({','.join('?' * len(regions))})"
        args += regions
    try:
        packed = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:   # sum(day * value) beyond 64 bits: read rows
        return _unknown_while_waiting(conn, keyword_id,
                                      _rows_keyword(conn, keyword_id, device, regions))
    out, odd = {}, []
    for region, weekly, lo, hi, text in packed:
        if text is None:
            continue
        check, values = text.split(":", 1)
        lo, hi, check = int(lo), int(hi), int(check)
        step = 7 if weekly else 1
        raw = np.fromstring(values, dtype=np.int64, sep=",")
        count = len(raw)   # days are unique (the key): count, first and last fix every day
        if (hi - lo) % step or (hi - lo) // step + 1 != count or \
                int(np.dot(lo + step * np.arange(count), np.maximum(raw, 0))) != check:
            odd.append(region)
            continue
        out[(region, "week" if weekly else "day")] = (
            lo, step, np.maximum(raw, 0).astype(np.float64))
    if odd:
        out.update(_rows_keyword(conn, keyword_id, device, sorted(set(odd))))
    return _unknown_while_waiting(conn, keyword_id, out)


def _unknown_while_waiting(conn, keyword_id: int, series: dict) -> dict:
    """Empty days still waiting to be confirmed (the site may not have published them) are not
    known to be below the floor yet: NaN, not 0."""
    if not series:
        return series
    for region, day_text, gran in conn.execute(
            "SELECT region, date, granularity FROM unconfirmed WHERE keyword_id = ? AND "
            "accepted_at IS NULL", [keyword_id]).fetchall():
        hit = series.get((region, gran))
        if hit is None:
            continue
        first, step, values = hit
        i, off = divmod(day_number(day_text) - first, step)
        if not off and 0 <= i < len(values) and values[i] == 0:
            values[i] = np.nan
    return series


def daily_values_from(db: Database, keyword_id: int, region: int, device: str, day: int
                      ) -> list[tuple[int, int | None]]:
    """(day, value) of one daily series from `day` on."""
    return db.execute("SELECT day, value FROM obs WHERE series = ? AND day >= ?",
                      [series_id(keyword_id, region, DEVICE_CODE[device], 0),
                       day]).fetchall()


def waiting_days_of(db: Database, keyword_id: int) -> set[tuple[int, int]]:
    """(region, day number) of a keyword's empty days still waiting to be confirmed."""
    return {(r, day_number(d)) for r, d in db.execute(
        "SELECT region, date FROM unconfirmed WHERE keyword_id = ? AND accepted_at IS NULL",
        [keyword_id]).fetchall()}


def daily_sums(db: Database, keyword_ids: Sequence[int], region: int, device: str, lo: int,
               hi: int) -> list[tuple[int, int | None]]:
    """(day, sum of the keywords' values) of one region's daily series, lo..hi."""
    dev = DEVICE_CODE[device]
    series = [series_id(kw, region, dev, 0) for kw in keyword_ids]
    return db.execute(
        f"SELECT day, sum(value) FROM obs WHERE series IN ({','.join('?' * len(series))}) "
        f"AND day BETWEEN ? AND ? GROUP BY day", [*series, lo, hi]).fetchall()


# --- what changed ----------------------------------------------------------------------------

def analysis_state(db: Database) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM analysis_state").fetchall())


def touched_watermark(db: Database) -> int:
    """The newest `touched.seq` (commit order of the runs that wrote observations)."""
    return db.execute("SELECT coalesce(max(seq), 0) FROM touched").fetchone()[0]


def touched_spans(db: Database, after_seq: int | None = None, upto_seq: int | None = None
                  ) -> list[tuple[int, int, str, str]]:
    """(keyword id, region, first, last ISO day) written, by runs in after_seq < seq <= upto."""
    sql = "SELECT keyword_id, region, min(min_date), max(max_date) FROM touched"
    args: list = []
    if after_seq is not None:
        sql += " WHERE seq > ? AND seq <= ?"
        args = [after_seq, upto_seq]
    return db.execute(sql + " GROUP BY keyword_id, region", args).fetchall()


def data_span(db: Database) -> tuple[str, str] | None:
    """First and last ISO day any run wrote (imports and crawls record what they touched)."""
    lo, hi = db.execute("SELECT min(min_date), max(max_date) FROM touched").fetchone()
    return (lo, hi) if lo else None


def latest_analysed_day(db: Database) -> str | None:
    """The last day analysed, as analyze recorded it (scanning the components would read every
    stored array)."""
    row = db.execute("SELECT value FROM analysis_state WHERE key = 'latest_day'").fetchone()
    return None if row is None else row[0]


def record_analysis(db: Database, watermark: int) -> None:
    """Mark what this run analysed: the `touched` watermark (the key keeps its old name, so
    databases analysed before m005 carry on: their seq values are the run ids) and the
    latest day written."""
    db.execute("INSERT INTO analysis_state(key, value) VALUES ('last_run', ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [str(watermark)])
    latest = db.execute("SELECT max(max_date) FROM touched").fetchone()[0]
    greatest = "max" if _dialect(db) == "sqlite" else "greatest"
    if latest:
        db.execute("INSERT INTO analysis_state(key, value) VALUES ('latest_day', ?) "
                   f"ON CONFLICT(key) DO UPDATE SET value = {greatest}(analysis_state.value, "
                   "excluded.value)", [latest])


def all_keyword_ids(db: Database) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM keywords ORDER BY id")]


def taxonomy_keyword_ids(db: Database) -> list[int]:
    return [int(r[0]) for r in db.execute("SELECT id FROM keywords WHERE in_taxonomy = 1")]


def keyword_memberships(db: Database) -> dict[int, list[tuple[str, str]]]:
    """keyword id -> (dimension, group) pairs it belongs to."""
    out = defaultdict(list)
    for kw_id, cat, grp in db.execute(
            "SELECT keyword_id, category, group_name FROM keyword_groups"):
        out[kw_id].append((cat, grp))
    return out


def group_keyword_ids(db: Database, category: str, group: str | None = None,
                      vocabulary: str = "all") -> list[int]:
    """The keywords of a dimension, or of one of its groups; with vocabulary 'report-2017',
    only the report's 2017 terms (those no later revision added); with 'unambiguous', every
    term but those the taxonomy marks ambiguous."""
    sql = ("SELECT g.keyword_id FROM keyword_groups g JOIN keywords k ON k.id = g.keyword_id "
           "WHERE g.category = ?")
    args: list = [category]
    if group:
        sql += " AND g.group_name = ?"
        args.append(group)
    if vocabulary == "report-2017":
        sql += " AND k.added = ''"
    elif vocabulary == "unambiguous":
        sql += " AND k.ambiguous = ''"
    elif vocabulary != "all":
        raise ValueError(f"vocabulary must be all, report-2017 or unambiguous, not "
                         f"{vocabulary!r}")
    return [r[0] for r in db.execute(sql + " ORDER BY g.keyword_id", args).fetchall()]


def added_subjects(db: Database) -> set[str]:
    """The subjects (`k:<id>`) of terms a revision after the report's 2017 vocabulary added."""
    return {f"k:{i}" for i, in db.execute("SELECT id FROM keywords WHERE added <> ''")}


def first_days(db: Database, subjects: Sequence[str]) -> dict[str, int]:
    """subject -> the day number its term came into being, for subjects that have one."""
    ids = {int(s_[2:]): s_ for s_ in subjects if s_.startswith("k:")}
    if not ids:
        return {}
    rows = db.execute("SELECT id, since FROM keywords WHERE since IS NOT NULL").fetchall()
    return {ids[i]: day_number(since) for i, since in rows if i in ids}


# --- saving results --------------------------------------------------------------------------

def has_components(db: Database) -> bool:
    return db.execute("SELECT 1 FROM components LIMIT 1").fetchone() is not None


def component_row(subject: str, region: int, device: str, granularity: str, first: int,
                  step: int, n: int, trend, seasonal, resid, yearly, adjusted, note: str,
                  anomalies: int, analysed_at: str) -> tuple:
    """A `components` row from a decomposition's arrays (first = day number)."""
    return (subject, region, device, granularity, iso_day(first), step, n, pack(trend),
            pack(seasonal), pack(resid), None if yearly is None else pack(yearly),
            pack(adjusted), note, anomalies, analysed_at)


def anomaly_rows(subject: str, region: int, days: Sequence[int], values, resids) -> list[tuple]:
    """`anomalies` rows: flagged day numbers, their observed values (NaN is missing) and
    residuals, built a column at a time (a national analysis flags millions of days)."""
    isos = map(iso_day, days)
    values = [None if v != v else v for v in values]
    return list(zip(repeat(subject), repeat(region), isos, values, resids))


def save_components(db_file, comps: list, anomalies: list) -> None:
    """Store one job's components and anomalies in one short transaction (a crawl writing
    meanwhile waits for this job, not for the analysis)."""
    if not comps:
        return
    db = connect(db_file)
    try:
        with db.atomic():
            keys = [(c[0], c[1], c[2], c[3]) for c in comps]
            db.conn.executemany("DELETE FROM anomalies WHERE subject = ? AND region = ?",
                                [(k[0], k[1]) for k in keys])
            db.conn.executemany("DELETE FROM components_tail WHERE subject = ? AND region = ? "
                                "AND device = ?", [k[:3] for k in keys])
            db.conn.executemany(
                "INSERT INTO components(subject, region, device, granularity, start, "
                "step, n, trend, seasonal, resid, yearly, adjusted, note, anomalies, "
                "analyzed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(subject, region, device, granularity) DO UPDATE SET "
                "start = excluded.start, step = excluded.step, n = excluded.n, "
                "trend = excluded.trend, seasonal = excluded.seasonal, resid = excluded.resid, "
                "yearly = excluded.yearly, adjusted = excluded.adjusted, note = excluded.note, "
                "anomalies = excluded.anomalies, analyzed_at = excluded.analyzed_at", comps)
            db.conn.executemany("INSERT INTO anomalies(subject, region, date, value, resid) "
                                "VALUES (?,?,?,?,?) ON CONFLICT(subject, region, date) DO UPDATE "
                                "SET value = excluded.value, resid = excluded.resid", anomalies)
    finally:
        db.close()


def drop_components_except(db: Database, kept: set, device: str) -> None:
    """After a full run: remove components (with their tails and anomalies) of series that no
    longer exist, i.e. every (subject, region, granularity) not in `kept`."""
    stale = [(s_, r, g) for s_, r, g in db.execute(
        "SELECT subject, region, granularity FROM components WHERE device = ?", [device])
        if (s_, r, g) not in kept]
    db.conn.executemany("DELETE FROM components WHERE subject = ? AND region = ? AND "
                        "granularity = ? AND device = ?", [(*k, device) for k in stale])
    db.conn.executemany("DELETE FROM components_tail WHERE subject = ? AND region = ? AND "
                        "device = ?", [(k[0], k[1], device) for k in stale])
    db.conn.executemany("DELETE FROM anomalies WHERE subject = ? AND region = ? AND NOT EXISTS "
                        "(SELECT 1 FROM components c WHERE c.subject = anomalies.subject AND "
                        "c.region = anomalies.region)", [(k[0], k[1]) for k in stale])


def fitted_keyword_ends(db: Database, device: str) -> dict[tuple[int, int], tuple[str, int, int]]:
    """(keyword id, region) -> (start, step, n) of every stored daily keyword decomposition."""
    return {(int(s[2:]), r): (start, step, n) for s, r, start, step, n in db.execute(
        "SELECT subject, region, start, step, n FROM components WHERE subject LIKE 'k:%' AND "
        "device = ? AND granularity = 'day'", [device])}


_TAILS = ("SELECT region, start, n, substr(trend, -4), substr(seasonal, -28) FROM components "
          "WHERE subject = ? AND device = ? AND granularity = 'day'")
_TAILS_PG = ("SELECT region, start, n, substring(trend from length(trend) - 3), "
             "substring(seasonal from greatest(1, length(seasonal) - 27)) FROM components "
             "WHERE subject = ? AND device = ? AND granularity = 'day'")


def fitted_tails(db: Database, subject: str, device: str
                 ) -> dict[int, tuple[str, int, np.ndarray, np.ndarray]]:
    """region -> (start, n, last trend value, last week of the season) of a subject's daily
    decompositions: cut out of the stored arrays in SQL, not read whole."""
    return {r: (start, n, unpack(trend), unpack(season)) for r, start, n, trend, season in
            db.execute(_TAILS_PG if _dialect(db) == "postgresql" else _TAILS,
                       [subject, device])}


def daily_components(db: Database, subject: str, region: int, device: str
                     ) -> tuple[str, int, np.ndarray, np.ndarray] | None:
    """(start, n, trend, seasonal) of one daily decomposition, None when there is none."""
    row = db.execute("SELECT start, n, trend, seasonal FROM components WHERE subject = ? "
                     "AND region = ? AND device = ? AND granularity = 'day'",
                     [subject, region, device]).fetchone()
    if row is None:
        return None
    start, n, trend, seasonal = row
    return start, n, unpack(trend), unpack(seasonal)


def save_tails(db: Database, rows: Iterable[tuple]) -> None:
    """Provisional components: (subject, region, device, ISO date, trend, seasonal, resid,
    adjusted) rows."""
    db.conn.executemany(
        "INSERT INTO components_tail(subject, region, device, date, trend, seasonal, resid, "
        "adjusted) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(subject, region, device, date) DO "
        "UPDATE SET trend = excluded.trend, seasonal = excluded.seasonal, "
        "resid = excluded.resid, adjusted = excluded.adjusted", rows)


# --- reading results -------------------------------------------------------------------------

def tail_adjusted(db: Database, subjects: list[str], device: str) -> dict:
    """(subject, region) -> [(day number, adjusted value)] of the provisional tails."""
    out = defaultdict(list)
    for i in range(0, len(subjects), 500):
        part = subjects[i:i + 500]
        for subject, region, day_text, adj in db.execute(
                f"SELECT subject, region, date, adjusted FROM components_tail WHERE device = ? "
                f"AND subject IN ({','.join('?' * len(part))})", [device, *part]):
            out[(subject, region)].append((day_number(day_text), adj))
    return out


def adjusted_arrays(db: Database, subjects: list[str], device: str,
                    regions: list[int] | None = None) -> list[tuple[tuple[str, int], int, int,
                                                                   np.ndarray]]:
    """((subject, region), first day, step, seasonally adjusted float32 values) of the stored
    decompositions, one a (subject, region)."""
    out, seen = [], set()
    for i in range(0, len(subjects), 500):
        part = subjects[i:i + 500]
        sql = (f"SELECT subject, region, start, step, adjusted FROM components "
               f"WHERE device = ? AND subject IN ({','.join('?' * len(part))})")
        args: list = [device, *part]
        if regions is not None:
            sql += f" AND region IN ({','.join('?' * len(regions))})"
            args += regions
        for subject, region, start, step, blob in db.execute(sql, args):
            if (subject, region) in seen:
                continue  # daily first is not guaranteed by SQL; keep the first (day < week)
            seen.add((subject, region))
            out.append(((subject, region), day_number(start), step,
                        np.frombuffer(blob, dtype=BLOB)))
    return out


def components_of(db: Database, subject: str, region: int, device: str = "all",
                  granularity: str | None = None) -> pd.DataFrame | None:
    """date, trend, seasonal, resid of a stored decomposition, provisional tail days included;
    None when there is none."""
    import pandas as pd
    sql = ("SELECT granularity, start, step, n, trend, seasonal, resid FROM components "
           "WHERE subject = ? AND region = ? AND device = ?")
    args = [subject, region, device]
    if granularity:
        sql += " AND granularity = ?"
        args.append(granularity)
    row = db.execute(sql + " ORDER BY granularity", args).fetchone()
    if row is None:
        return None
    _, start, step, n, t, s, r = row
    first = day_number(start)
    out = pd.DataFrame({"date": [iso_day(first + step * i) for i in range(n)],
                        "trend": unpack(t), "seasonal": unpack(s), "resid": unpack(r)})
    tail = pd.DataFrame(db.execute(
        "SELECT date, trend, seasonal, resid FROM components_tail WHERE subject = ? AND "
        "region = ? AND device = ? ORDER BY date", args[:3]).fetchall(),
        columns=["date", "trend", "seasonal", "resid"])
    if not tail.empty:
        out = pd.concat([out, tail], ignore_index=True)
    return out


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

