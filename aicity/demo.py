"""`aicity demo`: the whole main job on this machine. The built-in emulator serves a simulated
Baidu Index on loopback, the real crawler backfills it, the analysis runs in a process of its own,
and the briefings, rankings and report are written, all labelled simulated.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import click

from aicity.children import spawned_pool

DEMO_ACCOUNTS = 8
DEMO_CRAWLERS = 2


@dataclass
class DemoResult:
    out: Path
    db: Path
    files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    period: str = ""           # what the briefings and rankings cover
    more_briefings: int = 0    # briefing files written beyond the three listed in `files`


def run_demo(out: Path = Path("demo-output"), *, seed: int = 2018, days: int = 365,
             regions: list[str] | None = None, latest: date | None = None) -> DemoResult:
    """Emulator → backfill with the real crawler → analyse → export, all on this machine."""
    from aicity.crawler.config import SiteAccess, Tuning
    from aicity.service.collect import latest_published
    from aicity.db import store
    from aicity.emulator.process import running_emulator
    from aicity.keywords.taxonomy import default_taxonomy

    # resolved as collect resolves them, but now: a wrong name stops the demo before its
    # folder, the emulator or a crawler is touched
    registry = store.default_registry()
    codes = ([str(registry.resolve(r).code) for r in regions] if regions
             else [str(r.code) for r in registry.filter()])
    out = Path(out)
    prepare_demo_dir(out)
    db_file = out / "aicity.db"
    result = DemoResult(out=out, db=db_file)
    t0 = time.monotonic()
    store.init_db(db_file, taxonomy=default_taxonomy())
    last = latest or latest_published()
    start = last - timedelta(days=days - 1)
    n_regions = len(codes)
    n_keywords = len(default_taxonomy().unique_terms())
    rows = n_regions * n_keywords * days
    # measured: about 36 bytes a simulated day in all (the compact row, its share of the
    # decomposition's float32 arrays, aggregates, anomalies and indexes; 580 MB for the full
    # demo)
    click.echo(f"demo: {n_regions} regions x {n_keywords} keywords x {days} days = {rows:,} "
               f"simulated daily values; the output folder will take about "
               f"{rows * 36 / 1e6:,.0f} MB", err=True)
    click.echo(f"[1/4] emulator: simulated Baidu Index on loopback (seed {seed}), "
               f"{start}..{last}", err=True)
    # The emulator refuses an expiring token now and then, as the site does; on loopback a
    # back-off of minutes only makes the demo wait.
    # A blank series is accepted as below Baidu's floor on its second blank answer, which on
    # the real site must come on a later night; the demo has one night, and the simulated
    # site's transient blanks are mended by asking at once, so the immediate re-ask decides.
    tuning = Tuning(abnormal_backoff=1.0, blank_rest_hours=0.0)
    with running_emulator(seed=seed, latest=last.isoformat(), rate_limit="0") as url:
        # Simulated accounts, no pacing; the emulator's rate limit is off and so is the budget.
        access = SiteAccess(base_url=url, delay=0, daily_budget=0,
                            cookies=tuple(f"BDUSS=demo-account-{i}"
                                          for i in range(DEMO_ACCOUNTS)))
        parts = crawl_parts(codes)
        click.echo(f"[2/4] collecting from {url} with the Scrapy crawler, pacing off"
                   + (f", {len(parts)} crawlers" if len(parts) > 1 else ""), err=True)
        t = time.monotonic()
        done = _collect_in_parts(db_file, access, tuning, start, last, parts,
                                 total=n_regions * n_keywords)
        result.timings["collect"] = time.monotonic() - t
        failed = [r for r in done if r.stopped or r.remaining_pieces]
        if failed:
            raise click.ClickException(
                f"demo collection incomplete: {sum(r.remaining_pieces for r in failed)} pieces "
                f"missing ({'; '.join(r.stopped or str(r.failures) for r in failed)})")
        click.echo(f"      {sum(r.series_stored for r in done):,} series, "
                   f"{sum(r.rows_written for r in done):,} rows, "
                   f"{sum(r.requests for r in done):,} requests in "
                   f"{result.timings['collect']:.0f} s", err=True)
        handled = site_refusals(done)
        if handled:
            click.echo(f"      the emulator refused some requests as the real site does "
                       f"({handled}); the crawler renewed tokens, rested accounts and asked "
                       f"again", err=True)
        click.echo("[3/4] analysing (STL decomposition, indices)", err=True)
        t = time.monotonic()
        # The related-word graph (one request a keyword, so `aicity keywords suggest` answers
        # on the demo database as on a deployed one) is collected beside the analysis: alone
        # after the crawl it took 2-3 s, most of them a new process starting.
        # The analysis in a process of its own, as the nightly job runs it: this one ran the
        # crawl, and forking analysis workers from it hung them (a lock held by a thread the
        # crawl left behind).
        with spawned_pool(2, max_tasks_per_child=1) as pool:
            graph = pool.submit(_collect_word_graph, db_file, access, last)
            analysis = pool.submit(_analyze_all, db_file)
            try:
                analysis.result()
            except Exception as err:
                raise click.ClickException(f"demo analysis failed: {err}") from None
            words = graph.result()
    if words:
        click.echo(f"      no related-word graph ({words}): `aicity keywords suggest` needs "
                   f"--from FILE on this database", err=True)
    result.timings["analyze"] = time.monotonic() - t
    click.echo("[4/4] exporting", err=True)
    t = time.monotonic()
    from aicity.service.export import export_briefings, export_rankings
    from aicity.service.report import build_report
    # The briefings cover the collected days (at most the last year): the default "last full
    # year" would be mostly outside a one-year demo.
    result.period = f"{max(start, last - timedelta(days=364))}..{last}"
    # The report in a child while this process writes the briefings and rankings: each only
    # reads the database, and one process left the second core idle for 12-19 s.
    with spawned_pool(1) as pool:
        report = pool.submit(build_report, db_file, out / "report.html", period=result.period)
        briefing = export_briefings(db_file, out / "briefings", period=result.period)
        rankings = export_rankings(db_file, out / "rankings", period=result.period)
        report_file = report.result()
    result.files = [*briefing.files[:3], briefing.manifest, *rankings, report_file]
    result.more_briefings = max(0, len(briefing.files) - 3)
    result.timings["export"] = time.monotonic() - t
    result.timings["total"] = time.monotonic() - t0
    _record_demo_files(out, [*briefing.files, briefing.manifest, *rankings,
                             out / "report.html"])
    return result


def crawl_parts(codes: list[str], crawlers: int = DEMO_CRAWLERS) -> list[list[str]]:
    """The regions split between the crawlers: one crawler for a small demo (starting a second
    costs more than it saves), else every n-th region to each, so each has nations, provinces
    and cities alike."""
    n = crawlers if len(codes) >= 20 else 1
    return [codes[i::n] for i in range(n)]


def _collect_word_graph(db_file: Path, access, last: date) -> str:
    """The week's related-word graph of every keyword (in a child of its own: a crawl's
    reactor runs once a process); '' or why it failed (the demo goes on without it)."""
    from aicity.service.collect import collect
    try:
        result = collect(db_file, access=access, kind="word-graph", end=last.isoformat(),
                         use_budget=False, settings={"LOG_LEVEL": "ERROR"})
    except Exception as err:
        return str(err)[:200]
    return result.stopped[:200] if result.stopped else ""


def _analyze_all(db_file: Path) -> None:
    from aicity.children import stop_on_sigterm
    from aicity.service.refit import analyze
    stop_on_sigterm()
    analyze(db_file, full=True)


def _collect_part(db_file: Path, access, tuning, start: date, last: date,
                  regions: list[str]):
    """One pass of one crawler's share of the demo, in a process of its own (Twisted's
    reactor runs once a process)."""
    from aicity.service.collect import collect
    # the emulator answers as the real site does, now and then 10018 or 10001: the crawler
    # handles them, and the demo says so once at the end instead of a warning each
    return collect(db_file, access=access, tuning=tuning, start=start, end=last,
                   regions=regions, window_days=366, devices=("all",),
                   settings={"LOG_LEVEL": "ERROR"})


def _merged(passes: list):
    """A crawler's passes as one result: the last pass's state, every pass's counts."""
    last_pass = passes[-1]
    for res in passes[:-1]:
        last_pass.series_stored += res.series_stored
        last_pass.rows_written += res.rows_written
        last_pass.requests += res.requests
    return last_pass


