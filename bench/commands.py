"""End-to-end time of the quick commands, as a person at a terminal sees it.

    python bench/commands.py                          # on ./demo-output/aicity.db, 7 runs each
    python bench/commands.py --db other.db --runs 15

Each run starts the installed `aicity` script (next to this Python) in a new process and waits
for it: interpreter start-up, imports, the query and printing. Target (issue 11): `aicity
regions` and `aicity rank` under 0.6 s on the demo database; issue 28: status, series and
keywords classify under 0.5 s (status --check and report say why they take longer). A shell
shim in front of the script (pyenv's adds about 0.1 s) is not counted.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "regions": ["regions"],
    "rank": ["rank", "--dimension", "professional", "--top", "10"],
    "rank --format csv (all cities)": ["rank", "--dimension", "basic", "--format", "csv"],
    "status": ["status"],
    "series": ["series", "--keyword", "人工智能", "--region", "成都"],
    "keywords classify": ["keywords", "classify", "基于深度学习的人脸识别算法"],
    # not quick, and say why: every page read; every chart drawn
    "status --check (reads the whole file)": ["status", "--check"],
    "report (draws 7 charts)": ["report", "--out", "/tmp/aicity-bench-report.html"],
}


def aicity_script() -> list[str]:
    script = Path(sys.executable).with_name("aicity")
    if script.exists():
        return [str(script)]
    found = shutil.which("aicity")
    return [found] if found else [sys.executable, "-m", "aicity"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("demo-output/aicity.db"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db}: no such database; run `aicity demo` first or pass --db")
    base = aicity_script() + ["--db", str(args.db)]
    print(f"{' '.join(base[:1])} on {args.db}, {args.runs} runs each")
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(base + cmd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        print(f"{name:38s} median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
