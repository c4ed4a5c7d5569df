"""`analyze`: decompose every stored series and every dimension/group aggregate, incrementally.

Every keyword × region series and every dimension/group × region aggregate is decomposed in
parallel worker processes and stored (through db.results) as float32 arrays, one row per series.
Incremental runs look at the `touched` table: a series that only gained days after its fitted
end gets provisional components for those days (the last fitted week's seasonal value for that
weekday, the last trend level); a series whose history changed, or whose tail grew past
`tail_limit` days, is refitted. A full run replaces every tail.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np

from aicity.children import die_with_parent
from aicity.analysis.holidays import holiday_mask
from aicity.analysis.decompose import (DecomposeConfig, Decomposition, decompose_many,
                                       is_dense, operator_key)
from aicity.db import results, store
from aicity.db.store import day_number, iso_day
from aicity.service.operator_cache import cached_stl_operators

logger = logging.getLogger(__name__)



# --- workers ---------------------------------------------------------------------------------

def _component_row(subject, region, device, gran, first, step, observed, d: Decomposition,
                   now) -> tuple:
    return results.component_row(subject, region, device, gran, first, step, len(observed),
                                 d.trend, d.seasonal, d.resid, d.yearly, d.adjusted, d.note,
                                 int(d.anomalies.sum()), now)


def _not_holidays(first: int, step: int, d: Decomposition) -> None:
    """Holidays explain their dips (and the Spring Festival's travel days around them): no
    anomaly there (analysis.holidays)."""
    if step == 1 and d.anomalies.any():
        d.anomalies &= ~holiday_mask(date.fromisoformat(iso_day(first)), len(d.anomalies))


def _anomaly_rows(subject, region, first, step, observed, d: Decomposition) -> list[tuple]:
    _not_holidays(first, step, d)
    idx = np.flatnonzero(d.anomalies)
    if not len(idx):
        return []
    # whole columns at once: a national analysis flags millions of days
    return results.anomaly_rows(subject, region, (first + step * idx).tolist(),
                                observed[idx].astype(float).tolist(),
                                d.resid[idx].astype(float).tolist())


def _work_keyword(args) -> dict:
    """Decompose every series of one keyword; runs in a worker process."""
    db_file, keyword_id, device, config, regions = args
    conn = results.read_only(db_file)
    try:
        series = results.load_keyword(conn, keyword_id, device, regions)
    finally:
        conn.close()
    now = store.now_iso()
    comps, anomalies, observed, notes = [], [], {}, Counter()
    subject = f"k:{keyword_id}"
    fits = {}
    for gran in ("day", "week"):
        keys = [k for k in series if k[1] == gran]
        fits.update(zip(keys, decompose_many([series[k][2] for k in keys], gran, config,
                                             operators=_OPERATORS,
                                             first_days=[series[k][0] for k in keys])))
    for (region, gran), (first, step, values) in series.items():
        d = fits[(region, gran)]
        notes[d.note.split(":")[0].split(";")[0]] += 1
        anomalies += _anomaly_rows(subject, region, first, step, values, d)   # holidays out
        comps.append(_component_row(subject, region, device, gran, first, step, values, d, now))
        observed[(region, gran)] = (first, step, values.astype(np.float32))
    return {"keyword_id": keyword_id, "observed": observed, "notes": notes,
            **_write(db_file, comps, anomalies)}


def _work_aggregates(args) -> dict:
    """Decompose a chunk of aggregate series (same granularity) together."""
    db_file, jobs = args
    config = jobs[0][7]
    fits = decompose_many([j[6] for j in jobs], jobs[0][3], config,
                          yearly=[j[8] for j in jobs], operators=_OPERATORS,
                          first_days=[j[4] for j in jobs])
    now = store.now_iso()
    comps, anomalies, notes = [], [], Counter()
    for (subject, region, device, gran, first, step, values, _, _), d in zip(jobs, fits):
        anomalies += _anomaly_rows(subject, region, first, step, values, d)   # holidays out
        comps.append(_component_row(subject, region, device, gran, first, step, values, d, now))
        notes[d.note.split(":")[0].split(";")[0]] += 1
    return {"notes": notes, **_write(db_file, comps, anomalies)}


def _write(db_file: str, comps: list, anomalies: list) -> dict:
    """Save one job's results from the worker that made them, in one short transaction (a
    crawl writing meanwhile waits for it, not for the analysis); only their keys go back.
    Handing the arrays to the main process to write cost a third of a national analysis in
    pickling and in one process writing for two."""
    results.save_components(db_file, comps, anomalies)
    return {"saved": [(c[0], c[1], c[3]) for c in comps]}


# STL operators by length (see analysis.decompose), built in the main process before the
# workers fork, so every worker shares them.
_OPERATORS: dict = {}


def _prepare_operators(db, refit: dict, config: DecomposeConfig, device: str,
                       cache_dir: Path | None) -> None:
    """Build the STL operators that pay for themselves: a length shared by at least a third as
    many series as it has days (building costs one fit per day)."""
    _OPERATORS.clear()
    if config.robust or not refit:   # nothing to fit (a night that only added days)
        return
    spans = results.touched_spans(db)
    lengths: Counter = Counter()
    for kw, region, lo, hi in spans:
        regions = refit.get(kw, ())
        if kw in refit and (regions is None or region in regions):
            lengths[day_number(hi) - day_number(lo) + 1] += 1
    for n, count in lengths.items():
        if n >= 2 * config.period and count * 3 >= n:
            _OPERATORS[operator_key(n, "day", config)] = cached_stl_operators(
                n, "day", config, cache_dir)


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


MEMORY_HINT = "try --workers 1, or free memory"


class AnalysisFailed(RuntimeError):
    """The analysis could not finish; the message is one line saying why and what to do."""


def _failure(err: BaseException) -> str:
    """Why an analysis failed, in one line."""
    if isinstance(err, AnalysisFailed):
        return str(err)
    if isinstance(err, MemoryError) or "can't start new thread" in str(err) \
            or "Cannot allocate memory" in str(err):
        return f"not enough memory for the analysis ({type(err).__name__}); {MEMORY_HINT}"
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def describe(result: AnalyzeResult) -> str:
    """An analysis in one line, as `aicity analyze` prints it and the nightly job keeps it."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.notes.items()))
    return (f"{'full' if result.full else 'incremental'} analysis: {result.series} series "
            f"refitted, {result.appended} extended provisionally, {result.aggregates} "
            f"aggregates in {result.seconds:.1f} s ({kinds})")


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
            progress: Callable[[str, int, int], None] | None = None,
            cache_dir: Path | None = None) -> AnalyzeResult:
    """Decompose what changed (or everything with full=True) and store the results.

    Built STL operators are kept in `cache_dir` (default: operator_cache.default_cache_dir)."""
    config = config or DecomposeConfig()
    aggregate_config = aggregate_config or DecomposeConfig(refit_outliers=True)
    workers = workers or min(2, os.cpu_count() or 1)
    t0 = time.monotonic()
    db = store.connect(db_path)
    store.require_schema(db)
    db_file = str(store.db_path(db_path))
    # Watermark over touched.seq (commit order); the key keeps its old name so databases
    # analysed before m005 carry on (their seq values are the run ids).
    last_seq = int(results.analysis_state(db).get("last_run", "0"))
    max_seq = results.touched_watermark(db)
    full = full or not results.has_components(db)
    if not full:
        refit, appends, fitted = _plan_incremental(db, last_seq, max_seq, device, tail_limit)
        # New history for most series (a backfill, a corrected import): a full run is cheaper.
        # An incremental one reads every member series again for the aggregates, in this
        # process alone; a full one sums them as the workers return them (a national
        # re-analysis took 78 s incremental, 36 s full).
        full = 2 * sum(len(r or ()) for r in refit.values()) >= fitted > 0
    if full:
        refit = {kw: None for kw in results.all_keyword_ids(db)}
        appends = {}
    result = AnalyzeResult(full=full)
    run = store.open_run(db, "analyze", "", {"full": full, "since_seq": last_seq})
    try:
        _analyze_run(db, db_file, run, result, full, refit, appends, last_seq, max_seq,
                     config, aggregate_config, workers, device, progress, cache_dir, t0)
    except (Exception, KeyboardInterrupt, SystemExit) as err:
        why = "interrupted" if isinstance(err, (KeyboardInterrupt, SystemExit)) \
            else _failure(err)
        _OPERATORS.clear()
        try:
            store.close_run(db, run, "failed", 0, error=why)
        except store.storage_errors():
            pass              # the next run marks it interrupted (its process is gone)
        db.close()
        if isinstance(err, Exception) and not isinstance(err, store.storage_errors()):
            raise AnalysisFailed(why) from None
        raise
    db.close()
    return result


