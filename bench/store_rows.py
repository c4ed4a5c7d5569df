"""What a stored row costs, SQLite against PostgreSQL, through the crawler's own pipeline.

    python bench/store_rows.py                 # 1,500 series of 270 days, 3 runs each
    python bench/store_rows.py --series 3000 --runs 5

The same SeriesItems (one keyword, one region, 270 daily values, as a piece's answer is cut)
go through StorePipeline into a fresh database: SQLite (one series a transaction, the default),
PostgreSQL one series a transaction (what it did before issue 29) and PostgreSQL in batches
(the default there, 25 series a transaction, sent in pipeline mode, a range nothing is stored
in inserted without an upsert); then the same series once more into each (every row there,
nothing changes). It prints microseconds a row, medians of the runs. Target (issue 29 §5):
PostgreSQL's per-row cost within 2x SQLite's. Starts its own PostgreSQL on loopback
(tests/servers.py; Debian's postgresql, as .ci/run installs it).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def items(n: int, days: int = 270):
    from aicity.crawler.items import SeriesItem
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    terms = default_taxonomy().unique_terms()
    cities = [r.code for r in default_registry().filter(level="city")]
    start = date(2025, 1, 1)
    end = (start + timedelta(days=days - 1)).isoformat()
    out = []
    for i in range(n):
        values = [100 + (i + d) % 57 for d in range(days)]
        out.append(SeriesItem(keyword=terms[i % len(terms)], region=cities[i // len(terms)],
                              requested_start=start.isoformat(), requested_end=end,
                              granularity="day", start=start.isoformat(), end=end,
                              values={"all": values}))
    return out


def store_all(db_url: str, series: list, batch: int) -> float:
    from scrapy.utils.test import get_crawler

    from aicity.crawler.pipelines import StorePipeline
    from aicity.db import store
    db = store.connect(db_url)
    run = store.start_run(db, "collect", "emulator", {})
    db.conn.commit()
    db.close()
    crawler = get_crawler(settings_dict={"AICITY_DB": db_url, "AICITY_SOURCE": "emulator",
                                         "AICITY_RUN_ID": run.id,
                                         "AICITY_DB_BATCH_ITEMS": batch})
    pipe = StorePipeline(crawler)
    pipe.open_spider()
    t0 = time.perf_counter()
    for item in series:
        pipe.process_item(item)
    pipe.close_spider()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from aicity.db import store
    from aicity.keywords.taxonomy import default_taxonomy
    from tests.servers import new_database, running_postgres
    series = items(args.series)
    rows = sum(len(s.values["all"]) for s in series)
    tmp = Path(tempfile.mkdtemp(prefix="aicity-bench-rows-"))
    taxonomy = default_taxonomy()
    results: dict[str, list[float]] = {}
    with running_postgres() as server:
        for run in range(args.runs):
            path = tmp / f"r{run}.db"
            store.init_db(path, taxonomy=taxonomy)
            results.setdefault("SQLite, one series a transaction", []).append(
                store_all(str(path), series, 0))
            # the same series again: every row already stored, nothing changes (a night's
            # re-asked days; on PostgreSQL the upsert path, not the plain insert)
            results.setdefault("SQLite, the same again", []).append(
                store_all(str(path), series, 0))
            for label, batch in (("PostgreSQL, one series a transaction", 1),
                                 ("PostgreSQL, batches (default)", 0)):
                url = new_database(server, f"rows{run}_{batch}")
                store.init_db(url, taxonomy=taxonomy)
                results.setdefault(label, []).append(store_all(url, series, batch))
                if batch == 0:
                    results.setdefault("PostgreSQL, batches, the same again", []).append(
                        store_all(url, series, batch))
    print(f"{args.series:,} series, {rows:,} rows; medians of {args.runs} runs")
    for label, times in results.items():
        against = "SQLite, the same again" if "again" in label else \
            "SQLite, one series a transaction"
        base = statistics.median(results[against]) / rows
        per_row = statistics.median(times) / rows
        print(f"{label:38s} {per_row * 1e6:6.2f} µs a row ({per_row / base:.2f} x {against}; "
              f"runs {', '.join(f'{t:.2f}' for t in times)} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
