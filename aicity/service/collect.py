"""`collect`: plan what is missing, crawl it with Scrapy, record the run.

Scrapy's reactor runs once per process, so a long-lived caller (the scheduler) runs each
collect in a spawned child (aicity/children.py, a CollectOrder) rather than calling `collect`
twice in one process.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlparse

from aicity.db import store
from aicity.vocabulary import DEVICES, DateError, parse_day
from aicity.db.regions import RegionError
from aicity.crawler.accounts import SHANGHAI, account_key, today_shanghai
from aicity.crawler.config import (PUBLISH_HOUR, CollectError, CollectOrder, SiteAccess, Tuning,
                                   without_credentials)
from aicity.crawler.plan import (DEFAULT_WINDOW_DAYS, REQUESTS_PER_PIECE, SNAPSHOT_DAYS, Area,
                                 Piece, SnapshotPlan, missing_ranges, outlook, plan_night,
                                 plan_snapshot, snapshot_order, snapshot_outlook)
from aicity.crawler.protocol import EARLIEST
from aicity.crawler.stopping import StopOnSignals

CHECK_BATCH = 15
KINDS = ("index", "snapshot", "region", "word-graph")


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
    stopped_cause: str = ""          # accounts, token or network
    interrupted: str = ""            # the signal that stopped it (SIGTERM, SIGINT)
    source: str = ""
    seconds: float = 0.0
    status: str = "ok"
    deferred_pieces: int = 0         # left for later nights by the budget
    budget_left: int | None = None   # requests the accounts may still send today
    daily_budget: int = 0
    waiting_days: int = 0            # empty days waiting to be confirmed (re-asked later)
    blank_reasks: int = 0            # blank series asked again at once
    blank_reask_requests: int = 0    # the index requests that took (up to five series each)
    answers_without_key: int = 0     # answers with no number in them: no ptbk asked for
    checksum_mismatches: int = 0     # series whose decoded values their answer contradicted
    throttled: int = 0               # HTTP 403/429 answers (the account rested, asked again)
    cipher_t0: int | None = None     # the Cipher-Text constants the site accepted
    end: str = ""
    outlook: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)   # kind snapshot: window, keywords done, why not
    queue: dict = field(default_factory=dict)      # with --queue: pushed, taken, handed back
    notes: list = field(default_factory=list)      # what was changed of the request, and why

    def as_dict(self) -> dict:
        return asdict(self)


def latest_published(now: datetime | None = None, lag_days: int | None = None,
                     publish_hour: int = PUBLISH_HOUR) -> date:
    """The last day Baidu has published at `now`.

    Baidu updates in the morning (Beijing time), not overnight: before `publish_hour` yesterday
    may not be out, so the answer is the day before yesterday; from then on, yesterday. A fixed
    lag in days overrides the rule. Asking too far is harmless anyway: empty days at the end
    are re-asked on later runs.
    """
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    if lag_days is None:
        lag_days = 1 if now.hour >= publish_hour else 2
    return now.date() - timedelta(days=lag_days)


def _parse_day(text: str | date | None, what: str) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return parse_day(text, what)
    except DateError as err:
        raise CollectError(str(err)) from None


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
        from aicity.spelling import SpellingError
        spell = store.keyword_spelling(db)
        terms = []
        for k in keywords:
            try:
                # the stored keyword however it is spelled (ＡＩ is AI); else a new keyword,
                # which Baidu's pre-check will say is indexed or not
                terms.append(spell(k))
            except SpellingError as err:
                raise CollectError(str(err)) from None
    else:
        terms = store.taxonomy_terms(db)
    return list(dict.fromkeys(terms)), list(dict.fromkeys(codes))


def covered_ranges(db, terms: list[str], waiting: bool = False,
                   resting_since: str | None = None, codes: list[int] = ()
                   ) -> dict[tuple[str, int], list[tuple[date, date]]]:
    """Fetched ranges per (keyword, region); with `waiting`, also the empty days still waiting
    to be confirmed (they are not missing for this run: later runs ask again); with
    `resting_since`, the days of blank answers seen since then (asked again the next night).
    For the regions `codes`, a term's days before it came into being (its taxonomy `since`)
    count as covered: there is nothing to ask, and the analysis counts them 0."""
    ids = store.keyword_ids(db, terms, create=False)
    cov = store.coverage_frame(db, list(ids.values()))
    term_of = {v: k for k, v in ids.items()}
    covered: dict[tuple[str, int], list[tuple[date, date]]] = {}
    for kw_id, region, a, b in cov[["keyword_id", "region", "start", "end"]].itertuples(
            index=False):
        covered.setdefault((term_of[kw_id], region), []).append(
            (date.fromisoformat(a), date.fromisoformat(b)))
    if (waiting or resting_since) and ids:
        for term, region, day, step in store.waiting_days(
                db, list(ids.values()), resting_since=None if waiting else resting_since):
            d = date.fromisoformat(day)
            covered.setdefault((term, region), []).append((d, d + timedelta(days=step - 1)))
    for term, born in store.first_dates(db, terms).items():
        if born > EARLIEST:
            for code in codes:
                covered.setdefault((term, code), []).append(
                    (EARLIEST, born - timedelta(days=1)))
    return covered


def _known_blank(db, terms: list[str], pieces) -> set[tuple[str, int]]:
    """(term, region) whose blank answer tonight is no news: a blank still waiting for a later
    night, or a series whose day before the piece was already below Baidu's floor (most city
    series of niche terms). Asking those again at once would double the night for nothing; a
    blank of a series that had values is asked again at once (the site's transient blanks)."""
    known = store.blank_series(db, terms)
    if pieces:
        known |= store.below_floor_before(db, [(k, p.region, p.start.isoformat())
                                               for p in pieces for k in p.keywords])
    return known


def areas_for(db, codes: list[int]) -> list[Area]:
    reg = store.registry(db)
    return [Area(c, reg.by_code[c].level, float(reg.by_code[c].population or 0)) for c in codes]


def plan(db, terms: list[str], codes: list[int], start: date, end: date,
         window_days: int = DEFAULT_WINDOW_DAYS, budget: int | None = None,
         check_requests: int = 0, waiting: bool = False, resting_since: str | None = None):
    """Tonight's plan for the scope (see crawler.plan.plan_night)."""
    covered = covered_ranges(db, terms, waiting, resting_since, codes)
    return plan_night(terms, areas_for(db, codes), start, end, covered, budget=budget,
                      window_days=window_days, check_requests=check_requests)


NO_COOKIES = ("no Baidu cookies: set AICITY_BAIDU_COOKIES (one cookie per line) or pass "
              "--cookies-file FILE")


def still_missing(db, pieces: list[Piece]) -> list[Piece]:
    """The pieces of a plan whose days are not all covered (waiting days count as covered)."""
    terms = list(dict.fromkeys(k for p in pieces for k in p.keywords))
    covered = covered_ranges(db, terms, waiting=True,
                             codes=sorted({p.region for p in pieces}))
    return [p for p in pieces
            if any(missing_ranges(p.start, p.end, covered.get((k, p.region), []))
                   for k in p.keywords)]


def region_state(db, terms: list[str], codes: list[int]) -> dict[int, tuple]:
    """region -> (oldest, newest) day every keyword has, for the outlook."""
    covered = covered_ranges(db, terms, codes=codes)
    out = {}
    for code in codes:
        firsts, lasts = [], []
        for kw in terms:
            ranges = covered.get((kw, code))
            if not ranges:
                firsts = lasts = []
                break
            firsts.append(min(a for a, _ in ranges))
            lasts.append(max(b for _, b in ranges))
        out[code] = (max(firsts), min(lasts)) if lasts else (None, None)
    return out


def city_snapshot_plan(db, terms: list[str], codes: list[int], end: date, budget: int | None,
                       window: tuple[date, date] | None = None) -> SnapshotPlan:
    """Tonight's regional-distribution calls for a snapshot of the cities in `codes` (see
    crawler.plan.plan_snapshot); none when every such city already has index series through
    the snapshot's days. `window` pins the snapshot (to count what is left of it)."""
    reg = store.registry(db)
    cities = [c for c in codes if reg.by_code[c].level == "city"]
    order = snap_order(db, terms)
    provinces = snap_provinces(db, codes)
    since = end - timedelta(days=SNAPSHOT_DAYS - 1)
    answered = store.distribution_answered(db, (window[0] if window else since).isoformat())
    if window:
        answered = {window: answered.get(window, set())}
    plan_ = plan_snapshot(order, provinces, window[1] if window else end, answered,
                          budget=budget)
    if not cities:
        return SnapshotPlan(plan_.start, plan_.end, [], 0, 0, len(order), 0, "no city in scope")
    if window is not None:
        return plan_
    lacking = {c for c, (_, newest) in region_state(db, terms, cities).items()
               if newest is None or newest < since}
    reason = ""
    if not lacking:
        reason = f"every city has its index series for the last {SNAPSHOT_DAYS} days"
    else:
        # The index collect that follows may reach every such city tonight by itself.
        night = plan(db, terms, codes, since, end, budget=budget,
                     check_requests=check_requests(len(terms)))
        if not any(p.region in lacking for p in night.deferred):
            reason = "tonight's index collect reaches every city"
    if reason:
        return SnapshotPlan(plan_.start, plan_.end, [], 0, plan_.done_keywords, len(order),
                            len(provinces), reason + ": no snapshot needed")
    return plan_


def snap_order(db, terms: list[str]) -> list[str]:
    """The indexed keywords in the order a snapshot asks for them (crawler.plan.snapshot_order);
    keywords outside the taxonomy last."""
    gone = store.unindexed(db, terms)
    terms = [t for t in terms if t not in gone]
    order = snapshot_order(store.keyword_strata(db, terms))
    return order + [t for t in terms if t not in set(order)]


def snap_provinces(db, codes: list[int]) -> list[int]:
    """Province codes of the cities among `codes` (a snapshot asks each province once)."""
    reg = store.registry(db)
    province_code = {r.name: r.code for r in reg.filter(level="province")}
    return sorted({province_code[reg.by_code[c].province] for c in codes
                   if reg.by_code[c].level == "city" and reg.by_code[c].province in province_code})


def snapshot_summary(snap: SnapshotPlan) -> dict:
    return {"start": snap.start.isoformat(), "end": snap.end.isoformat(),
            "calls": len(snap.calls), "deferred": snap.deferred,
            "keywords_done": snap.done_keywords, "keywords": snap.keywords,
            "provinces": snap.provinces, "complete": snap.complete, "reason": snap.reason}


def estimate(pieces: int, keywords: int, accounts: int, delay: float, check: bool = True
             ) -> tuple[int, float]:
    """Requests (index + ptbk per piece, plus keyword checks) and seconds at this pacing."""
    requests = REQUESTS_PER_PIECE * pieces + (check_requests(keywords, check) if pieces else 0)
    return requests, requests * delay / max(1, accounts)


def check_requests(keywords: int, check: bool = True) -> int:
    return math.ceil(keywords / CHECK_BATCH) if check else 0


def budget_left(db, cookies: list[str], daily_budget: int) -> int | None:
    """Requests the accounts may still send today (None when there is no daily budget)."""
    if not daily_budget:
        return None
    salt = store.crawl_salt(db)
    used = store.budget_used(db, [account_key(salt, c) for c in cookies], today_shanghai())
    return sum(max(0, daily_budget - n) for n in used.values())


@dataclass(frozen=True)
class Scope:
    """What one collect asks for, checked: the kind, the days, the keywords and regions."""
    kind: str
    start: date
    end: date
    terms: list[str]
    codes: list[int]
    devices: tuple[str, ...]
    window_days: int


@dataclass
class CollectPlan:
    """What a collect will ask: index pieces, a snapshot's calls, or a count of calls; with
    the requests and time that takes and what is left for later nights."""
    pieces: int
    requests: int
    seconds: float
    index_pieces: list[Piece] = field(default_factory=list)   # kind index
    asked: list[int] = field(default_factory=list)            # kind index: codes as asked
    snapshot: SnapshotPlan | None = None                      # kind snapshot
    deferred: int = 0
    outlook: dict = field(default_factory=dict)               # a dry run's nights ahead


@dataclass(frozen=True)
class CrawlJob:
    """One Scrapy crawl of a collect: which spider, on what, for which run."""
    kind: str                          # index, queued, snapshot, region or word-graph
    db_path: object
    run_id: int
    base_url: str
    accounts: int
    host_source: str
    overrides: dict
    scope: Scope
    check: bool = True
    pieces: tuple = ()                 # index
    snapshot: SnapshotPlan | None = None
    piece_queue: object = None         # queued
    known_blank: frozenset = frozenset()


def collect(db_path=None, *, access: SiteAccess | None = None, tuning: Tuning | None = None,
            kind: str = "index", start=None, end=None, regions=None, keywords=None,
            window_days: int = DEFAULT_WINDOW_DAYS, dry_run: bool = False, check: bool = True,
            devices: tuple[str, ...] = DEVICES, progress: bool = False,
            settings: dict | None = None, use_budget: bool = True, queue: str | None = None,
            queue_lease: float | None = None) -> CollectResult:
    """Collect what is missing for the scope into the database; see `aicity collect --help`.

    `access` says where the site is, whose cookies and at what pace (default: the real site,
    no accounts, which plans but cannot crawl); `tuning` how refusals and gaps are met;
    `settings` are Scrapy settings over both (extensions, say).

    With `queue` (redis://host:port/db) this is one worker of many: the first worker to find
    no plan in the queue pushes the pieces still missing for the scope, and every worker takes
    pieces from the queue until none is left anywhere (crawler.queue)."""
    access = access or SiteAccess()
    tuning = tuning or Tuning()
    if kind not in KINDS:
        raise CollectError(f"kind must be one of {', '.join(KINDS)}")
    db = store.connect(db_path)
    try:
        store.require_schema(db)
        scope, notes = checked_scope(db, access, kind, start, end, regions, keywords, devices,
                                     window_days, queue)
        cookies = list(access.cookies)
        if scope.end < scope.start:
            return CollectResult(kind=kind, run_id=None, pieces=0, requests_planned=0,
                                 estimated_seconds=0.0, accounts=len(cookies),
                                 dry_run=dry_run, end=scope.end.isoformat(), notes=notes)
        left = budget_left(db, cookies, access.daily_budget) if cookies and use_budget \
            else None
        planned = plan_collect(db, scope, access, tuning, left, check, shared=bool(queue),
                               dry_run=dry_run)
        result = CollectResult(kind=kind, run_id=None, pieces=planned.pieces,
                               requests_planned=planned.requests,
                               estimated_seconds=planned.seconds, accounts=len(cookies),
                               dry_run=dry_run, budget_left=left,
                               daily_budget=access.daily_budget, end=scope.end.isoformat(),
                               outlook=planned.outlook, notes=notes,
                               deferred_pieces=planned.deferred)
        if planned.snapshot is not None:
            result.snapshot = snapshot_summary(planned.snapshot)
        piece_queue = None
        to_ask = planned.pieces
        if queue and not dry_run:
            piece_queue, result.queue = share_plan(db, queue, queue_lease, scope, planned)
            # a worker that finds every piece taken stays, to take over from one that dies
            to_ask = result.queue["pending"] + result.queue["held_elsewhere"]
        if dry_run or to_ask == 0:
            if kind in ("index", "snapshot") and left is not None and to_ask == 0 \
                    and result.deferred_pieces:
                result.status = "budget"     # nothing fits in what is left of today's budget
            return result
        if not cookies:
            raise CollectError(NO_COOKIES)
        run, host_source = open_collect_run(db, scope, access, to_ask, result)
        t0 = time.monotonic()
        # every setting of the crawl from the objects it was given (SiteAccess, Tuning), then
        # the caller's Scrapy settings over them
        overrides = {"AICITY_DEVICES": list(scope.devices), "AICITY_PROGRESS": progress,
                     "AICITY_PROGRESS_TOTAL": to_ask, **access.settings(),
                     "AICITY_BAIDU_DAILY_BUDGET": access.daily_budget if use_budget else 0,
                     **tuning.settings(), **(settings or {})}
        stats = _crawl(CrawlJob(
            kind="queued" if piece_queue else kind, db_path=db_path, run_id=run.id,
            base_url=access.base_url, accounts=len(cookies), host_source=host_source,
            overrides=overrides, scope=scope, check=check,
            pieces=tuple(planned.index_pieces), snapshot=planned.snapshot,
            piece_queue=piece_queue,
            known_blank=frozenset(_known_blank(db, scope.terms, planned.index_pieces))
            if kind == "index" else frozenset()))
        result.run_id = run.id
        result.seconds = time.monotonic() - t0
        read_crawl_stats(result, stats, host_source)
        if result.stopped_cause == "storage":
            record_storage_failure(db, run, result, planned)
            return result
        judge_collect(db, result, scope, planned, stats, piece_queue,
                      cookies if use_budget else None, access.daily_budget)
        close_collect_run(db, run, result)
        return result
    finally:
        db.close()


def open_collect_run(db, scope: Scope, access: SiteAccess, to_ask: int,
                     result: CollectResult) -> tuple:
    """(the run's record, where the data comes from) for a collect about to crawl: recorded
    before the first request, so a run killed outright is still found (and shown
    interrupted)."""
    host_source = "baidu" if urlparse(access.base_url).hostname == "index.baidu.com" \
        else "other"
    run = store.open_run(db, "collect", host_source, {
        "kind": scope.kind, "start": scope.start.isoformat(), "end": scope.end.isoformat(),
        "keywords": len(scope.terms), "regions": len(scope.codes), "pieces": to_ask,
        "deferred_pieces": result.deferred_pieces, "budget_left": result.budget_left,
        "base_url": without_credentials(access.base_url), "delay": access.delay,
        "accounts": len(access.cookies)})
    return run, host_source


def checked_scope(db, access: SiteAccess, kind: str, start, end, regions, keywords,
                  devices: tuple[str, ...], window_days: int, queue: str | None
                  ) -> tuple[Scope, list[str]]:
    """The scope as asked, checked (CollectError naming the value), with notes on what was
    changed of it and why. A scope whose end falls before its start has nothing to ask."""
    latest = latest_published(lag_days=access.lag_days, publish_hour=access.publish_hour)
    end_day = _parse_day(end, "--end") or latest
    start_day = _parse_day(start, "--start")
    if start_day and end_day < start_day:
        raise CollectError(f"--end {end_day} is before --start {start_day}")
    notes = []
    if end_day > latest:
        # days Baidu has not published come back empty: asked, they would only wait (and
        # cost requests); never are they taken for days below the reporting floor
        notes.append(f"--end {end_day} is after the latest day Baidu has published "
                     f"({latest}): asking through {latest}")
        end_day = latest
    start_day = start_day or (end_day - timedelta(days=729))
    if start_day < EARLIEST:
        start_day = EARLIEST  # Baidu has nothing earlier
    if end_day < start_day:
        return (Scope(kind, start_day, end_day, [], [], tuple(devices), window_days),
                [f"nothing to ask: Baidu has published through {latest}, before --start "
                 f"{start_day}"])
    bad = [d for d in devices if d not in DEVICES]
    if bad or not devices:
        raise CollectError(f"devices must be among all, pc, wise (got {','.join(devices)})")
    if window_days < 1 or window_days > 3650:
        raise CollectError(f"window of {window_days} days is outside 1..3650")
    if queue and kind != "index":
        raise CollectError(f"--queue shares index pieces; --what {kind} runs on one host")
    terms, codes = scope(db, regions, keywords)
    return Scope(kind, start_day, end_day, terms, codes, tuple(devices), window_days), notes


def plan_collect(db, scope: Scope, access: SiteAccess, tuning: Tuning, left: int | None,
                 check: bool, shared: bool = False, dry_run: bool = False) -> CollectPlan:
    """What this collect asks, within what is `left` of today's budget (a shared plan is not
    cut to one worker's budget: each worker stops taking pieces when its own accounts are
    spent, and what it holds goes back to the queue); a dry run adds the nights ahead."""
    cookies, pace = len(access.cookies), access.delay
    terms, codes = scope.terms, scope.codes
    if scope.kind == "index":
        # a municipality's city is asked (and planned) as its province: one request, stored
        # under both (the site answers no city code there)
        reg = store.registry(db)
        asked = list(dict.fromkeys(reg.asked_as(c) for c in codes))
        checks = check_requests(len(terms), check)
        # a series answered blank tonight rests until the next night (then, blank again, it
        # is accepted as below the reporting floor)
        resting = (datetime.now(timezone.utc).replace(microsecond=0)
                   - timedelta(hours=tuning.blank_rest_hours)).isoformat()
        night = plan(db, terms, asked, scope.start, scope.end, scope.window_days,
                     budget=None if shared else left, check_requests=0 if shared else checks,
                     resting_since=resting)
        requests, seconds = estimate(len(night.pieces), len(terms), cookies, pace, check)
        planned = CollectPlan(len(night.pieces), requests, seconds,
                              index_pieces=list(night.pieces), asked=asked,
                              deferred=len(night.deferred))
        if dry_run:
            planned.outlook = _outlook(db, scope, access, checks)
        return planned
    if scope.kind == "snapshot":
        if not cookies and not dry_run:
            # without an account tonight's index collect reaches no city either: a snapshot
            # plan made as if it reached them all would say "no snapshot needed"
            raise CollectError(NO_COOKIES)
        snap = city_snapshot_plan(db, terms, codes, scope.end, left)
        n = len(snap.calls)
        return CollectPlan(n, n, n * pace / max(1, cookies), snapshot=snap,
                           deferred=snap.deferred)
    if scope.kind == "region":
        n = len(distribution_areas(codes)) * len(terms)   # a keyword a call
    else:
        n = math.ceil(len(terms) / 5)
    return CollectPlan(n, n, n * pace / max(1, cookies))


def distribution_areas(codes: list[int]) -> list[int]:
    """The areas whose regional distribution a `region` collect asks: the nation and the
    provinces among `codes`."""
    return sorted({0, *[c for c in codes if 900 < c < 1000]})


def _outlook(db, scope: Scope, access: SiteAccess, checks: int) -> dict:
    """A dry run's view of the nights ahead at this budget, and of the city snapshot the
    nightly job takes first while it is needed (issue 9)."""
    budget, cookies = access.daily_budget, len(access.cookies)
    nightly = budget * cookies if budget and cookies else None
    view = outlook(len(scope.terms), areas_for(db, scope.codes), scope.start, scope.end,
                   region_state(db, scope.terms, scope.codes), budget=nightly,
                   window_days=scope.window_days, check_requests=checks)
    info = {"nights_until_all_collected": view.nights_until_all_collected,
            "nights_until_history": view.nights_until_history,
            "days_behind": view.staleness,
            "requests_per_night": view.requests_per_night,
            "budget_per_night": nightly}
    snap = city_snapshot_plan(db, scope.terms, scope.codes, scope.end, nightly)
    if snap.calls:
        first, nights = snapshot_outlook(snap_order(db, scope.terms),
                                         snap_provinces(db, scope.codes), scope.end, {},
                                         budget=nightly)
        info["snapshot"] = {"first_night_keywords": first, "keywords": snap.keywords,
                            "nights": nights}
    return info


def share_plan(db, queue: str, lease: float | None, scope: Scope, planned: CollectPlan):
    """(the piece queue, what it holds) once this worker's plan is in the shared queue (the
    first worker pushes it; the others find it there); CollectError for a queue that cannot
    be reached or works a plan of another scope."""
    from aicity.crawler.queue import OtherPlan, queue_errors
    piece_queue = _piece_queue(queue, lease)
    mine = plan_scope(planned.asked, scope.terms, scope.start, scope.end, scope.devices,
                      scope.window_days)
    try:
        pushed = piece_queue.push_plan(planned.index_pieces, scope.end.isoformat(), *mine)
        held = {"pushed": pushed, "pending": piece_queue.pending(),
                "held_elsewhere": piece_queue.held_elsewhere()}
    except queue_errors() as err:
        raise CollectError(f"queue {without_credentials(queue)}: "
                           f"{(str(err).splitlines() or [''])[0]}") from None
    except OtherPlan as err:
        raise CollectError(
            f"queue {without_credentials(queue)} is working tonight's plan of another "
            f"scope ({err}), not this worker's ({mine[1]}): start every worker of a queue "
            f"with the same --regions, --keywords, --start and --end, or give this scope "
            f"a queue of its own (another Redis database, redis://host/1)") from None
    # a piece handed back by a worker that died after storing it is not asked again
    piece_queue.still_missing = lambda taken: still_missing(db, taken)
    return piece_queue, held


def read_crawl_stats(result: CollectResult, stats: dict, host_source: str) -> None:
    """What the crawl's stats say, into the result: counts, answers, failures, why it
    stopped."""
    result.rows_written = int(stats.get("aicity/rows_written", 0))
    result.series_stored = int(stats.get("aicity/series_stored", 0))
    result.requests = int(stats.get("downloader/request_count", 0))
    result.responses_by_status = {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                                  if k.startswith("aicity/status/")}
    result.http_status = {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                          if k.startswith("downloader/response_status_count/")}
    result.failures = {k.split("/", 2)[2]: v for k, v in stats.items()
                       if k.startswith("aicity/failures/")}
    result.stopped = stats.get("aicity/stopped", "")
    result.stopped_cause = stats.get("aicity/stopped_cause", "")
    result.source = stats.get("aicity/source") or host_source
    if result.kind == "index":
        result.waiting_days = int(stats.get("aicity/unconfirmed_days", 0))
        result.blank_reasks = int(stats.get("aicity/blank_answers_asked_again", 0))
        result.blank_reask_requests = int(stats.get("aicity/blank_reask_requests", 0))
        result.answers_without_key = int(stats.get("aicity/answers_without_key", 0))
        result.checksum_mismatches = int(stats.get("aicity/checksum/mismatched_series", 0))
    result.throttled = int(stats.get("aicity/accounts/throttled", 0))
    result.cipher_t0 = stats.get("aicity/cipher_t0")
    result.interrupted = stats.get("aicity/interrupted", "")


def record_storage_failure(db, run, result: CollectResult, planned: CollectPlan) -> None:
    """The disk is full or the file unusable: the bookkeeping of judge_collect would fail the
    same way. Record the failure if the database still takes it; else the next run marks this
    one interrupted (its process is gone)."""
    result.status = "failed"
    try:
        if result.kind == "index":                  # reading still works on a full disk
            result.remaining_pieces = len(still_missing(db, planned.index_pieces))
        store.close_run(db, run, "failed", result.rows_written,
                        {"stopped": result.stopped, "stopped_cause": "storage",
                         "remaining_pieces": result.remaining_pieces}, error=result.stopped)
    except store.storage_errors():
        pass


def judge_collect(db, result: CollectResult, scope: Scope, planned: CollectPlan, stats: dict,
                  piece_queue, cookies: list[str] | None, daily_budget: int) -> None:
    """The verdict from the database, not from the crawl's counters: what the scope still
    lacks, and so the status (`cookies` None: the budget is not the collect's to count)."""
    if piece_queue is not None:
        # what the queue says is for the record only: the verdict below is the scope's
        # coverage in the database (a worker stopped by Ctrl-C, a database that refused it or
        # a queue of another plan left its counters at "nothing missing")
        result.queue.update({k.rsplit("/", 1)[1]: int(v) for k, v in stats.items()
                             if k.startswith("aicity/queue/")})
        result.queue["pending"] = _queue_pending(piece_queue)
    if scope.kind == "index":
        result.unindexed = sorted(store.unindexed(db, scope.terms))
        # What this scope still lacks, not counting keywords Baidu does not index nor
        # empty days waiting to be confirmed (later runs ask for those again).
        gone = set(result.unindexed)
        tonight = [Piece(p.region, p.start, p.end, tuple(k for k in p.keywords if k not in gone))
                   for p in planned.index_pieces]
        result.remaining_pieces = len(still_missing(db, [p for p in tonight if p.keywords]))
    if scope.kind == "snapshot":
        snap = planned.snapshot
        after = city_snapshot_plan(db, scope.terms, scope.codes, scope.end, None,
                                   window=(snap.start, snap.end))
        asked = set(snap.calls)
        result.remaining_pieces = sum(1 for c in after.calls if c in asked)
        result.snapshot = snapshot_summary(after)
        result.budget_left = budget_left(db, cookies, daily_budget) if cookies is not None \
            else None
    if result.stopped:
        result.status = "failed"
    elif result.remaining_pieces or result.failures:
        result.status = "partial"


def close_collect_run(db, run, result: CollectResult) -> None:
    """The run's record: its status, rows and what the result says of it."""
    detail = store.run_detail(db, run.id)
    detail.update({k: v for k, v in result.as_dict().items()
                   if k in ("requests", "responses_by_status", "http_status", "failures",
                            "unindexed", "remaining_pieces", "series_stored", "seconds",
                            "stopped", "stopped_cause", "waiting_days", "blank_reasks",
                            "blank_reask_requests", "answers_without_key",
                            "checksum_mismatches", "throttled",
                            "cipher_t0", "interrupted", "queue")})
    error = result.stopped or (f"interrupted by {result.interrupted}" if result.interrupted
                               else "")
    store.close_run(db, run, result.status, result.rows_written, detail, error=error,
                    source=result.source)


def plan_scope(codes: list[int], terms: list[str], start: date, end: date,
               devices: tuple[str, ...], window_days: int) -> tuple[str, str]:
    """(digest, words) of what a shared plan covers: workers of one queue must agree on it."""
    import hashlib
    import json
    key = json.dumps([sorted(codes), sorted(terms), start.isoformat(), end.isoformat(),
                      sorted(devices), window_days], ensure_ascii=False)
    return (hashlib.sha256(key.encode()).hexdigest()[:16],
            f"{len(codes)} regions, {len(terms)} keywords, {start}..{end}")


def _queue_pending(piece_queue) -> int | None:
    """What the queue still holds, None when it cannot be asked (Redis went away)."""
    try:
        return piece_queue.pending()
    except Exception:    # redis' ConnectionError and kin: the verdict does not depend on it
        return None


def _piece_queue(url: str, lease: float | None):
    from aicity.crawler import queue as shared
    try:
        client = shared.connect(url)
    except ImportError:
        raise CollectError("--queue needs scrapy-redis: pip install 'aicity[scale]'") from None
    except Exception as err:   # redis' ConnectionError, a bad URL: one line, the URL named
        raise CollectError(f"queue {without_credentials(url)}: {err}") from None
    piece_queue = shared.PieceQueue(client, lease_seconds=lease or shared.DEFAULT_LEASE_SECONDS)
    piece_queue.where = without_credentials(url)
    return piece_queue


def crawl_settings(db_path, run_id, host_source, accounts: int, overrides: dict):
    """The crawl's Scrapy settings: the project's module, then where to store, then `overrides`
    (SiteAccess's and Tuning's settings, and the caller's)."""
    from scrapy.settings import Settings

    from aicity.crawler.accounts import account_slot
    settings = Settings()
    settings.setmodule("aicity.crawler.settings", priority="project")
    settings.update({
        "AICITY_DB": str(store.db_path(db_path)),
        "AICITY_RUN_ID": run_id,
        "AICITY_SOURCE": host_source,
        # every account may have its one request in flight (each is its own download slot),
        # each on a connection kept alive
        "CONCURRENT_REQUESTS": max(1, accounts),
        "CONCURRENT_REQUESTS_PER_DOMAIN": max(1, accounts),
        "DOWNLOAD_SLOTS": {account_slot(i): {"concurrency": 1}
                           for i in range(1, max(1, accounts) + 1)},
    }, priority="cmdline")
    settings.update(overrides, priority="cmdline")
    return settings


def _crawl(job: CrawlJob) -> dict:
    """Run the job's spider to its end in this process (once: Twisted's reactor does not
    start twice); the crawl's stats."""
    from scrapy.crawler import CrawlerProcess

    settings = crawl_settings(job.db_path, job.run_id, job.host_source, job.accounts,
                              job.overrides)
    process = CrawlerProcess(settings)
    scope, url = job.scope, job.base_url
    if job.kind == "queued":
        from aicity.crawler.queued_index import QueuedSearchIndexSpider
        crawler = process.create_crawler(QueuedSearchIndexSpider)
        # the queue (with its Redis client) goes to the spider as an argument, not a setting:
        # Scrapy logs settings, and a Redis URL may hold a password
        started = process.crawl(crawler, base_url=url, known_blank=job.known_blank,
                                piece_queue=job.piece_queue)
    elif job.kind == "index":
        from aicity.crawler.spiders.search_index import SearchIndexSpider
        crawler = process.create_crawler(SearchIndexSpider)
        started = process.crawl(crawler, pieces=list(job.pieces), base_url=url,
                                check=job.check, known_blank=job.known_blank)
    elif job.kind == "snapshot":
        from aicity.crawler.spiders.region import RegionSpider
        crawler = process.create_crawler(RegionSpider)
        snap = job.snapshot
        started = process.crawl(crawler, keywords=[], areas=[],
                                start=snap.start.isoformat(), end=snap.end.isoformat(),
                                base_url=url, calls=snap.calls)
    elif job.kind == "region":
        from aicity.crawler.spiders.region import RegionSpider
        crawler = process.create_crawler(RegionSpider)
        started = process.crawl(crawler, keywords=scope.terms,
                                areas=distribution_areas(scope.codes),
                                start=scope.start.isoformat(), end=scope.end.isoformat(),
                                base_url=url)
    else:
        from aicity.crawler.spiders.word_graph import WordGraphSpider
        crawler = process.create_crawler(WordGraphSpider)
        started = process.crawl(crawler, keywords=scope.terms, dates=[scope.end.isoformat()],
                                base_url=url)
    from twisted.internet import reactor

    failed: dict = {}

    def crawl_failed(failure):
        # the crawl could not be built or opened (the database refused a connection, say):
        # one line for the run, not Twisted's "Unhandled error in Deferred" and a traceback
        failed.update(_crawl_failure(failure.value, job.db_path))

    started.addErrback(crawl_failed)
    stopper = StopOnSignals(process)
    reactor.addSystemEventTrigger("after", "startup", stopper.install)
    try:
        process.start(install_signal_handlers=False)
    finally:
        stopper.disarm()
    stats = {**(crawler.stats.get_stats() if crawler.stats else {}), **failed}
    if stopper.received:
        stats.setdefault("aicity/interrupted", stopper.received)
    return stats


def _crawl_failure(err: BaseException, db_path) -> dict:
    """The stats of a crawl that failed to start: why, in one line, and the cause."""
    files = store.open_files_problem(err)
    if files:
        return {"aicity/stopped": files, "aicity/stopped_cause": "crawl"}
    if isinstance(err, (store.DatabaseProblem, *store.storage_errors())):
        why = str(err) if isinstance(err, store.DatabaseProblem) else \
            store.storage_problem(err, db_path)
        return {"aicity/stopped": why.strip().splitlines()[0], "aicity/stopped_cause": "storage"}
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return {"aicity/stopped": f"the crawl could not start: {first}",
            "aicity/stopped_cause": "crawl"}


def collect_ordered(db_path, order: CollectOrder, **more) -> CollectResult:
    """collect() as a CollectOrder says: how `aicity collect` and the nightly job's stages
    start a crawl. `more` are collect()'s other arguments (progress, settings, use_budget)."""
    optional = {name: value for name, value in (("window_days", order.window_days),
                                                ("devices", order.devices))
                if value is not None}
    return collect(db_path, access=order.access(), tuning=order.tuning, kind=order.kind,
                   start=order.start, end=order.end,
                   regions=list(order.regions) if order.regions else None,
                   keywords=list(order.keywords) if order.keywords else None,
                   dry_run=order.dry_run, check=order.check, queue=order.queue,
                   queue_lease=order.queue_lease, **optional, **more)
