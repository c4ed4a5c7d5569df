"""Observations: the stored series, their coverage and the empty days still waiting."""
from __future__ import annotations

import contextlib
import functools
import json
from datetime import date
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from sqlite_utils import Database

from aicity.db.connection import frame, now_iso
from aicity.db.lookups import keyword_ids
from aicity.db.runs import record_touched
from aicity.vocabulary import BLANK_ANSWER, DEVICES

if TYPE_CHECKING:
    import pandas as pd


GRANULARITIES = ("day", "week")


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
# it did not, upserts the days not already stored with the same value (a night re-asks days it
# has, mostly unchanged: looking them up costs less than an upsert's attempt). Another writer
# inserting the same days meanwhile makes the plain insert fail with a unique violation: the
# crawler then stores its batch again with upserts alone (fresh_inserts off).
FRESH_SERIES_PG = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?, ?::int + ?::int * (t.i::int - 1), t.value, ?
FROM unnest(?::bigint[]) WITH ORDINALITY AS t(value, i)
WHERE (SELECT set_config('aicity.fresh', (NOT EXISTS (
    SELECT 1 FROM obs WHERE series = ? AND day BETWEEN ? AND ?))::text, true))::boolean
"""


UPSERT_UNLESS_FRESH_PG = """
INSERT INTO obs(series, day, value, run_id)
SELECT ?, t.day, t.value, ? FROM (
    SELECT ?::int + ?::int * (u.i::int - 1) AS day, u.value
    FROM unnest(?::bigint[]) WITH ORDINALITY AS u(value, i)) t
WHERE current_setting('aicity.fresh') = 'false'
  AND NOT EXISTS (SELECT 1 FROM obs o WHERE o.series = ? AND o.day = t.day
                  AND o.value IS NOT DISTINCT FROM t.value)
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
    return _series_key(keyword_id, region, device, weekly)


def _series_key(keyword_id, region, device, weekly):
    """SERIES_SQL in Python, for ints or numpy arrays alike (regions already checked)."""
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


def upsert_obs_sorted(db: Database, keyword_ids, regions, devices, weekly, days,
                      values: list, run_id: int | None) -> int:
    """upsert_obs for rows given as numpy integer arrays of one length, in key order (keyword,
    region, device, weekly, day), with their values (whole numbers or None); returns rows
    changed. On SQLite each run of evenly spaced days of one series is one statement whose
    values SQLite expands itself (UPSERT_SERIES): binding seven parameters a row from Python
    was half of an import's time."""
    if db.dialect == "postgresql" or (len(regions) and int(regions.max()) >= REGION_LIMIT):
        # (a region outside the key takes the row-by-row path, which refuses it)
        return upsert_obs(db, zip(keyword_ids.tolist(), regions.tolist(), devices.tolist(),
                                  weekly.tolist(), days.tolist(), values,
                                  [run_id] * len(values)))
    series = _series_key(keyword_ids, regions, devices, weekly)
    step = np.where(weekly == 1, 7, 1)
    starts = np.flatnonzero(np.r_[True, (series[1:] != series[:-1])
                                  | (days[1:] - days[:-1] != step[1:])])
    ends = np.r_[starts[1:], len(series)]
    before = db.conn.total_changes
    db.conn.executemany(UPSERT_SERIES, (
        (key, first, gap, run_id, json.dumps(values[a:b]))
        for key, first, gap, a, b in zip(series[starts].tolist(), days[starts].tolist(),
                                         step[starts].tolist(), starts.tolist(),
                                         ends.tolist())))
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
                    db.conn.execute(UPSERT_UNLESS_FRESH_PG, (key, run_id, first, step, array,
                                                             key))
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


def count_observations(db: Database) -> int:
    return db.execute("SELECT count(*) FROM obs").fetchone()[0]


def count_covered(db: Database) -> int:
    """Fetched ranges recorded so far (a crawl's progress, as another process sees it)."""
    return db.execute("SELECT count(*) FROM coverage").fetchone()[0]


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
        # a week is stored on its first day: the week holding `start` began up to six days
        # before it (series --start 2015-01-01 left out the week of 2014-12-29)
        sql += " AND day >= ?"
        args.append(day_number(start) - (6 if granularity == "week" else 0))
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