def _analyze_run(db, db_file, run, result, full, refit, appends, last_seq, max_seq, config,
                 aggregate_config, workers, device, progress, cache_dir, t0) -> None:
    """The body of analyze() once its run is open: fits, aggregates, the run closed ok."""
    membership = results.keyword_memberships(db)

    # Results are saved by the workers, a job (a keyword, a chunk of aggregates) a transaction,
    # so a crawl or an import writing at the same time waits for a job, not for the analysis
    # (which once held the write lock for minutes and made collect give up with "database is
    # locked"). A full run replaces rows in place and removes the ones it did not refresh at
    # the end, so a reader never finds the table empty.
    saved: set[tuple[str, int, str]] = set()

    _prepare_operators(db, refit, config, device, cache_dir)

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
                    _dense_days(out["observed"], config))
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
        append_pairs = _aggregate_spans(appends, membership, pairs)
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
            results.drop_components_except(db, saved, device)
        else:
            _append_aggregate_tails(db, append_pairs, membership, device)
        results.record_analysis(db, max_seq)
    result.seconds = time.monotonic() - t0
    result.notes = dict(notes)
    result.run_id = run.id
    store.close_run(db, run, "ok", result.series + result.aggregates + result.appended,
                    {"full": full, "series": result.series, "aggregates": result.aggregates,
                     "appended": result.appended, "notes": result.notes,
                     "seconds": round(result.seconds, 1)})


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
    # concurrent.futures, not multiprocessing.Pool: a worker that dies (out of memory, killed)
    # breaks the pool at once; Pool waited for ever on the queue lock the dead worker held
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                               initargs=args)
    finished = False
    try:
        yield from pool.map(partial(_run_job, fn), jobs,
                            chunksize=max(1, len(jobs) // (workers * 8)))
        finished = True
    except BrokenProcessPool:
        codes = sorted({proc.exitcode for proc in list(pool._processes.values())
                        if proc.exitcode})
        status = f"exit status {', '.join(map(str, codes))}; " if codes else ""
        raise AnalysisFailed(f"an analysis worker died ({status}out of memory?); "
                             f"{MEMORY_HINT}") from None
    except WorkerStopped:
        raise AnalysisFailed("an analysis worker was stopped (SIGUSR1) before the run "
                             "finished") from None
    finally:
        if not finished:
            # stopped (an error, Ctrl-C, SIGTERM): ask the workers to drop their jobs now
            # rather than finish their chunks. Not SIGTERM: a worker ended while it was sending
            # a result left half a message in the pipe, the pool's reader waited for the rest,
            # and shutdown (and so analyze) for ever; a stopped job is sent back whole.
            for proc in list((pool._processes or {}).values()):
                if proc.is_alive():
                    with suppress(ProcessLookupError):
                        os.kill(proc.pid, STOP_JOB)
        pool.shutdown(wait=True, cancel_futures=True)


class WorkerStopped(BaseException):
    """A worker's job ended because it was asked to stop (STOP_JOB). A BaseException, as
    KeyboardInterrupt is, so that no handler inside a job takes it for a failure of its own."""


# asks a worker to drop its job; SIGTERM stays the signal that ends one outright (its parent
# dead, or someone else's kill)
STOP_JOB = signal.SIGUSR1
# in a worker: whether a job of ours is running, and whether it was asked to stop
_JOB = {"running": False, "stop": False}


def _stop_job(signum, frame) -> None:
    # Raised only inside a job: between jobs the worker may be sending a result, which must go
    # whole; the next job then stops before it starts.
    _JOB["stop"] = True
    if _JOB["running"]:
        raise WorkerStopped()


def _run_job(fn, job):
    if _JOB["stop"]:
        raise WorkerStopped()
    try:
        _JOB["running"] = True
        return fn(job)
    finally:
        _JOB["running"] = False


def _start_worker(operators: dict | None) -> None:
    # Ctrl-C is the parent's to handle: it stops the pool, which ends the workers quietly (a
    # worker that took it itself printed a traceback each). SIGTERM ends a worker at once: a
    # forked worker inherits the command's Python handler, which runs only when the main thread
    # wakes; delivered to a BLAS thread instead, it never woke a worker blocked on the task
    # queue's lock. The parent asks for a stop with STOP_JOB instead (see _map).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _JOB.update(running=False, stop=False)
    signal.signal(STOP_JOB, _stop_job)
    # and dies with the analysis that started it, even one killed outright: a worker waits on a
    # queue whose other end it holds itself, so it would never see the pool go
    die = die_with_parent(os.getppid())
    if die is not None:
        die()
    # One BLAS thread a worker: with a thread per core in each of two workers the operator
    # products oversubscribed the machine, and a national analysis took 30 s instead of 23.
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1)
    if operators is not None:
        _use_operators(operators)


def _use_operators(operators: dict) -> None:
    _OPERATORS.clear()
    _OPERATORS.update(operators)


def _plan_incremental(db, last_seq: int, max_seq: int, device: str, tail_limit: int):
    """Which keywords need a refit (and for which regions), which series can take a tail, and
    how many keyword series have a fit at all."""
    touched = results.touched_spans(db, last_seq, max_seq)
    ends = results.fitted_keyword_ends(db, device)
    refit: dict[int, list[int] | None] = {}
    appends: dict[tuple[int, int], tuple[str, str]] = {}
    for kw, region, lo, hi in touched:
        fitted = ends.get((kw, region))
        if fitted is not None:
            start, step, n = fitted
            fitted_end = day_number(start) + n - 1
            if day_number(lo) > fitted_end and day_number(hi) - fitted_end <= tail_limit:
                # only the days written since the last run: the tails of earlier days rest on
                # the same fit and stay (recomputing every day since the fit made each night
                # slower than the one before, up to tail_limit days)
                appends[(kw, region)] = (lo, hi)
                continue
        regions = refit.setdefault(kw, [])
        if regions is not None:
            regions.append(region)
    return refit, appends, len(ends)


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
        ends = results.fitted_tails(db, subject, device)
        waiting = results.waiting_days_of(db, kw)
        for region, (lo, _hi) in spans.items():
            start, n, trend_end, season_end = ends[region]
            level = float(trend_end[-1])
            last_week = season_end if n >= 7 else None
            first = day_number(start)
            for day, value in results.daily_values_from(db, kw, region, device, day_number(lo)):
                i = day - first
                season = float(last_week[(i - n) % 7]) if last_week is not None else 0.0
                if value is None:
                    # below the floor (0, as in a fit), unless still waiting to be confirmed
                    adjusted = np.nan if (region, day) in waiting else 0.0
                    rows.append((subject, region, device, iso_day(day), level, season,
                                 np.nan, adjusted))
                    continue
                v = float(value)
                rows.append((subject, region, device, iso_day(day), level, season,
                             v - level - season, v - season))
    results.save_tails(db, rows)
    return len(appends)


def _dense_days(observed: dict, config: DecomposeConfig) -> dict:
    """The daily series of one keyword an aggregate sums: those dense enough to decompose. A
    sparse member would add a step of at least the floor each time it rose above it, which
    the aggregate's fit would take for a spike."""
    return {region: v for (region, gran), v in observed.items()
            if gran == "day" and is_dense(v[2], config)}


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
    conn = results.read_only(db_file)
    try:
        by_subject = defaultdict(set)
        for subject, region in pairs:
            by_subject[subject].add(region)
        for subject, regions in sorted(by_subject.items()):
            acc = DaySums()
            for kw in members.get(subject, []):
                acc.add([subject], _dense_days(results.load_keyword(conn, kw, device,
                                                                    sorted(regions)), config))
            for (_, region), (first, step, values) in acc.items():
                jobs.append((subject, region, device, "day", first, step, values, config,
                             region == 0))
    finally:
        conn.close()
    return jobs


def _aggregate_spans(appends: dict, membership, refitted: set) -> dict:
    """(subject, region) -> the days its members' tails cover, first to last over the members
    (each may have been written a different span), for aggregates not refitted."""
    spans: dict[tuple[str, int], tuple[str, str]] = {}
    for (kw, region), (lo, hi) in appends.items():
        for subject in _subjects_for(membership.get(kw, [])):
            if (subject, region) in refitted:
                continue
            had = spans.get((subject, region))
            spans[(subject, region)] = (min(had[0], lo), max(had[1], hi)) if had else (lo, hi)
    return spans


def _append_aggregate_tails(db, pairs: dict, membership, device: str) -> None:
    """Provisional aggregate components: the members' new observations summed per day."""
    members = _members(membership)
    rows = []
    for (subject, region), (lo, hi) in pairs.items():
        comp = results.daily_components(db, subject, region, device)
        if comp is None:
            continue
        start, n, trend, seasonal = comp
        sums = results.daily_sums(db, members.get(subject, []), region, device, day_number(lo),
                                  day_number(hi))
        first = day_number(start)
        for day, total in sums:
            day_text = iso_day(day)
            i = day - first
            season = seasonal[n - 7 + ((i - n) % 7)] if n >= 7 else 0.0
            v = np.nan if total is None else float(total)
            rows.append((subject, region, device, day_text, trend[-1], season,
                         v - trend[-1] - season, v - season))
    results.save_tails(db, rows)
