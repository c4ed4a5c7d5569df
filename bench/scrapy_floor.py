"""What Scrapy alone costs a request on this machine: the floor under the demo's collect.

    python bench/scrapy_floor.py                    # 6,000 requests, 3 runs, medians
    python bench/scrapy_floor.py --db demo-output/aicity.db   # and that demo's floor

A bare spider (no middleware, pipeline or decoding of ours; Scrapy's defaults otherwise, with
the reactor and the concurrency aicity's demo crawler runs with) fetches fixed JSON answers the
size of an index answer (27 KB) and of a key answer, two to one, from a trivial Twisted server
in another process, on loopback. It prints the
crawler process's CPU per request. Times the demo's request count (the collect runs of `--db`,
else 25,550, what a full demo asked on 7 December 2026) and halved for two cores, that is the
least the demo's collect could take with Scrapy here if everything of ours cost nothing and the
site answered for free: the emulator's own time comes on top.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import statistics
import time

# an index answer: five series of three devices, a year of days, a number about four
# characters; and a key answer
YEAR = {"data": "x" * 1830}
INDEX = json.dumps({"status": 0, "data": {"userIndexes": [
    {"word": [{"name": "kw"}], "all": YEAR, "pc": YEAR, "wise": YEAR}] * 5,
    "uniqid": "0" * 32}}).encode()
KEY = json.dumps({"status": 0, "data": "x" * 64}).encode()


def serve(port: mp.Queue) -> None:
    from twisted.internet import reactor
    from twisted.web import resource, server

    class Answer(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"content-type", b"application/json")
            return KEY if request.path.endswith(b"ptbk") else INDEX

    listening = reactor.listenTCP(0, server.Site(Answer()), interface="127.0.0.1")
    port.put(listening.getHost().port)
    reactor.run()


def crawl(port: int, n: int, answer: mp.Queue) -> None:
    """In a process of its own (a reactor runs once a process): CPU seconds of the crawl."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self):
            for i in range(n):
                # about two index answers to a key, as the demo asks them
                path = "Interface/ptbk" if i % 3 == 2 else "api/SearchApi/index"
                yield scrapy.Request(f"http://127.0.0.1:{port}/{path}?i={i}", dont_filter=True)

        def parse(self, response):
            yield {"size": len(json.loads(response.body)["data"])}

    process = CrawlerProcess({
        "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
        "REMOTE_CONTROL_ENABLED": False, "COOKIES_ENABLED": False, "DOWNLOAD_DELAY": 0,
        # eight accounts, one request in flight each, as the demo's crawler
        "CONCURRENT_REQUESTS": 8, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "CONCURRENT_ITEMS": 1,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"})
    process.crawl(Bare)
    cpu, wall = time.process_time(), time.perf_counter()
    process.start()
    answer.put((time.process_time() - cpu, time.perf_counter() - wall))


def demo_requests(db: str) -> int:
    rows = sqlite3.connect(db).execute(
        "SELECT detail FROM runs WHERE kind = 'collect'").fetchall()
    return sum(json.loads(d).get("requests", 0) for (d,) in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", help="a demo's database: its collects' request count")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get()
    per_request, rates = [], []
    try:
        for _ in range(args.runs):
            answer = ctx.Queue()
            child = ctx.Process(target=crawl, args=(port, args.requests, answer))
            child.start()
            cpu, wall = answer.get()
            child.join()
            per_request.append(cpu / args.requests)
            rates.append(args.requests / wall)
    finally:
        server.terminate()
    ms = statistics.median(per_request) * 1000
    print(f"bare Scrapy: {ms:.2f} ms CPU a request (runs: "
          f"{', '.join(f'{x * 1000:.2f}' for x in per_request)}), "
          f"{statistics.median(rates):.0f} requests/s on one core")
    n = demo_requests(args.db) if args.db else 25_550
    print(f"{n:,} requests (the demo's collect): {n * ms / 1000:.0f} s of CPU, "
          f"{n * ms / 2000:.0f} s on two cores before any work of aicity or the emulator's")


if __name__ == "__main__":
    main()
