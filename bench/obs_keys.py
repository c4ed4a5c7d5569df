"""What the observation table's key layout costs a crawl: the obs upsert alone, in crawl order.

    python bench/obs_keys.py              # 3 runs of each layout, medians
    python bench/obs_keys.py --regions 20 --runs 1

A 300-day, three-device backfill stores 4,500 rows an index/ptbk pair (five keywords × three
devices × 300 days), region by region, so its rows land all over a table keyed by keyword
first. This writes that pattern with the crawler's own statement shape (one INSERT … SELECT
FROM json_each upsert a keyword and device, one transaction a piece) into three layouts:

* five columns (m007 to m009): WITHOUT ROWID, key (keyword_id, region, device, weekly, day);
* (series, day), obs since m010: the first four packed into one integer, WITHOUT ROWID;
* packed rowid: the whole key in one INTEGER PRIMARY KEY (keyword, 10-bit region, 2-bit
  device, weekly bit, 16-bit day), value and run id the only columns.

It prints µs a row and bytes a row for each, in crawl order and in key order: what m010 bought
the 3-device crawl's writes (issue 11), and what a packed rowid would add. The database is a
temporary file on the same disk as the project.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

LAYOUTS = {
    "five-column key (m009)": (
        "CREATE TABLE obs (keyword_id INTEGER NOT NULL, region INTEGER NOT NULL, "
        "device INTEGER NOT NULL, weekly INTEGER NOT NULL, day INTEGER NOT NULL, value INTEGER, "
        "run_id INTEGER, PRIMARY KEY (keyword_id, region, device, weekly, day)) WITHOUT ROWID",
        "INSERT INTO obs(keyword_id, region, device, weekly, day, value, run_id) "
        "SELECT ?1, ?2, ?3, ?4, ?5 + ?6 * key, value, ?7 FROM json_each(?8) WHERE true "
        "ON CONFLICT(keyword_id, region, device, weekly, day) DO UPDATE SET "
        "value = excluded.value, run_id = excluded.run_id WHERE obs.value IS NOT excluded.value",
        lambda kw, region, dev, weekly, first, step, run, values:
            (kw, region, dev, weekly, first, step, run, values)),
    "(series, day) key (m010)": (
        "CREATE TABLE obs (series INTEGER NOT NULL, day INTEGER NOT NULL, value INTEGER, "
        "run_id INTEGER, PRIMARY KEY (series, day)) WITHOUT ROWID",
        "INSERT INTO obs(series, day, value, run_id) "
        "SELECT ?1, ?2 + ?3 * key, value, ?4 FROM json_each(?5) WHERE true "
        "ON CONFLICT(series, day) DO UPDATE SET value = excluded.value, run_id = excluded.run_id "
        "WHERE obs.value IS NOT excluded.value",
        lambda kw, region, dev, weekly, first, step, run, values:
            (((kw * 1024 + region) * 4 + dev) * 2 + weekly, first, step, run, values)),
    "packed rowid": (
        "CREATE TABLE obs (id INTEGER PRIMARY KEY, value INTEGER, run_id INTEGER)",
        "INSERT INTO obs(id, value, run_id) SELECT ?1 + ?2 * key, value, ?3 FROM json_each(?4) "
        "WHERE true ON CONFLICT(id) DO UPDATE SET value = excluded.value, "
        "run_id = excluded.run_id WHERE obs.value IS NOT excluded.value",
        lambda kw, region, dev, weekly, first, step, run, values:
            (((((kw * 1024 + region) * 4 + dev) * 2 + weekly) << 16) + first, step, run,
             values)),
}


def run_once(folder: Path, layout: str, order: str, regions: int, batches: int) -> dict:
    import sqlite3
    ddl, upsert, args = LAYOUTS[layout]
    path = folder / "obs_keys.db"
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")   # as aicity's store.connect
    conn.execute(ddl)
    values = json.dumps(list(range(1000, 1300)))   # 300 days
    pieces = [(r, b) for r in range(regions) for b in range(batches)]   # a region at a time
    if order == "key":
        pieces.sort(key=lambda p: (p[1], p[0]))
    rows = 0
    t0 = time.perf_counter()
    for region, batch in pieces:
        conn.execute("BEGIN IMMEDIATE")
        for k in range(5):
            for device in range(3):
                conn.execute(upsert, args(batch * 5 + k, region, device, 0, 20000, 1, 1, values))
                rows += 300
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"us_per_row": seconds / rows * 1e6, "bytes_per_row": os.path.getsize(path) / rows,
            "pieces_per_s": len(pieces) / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regions", type=int, default=60)
    parser.add_argument("--batches", type=int, default=23, help="Five-keyword batches a region "
                                                               "(23 = the taxonomy's 112).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        for order in ("crawl", "key"):
            for layout in LAYOUTS:
                runs = [run_once(Path(tmp), layout, order, args.regions, args.batches)
                        for _ in range(args.runs)]
                us = statistics.median(r["us_per_row"] for r in runs)
                each = ", ".join(f"{r['us_per_row']:.2f}" for r in runs)
                print(f"{order} order, {layout}: median {us:.2f} µs a row ({each}), "
                      f"{runs[0]['bytes_per_row']:.1f} bytes a row, "
                      f"{statistics.median(r['pieces_per_s'] for r in runs):.0f} pieces/s",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
