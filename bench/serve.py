"""The explorer's speed on the demo database: first page after start, then server time per page.

    python bench/serve.py demo-output/aicity.db            # 3 sessions
    python bench/serve.py demo-output/aicity.db --sessions 5

Starts `aicity serve` on a free loopback port (a child process, as a user runs it), times the
first answered /explore from the start of the process, then runs a scripted analyst session
several times: the five questions of issue 37 (cognition's top tier with intervals, 成都 against
杭州 on technical terms over a year, who rose most, 四川's briefing as xlsx, the map of
application tiers), each region page of ten cities, the status page and the JSON API. Each
request's time is measured on loopback (the network adds nothing there), so it is the server's
time to the last byte. Prints p50 and p95 per kind of page, over all sessions; the first
session meets an empty cache (and the warm-up still running), the later ones mostly a full one.
Targets (issue 37): first page <= 2 s; pages <= 300 ms and the map <= 1 s at p95.
"""
from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

CITIES = ("成都", "杭州", "武汉", "西安", "南京", "长沙", "郑州", "沈阳", "合肥", "昆明")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - start
    conn.close()
    return response.status, took, len(body)


def session(codes: dict[str, int]) -> list[tuple[str, str]]:
    q = quote
    pages = [("rankings", "/rankings?dimension=cognition&uncertainty=1"),
             ("explore", f"/explore?s=d:technical&r={q('成都')}&r={q('杭州')}&period=365d"),
             ("movers", "/movers?dimension=application"),
             ("briefing", f"/download/briefing/{codes['四川']}.xlsx"),
             ("map", "/map?dimension=application&colour=tier"),
             ("explore", "/explore"), ("rankings", "/rankings?dimension=technical"),
             ("status", "/status"), ("api", "/api/rankings?dimension=basic")]
    pages += [("region", f"/region/{codes[c]}") for c in CITIES]
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--sessions", type=int, default=3)
    args = parser.parse_args()
    from aicity.db.regions import default_registry
    reg = default_registry()
    codes = {c: reg.resolve(c, level="city").code for c in CITIES}
    codes["四川"] = reg.resolve("四川", level="province").code
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "aicity", "--db", args.db, "serve",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        while True:
            try:
                status, _, _ = get(port, "/explore")
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit(f"aicity serve exited: {proc.stderr.read()}")
                time.sleep(0.05)
        first = time.perf_counter() - started
        print(f"first /explore answered {first:.2f} s after `aicity serve` started "
              f"(status {status}; target <= 2 s)")
        times: dict[str, list[float]] = {}
        for n in range(args.sessions):
            for kind, path in session(codes):
                status, took, size = get(port, path)
                if status != 200:
                    print(f"  {path}: status {status}")
                times.setdefault(kind, []).append(took)
            print(f"session {n + 1}: " + ", ".join(
                f"{k} {1000 * statistics.median(v[-10 if k == 'region' else -1:]):.0f} ms"
                for k, v in times.items()))
        print(f"\nover {args.sessions} sessions (server time to the last byte, loopback):")
        print(f"{'page':10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        everything = []
        for kind, values in times.items():
            everything += values
            values = sorted(values)
            p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
            print(f"{kind:10} {len(values):4d} {1000 * statistics.median(values):8.0f} "
                  f"{1000 * p95:8.0f} {1000 * values[-1]:8.0f}")
        pages = sorted(v for k, vs in times.items() if k not in ("map", "briefing")
                       for v in vs)
        p95 = pages[int(round(0.95 * (len(pages) - 1)))]
        print(f"pages but the map and the briefing: p95 {1000 * p95:.0f} ms (target <= 300)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
