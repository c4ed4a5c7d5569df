"""Import throughput and peak memory for a large long-form CSV.

    python bench/import.py                 # 10 million daily rows, 3 runs, prints medians
    python bench/import.py --rows 1000000 --runs 1

Each run imports into a fresh database in a child process, so the peak resident memory
reported is that of the import alone (interpreter and libraries included). Targets (issue 2):
at least 200,000 rows/s and under 1 GB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from aicity.db import store
from aicity.importer import import_csv
db = store.connect({db!r})
t0 = time.perf_counter()
result = import_csv(db, {csv!r}, level="city")
elapsed = time.perf_counter() - t0
print(json.dumps({{"rows": result.rows_read, "written": result.rows_written, "seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def make_file(path: Path, rows: int, keywords: int = 10) -> None:
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    cities = [r.code for r in default_registry().filter(level="city")]
    terms = default_taxonomy().unique_terms()[:keywords]
    days = -(-rows // (len(cities) * len(terms)))
    dates = pd.date_range(dt.date(2011, 1, 1), periods=days, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("keyword,region,date,value\n")
        for term in terms:
            for code in cities:
                n = min(days, rows - written)
                if n <= 0:
                    break
                frame = pd.DataFrame({"keyword": term, "region": code, "date": dates[:n],
                                      "value": rng.integers(0, 5000, n)})
                frame.to_csv(fh, header=False, index=False, lineterminator="\n")
                written += n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv_path = args.workdir / f"import_{args.rows}.csv"
    if not csv_path.exists():
        print(f"writing {csv_path} ...", flush=True)
        make_file(csv_path, args.rows)
    from aicity.db import store
    from aicity.keywords.taxonomy import default_taxonomy
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            db_file = Path(tmp) / "bench.db"
            store.init_db(db_file, taxonomy=default_taxonomy())
            child = CHILD.format(root=str(ROOT), db=str(db_file), csv=str(csv_path))
            out = subprocess.run([sys.executable, "-c", child],
                                 check=True, capture_output=True, text=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res["rows_per_s"] = res["rows"] / res["seconds"]
            results.append(res)
            print(f"run {i + 1}: {res['rows']:,} rows in {res['seconds']:.1f} s = "
                  f"{res['rows_per_s']:,.0f} rows/s, peak {res['peak_mb']:.0f} MB", flush=True)
    print(f"median of {len(results)}: "
          f"{statistics.median(r['rows_per_s'] for r in results):,.0f} rows/s, "
          f"peak {statistics.median(r['peak_mb'] for r in results):.0f} MB "
          f"(target >= 300,000 rows/s (issue 11), < 1024 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
