"""Crawl throughput against the emulator, and the size of a nightly update.

    python bench/crawl.py                  # 3 runs of each shape, medians
    python bench/crawl.py --runs 1 --regions 40

The crawler runs pinned to one core (taskset), the emulator on the other, pacing off, with
eight simulated accounts (one request in flight per account, as in production). Two shapes:

* nightly: one day for every keyword in N regions: small responses, the per-request overhead;
* backfill: 300 days a request: each response pair stores 4,500 rows, the storage cost;
* backfill-all: the same with `--devices all` (what the demo keeps): 1,500 rows a pair.

Target (issue 4): at least 300 responses/s parsed, decoded and stored on one core.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COOKIES = "\n".join(f"BDUSS=bench-account-{i}" for i in range(8))
LATEST = "2026-11-20"


def run_once(url: str, regions: list[str], start: str, end: str, devices: str) -> dict:
    from aicity.db import store
    from aicity.keywords.taxonomy import default_taxonomy
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store.init_db(db, taxonomy=default_taxonomy())
        cmd = [sys.executable, "-m", "aicity", "--db", str(db), "collect", "--base-url", url,
               "--delay", "0", "--regions", ",".join(regions), "--start", start, "--end", end,
               "--devices", devices, "--format", "json"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
        env = dict(os.environ, AICITY_BAIDU_COOKIES=COOKIES, PYTHONPATH=str(ROOT),
                   AICITY_LOG_LEVEL="WARNING")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        result = json.loads(out.stdout)
        result["responses_per_s"] = result["requests"] / result["seconds"]
        result["rows_per_s"] = result["rows_written"] / result["seconds"]
        return result


def nightly_requests() -> dict:
    """Requests one night needs for every current region × every taxonomy keyword."""
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    regions = default_registry().filter(include_legacy=False)
    keywords = len(default_taxonomy().unique_terms())
    batches = math.ceil(keywords / 5)
    checks = math.ceil(keywords / 15)
    # the city snapshot: one keyword a call (as public crawlers send it) per province with
    # cities; each answer names the province and all its cities
    provinces = len({r.province for r in regions if r.level == "city"})
    return {"regions": len(regions), "keywords": keywords,
            "index_strategy": 2 * batches * len(regions) + checks,
            "region_distribution_strategy": keywords * provinces}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regions", type=int, default=60)
    parser.add_argument("--shapes", default="nightly,backfill,backfill-all",
                        help="Which shapes to run, comma-separated (nightly, backfill, "
                             "backfill-all).")
    args = parser.parse_args()
    from aicity.emulator.process import running_emulator
    from aicity.db.regions import default_registry
    regions = [str(r.code) for r in default_registry().filter(level="city")][:args.regions]
    shapes = {"nightly (1 day)": ("2026-11-20", "2026-11-20", "all,pc,wise"),
              "backfill (300 days)": ("2025-10-14", "2026-08-09", "all,pc,wise"),
              "backfill-all (300 days, --devices all as the demo)":
                  ("2025-10-14", "2026-08-09", "all")}
    wanted = set(args.shapes.split(","))
    shapes = {k: v for k, v in shapes.items() if k.split()[0] in wanted}
    cpus = (1,) if (os.cpu_count() or 1) > 1 else ()      # the emulator on a core of its own
    with running_emulator(seed=1, latest=LATEST, rate_limit="0", cpus=cpus) as url:
        for name, (start, end, devices) in shapes.items():
            results = [run_once(url, regions, start, end, devices) for _ in range(args.runs)]
            for i, r in enumerate(results, 1):
                print(f"{name} run {i}: {r['requests']} responses in {r['seconds']:.1f} s = "
                      f"{r['responses_per_s']:.0f}/s; {r['rows_written']:,} rows "
                      f"({r['rows_per_s']:,.0f} rows/s); status {r['status']}", flush=True)
            print(f"{name} median of {len(results)}: "
                  f"{statistics.median(r['responses_per_s'] for r in results):.0f} responses/s, "
                  f"{statistics.median(r['rows_per_s'] for r in results):,.0f} rows/s "
                  f"(target >= 300 responses/s)", flush=True)
    n = nightly_requests()
    print(f"nightly update of {n['regions']} regions x {n['keywords']} keywords: "
          f"{n['index_strategy']:,} requests with SearchApi/index (index + ptbk per 5 keywords "
          f"per region), {n['region_distribution_strategy']:,} with SearchApi/region "
          f"(the city snapshot: one keyword a call per province, 30-day means, no series); "
          f"at 15 s per request per "
          f"account: {n['index_strategy'] * 15 / 3600:.1f} vs "
          f"{n['region_distribution_strategy'] * 15 / 3600:.1f} account-hours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
