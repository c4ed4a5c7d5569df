"""Analysis at national scale: full and incremental `analyze`, rank latency, and a naive job.

    python bench/analyze.py                    # every region × every keyword × 3 years daily
    python bench/analyze.py --regions 60       # smaller, for a quick look

Builds the database once (bench/out/national_<regions>.db, simulated world), then in one run:
1. full `analyze` in a child process: wall time and peak memory (the main process and the
   largest worker, added: an upper bound of what is resident at once);
2. one new day for every series, then incremental `analyze`;
3. `rank` latency (the library call, median of 7; the CLI adds interpreter start-up);
4. the same full job done naively (one query and one statsmodels STL per series in a plain loop,
   then sums and ranks in pandas) and whether its ranks equal ours for every dimension.
Targets (issue 11): full <= 20 s, peak <= 2 GB, incremental <= 2 s, naive / full >= 8x with
identical ranks, rank <= 300 ms; the bytes a stored observation costs are printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START, END = date(2015, 1, 1), date(2017, 12, 31)
from aicity.vocabulary import DIMENSIONS  # noqa: E402  (after the sys.path line)

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from aicity.service.refit import analyze
t0 = time.perf_counter()
r = analyze({db!r}, full={full}, workers=2)
print(json.dumps({{"seconds": time.perf_counter() - t0, "series": r.series,
                  "aggregates": r.aggregates, "appended": r.appended,
                  "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


def build(path: Path, n_regions: int | None) -> None:
    from aicity.emulator.world import World
    from aicity.db import store
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    tax = default_taxonomy()
    store.init_db(path, taxonomy=tax)
    words = {}
    for t in tax.terms:
        words.setdefault(t.term, (t.category, t.group))
    world = World(default_registry(), words, seed=5, latest=END + timedelta(days=1))
    regions = [r.code for r in default_registry().filter()]
    if n_regions:
        regions = regions[:n_regions]
    db = store.connect(path)
    db.execute("PRAGMA journal_mode = DELETE")  # one file, so the finished build can be renamed
    ids = store.keyword_ids(db, list(words))
    first, last = store.day_number(START.isoformat()), store.day_number(END.isoformat())
    days = range(first, last + 1)
    run = store.start_run(db, "import", "emulator", {"bench": "national"})
    t0 = time.perf_counter()
    with db.atomic():
        for i, term in enumerate(words):
            kw = ids[term]
            for code in regions:
                values = world.series(term, code, START, END)
                # integer rows straight into obs, as the crawler's pipeline writes them
                stored = [None if v != v else int(v) for v in values.tolist()]
                store.upsert_obs(db, zip(repeat(kw), repeat(code), repeat(0), repeat(0), days,
                                         stored, repeat(run.id)))
            store.record_touched(db, run.id, [(kw, c, START.isoformat(), END.isoformat())
                                              for c in regions])
            print(f"\rbuilding: {i + 1}/{len(words)} keywords", end="", flush=True)
        store.finish_run(db, run, "ok", len(words) * len(regions) * len(days))
    db.close()
    print(f"\nbuilt {path} in {time.perf_counter() - t0:.0f} s")


def add_day(path: Path) -> int:
    from aicity.emulator.world import World
    from aicity.db import store
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group))
    day = END + timedelta(days=1)
    world = World(default_registry(), words, seed=5, latest=day)
    db = store.connect(path)
    regions = [r[0] for r in db.execute("SELECT DISTINCT region FROM touched")]
    ids = store.keyword_ids(db, list(words))
    run = store.start_run(db, "import", "emulator", {"bench": "one day"})
    with db.atomic():
        rows = []
        for term in words:
            for code in regions:
                v = world.series(term, code, day, day)[0]
                rows.append((ids[term], code, "all", "day", day.isoformat(),
                             None if np.isnan(v) else int(v), "emulator", store.now_iso(), run.id))
        store.upsert_observations(db, rows)
        store.record_touched(db, run.id, [(r[0], r[1], r[4], r[4]) for r in rows])
        store.finish_run(db, run, "ok", len(rows))
    db.close()
    return len(rows)


def run_child(db: Path, full: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), db=str(db),
                                                             full=full)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def naive_job(path: Path, period_start: str, period_end: str) -> tuple[float, dict]:
    """Plain loop: per series one query and one STL, then sums and ranks per dimension."""
    from statsmodels.tsa.seasonal import STL
    from aicity.analysis.decompose import DecomposeConfig
    from aicity.db import store
    cfg = DecomposeConfig()
    t0 = time.perf_counter()
    db = store.connect(path)
    cities = {r[0] for r in db.execute("SELECT code FROM regions WHERE level = 'city' "
                                       "AND legacy = 0")}
    membership = db.execute("SELECT keyword_id, category FROM keyword_groups").fetchall()
    values: dict[tuple[int, int], float] = {}
    pairs = db.execute("SELECT DISTINCT keyword_id, region FROM touched").fetchall()
    for kw, region in pairs:
        rows = db.execute("SELECT date, value FROM observations WHERE keyword_id = ? AND "
                          "region = ? AND device = 'all' AND granularity = 'day' ORDER BY date",
                          [kw, region]).fetchall()
        s = pd.Series([np.nan if v is None else v for _, v in rows],
                      index=pd.to_datetime([d for d, _ in rows]), dtype=float)
        s = s.reindex(pd.date_range(s.index[0], s.index[-1]))
        filled = s.interpolate(limit_direction="both").to_numpy()
        fit = STL(filled, period=cfg.period, **cfg.stl_kwargs()).fit()
        adjusted = (s.to_numpy() - fit.seasonal).astype(np.float32).astype(float)
        window = pd.Series(adjusted, index=s.index)[period_start:period_end]
        values[(kw, region)] = float(window.mean())
    ranks = {}
    for dim in DIMENSIONS:
        members = {kw for kw, cat in membership if cat == dim}
        totals: dict[int, float] = {}
        for (kw, region), v in values.items():
            if kw in members and region in cities and not np.isnan(v):
                totals[region] = totals.get(region, 0.0) + v
        ranks[dim] = pd.Series(totals).rank(ascending=False, method="min").astype(int)
    db.close()
    return time.perf_counter() - t0, ranks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=0, help="0 = every region")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    from aicity.service import queries
    from aicity.db import store
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"national_{args.regions or 'all'}.db"
    if not base.exists():
        partial = base.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(partial, args.regions or None)
        partial.rename(base)  # only a complete build is ever reused
    work = out / "analyze_work.db"
    shutil.copy(base, work)
    for suffix in ("-wal", "-shm"):
        if Path(str(work) + suffix).exists():
            os.remove(str(work) + suffix)
    store.init_db(work)   # a database built by an older version is migrated first
    db = store.connect(work)
    n_obs = store.count_observations(db)
    # pages in use after any migration (a migrated copy keeps the old layout's pages as free)
    pages, free, page = (db.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("page_count", "freelist_count", "page_size"))
    db.close()
    size = (pages - free) * page
    print(f"database: {n_obs:,} observations, {size / 2**20:,.0f} MB, {size / n_obs:.1f} bytes "
          f"per observation (indexes and every other table included)")

    full = run_child(work, True)
    print(f"full analyze: {full['seconds']:.1f} s for {full['series']:,} series and "
          f"{full['aggregates']:,} aggregates; peak {full['self_mb']:.0f} MB main + "
          f"{full['children_mb']:.0f} MB largest worker = "
          f"{full['self_mb'] + full['children_mb']:.0f}"
          f" MB (target <= 20 s, <= 2048 MB)", flush=True)
    rows = add_day(work)
    inc = run_child(work, False)
    print(f"incremental analyze after one new day ({rows:,} rows): {inc['seconds']:.1f} s, "
          f"{inc['appended']:,} series extended, {inc['series']} refitted (target <= 2 s)",
          flush=True)

    db = store.connect(work)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        queries.rank(db, category="basic", period="2017")
        times.append(time.perf_counter() - t0)
    print(f"rank latency (library call): median {statistics.median(times) * 1000:.0f} ms of 7 "
          f"(target <= 300 ms)", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aicity", "--db", str(work), "rank", "--dimension",
                    "basic", "--period", "2017", "--top", "10"], check=True, cwd=ROOT,
                   capture_output=True)
    print(f"rank latency (CLI, with interpreter start-up): {time.perf_counter() - t0:.2f} s")
    if args.skip_naive:
        return 0
    ours = {dim: queries.rank(db, category=dim, period="2017").dropna(subset=["rank"])
            .set_index("region_code")["rank"].astype(int) for dim in DIMENSIONS}
    db.close()
    shutil.copy(base, work)  # the naive job reads the same data, without the extra day
    naive_seconds, naive = naive_job(work, "2017-01-01", "2017-12-31")
    same = all(ours[d].sort_index().to_dict() == naive[d].sort_index().to_dict()
               for d in DIMENSIONS)
    print(f"naive job: {naive_seconds:.1f} s; speed-up {naive_seconds / full['seconds']:.1f}x; "
          f"ranks identical for all {len(DIMENSIONS)} dimensions: {same} (target >= 8x, identical)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
