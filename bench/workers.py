"""Several collect workers on one Redis queue and one PostgreSQL database (issue 13).

    python bench/workers.py                  # 1, 2 and 4 workers, 3 runs each, medians
    python bench/workers.py --runs 1 --regions 20

Starts its own PostgreSQL and Redis on loopback (Debian's postgresql and redis-server, as
`.ci/run` installs them) and one emulator (pacing off, every real-site habit), and crawls
N cities x every taxonomy keyword, 300 days daily, `--devices all` (what the demo keeps):
* one process on SQLite (the embedded default), the reference;
* one process on PostgreSQL without a queue;
* 1, 2 and 4 queue workers on PostgreSQL, each with four simulated accounts.
It prints responses and rows a second of the whole crawl (first worker start to last worker
end). Then a SIGKILL run: two workers, one killed after storing a few series while holding
pieces; it prints rows lost (the stored table against the reference) and index requests asked
more than the single process asked (duplicated work). Everything the emulator serves is
simulated. On this 2-core machine the emulator, PostgreSQL, Redis and the workers share two
cores, so more workers measure contention as much as scaling.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LATEST = "2026-11-20"
START, END = "2025-10-14", "2026-08-09"      # 300 days: one request pair a keyword batch


def accounts(tag: str, n: int = 4) -> str:
    return "\n".join(f"BDUSS=bench-{tag}-{i}" for i in range(n))


def worker_code(db: str, url: str, regions: list[str], queue: str | None, tag: str,
                log: Path, kill_after: int = 0, delay: float = 0.0) -> str:
    settings = {"EXTENSIONS": {"bench.worker_hooks.RecordIndexRequests": 100},
                "RECORD_TO": str(log)}
    if kill_after:
        settings["EXTENSIONS"]["tests.crawl_hooks.KillAfterItems"] = 101
        settings["KILL_AFTER_ITEMS"] = kill_after
    return textwrap.dedent(f"""
        import json
        from aicity.crawler.config import SiteAccess, Tuning
        from aicity.service.collect import collect
        r = collect({db!r}, access=SiteAccess(base_url={url!r}, delay={delay!r},
                    cookies=tuple({accounts(tag)!r}.splitlines())),
                    tuning=Tuning(abnormal_backoff=1.0), regions={regions!r},
                    start={START!r}, end={END!r}, devices=("all",), queue={queue!r},
                    queue_lease=2.0, settings={settings!r})
        print(json.dumps(r.as_dict()))
    """)


def crawl(db: str, url: str, regions: list[str], queue: str | None, workers: int,
          tmp: Path, kill_after: int = 0, delay: float = 0.0) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), AICITY_LOG_LEVEL="ERROR")
    logs = [tmp / f"requests-{i}-{time.monotonic_ns()}.txt" for i in range(workers)]
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", worker_code(
        db, url, regions, queue, f"w{i}", logs[i], kill_after if i == 0 else 0, delay)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(workers)]
    results = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode == 0:
            results.append(json.loads(out.strip().splitlines()[-1]))
        elif not (kill_after and p.returncode == -9):
            raise SystemExit(f"worker failed ({p.returncode}): {err[-2000:]}")
    seconds = time.monotonic() - t0
    # the series requests (index and ptbk); queue workers skip the keyword pre-check
    asked = [line for log in logs if log.exists() for line in log.read_text().splitlines()
             if not line.startswith("checkWordsExists")]
    rows = sum(r["rows_written"] for r in results)
    stamps = sorted(float(t) for log in logs if Path(f"{log}.times").exists()
                    for t in Path(f"{log}.times").read_text().split())
    # first answer to last: the crawl itself, without the workers' start-up
    crawling = stamps[-1] - stamps[0] if len(stamps) > 1 else seconds
    # the steady part: the answers between the 10th and the 90th percentile, when every
    # worker is started and none has yet run out of pieces
    lo, hi = len(stamps) // 10, len(stamps) * 9 // 10
    steady = (hi - lo) / (stamps[hi] - stamps[lo]) if hi > lo + 1 and stamps[hi] > stamps[lo] \
        else len(stamps) / max(crawling, 1e-9)
    return {"seconds": seconds, "responses": len(asked), "index_asked": asked,
            "rows": rows, "results": results, "crawling": crawling, "answers": len(stamps),
            "steady": steady}


def stored(db: str) -> list[tuple]:
    from aicity.db import store
    conn = store.connect(db)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT k.term, o.region, o.device, o.granularity, o.date, o.value FROM observations o "
            "JOIN keywords k ON k.id = o.keyword_id ORDER BY 1, 2, 3, 4, 5").fetchall()]
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regions", type=int, default=30)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--paced", type=float, default=0.0, metavar="SECONDS",
                        help="Only the scaling where the site's pacing is the bound: each "
                             "account asks every SECONDS (the crawler's delay), the emulator "
                             "refuses an account faster than two requests a SECONDS, and 1, 2 "
                             "and 4 queue workers with four accounts each are compared with N "
                             "times one worker.")
    args = parser.parse_args()
    from aicity.db import store
    from aicity.db.regions import default_registry
    from aicity.emulator.process import running_emulator
    from aicity.keywords.taxonomy import default_taxonomy
    from tests.servers import new_database, running_postgres, running_redis
    import redis
    regions = [str(r.code) for r in default_registry().filter(level="city")][:args.regions]
    tmp = Path(tempfile.mkdtemp(prefix="aicity-bench-workers-"))
    taxonomy = default_taxonomy()
    n = 0

    def fresh_pg(server):
        nonlocal n
        n += 1
        url = new_database(server, f"bench{n}")
        store.init_db(url, taxonomy=taxonomy)
        return url

    def fresh_sqlite():
        nonlocal n
        n += 1
        path = tmp / f"bench{n}.db"
        store.init_db(path, taxonomy=taxonomy)
        return str(path)

    def report(name, runs):
        rates = [r["responses"] / r["seconds"] for r in runs]
        rows = [r["rows"] / r["seconds"] for r in runs]
        print(f"{name}: " + ", ".join(f"{r['responses']} responses in {r['seconds']:.1f} s"
                                      for r in runs)
              + f"; median {statistics.median(rates):.0f} responses/s, "
              f"{statistics.median(rows):,.0f} rows/s", flush=True)

    if args.paced:
        return paced(args, regions, tmp, fresh_pg)
    with running_postgres() as server, running_redis() as queue, \
            running_emulator(seed=1, latest=LATEST) as url:
        flush = redis.Redis.from_url(queue).flushdb
        reference = fresh_sqlite()
        report("1 process, SQLite", [crawl(reference if i == 0 else fresh_sqlite(), url,
                                           regions, None, 1, tmp) for i in range(args.runs)])
        report("1 process, PostgreSQL, no queue",
               [crawl(fresh_pg(server), url, regions, None, 1, tmp) for _ in range(args.runs)])
        for w in [int(x) for x in args.workers.split(",")]:
            runs = []
            for _ in range(args.runs):
                flush()
                runs.append(crawl(fresh_pg(server), url, regions, queue, w, tmp))
            report(f"{w} queue worker{'s' if w > 1 else ''}, PostgreSQL + Redis", runs)
        single = crawl(fresh_sqlite(), url, regions, None, 1, tmp)
        flush()
        target = fresh_pg(server)
        killed = crawl(target, url, regions, queue, 2, tmp, kill_after=40)
        want, got = stored(reference), stored(target)
        lost = len(set(want) - set(got))
        extra = len(set(got) - set(want))
        duplicated = len(killed["index_asked"]) - len(single["index_asked"])
        survivor = killed["results"][0]["queue"] if killed["results"] else {}
        print(f"SIGKILL run (2 workers, one killed after 40 series): rows lost {lost}, rows "
              f"not in the reference {extra}; requests {len(killed['index_asked'])} against "
              f"{len(single['index_asked'])} for one process (difference {duplicated:+d}: "
              f"the killed worker's requests in flight, asked again); survivor: {survivor}",
              flush=True)
    return 0


def paced(args, regions: list[str], tmp: Path, fresh_pg) -> int:
    """Workers against a site that paces each account: the bound the real site sets (one
    request every 15 s an account), scaled down to args.paced seconds."""
    import redis

    from aicity.emulator.process import running_emulator
    from tests.servers import running_postgres, running_redis
    limit = f"2/{args.paced}"
    with running_postgres() as server, running_redis() as queue, \
            running_emulator(seed=1, latest=LATEST, rate_limit=limit) as url:
        flush = redis.Redis.from_url(queue).flushdb
        rates: dict[int, list[float]] = {}
        whole: dict[int, list[float]] = {}
        for w in [int(x) for x in args.workers.split(",")]:
            for _ in range(args.runs):
                flush()
                run = crawl(fresh_pg(server), url, regions,
                            queue, w, tmp, delay=args.paced)
                blocked = sum(r["responses_by_status"].get("10001", 0) for r in run["results"])
                rates.setdefault(w, []).append(run["steady"])
                whole.setdefault(w, []).append(run["answers"] / run["crawling"])
                print(f"  {w} worker(s): {run['answers']} answers in {run['crawling']:.1f} s "
                      f"from the first to the last ({run['seconds']:.1f} s with start-up; "
                      f"{blocked} refused for pace); steady {run['steady']:.2f}/s",
                      flush=True)
        one, one_whole = statistics.median(rates[min(rates)]), statistics.median(whole[min(whole)])
        for w, r in rates.items():
            mid, mid_whole = statistics.median(r), statistics.median(whole[w])
            print(f"{w} queue worker{'s' if w > 1 else ''} x 4 accounts, one request every "
                  f"{args.paced:g} s an account: median {mid:.2f} answers/s while all work = "
                  f"{mid / (w * one):.2f} x {w} x one worker (first to last answer: "
                  f"{mid_whole:.2f}/s = {mid_whole / (w * one_whole):.2f} x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
