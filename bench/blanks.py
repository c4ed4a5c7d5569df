"""What a night costs on a sparse world: requests per nightly update when most city series sit
under Baidu's reporting floor (the emulator's floor=57 habit: a day below 57 is sent empty).

Night 0 backfills `--days` of history; nights 1..N each publish one more day and collect it,
as the nightly job does. Each run stands for one night (the blank rest and the unconfirmed
waits are set to 0 so that runs a second apart count as nights apart).

    python bench/blanks.py                    # this tree's crawler
    python bench/blanks.py --code /tmp/old    # another checkout's crawler, same emulator

The emulator always runs from this tree, so two crawlers meet the same world.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from aicity.emulator.process import running_emulator  # noqa: E402

REGIONS = "成都,杭州,绵阳,宜宾,乐山,眉山,雅安,巴中,资阳,广安,湖州,丽水,舟山,衢州,四川,浙江,0"
KEYWORDS = "深度学习,神经网络,卷积神经网络,TensorFlow,自然语言处理,知识图谱,强化学习,机器学习"
ENV = {"AICITY_BLANK_REST_HOURS": "0", "AICITY_UNCONFIRMED_DAYS": "0",
       "AICITY_UNCONFIRMED_TRIES": "2", "AICITY_BAIDU_BACKOFF": "0.01",
       "AICITY_BAIDU_COOKIES": "BDUSS=bench"}


def run(code: Path, db: Path, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), **ENV)
    out = subprocess.run([sys.executable, "-m", "aicity", "--db", str(db), *args],
                         capture_output=True, text=True, env=env, cwd=code)
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout) if args[0] == "collect" else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", type=Path, default=HERE, help="source tree of the crawler")
    ap.add_argument("--nights", type=int, default=4)
    ap.add_argument("--days", type=int, default=200)
    ap.add_argument("--floor", type=int, default=57)
    a = ap.parse_args()
    latest = date(2026, 11, 20)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        run(a.code, db, "init")
        per_night, empty, stored = [], 0, 0
        for night in range(a.nights + 1):
            day = latest + timedelta(days=night)
            # the crawler's clock: the site has published through `day`
            ENV["AICITY_BAIDU_LAG_DAYS"] = str((date.today() - day).days)
            with running_emulator(seed=7, latest=day.isoformat(), rate_limit="0",
                                  habits=f"floor={a.floor},entry-type") as url:
                start = (latest - timedelta(days=a.days)).isoformat()
                r = run(a.code, db, "collect", "--base-url", url, "--delay", "0",
                        "--regions", REGIONS, "--keywords", KEYWORDS, "--start", start,
                        "--end", day.isoformat(), "--format", "json", "--daily-budget", "0")
            per_night.append(r.get("requests", 0))
        import sqlite3
        con = sqlite3.connect(db)
        stored, empty = con.execute(
            "SELECT count(*), sum(value IS NULL) FROM observations WHERE device = 'all' "
            "AND region NOT IN (0) AND region < 900").fetchone()
    print(f"crawler from {a.code}: floor {a.floor}, {len(REGIONS.split(','))} regions x "
          f"{len(KEYWORDS.split(','))} keywords, {a.days} days of history")
    print(f"requests: backfill {per_night[0]}, nightly " + ", ".join(map(str, per_night[1:])))
    print(f"city days stored: {stored}, of which empty (below the floor) {empty} "
          f"({100 * (empty or 0) / max(1, stored):.0f}%)")


if __name__ == "__main__":
    main()
