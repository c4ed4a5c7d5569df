"""Load analysis inputs from the database and save results. The only I/O in analysis/.

`analyze` decomposes every stored series (keyword × region) and every dimension/group × region
aggregate, in parallel worker processes, and stores the components as float32 arrays, one row
per series. Incremental runs look at the `touched` table: a series that only gained days after
its fitted end gets provisional components for those days (the last fitted week's seasonal value
for that weekday, the last trend level) in `components_tail`; a series whose history changed, or
whose tail grew past `tail_limit` days, is refitted. A full run replaces every tail.

The query functions (`rank`, `split`, `demand_types`, `industries`, `movers`) read the stored
seasonally adjusted arrays and call the pure functions of the other modules.
"""
from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import os
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from itertools import repeat
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from aicity.analysis.decompose import (DecomposeConfig, Decomposition, decompose_many, operator_key,
                                stl_operators)
from aicity.analysis.demand import GROUPS as TECH_GROUPS
from aicity.analysis.demand import demand_types as _demand_types
from aicity.analysis.growth import growth_table, movers as _movers, tier_movement
from aicity.analysis.indices import dimension_values, normalise
from aicity.analysis.industry import INDUSTRIES, industry_profiles
from aicity.analysis.periods import Period, last_full_year, parse_period
from aicity.analysis.rankings import DEFAULT_BANDS, rank_table
from aicity.analysis.splits import LINES, north_south
from aicity.analysis.uncertainty import rank_intervals
from aicity.db import store

logger = logging.getLogger(__name__)
BLOB = np.dtype("<f4")
COGNITION = ("basic", "professional", "technical")


class NoResults(RuntimeError):
    """Nothing analysed yet for what was asked (run `aicity analyze`)."""


# Days since 1970-01-01, the numbering of obs.day too.
_day = functools.lru_cache(maxsize=None)(store.day_number)
# a few thousand distinct days, asked millions of times
_iso = functools.lru_cache(maxsize=None)(store.iso_day)


def _pack(values) -> bytes:
    return np.asarray(values, dtype=BLOB).tobytes()


def _unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=BLOB).astype(float)


# --- loading ---------------------------------------------------------------------------------

DAY_SPAN = 65536   # day numbers (days since 1970) stay below this until the year 2149


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
    values = np.where(data[:, 1] < 0, np.nan, data[:, 1].astype(np.float64))
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
    # value keeps them integers.
    sql = (f"SELECT (region * 2 + weekly) * {DAY_SPAN} + day, coalesce(value, -1) FROM obs "
           f"WHERE keyword_id = ? AND device = ?")
    args: list = [keyword_id, store.DEVICE_CODE[device]]
    if regions is not None:
        sql += f" AND region IN ({','.join('?' * len(regions))})"
        args += regions
    return _series_from_rows(conn.execute(sql, args).fetchall())


# One text a series, built by SQLite from an in-order primary-key search (one per region and
# granularity): a row costs a third of fetching it as a Python tuple, the largest cost of a
# full analysis. The regions are those the keyword has rows for, found by one index seek each
# (a recursive step to the next region), not taken from the registry. SQL does not promise
# the order inside group_concat, so each text carries its first and last day, its length and
# sum(day * value), and a series whose text does not add up (or has gaps) is read row by row.
_PACKED = ("WITH RECURSIVE r(code) AS (SELECT min(region) FROM obs WHERE keyword_id = ?1 "
           "UNION ALL SELECT (SELECT min(region) FROM obs WHERE keyword_id = ?1 AND region > "
           "r.code) FROM r WHERE r.code IS NOT NULL) "
           "SELECT code, w.weekly, (SELECT min(day) || ':' || max(day) || ':' || count(*) || ':' "
           "|| sum(day * coalesce(value, 0)) || ':' || group_concat(coalesce(value, -1)) "
           "FROM obs WHERE keyword_id = ?1 AND region = code AND device = ?2 "
           "AND weekly = w.weekly) FROM r, (SELECT 0 AS weekly UNION ALL SELECT 1) AS w "
           "WHERE code IS NOT NULL")


def load_keyword(conn, keyword_id: int, device: str = "all",
                 regions: list[int] | None = None):
    """(region, granularity) -> (first day, step, values with NaN gaps) of one keyword."""
    dev = store.DEVICE_CODE[device]
    sql, args = _PACKED, [keyword_id, dev]
    if regions is not None:
        sql += f" AND code IN ({','.join('?' * len(regions))})"
        args += regions
    try:
        packed = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:   # sum(day * value) beyond 64 bits: read rows
        return _rows_keyword(conn, keyword_id, device, regions)
    out, odd = {}, []
    for region, weekly, text in packed:
        if text is None:
            continue
        lo, hi, count, check, values = text.split(":", 4)
        lo, hi, count, check = int(lo), int(hi), int(count), int(check)
        step = 7 if weekly else 1
        raw = np.fromstring(values, dtype=np.int64, sep=",")
        if (hi - lo) % step or (hi - lo) // step + 1 != count or len(raw) != count or \
                int(np.dot(lo + step * np.arange(count), np.maximum(raw, 0))) != check:
            odd.append(region)
            continue
        out[(region, "week" if weekly else "day")] = (
            lo, step, np.where(raw < 0, np.nan, raw.astype(np.float64)))
    if odd:
        out.update(_rows_keyword(conn, keyword_id, device, sorted(set(odd))))
    return out


# --- workers ---------------------------------------------------------------------------------

def _component_row(subject, region, device, gran, first, step, observed, d: Decomposition,
                   now) -> tuple:
    return (subject, region, device, gran, _iso(first), step, len(observed), _pack(d.trend),
            _pack(d.seasonal), _pack(d.resid), None if d.yearly is None else _pack(d.yearly),
            _pack(d.adjusted), d.note, int(d.anomalies.sum()), now)