def _collect_in_parts(db_file: Path, access, tuning, start: date, last: date,
                      parts: list[list[str]], total: int) -> list:
    """Run the crawlers side by side, each in a process with its own accounts, into the one
    database (SQLite lets one write at a time; each waits a moment for the other). One Scrapy
    process keeps one core busy and leaves the emulator's core a quarter idle: two fill both.
    The bar counts the series stored, read from the database."""
    from aicity.db import store
    cookies = access.cookies
    shares = [replace(access, cookies=cookies[i::len(parts)]) for i in range(len(parts))]
    # spawn, not fork: this process may hold threads and locks of its own. Each pass of each
    # part in a new process: Twisted's reactor cannot start twice in one. The emulator has the
    # real site's habits: some first answers are blank or fail their check, and a later pass
    # asks for them again, as the next night would.
    passes: list[list] = [[] for _ in parts]
    todo = list(range(len(parts)))
    with spawned_pool(len(parts), max_tasks_per_child=1) as pool:
        db = store.connect(db_file)
        try:
            # click's own estimate counts the crawlers' start-up (seconds before the first
            # series) as if every series took that long: it showed 06:48 for a 6 s crawl
            with click.progressbar(length=max(1, total), label="collecting", show_eta=False,
                                   item_show_func=lambda text: text,
                                   file=sys.stderr) as bar:
                shown, first = 0, None
                for _ in range(DEMO_PASSES):
                    futures = {i: pool.submit(_collect_part, db_file, shares[i], tuning, start,
                                              last, parts[i]) for i in todo}
                    while not all(f.done() for f in futures.values()):
                        time.sleep(0.5)
                        stored = min(total, store.count_covered(db))
                        now = time.monotonic()
                        if stored and first is None:
                            first = (now, stored)
                        bar.update(max(0, stored - shown),
                                   current_item=time_left(first, now, stored, total))
                        shown = max(shown, stored)
                    for i, f in futures.items():
                        passes[i].append(f.result())
                    todo = [i for i in todo if not passes[i][-1].stopped
                            and passes[i][-1].remaining_pieces]
                    if not todo:
                        break
        finally:
            db.close()
    return [_merged(p) for p in passes]


