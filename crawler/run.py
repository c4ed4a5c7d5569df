"""`collect`: plan what is missing, crawl it with Scrapy, record the run.

Scrapy's reactor runs once per process, so a long-lived caller (the scheduler) runs
`aicity collect` in a child process rather than calling `collect` twice.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from db import store
from db.regions import RegionError
from crawler.accounts import SHANGHAI, load_cookies
from crawler.plan import DEFAULT_WINDOW_DAYS, Piece, plan_pieces
from crawler.protocol import EARLIEST

REAL_BASE_URL = "https://index.baidu.com"
CHECK_BATCH = 15
KINDS = ("index", "region", "word-graph")


class CollectError(RuntimeError):
    """A collect run that cannot start (no cookies, bad dates, unknown regions...)."""


@dataclass
class CollectResult:
    kind: str
    run_id: int | None
    pieces: int
    requests_planned: int
    estimated_seconds: float
    accounts: int
    dry_run: bool = False
    rows_written: int = 0
    series_stored: int = 0
    remaining_pieces: int = 0
    requests: int = 0
    responses_by_status: dict = field(default_factory=dict)
    http_status: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    unindexed: list = field(default_factory=list)
    stopped: str = ""
    source: str = ""
    seconds: float = 0.0
    status: str = "ok"

    def as_dict(self) -> dict:
        return asdict(self)


def latest_published(lag_days: int | None = None) -> date:
    """The last day Baidu has published: today in Asia/Shanghai minus the lag (default 1)."""
    if lag_days is None:
        lag_days = int(os.environ.get("AICITY_BAIDU_LAG_DAYS", "1"))
    return datetime.now(SHANGHAI).date() - timedelta(days=lag_days)


def resolve_base_url(base_url: str | None) -> str:
    url = (base_url or os.environ.get("AICITY_BAIDU_BASE_URL") or REAL_BASE_URL).rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CollectError(f"base URL {url!r} is not an http(s) URL")
    return url


def resolve_delay(delay: float | None) -> float:
    if delay is not None:
        value = delay
    else:
        text = os.environ.get("AICITY_BAIDU_DELAY", "15")
        try:
            value = float(text)
        except ValueError:
            raise CollectError(f"AICITY_BAIDU_DELAY={text!r} is not a number of seconds") from None
    if value < 0:
        raise CollectError(f"delay {value} must not be negative")
    return value


def _parse_day(text: str | date | None, what: str) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CollectError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def scope(db, regions: list[str] | None, keywords: list[str] | None):
    """(keyword terms, region codes) to collect: the taxonomy and every current region unless
    narrowed; names are resolved as everywhere else."""
    reg = store.registry(db)
    if regions:
        try:
            codes = [reg.resolve(r).code for r in regions]
        except RegionError as err:
            raise CollectError(str(err)) from None
    else:
        codes = [r.code for r in reg.filter(include_legacy=False)]
    if keywords:
        terms = []
        for k in keywords:
            try:
                terms.append(store.resolve_keyword(db, k)[1])
            except store.UnknownKeyword:
                terms.append(k)  # a new keyword: Baidu's pre-check will say if it is indexed
    else:
        terms = [r[0] for r in db.execute(
            "SELECT term FROM keywords WHERE in_taxonomy = 1 ORDER BY id")]
    return list(dict.fromkeys(terms)), list(dict.fromkeys(codes))


def plan(db, terms: list[str], codes: list[int], start: date, end: date,
         window_days: int = DEFAULT_WINDOW_DAYS) -> list[Piece]:
    """What is missing for the scope, cut into requests on a grid anchored at `start`."""
    ids = store.keyword_ids(db, terms, create=False)
    cov = store.coverage_frame(db, list(ids.values()))
    term_of = {v: k for k, v in ids.items()}
    covered: dict[tuple[str, int], list[tuple[date, date]]] = {}
    for kw_id, region, a, b in cov[["keyword_id", "region", "start", "end"]].itertuples(
            index=False):
        covered.setdefault((term_of[kw_id], region), []).append(
            (date.fromisoformat(a), date.fromisoformat(b)))
    return plan_pieces(terms, codes, start, end, covered, window_days=window_days, anchor=start)


def estimate(pieces: int, keywords: int, accounts: int, delay: float, check: bool = True
             ) -> tuple[int, float]:
    """Requests (index + ptbk per piece, plus keyword checks) and seconds at this pacing."""
    requests = 2 * pieces + (math.ceil(keywords / CHECK_BATCH) if check and pieces else 0)
    return requests, requests * delay / max(1, accounts)


def collect(db_path=None, *, kind: str = "index", start=None, end=None, regions=None,
            keywords=None, base_url=None, delay=None, cookies_file=None,
            window_days: int = DEFAULT_WINDOW_DAYS, dry_run: bool = False, check: bool = True,
            devices: tuple[str, ...] = ("all", "pc", "wise"), progress: bool = False,
            settings: dict | None = None) -> CollectResult:
    """Collect what is missing for the scope into the database; see `aicity collect --help`."""
    if kind not in KINDS:
        raise CollectError(f"kind must be one of {', '.join(KINDS)}")
    db = store.connect(db_path)
    store.require_schema(db)
    end_day = _parse_day(end, "--end") or latest_published()
    start_day = _parse_day(start, "--start") or (end_day - timedelta(days=729))
    if start_day < EARLIEST:
        start_day = EARLIEST  # Baidu has nothing earlier
    if end_day < start_day:
        raise CollectError(f"--end {end_day} is before --start {start_day}")
    bad = [d for d in devices if d not in ("all", "pc", "wise")]
    if bad or not devices:
        raise CollectError(f"devices must be among all, pc, wise (got {','.join(devices)})")
    if window_days < 1 or window_days > 3650:
        raise CollectError(f"window of {window_days} days is outside 1..3650")
    url = resolve_base_url(base_url)
    pace = resolve_delay(delay)
    cookies = load_cookies(path=cookies_file) if cookies_file else load_cookies()
    terms, codes = scope(db, regions, keywords)

    if kind == "index":
        pieces = plan(db, terms, codes, start_day, end_day, window_days)
        n_pieces = len(pieces)
        requests, seconds = estimate(n_pieces, len(terms), len(cookies), pace, check)
    elif kind == "region":
        areas = sorted({0, *[c for c in codes if 900 < c < 1000]})
        n_pieces = len(areas) * math.ceil(len(terms) / 5)
        requests, seconds = n_pieces, n_pieces * pace / max(1, len(cookies))
    else:
        n_pieces = math.ceil(len(terms) / 5)
        requests, seconds = n_pieces, n_pieces * pace / max(1, len(cookies))
    result = CollectResult(kind=kind, run_id=None, pieces=n_pieces, requests_planned=requests,
                           estimated_seconds=seconds, accounts=len(cookies), dry_run=dry_run)
    if dry_run or n_pieces == 0:
        db.close()
        return result
    if not cookies:
        db.close()
        raise CollectError("no Baidu cookies: set AICITY_BAIDU_COOKIES (one cookie per line) "
                           "or pass --cookies-file FILE")

    # A run still 'running' was killed (the scheduler's lock keeps runs from overlapping).
    db.execute("UPDATE runs SET status = 'failed', error = 'interrupted', finished_at = ? "
               "WHERE kind = 'collect' AND status = 'running'", [store.now_iso()])
    host_source = "baidu" if urlparse(url).hostname == "index.baidu.com" else "other"
    run = store.start_run(db, "collect", host_source, {
        "kind": kind, "start": start_day.isoformat(), "end": end_day.isoformat(),
        "keywords": len(terms), "regions": len(codes), "pieces": n_pieces,
        "base_url": url, "delay": pace, "accounts": len(cookies)})
    db.conn.commit()
    t0 = time.monotonic()
    stats, stopped = _crawl(kind, db_path, run.id, url, pace, cookies, cookies_file, host_source,
                            pieces if kind == "index" else None, terms, codes, start_day,
                            end_day, check, {"AICITY_DEVICES": list(devices),
                                             "AICITY_PROGRESS": progress,
                                             "AICITY_PROGRESS_TOTAL": n_pieces,
                                             **(settings or {})})
    result.run_id = run.id
    result.seconds = time.monotonic() - t0
    result.rows_written = int(stats.get("aicity/rows_written", 0))
    result.series_stored = int(stats.get("aicity/series_stored", 0))
    result.requests = int(stats.get("downloader/request_count", 0))
    result.responses_by_status = {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                                  if k.startswith("aicity/status/")}
    result.http_status = {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                          if k.startswith("downloader/response_status_count/")}
    result.failures = {k.split("/", 2)[2]: v for k, v in stats.items()
                       if k.startswith("aicity/failures/")}
    result.stopped = stopped
    result.source = stats.get("aicity/source") or host_source
    if kind == "index":
        result.unindexed = sorted(r[0] for r in db.execute(
            "SELECT keyword FROM unindexed_keywords WHERE keyword IN (%s)"
            % ",".join("?" * len(terms)), terms))
        # What is still missing, not counting keywords Baidu does not index.
        indexed = [t for t in terms if t not in set(result.unindexed)]
        result.remaining_pieces = len(plan(db, indexed, codes, start_day, end_day, window_days))
    if stopped:
        result.status = "failed"
    elif result.remaining_pieces or result.failures:
        result.status = "partial"
    detail = json.loads(db.execute("SELECT detail FROM runs WHERE id = ?", [run.id]
                                   ).fetchone()[0])
    detail.update({k: v for k, v in result.as_dict().items()
                   if k in ("requests", "responses_by_status", "http_status", "failures",
                            "unindexed", "remaining_pieces", "series_stored", "seconds",
                            "stopped")})
    store.finish_run(db, run, result.status, result.rows_written, detail,
                     error=stopped)
    db.execute("UPDATE runs SET source = ? WHERE id = ?", [result.source, run.id])
    db.conn.commit()
    db.close()
    return result


def _crawl(kind, db_path, run_id, url, pace, cookies, cookies_file, host_source, pieces, terms,
           codes, start_day, end_day, check, overrides) -> tuple[dict, str]:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    n = max(1, len(cookies))
    settings.update({
        "AICITY_DB": str(store.db_path(db_path)),
        "AICITY_RUN_ID": run_id,
        "AICITY_SOURCE": host_source,
        "AICITY_COOKIES_FILE": str(cookies_file or ""),
        "CONCURRENT_REQUESTS": n,
        "DOWNLOAD_DELAY": pace,
        # One download slot per account: one request in flight, `pace` seconds apart.
        "DOWNLOAD_SLOTS": {f"account-{i}": {"concurrency": 1, "delay": pace}
                           for i in range(1, n + 1)},
        "LOG_LEVEL": os.environ.get("AICITY_LOG_LEVEL", "WARNING"),
    }, priority="cmdline")
    settings.update(overrides, priority="cmdline")
    process = CrawlerProcess(settings)
    if kind == "index":
        from crawler.spiders.search_index import SearchIndexSpider
        crawler = process.create_crawler(SearchIndexSpider)
        process.crawl(crawler, pieces=pieces, base_url=url, check=check)
    elif kind == "region":
        from crawler.spiders.region import RegionSpider
        crawler = process.create_crawler(RegionSpider)
        areas = sorted({0, *[c for c in codes if 900 < c < 1000]})
        process.crawl(crawler, keywords=terms, areas=areas, start=start_day.isoformat(),
                      end=end_day.isoformat(), base_url=url)
    else:
        from crawler.spiders.word_graph import WordGraphSpider
        crawler = process.create_crawler(WordGraphSpider)
        process.crawl(crawler, keywords=terms, dates=[end_day.isoformat()], base_url=url)
    process.start()
    stats = crawler.stats.get_stats()
    return stats, stats.get("aicity/stopped", "")