def _anomaly_rows(subject, region, first, step, observed, d: Decomposition) -> list[tuple]:
    idx = np.flatnonzero(d.anomalies)
    if not len(idx):
        return []
    # whole columns at once: a national analysis flags millions of days
    days = map(_iso, (first + step * idx).tolist())
    values = [None if v != v else v for v in observed[idx].astype(float).tolist()]
    return list(zip(repeat(subject), repeat(region), days, values,
                    d.resid[idx].astype(float).tolist()))


def _work_keyword(args) -> dict:
    """Decompose every series of one keyword; runs in a worker process."""
    db_file, keyword_id, device, config, regions = args
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        series = load_keyword(conn, keyword_id, device, regions)
    finally:
        conn.close()
    now = store.now_iso()
    comps, anomalies, observed, notes = [], [], {}, Counter()
    subject = f"k:{keyword_id}"
    fits = {}
    for gran in ("day", "week"):
        keys = [k for k in series if k[1] == gran]
        fits.update(zip(keys, decompose_many([series[k][2] for k in keys], gran, config,
                                             operators=_OPERATORS)))
    for (region, gran), (first, step, values) in series.items():
        d = fits[(region, gran)]
        notes[d.note.split(":")[0].split(";")[0]] += 1
        comps.append(_component_row(subject, region, device, gran, first, step, values, d, now))
        anomalies += _anomaly_rows(subject, region, first, step, values, d)
        observed[(region, gran)] = (first, step, values.astype(np.float32))
    return {"keyword_id": keyword_id, "observed": observed, "notes": notes,
            **_write(db_file, comps, anomalies)}


def _work_aggregates(args) -> dict:
    """Decompose a chunk of aggregate series (same granularity) together."""
    db_file, jobs = args
    config = jobs[0][7]
    fits = decompose_many([j[6] for j in jobs], jobs[0][3], config,
                          yearly=[j[8] for j in jobs], operators=_OPERATORS)
    now = store.now_iso()
    comps, anomalies, notes = [], [], Counter()
    for (subject, region, device, gran, first, step, values, _, _), d in zip(jobs, fits):
        comps.append(_component_row(subject, region, device, gran, first, step, values, d, now))
        anomalies += _anomaly_rows(subject, region, first, step, values, d)
        notes[d.note.split(":")[0].split(";")[0]] += 1
    return {"notes": notes, **_write(db_file, comps, anomalies)}


def _write(db_file: str, comps: list, anomalies: list) -> dict:
    """Save one job's results from the worker that made them, in one short transaction (a
    crawl writing meanwhile waits for it, not for the analysis); only their keys go back.
    Handing the arrays to the main process to write cost a third of a national analysis in
    pickling and in one process writing for two."""
    db = store.connect(db_file)
    try:
        with db.atomic():
            _save(db, comps, anomalies)
    finally:
        db.close()
    return {"saved": [(c[0], c[1], c[3]) for c in comps]}


# STL operators by length (see analysis.decompose), built in the main process before the
# workers fork, so every worker shares them.
_OPERATORS: dict = {}


def _prepare_operators(db, refit: dict, config: DecomposeConfig, device: str) -> None:
    """Build the STL operators that pay for themselves: a length shared by at least a third as
    many series as it has days (building costs one fit per day)."""
    _OPERATORS.clear()
    if config.robust:
        return
    spans = db.execute("SELECT keyword_id, region, min(min_date), max(max_date) FROM touched "
                       "GROUP BY keyword_id, region").fetchall()
    lengths: Counter = Counter()
    for kw, region, lo, hi in spans:
        regions = refit.get(kw, ())
        if kw in refit and (regions is None or region in regions):
            lengths[_day(hi) - _day(lo) + 1] += 1
    for n, count in lengths.items():
        if n >= 2 * config.period and count * 3 >= n:
            _OPERATORS[operator_key(n, "day", config)] = stl_operators(n, "day", config,
                                                                       cache_dir=_cache_dir())


def _cache_dir():
    """Where built STL operators are kept: AICITY_CACHE_DIR, else the user's cache folder."""
    from pathlib import Path
    base = os.environ.get("AICITY_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") \
        or Path.home() / ".cache"
    return Path(base) / ("" if os.environ.get("AICITY_CACHE_DIR") else "aicity")