REFUSALS = {"10018": "abnormal access", "10001": "blocked", "10000": "not logged in"}


def site_refusals(results: list) -> str:
    """'177 × 10018 abnormal access' for the refusals the crawls met and handled, or ''."""
    counts: dict[str, int] = {}
    for res in results:
        for code, n in (res.responses_by_status or {}).items():
            if code in REFUSALS:
                counts[code] = counts.get(code, 0) + n
    return ", ".join(f"{n:,} × {code} {REFUSALS[code]}" for code, n in sorted(counts.items()))


def time_left(first: tuple[float, int] | None, now: float, done: int, total: int) -> str:
    """'about 1:05 left' from the pace since the first series was stored (`first` = (when, how
    many then)); '' until there is a pace worth quoting: a tenth of the way and two seconds."""
    if first is None:
        return ""
    since, at_first = first
    elapsed, progressed = now - since, done - at_first
    if progressed <= 0 or elapsed < 2 or done < total / 10:
        return ""
    seconds = int(round(elapsed / progressed * (total - done)))
    return f"about {seconds // 60}:{seconds % 60:02d} left"


# Passes over what is still missing (a later pass stands for a later night)
DEMO_PASSES = 4
DEMO_MARKER = ".aicity-demo.json"
# What a demo writes at its top level; only these (and the files listed in the marker) are ever
# removed when a demo is run again into the same folder.
DEMO_ENTRIES = ("aicity.db", "aicity.db-wal", "aicity.db-shm", "briefings", "rankings",
                "report.html")


class DemoFolderError(click.ClickException):
    """--out names a folder the demo must not overwrite."""


def prepare_demo_dir(out: Path) -> None:
    """An empty (or new) folder, or a previous demo's: its files are removed, nothing else.

    A folder with anything else in it and no demo marker is refused: the demo never deletes
    what it did not create.
    """
    if out.exists() and not out.is_dir():
        raise DemoFolderError(f"--out {out}: is a file, not a folder")
    marker = out / DEMO_MARKER
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise DemoFolderError(f"--out {out}: folder is not empty and is not a previous "
                                  f"demo's output; choose a new or empty folder")
        try:
            listed = json.loads(marker.read_text(encoding="utf-8")).get("files", {})
        except (ValueError, OSError, AttributeError):
            listed = {}
        if not isinstance(listed, dict):
            listed = {}   # an older marker named files without their content: trust none
        changed = [name for name, digest in listed.items()
                   if (out / name).is_file() and _digest(out / name) != digest]
        if changed:
            raise DemoFolderError(f"--out {out}: {changed[0]} changed since the demo wrote it"
                                  + (f" (and {len(changed) - 1} more)" if len(changed) > 1
                                     else "")
                                  + "; move it away or choose a new folder")
        _remove_demo_files(out, list(listed))
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"files": []}), encoding="utf-8")


def _remove_demo_files(out: Path, listed: list[str]) -> None:
    root = out.resolve()
    paths = [out / p for p in listed] + [out / e for e in DEMO_ENTRIES if not (out / e).is_dir()]
    for path in paths:
        # only inside the folder, only files (a listed name cannot point elsewhere)
        if path.resolve().is_relative_to(root) and path.is_file():
            path.unlink()
    for entry in DEMO_ENTRIES:   # folders the demo made: removed when nothing else is left
        folder = out / entry
        if folder.is_dir():
            for sub in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()
            if not any(folder.iterdir()):
                folder.rmdir()


def _record_demo_files(out: Path, written: list[Path]) -> None:
    """The marker: each file this run wrote, with its content's digest. A later run removes a
    file only while it still has that content: what a user put into the folder (or changed)
    is never the demo's to delete."""
    files = {str(Path(p).relative_to(out)): _digest(Path(p)) for p in written
             if Path(p).is_file()}
    (out / DEMO_MARKER).write_text(json.dumps({"files": files}, ensure_ascii=False, indent=1),
                                   encoding="utf-8")


def _digest(path: Path) -> str:
    import hashlib
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