class DaySums:
    """Daily series summed per (key, region) on one day grid; missing + missing stays missing.

    The aggregates of a full run: a keyword's regions are added at once (one array operation
    per key instead of one per region, which cost the main process a third of a national
    analysis). Each sum spans its members' spans, as the members' arrays do.
    """

    def __init__(self):
        self.lo = self.hi = None
        self.rows: dict[int, int] = {}          # region -> row
        self.total: dict = {}                   # key -> float sums, rows x days
        self.has: dict = {}                     # key -> bool, a member had a value
        self.first: dict = {}                   # key -> earliest member start per row
        self.last: dict = {}                    # key -> latest member end per row

    def _grow(self, lo: int, hi: int, n_rows: int) -> None:
        if self.lo is None:
            self.lo, self.hi = lo, hi
        new_lo, new_hi = min(lo, self.lo), max(hi, self.hi)
        before, after = self.lo - new_lo, new_hi - self.hi
        for key in self.total:
            extra_rows = n_rows - self.total[key].shape[0]
            pad = ((0, extra_rows), (before, after))
            if extra_rows or before or after:
                self.total[key] = np.pad(self.total[key], pad)
                self.has[key] = np.pad(self.has[key], pad)
                self.first[key] = np.pad(self.first[key], (0, extra_rows),
                                         constant_values=np.iinfo(np.int64).max)
                self.last[key] = np.pad(self.last[key], (0, extra_rows),
                                        constant_values=np.iinfo(np.int64).min)
        self.lo, self.hi = new_lo, new_hi

    def add(self, keys, series: dict[int, tuple[int, int, np.ndarray]]) -> None:
        """Add one keyword's daily series {region: (first day, 1, values)} to every key."""
        if not series or not keys:
            return
        for region in series:
            self.rows.setdefault(region, len(self.rows))
        firsts = {r: f for r, (f, _, _) in series.items()}
        lasts = {r: f + len(v) - 1 for r, (f, _, v) in series.items()}
        self._grow(min(firsts.values()), max(lasts.values()), len(self.rows))
        n_days = self.hi - self.lo + 1
        rows = np.array([self.rows[r] for r in series])
        block = np.zeros((len(rows), n_days))
        present = np.zeros((len(rows), n_days), dtype=bool)
        for i, (first, _, values) in enumerate(series.values()):
            off = first - self.lo
            ok = ~np.isnan(values)
            block[i, off:off + len(values)] = np.where(ok, values, 0.0)
            present[i, off:off + len(values)] = ok
        starts = np.array([firsts[r] for r in series], dtype=np.int64)
        ends = np.array([lasts[r] for r in series], dtype=np.int64)
        for key in keys:
            if key not in self.total:
                self.total[key] = np.zeros((len(self.rows), n_days))
                self.has[key] = np.zeros((len(self.rows), n_days), dtype=bool)
                self.first[key] = np.full(len(self.rows), np.iinfo(np.int64).max)
                self.last[key] = np.full(len(self.rows), np.iinfo(np.int64).min)
            # adding 0.0 where a member is missing leaves a sum exactly as it was
            self.total[key][rows] += block
            self.has[key][rows] |= present
            np.minimum.at(self.first[key], rows, starts)
            np.maximum.at(self.last[key], rows, ends)

    def items(self):
        """((key, region), (first day, 1, values with NaN where no member had a value))."""
        regions = sorted(self.rows, key=self.rows.get)
        for key, total in self.total.items():
            for region in regions:
                row = self.rows[region]
                first, last = int(self.first[key][row]), int(self.last[key][row])
                if first > last:
                    continue   # no member in this region
                a, b = first - self.lo, last - self.lo + 1
                values = np.where(self.has[key][row, a:b], total[row, a:b], np.nan)
                yield (key, region), (first, 1, values)


# --- analyze ---------------------------------------------------------------------------------

@dataclass
class AnalyzeResult:
    full: bool
    series: int = 0
    aggregates: int = 0
    appended: int = 0
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)
    run_id: int | None = None


def _membership(db) -> dict[int, list[tuple[str, str]]]:
    out = defaultdict(list)
    for kw_id, cat, grp in db.execute("SELECT keyword_id, category, group_name FROM keyword_groups"):
        out[kw_id].append((cat, grp))
    return out


def _subjects_for(memberships: list[tuple[str, str]]) -> list[str]:
    """The aggregate series a keyword feeds: its dimensions and its groups."""
    subjects = []
    for cat, grp in memberships:
        subjects.append(f"d:{cat}")
        if grp:
            subjects.append(f"g:{cat}/{grp}")
    return subjects


def analyze(db_path=None, *, full: bool = False, config: DecomposeConfig | None = None,
            aggregate_config: DecomposeConfig | None = None, workers: int | None = None,
            device: str = "all", tail_limit: int = 28,
            progress: Callable[[str, int, int], None] | None = None) -> AnalyzeResult:
    """Decompose what changed (or everything with full=True) and store the results."""
    config = config or DecomposeConfig()
    aggregate_config = aggregate_config or DecomposeConfig(refit_outliers=True)
    workers = workers or min(2, os.cpu_count() or 1)
    t0 = time.monotonic()
    db = store.connect(db_path)
    store.require_schema(db)
    db_file = str(store.db_path(db_path).resolve())
    state = dict(db.execute("SELECT key, value FROM analysis_state").fetchall())
    # Watermark over touched.seq (commit order); the key keeps its old name so databases
    # analysed before m005 carry on (their seq values are the run ids).
    last_seq = int(state.get("last_run", "0"))
    max_seq = db.execute("SELECT coalesce(max(seq), 0) FROM touched").fetchone()[0]
    has_components = db.execute("SELECT 1 FROM components LIMIT 1").fetchone() is not None
    full = full or not has_components
    result = AnalyzeResult(full=full)
    run = store.start_run(db, "analyze", "", {"full": full, "since_seq": last_seq})
    db.conn.commit()

    if full:
        refit: dict[int, list[int] | None] = {
            r[0]: None for r in db.execute("SELECT id FROM keywords ORDER BY id")}
        appends: dict[tuple[int, int], tuple[str, str]] = {}
    else:
        refit, appends = _plan_incremental(db, last_seq, max_seq, device, tail_limit)
    membership = _membership(db)

    # Results are saved by the workers, a job (a keyword, a chunk of aggregates) a transaction,
    # so a crawl or an import writing at the same time waits for a job, not for the analysis
    # (which once held the write lock for minutes and made collect give up with "database is
    # locked"). A full run replaces rows in place and removes the ones it did not refresh at
    # the end, so a reader never finds the table empty.
    saved: set[tuple[str, int, str]] = set()

    _prepare_operators(db, refit, config, device)

    # 1. keyword × region series; their observed arrays are summed into aggregates as they come
    jobs = [(db_file, kw, device, config, regions) for kw, regions in refit.items()]
    notes: Counter = Counter()
    acc = DaySums()
    done = 0
    for out in _map(_work_keyword, jobs, workers):
        done += 1
        saved.update(out["saved"])
        notes.update(out["notes"])
        result.series += len(out["saved"])
        if full:
            acc.add(_subjects_for(membership.get(out["keyword_id"], [])),
                    {region: v for (region, gran), v in out["observed"].items()
                     if gran == "day"})
        if progress:
            progress("series", done, len(jobs))
    with db.atomic():
        result.appended = _append_tails(db, appends, device)

    # 2. aggregates (dimension/group × region)
    if full:
        agg_jobs = [(subject, region, device, "day", first, step, values, aggregate_config,
                     region == 0) for (subject, region), (first, step, values) in acc.items()]
    else:
        pairs = {(s_, r) for kw, regions in refit.items() for r in (regions or [])
                 for s_ in _subjects_for(membership.get(kw, []))}
        agg_jobs = _aggregate_jobs(db_file, pairs, membership, device, aggregate_config)
        append_pairs = {(s_, r): span for (kw, r), span in appends.items()
                        for s_ in _subjects_for(membership.get(kw, [])) if (s_, r) not in pairs}
    del acc
    done = 0
    for out in _map(_work_aggregates, [(db_file, c) for c in _chunks(agg_jobs)], workers):
        done += len(out["saved"])
        saved.update(out["saved"])
        notes.update(out["notes"])
        result.aggregates += len(out["saved"])
        if progress:
            progress("aggregates", done, len(agg_jobs))
    _OPERATORS.clear()
    with db.atomic():
        if full:
            _drop_unrefreshed(db, saved, device)
        else:
            _append_aggregate_tails(db, append_pairs, membership, device)
        db.execute("INSERT INTO analysis_state(key, value) VALUES ('last_run', ?) "
                   "ON CONFLICT DO UPDATE SET value = excluded.value", [str(max_seq)])
        latest = db.execute("SELECT max(max_date) FROM touched").fetchone()[0]
        if latest:
            db.execute("INSERT INTO analysis_state(key, value) VALUES ('latest_day', ?) "
                       "ON CONFLICT DO UPDATE SET value = max(value, excluded.value)", [latest])
    result.seconds = time.monotonic() - t0
    result.notes = dict(notes)
    result.run_id = run.id
    store.finish_run(db, run, "ok", result.series + result.aggregates + result.appended,
                     {"full": full, "series": result.series, "aggregates": result.aggregates,
                      "appended": result.appended, "notes": result.notes,
                      "seconds": round(result.seconds, 1)})
    db.conn.commit()
    db.close()
    return result


def _chunks(jobs: list, size: int = 64) -> list[list]:
    """Aggregate jobs in chunks of one granularity, so each worker fits many at once."""
    by_gran: dict[str, list] = defaultdict(list)
    for job in jobs:
        by_gran[job[3]].append(job)
    return [group[i:i + size] for group in by_gran.values()
            for i in range(0, len(group), size)]


def _map(fn, jobs, workers):
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(job)
        return
    # Fork is quick and the workers share the operators built here; but a process with other
    # threads can fork while one of them holds a lock, and the worker then waits for it
    # forever. Then spawn, and hand the workers the operators. (Threads Python does not see,
    # such as those a Scrapy crawl leaves, are not caught here: run analysis in a process of its
    # own after a crawl, as the nightly job and the demo do.)
    if threading.active_count() == 1:
        ctx, args = mp.get_context("fork"), (None,)
    else:
        ctx, args = mp.get_context("spawn"), (dict(_OPERATORS),)
    with ctx.Pool(workers, initializer=_start_worker, initargs=args) as pool:
        yield from pool.imap_unordered(fn, jobs, chunksize=max(1, len(jobs) // (workers * 8)))


def _start_worker(operators: dict | None) -> None:
    # One BLAS thread a worker: with a thread per core in each of two workers the operator
    # products oversubscribed the machine, and a national analysis took 30 s instead of 23.
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1)
    if operators is not None:
        _use_operators(operators)


def _use_operators(operators: dict) -> None:
    _OPERATORS.clear()
    _OPERATORS.update(operators)


def _drop_unrefreshed(db, saved: set, device: str) -> None:
    """After a full run: components (and their tails and anomalies) of series that no longer
    exist, i.e. that this run did not write."""
    stale = [(s_, r, g) for s_, r, g in db.execute(
        "SELECT subject, region, granularity FROM components WHERE device = ?", [device])
        if (s_, r, g) not in saved]
    db.conn.executemany("DELETE FROM components WHERE subject = ? AND region = ? AND "
                        "granularity = ? AND device = ?", [(*k, device) for k in stale])
    db.conn.executemany("DELETE FROM components_tail WHERE subject = ? AND region = ? AND "
                        "device = ?", [(k[0], k[1], device) for k in stale])
    db.conn.executemany("DELETE FROM anomalies WHERE subject = ? AND region = ? AND NOT EXISTS "
                        "(SELECT 1 FROM components c WHERE c.subject = anomalies.subject AND "
                        "c.region = anomalies.region)", [(k[0], k[1]) for k in stale])


def _save(db, comps: list, anomalies: list) -> None:
    if not comps:
        return
    keys = [(c[0], c[1], c[2], c[3]) for c in comps]
    db.conn.executemany("DELETE FROM anomalies WHERE subject = ? AND region = ?",
                        [(k[0], k[1]) for k in keys])
    db.conn.executemany("DELETE FROM components_tail WHERE subject = ? AND region = ? AND "
                        "device = ?", [k[:3] for k in keys])
    db.conn.executemany(
        "INSERT OR REPLACE INTO components(subject, region, device, granularity, start, step, n, "
        "trend, seasonal, resid, yearly, adjusted, note, anomalies, analyzed_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", comps)
    db.conn.executemany("INSERT OR REPLACE INTO anomalies(subject, region, date, value, resid) "
                        "VALUES (?,?,?,?,?)", anomalies)


def _plan_incremental(db, last_seq: int, max_seq: int, device: str, tail_limit: int):
    """Which keywords need a refit (and for which regions) and which series can take a tail."""
    touched = db.execute("SELECT keyword_id, region, min(min_date), max(max_date) FROM touched "
                         "WHERE seq > ? AND seq <= ? GROUP BY keyword_id, region",
                         [last_seq, max_seq]).fetchall()
    ends = {(int(s[2:]), r): (start, step, n) for s, r, start, step, n in db.execute(
        "SELECT subject, region, start, step, n FROM components WHERE subject LIKE 'k:%' AND "
        "device = ? AND granularity = 'day'", [device])}
    refit: dict[int, list[int] | None] = {}
    appends: dict[tuple[int, int], tuple[str, str]] = {}
    for kw, region, lo, hi in touched:
        fitted = ends.get((kw, region))
        if fitted is not None:
            start, step, n = fitted
            fitted_end = _day(start) + n - 1
            if _day(lo) > fitted_end and _day(hi) - fitted_end <= tail_limit:
                appends[(kw, region)] = (_iso(fitted_end + 1), hi)
                continue
        regions = refit.setdefault(kw, [])
        if regions is not None:
            regions.append(region)
    return refit, appends


def _append_tails(db, appends: dict, device: str) -> int:
    """Provisional components for days after a series' fitted end (no refit).

    Only the last trend value and the last week of the season are needed: they are cut out of
    the stored arrays in SQL (one query per keyword), not read whole for every series."""
    if not appends:
        return 0
    rows = []
    by_keyword: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    for (kw, region), span in appends.items():
        by_keyword[kw][region] = span
    for kw, spans in by_keyword.items():
        subject = f"k:{kw}"
        ends = {r: (start, n, trend, season) for r, start, n, trend, season in db.execute(
            "SELECT region, start, n, substr(trend, -4), substr(seasonal, -28) FROM components "
            "WHERE subject = ? AND device = ? AND granularity = 'day'", [subject, device])}
        for region, (lo, hi) in spans.items():
            start, n, trend_b, season_b = ends[region]
            level = float(_unpack(trend_b)[-1])
            last_week = _unpack(season_b) if n >= 7 else None
            first = _day(start)
            obs = db.execute("SELECT day, value FROM obs WHERE keyword_id = ? AND region = ? AND "
                             "device = ? AND weekly = 0 AND day >= ?",
                             [kw, region, store.DEVICE_CODE[device], _day(lo)]).fetchall()
            for day, value in obs:
                i = day - first
                season = float(last_week[(i - n) % 7]) if last_week is not None else 0.0
                v = np.nan if value is None else float(value)
                rows.append((subject, region, device, _iso(day), level, season,
                             v - level - season, v - season))
    db.conn.executemany(
        "INSERT OR REPLACE INTO components_tail(subject, region, device, date, trend, seasonal, "
        "resid, adjusted) VALUES (?,?,?,?,?,?,?,?)", rows)
    return len(appends)


def _members(membership) -> dict[str, list[int]]:
    members: dict[str, list[int]] = defaultdict(list)
    for kw, mem in membership.items():
        for subject in _subjects_for(mem):
            members[subject].append(kw)
    return members


def _aggregate_jobs(db_file, pairs, membership, device, config):
    """Jobs for (subject, region) aggregates whose members were refitted (incremental runs):
    the member series of just those regions are read back."""
    if not pairs:
        return []
    members = _members(membership)
    jobs = []
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        by_subject = defaultdict(set)
        for subject, region in pairs:
            by_subject[subject].add(region)
        for subject, regions in sorted(by_subject.items()):
            acc = DaySums()
            for kw in members.get(subject, []):
                acc.add([subject], {region: v for (region, gran), v in load_keyword(
                    conn, kw, device, sorted(regions)).items() if gran == "day"})
            for (_, region), (first, step, values) in acc.items():
                jobs.append((subject, region, device, "day", first, step, values, config,
                             region == 0))
    finally:
        conn.close()
    return jobs


def _append_aggregate_tails(db, pairs: dict, membership, device: str) -> None:
    """Provisional aggregate components: the members' new observations summed per day."""
    members = _members(membership)
    rows = []
    for (subject, region), (lo, hi) in pairs.items():
        comp = db.execute("SELECT start, n, trend, seasonal FROM components WHERE subject = ? "
                          "AND region = ? AND device = ? AND granularity = 'day'",
                          [subject, region, device]).fetchone()
        if comp is None:
            continue
        start, n, trend_b, seasonal_b = comp
        trend, seasonal = _unpack(trend_b), _unpack(seasonal_b)
        kws = members.get(subject, [])
        sums = db.execute(
            f"SELECT day, sum(value) FROM obs WHERE region = ? AND device = ? AND weekly = 0 "
            f"AND day BETWEEN ? AND ? AND keyword_id IN ({','.join('?' * len(kws))}) "
            f"GROUP BY day", [region, store.DEVICE_CODE[device], _day(lo), _day(hi), *kws])
        first = _day(start)
        for day, total in sums:
            day_text = _iso(day)
            i = day - first
            season = seasonal[n - 7 + ((i - n) % 7)] if n >= 7 else 0.0
            v = np.nan if total is None else float(total)
            rows.append((subject, region, device, day_text, trend[-1], season,
                         v - trend[-1] - season, v - season))
    db.conn.executemany(
        "INSERT OR REPLACE INTO components_tail(subject, region, device, date, trend, seasonal, "
        "resid, adjusted) VALUES (?,?,?,?,?,?,?,?)", rows)


# --- reading results -------------------------------------------------------------------------

def _tail_adjusted(db, subjects: list[str], device: str) -> dict:
    out = defaultdict(list)
    if not subjects:
        return out
    for i in range(0, len(subjects), 500):
        part = subjects[i:i + 500]
        for subject, region, day_text, adj in db.execute(
                f"SELECT subject, region, date, adjusted FROM components_tail WHERE device = ? "
                f"AND subject IN ({','.join('?' * len(part))})", [device, *part]):
            out[(subject, region)].append((_day(day_text), adj))
    return out


def adjusted_matrix(db, subjects: list[str], period: Period, regions: list[int] | None = None,
                    device: str = "all") -> pd.DataFrame:
    """Seasonally adjusted daily values in the period: rows = days, columns = (subject, region).

    Weekly series contribute their weekly value on each week's start day (so a period mean over
    such a column is the mean of the weeks that start in the period).
    """
    lo, hi = _day(period.start.isoformat()), _day(period.end.isoformat())
    n_days = hi - lo + 1
    columns, placed = [], []
    tails = _tail_adjusted(db, subjects, device)
    seen = set()
    for i in range(0, len(subjects), 500):
        part = subjects[i:i + 500]
        sql = (f"SELECT subject, region, granularity, start, step, n, adjusted FROM components "
               f"WHERE device = ? AND subject IN ({','.join('?' * len(part))})")
        args: list = [device, *part]
        if regions is not None:
            sql += f" AND region IN ({','.join('?' * len(regions))})"
            args += regions
        for subject, region, gran, start, step, n, blob in db.execute(sql, args):
            if (subject, region) in seen:
                continue  # daily first is not guaranteed by SQL; keep the first (day < week)
            seen.add((subject, region))
            columns.append((subject, region))
            placed.append((_day(start), step, blob))
    index = pd.date_range(period.start, period.end, freq="D")
    if not columns:
        return pd.DataFrame(index=index)
    # One matrix filled in place: a quick command (`aicity rank`) reads thousands of columns,
    # and building a NaN array per column cost a third of its time.
    out = np.full((n_days, len(columns)), np.nan)
    for j, (first, step, blob) in enumerate(placed):
        values = np.frombuffer(blob, dtype=BLOB)
        if step == 1:
            a, b = max(lo, first), min(hi, first + len(values) - 1)
            if a <= b:
                out[a - lo:b - lo + 1, j] = values[a - first:b - first + 1]
        else:
            pos = first + step * np.arange(len(values)) - lo
            ok = (pos >= 0) & (pos < n_days)
            out[pos[ok], j] = values[ok]
        for day, adj in tails.get(columns[j], ()):
            if lo <= day <= hi:
                out[day - lo, j] = np.nan if adj is None else adj
    return pd.DataFrame(out, index=index,
                        columns=pd.MultiIndex.from_tuples(columns, names=["subject", "region"]))


def group_id(category: str, group: str) -> str:
    """A group of the dimension by its id or its Chinese name (金融 is finance)."""
    from aicity.keywords.taxonomy import DIMENSIONS, LABELS_ZH
    groups = DIMENSIONS.get(category, ())
    text = group.strip()
    found = {LABELS_ZH[g]: g for g in groups}.get(text, text)
    if found not in groups:
        known = ", ".join(f"{g} ({LABELS_ZH[g]})" for g in groups)
        raise NoResults(f"{category} has no group {text!r}"
                        + (f"; its groups: {known}" if known else "; it has no groups"))
    return found


def _subjects(db, category: str | None, group: str | None, keyword: str | None
              ) -> tuple[list[str], str]:
    if keyword:
        kw_id, term = store.resolve_keyword(db, keyword)
        return [f"k:{kw_id}"], term
    if not category and group:
        raise NoResults(f"--group {group} needs --dimension (application or industry)")
    if group:
        group = group_id(category, group)
    rows = db.execute("SELECT keyword_id FROM keyword_groups WHERE category = ?"
                      + (" AND group_name = ?" if group else ""),
                      [category, group] if group else [category]).fetchall()
    if not rows:
        raise NoResults(f"no keywords in {category}{'/' + group if group else ''}")
    return [f"k:{r[0]}" for r in rows], f"{category}{'/' + group if group else ''}"


def latest_day(db) -> date:
    """The last day analysed (recorded by analyze: scanning the components would read every
    stored array)."""
    row = db.execute("SELECT value FROM analysis_state WHERE key = 'latest_day'").fetchone()
    if row is None:
        raise NoResults("no analysis results yet; run `aicity analyze`")
    return date.fromisoformat(row[0])


def data_span(db) -> tuple[date, date] | None:
    """First and last day any run wrote (imports and crawls record what they touched)."""
    lo, hi = db.execute("SELECT min(min_date), max(max_date) FROM touched").fetchone()
    return (date.fromisoformat(lo), date.fromisoformat(hi)) if lo else None


def resolve_period(db, text: str | None) -> Period:
    """The period asked for (default: the last full year), refused when no data falls in it:
    a period outside the data would give blank rows that look like an answer."""
    per = parse_period(text) if text else last_full_year(latest_day(db))
    span = data_span(db)
    if span is None:
        raise NoResults("no data yet; run `aicity collect` or `aicity import`")
    first, last = span
    if per.end < first or per.start > last:
        full_year = last.year if last.month == 12 and last.day == 31 else last.year - 1
        suggest = str(full_year) if full_year >= first.year and date(full_year, 1, 1) >= first \
            else f"{first}..{last}"
        raise NoResults(f"no data for period {per.label} ({per.start}..{per.end}); the data "
                        f"covers {first}..{last}: try --period {suggest}")
    return per


def year_on_year_gap(db, period: Period) -> str:
    """Why a year-on-year change cannot be given for `period` ('' when it can): both the period
    and the same span a year earlier must lie wholly within the data, or a full year would be
    compared with a few weeks."""
    span = data_span(db)
    if span is None:
        return "no data"
    first, last = span
    prev = period.shifted_years(-1)
    if prev.start < first:
        had = max(0, (prev.end - max(prev.start, first)).days + 1)
        return (f"year-on-year needs {prev.start}..{prev.end} in full; the data starts "
                f"{first} ({had} of {prev.days} days)")
    if period.end > last:
        return (f"year-on-year needs {period.start}..{period.end} in full; the data ends "
                f"{last}")
    return ""


def _region_frame(db, level: str | None) -> pd.DataFrame:
    reg = store.regions_frame(store.registry(db), level=level)
    return reg.set_index("code")


BASES = ("series", "distribution")


def distribution_period(db, text: str | None = None) -> Period:
    """A regional-distribution snapshot's window: the newest, or the one `text` names."""
    windows = store.distribution_windows(db)
    if not windows:
        raise NoResults("no regional-distribution snapshot yet; run "
                        "`aicity collect --what snapshot`")
    if text is None:
        return parse_period(f"{windows[0][0]}..{windows[0][1]}")
    per = parse_period(text)
    if any((per.start.isoformat(), per.end.isoformat()) == (a, b) for a, b, _ in windows):
        return per
    raise NoResults(f"no snapshot for {per.start}..{per.end}; snapshots: "
                    + ", ".join(f"{a}..{b}" for a, b, _ in windows[:5]))


def distribution_values(db, subjects: list[str], period: Period, regions: list[int]
                        ) -> pd.Series:
    """(subject, region) -> the snapshot's period mean, for keywords answered for every
    province the snapshot asked: a keyword some provinces lack would lower only their cities."""
    asked = {(a, b): n for a, b, n in store.distribution_windows(db)}.get(
        (period.start.isoformat(), period.end.isoformat()), 0)
    rows = store.distribution_means(db, period.start.isoformat(), period.end.isoformat(),
                                    [int(s[2:]) for s in subjects if s.startswith("k:")])
    per_kw = rows.groupby("keyword_id")["area"].nunique()
    complete = per_kw[per_kw == asked].index
    rows = rows[rows["keyword_id"].isin(complete) & rows["region"].isin(regions)]
    index = pd.MultiIndex.from_arrays([("k:" + rows["keyword_id"].astype(int).astype(str)),
                                       rows["region"].astype(int)], names=["keyword", "region"])
    return pd.Series(pd.to_numeric(rows["value"], errors="coerce").astype(float).to_numpy(),
                     index=index)


def snapshot_keywords(db, period: Period) -> tuple[int, int]:
    """(keywords the snapshot has for every province it asked, keywords of the taxonomy)."""
    ids = [int(r[0]) for r in db.execute("SELECT id FROM keywords WHERE in_taxonomy = 1")]
    values = distribution_values(db, [f"k:{i}" for i in ids], period,
                                 list(_region_frame(db, None).index))
    return values.index.get_level_values(0).nunique(), len(ids)


def resolve_basis_period(db, text: str | None, basis: str) -> Period:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
    return distribution_period(db, text) if basis == "distribution" else \
        resolve_period(db, text)


def dimension_series(db, *, category=None, group=None, keyword=None, period: Period,
                     level: str = "city", basis: str = "series"
                     ) -> tuple[pd.Series, pd.DataFrame]:
    """Period value per region of the level, and the adjusted matrix it came from (empty for
    the distribution basis: a snapshot is one mean per region, not a series)."""
    subjects, _ = _subjects(db, category, group, keyword)
    regions = _region_frame(db, level)
    if basis == "distribution":
        values = distribution_values(db, subjects, period, list(regions.index))
        if values.empty:
            raise NoResults("no snapshot value for this selection; run "
                            "`aicity collect --what snapshot`")
        dims = dimension_values(values, subjects).reindex(regions.index)
        return dims, pd.DataFrame()
    matrix = adjusted_matrix(db, subjects, period, list(regions.index))
    if matrix.empty:
        raise NoResults("no analysis results for this selection; run `aicity analyze`")
    values = matrix.mean(axis=0)
    values.index = pd.MultiIndex.from_tuples(values.index, names=["keyword", "region"])
    dims = dimension_values(values, subjects).reindex(regions.index)
    return dims, matrix


def rank(db, *, category=None, group=None, keyword=None, level="city", period=None,
         normalize="raw", uncertainty=False, tiers="bands", n_boot=500, seed=0,
         basis="series") -> pd.DataFrame:
    """rank, region_code, region, province, value, tier (and rank_low, rank_high,
    tier_confidence with uncertainty; empty for the distribution basis, which has no weeks
    to resample)."""
    per = resolve_basis_period(db, period, basis)
    values, matrix = dimension_series(db, category=category, group=group, keyword=keyword,
                                      period=per, level=level, basis=basis)
    regions = _region_frame(db, level)
    base_total = None
    if normalize == "share":
        base_total = float(values.sum())
    shown = normalise(values, normalize, regions["population"].astype(float), base_total)
    table = rank_table(shown, DEFAULT_BANDS, method=tiers)
    out = pd.DataFrame({"rank": table["rank"], "region_code": table.index,
                        "region": regions.loc[table.index, "name"].to_numpy(),
                        "province": regions.loc[table.index, "province"].to_numpy(),
                        "value": table["value"].round(4), "tier": table["tier"]})
    if uncertainty and basis == "distribution":
        for col in ("rank_low", "rank_high", "tier_confidence"):
            out[col] = np.nan
    elif uncertainty:
        weekly = _weekly_dimension(matrix, list(regions.index))
        if normalize == "per-capita":
            weekly = weekly * (1e6 / regions["population"].astype(float)).reindex(weekly.columns)
        iv = rank_intervals(weekly, n_boot=n_boot, seed=seed)
        out = out.join(iv, on="region_code")
        out["tier_confidence"] = out["tier_confidence"].round(4)
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def _weekly_dimension(matrix: pd.DataFrame, regions: list[int]) -> pd.DataFrame:
    """Weekly means per (subject, region) summed to regions: rows = weeks, columns = regions."""
    weeks = matrix.groupby(matrix.index.to_period("W-SUN")).mean()
    summed = weeks.T.groupby(level="region").sum(min_count=1).T
    return summed.reindex(columns=regions)


def split(db, *, category=None, keyword=None, line="qinling-huaihe", period=None, level="city"
          ) -> pd.DataFrame:
    if line not in LINES:
        raise ValueError(f"line must be one of {', '.join(LINES)}")
    per = resolve_period(db, period)
    values, _ = dimension_series(db, category=category, keyword=keyword, period=per, level=level)
    regions = _region_frame(db, level)
    out = north_south(values.dropna(), regions[LINES[line]])
    out.attrs["period"] = per.label
    return out


def _group_frame(db, category: str, groups: Iterable[str], period: Period, level: str,
                 basis: str = "series") -> pd.DataFrame:
    """One column per group; a group without data is an empty column (the others still
    answer), and only when no group has data is there nothing to say."""
    columns, missing = {}, []
    for g in groups:
        try:
            columns[g] = dimension_series(db, category=category, group=g, period=period,
                                          level=level, basis=basis)[0]
        except NoResults:
            missing.append(g)
    if not columns:
        raise NoResults(f"no analysis results for {category}; run `aicity analyze`")
    index = next(iter(columns.values())).index
    frame = pd.DataFrame({g: columns.get(g, pd.Series(np.nan, index=index)) for g in groups})
    frame.attrs["groups_without_data"] = missing
    return frame


def _with_names(frame: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """region_code and region name as the first columns of a frame indexed by region code."""
    frame = frame.copy()
    frame.insert(0, "region", regions.loc[frame.index, "name"].to_numpy())
    frame.insert(0, "region_code", frame.index)
    return frame


def demand_types(db, *, period=None, top=15, threshold=0.25, level="city", basis="series"
                 ) -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "application", TECH_GROUPS, per, level, basis)
    out = _with_names(_demand_types(groups, top=top, threshold=threshold),
                      _region_frame(db, level))
    out = out[["region_code", "region", "total", *TECH_GROUPS, "type", "drivers"]]
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def industries(db, *, period=None, lq_threshold=1.2, top=10, level="city", basis="series"
               ) -> pd.DataFrame:
    per = resolve_basis_period(db, period, basis)
    groups = _group_frame(db, "industry", INDUSTRIES, per, level, basis)
    out = _with_names(industry_profiles(groups, lq_threshold=lq_threshold, top=top),
                      _region_frame(db, level))
    out["label"] = np.where(out["full_demand"], "全需求",
                            np.where(out["specialisations"] != "", "specialised", ""))
    out.attrs["period"] = per.label
    return out.reset_index(drop=True)


def movers(db, *, category=None, group=None, keyword=None, period=None, level="city", n=10
           ) -> dict[str, pd.DataFrame]:
    """Year-on-year growth and rank change; risers and fallers; and the tier movement between
    cognition (basic + professional + technical) and the selection (default application
    demand). Each table has at most `n` rows.

    Year-on-year compares like with like: when the period a year earlier (or the period
    itself) is not wholly within the data, the growth tables' change columns are empty and
    their attrs['note'] says why.
    """
    if not (category or keyword):
        category = "application"
    per = resolve_period(db, period)
    prev = per.shifted_years(-1)
    regions = _region_frame(db, level)
    now_v, _ = dimension_series(db, category=category, group=group, keyword=keyword, period=per,
                                level=level)
    gap = year_on_year_gap(db, per)
    before_v = now_v * np.nan
    if not gap:
        try:
            before_v, _ = dimension_series(db, category=category, group=group, keyword=keyword,
                                           period=prev, level=level)
        except NoResults:
            gap = f"no analysis results for {prev.start}..{prev.end}"
    table = growth_table(now_v, before_v)
    risers, fallers = _movers(table, n or len(table))
    cognition = sum(dimension_series(db, category=c, period=per, level=level)[0].fillna(0)
                    for c in COGNITION)
    tiers = tier_movement(cognition, now_v)
    tiers = tiers[tiers["direction"].isin(["up", "down"])]
    tiers = tiers.reindex(tiers["move"].astype(float).abs().sort_values(
        ascending=False, kind="stable").index)

    def named(frame, note=""):
        out = _with_names(frame.head(n) if n else frame, regions).reset_index(drop=True)
        out.attrs["period"] = per.label
        out.attrs["note"] = note
        return out

    return {"growth": named(table, gap), "risers": named(risers, gap),
            "fallers": named(fallers, gap), "tiers": named(tiers)}


def components_for(db, keyword_id: int, region: int, device: str = "all",
                   granularity: str | None = None) -> pd.DataFrame:
    """date, trend, seasonal, resid for a stored series (provisional tail days included)."""
    sql = ("SELECT granularity, start, step, n, trend, seasonal, resid FROM components "
           "WHERE subject = ? AND region = ? AND device = ?")
    args = [f"k:{keyword_id}", region, device]
    if granularity:
        sql += " AND granularity = ?"
        args.append(granularity)
    row = db.execute(sql + " ORDER BY granularity", args).fetchone()
    if row is None:
        raise NoResults("no decomposition stored for this series; run `aicity analyze`")
    gran, start, step, n, t, s, r = row
    first = _day(start)
    frame = pd.DataFrame({"date": [_iso(first + step * i) for i in range(n)],
                          "trend": _unpack(t), "seasonal": _unpack(s), "resid": _unpack(r)})
    tail = pd.DataFrame(db.execute(
        "SELECT date, trend, seasonal, resid FROM components_tail WHERE subject = ? AND "
        "region = ? AND device = ? ORDER BY date", args[:3]).fetchall(),
        columns=["date", "trend", "seasonal", "resid"])
    if not tail.empty:
        frame = pd.concat([frame, tail], ignore_index=True)
    return frame


def anomalies_frame(db, limit: int = 50) -> pd.DataFrame:
    return pd.read_sql_query("SELECT subject, region, date, value, resid FROM anomalies "
                             "ORDER BY abs(resid) DESC LIMIT ?", db.conn, params=[limit])


__all__ = ["AnalyzeResult", "NoResults", "adjusted_matrix", "analyze", "anomalies_frame",
           "components_for", "demand_types", "dimension_series", "industries", "movers", "rank",
           "resolve_period", "split", "data_span", "year_on_year_gap"]
