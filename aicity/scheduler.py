"""The main job (collect, analyse, export), the nightly scheduler, and `aicity demo`.

`run_job` runs the three stages once, each in its own child process or guarded call, so a failed
stage is recorded and the others still run; collection is incremental, so a stage that failed is
made good the next night. `RunLock` keeps two runs from overlapping, across processes: it is a
`flock` on a file next to the database, which the kernel releases when its holder dies, so a lock
left by a crashed run never blocks the next. `schedule` runs the job on an APScheduler cron
trigger (default 02:30 Asia/Shanghai) and catches up a missed night once at start-up.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

from aicity import PACKAGE_ROOT, child_env

logger = logging.getLogger("aicity.scheduler")
# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
STAGES = ("collect", "analyze", "export")


class LockHeld(RuntimeError):
    """Another run holds the lock."""


class RunLock:
    """An exclusive, crash-proof lock shared by every process using one database."""

    def __init__(self, db_path):
        self.path = Path(str(db_path) + ".lock")
        self.fh = None
        self.took_over = ""

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "unknown"
            self.fh.close()
            raise LockHeld(f"another run holds the lock {self.path} ({holder})") from None
        self.fh.seek(0)
        previous = self.fh.read().strip()
        if previous:
            # We got the lock although the file names a holder: that run died without cleaning up.
            self.took_over = previous
        self.fh.seek(0)
        self.fh.truncate()
        since = datetime.now(SHANGHAI).isoformat(timespec="seconds")
        self.fh.write(f"pid {os.getpid()} since {since}")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.flush()
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()

DEMO_ACCOUNTS = 8


@dataclass
class JobResult:
    status: str
    stages: dict = field(default_factory=dict)
    run_id: int | None = None
    seconds: float = 0.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aicity", *args]


def _die_with_parent(parent: int):
    """preexec_fn for a stage's child: the kernel sends it SIGTERM when the job process dies,
    even by SIGKILL, so no collect outlives its job and runs beside the next one (Linux; a
    no-op elsewhere, where the inherited lock still keeps the next job out)."""
    def set_death_signal():
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)          # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:                 # the parent died before prctl took effect
            os._exit(1)
    return set_death_signal


def run_job(db_path, *, now: datetime | None = None, out: Path | None = None,
            env: dict | None = None, lag_days: int | None = None,
            collect_args: list[str] | None = None, keep_fds: tuple[int, ...] = ()) -> JobResult:
    """Collect what is new (up to the latest day Baidu publishes), analyse incrementally, write
    the briefings. Each stage is recorded; a failure does not stop the stages after it.

    `keep_fds` (the run lock) are inherited by the stages' children, so the lock is held as long
    as any of them lives."""
    from aicity.analysis.export import export_briefings
    from aicity.crawler.run import latest_published
    from aicity.db import store
    now = now or datetime.now(SHANGHAI)
    # Children run in the package directory: a relative path would name another file there.
    db_path = store.db_path(db_path).resolve()
    # Baidu publishes yesterday in the morning: at 02:30 the latest day out is the day before.
    end = latest_published(now, lag_days).isoformat()
    out = Path(out or Path(str(store.db_path(db_path)) + "-briefings")) / end
    stage_env = child_env(**(env or {}))
    db = store.connect(db_path)
    damage = store.integrity_problem(db)
    if damage:
        # Stages on a damaged file could store into it or answer from it wrongly: stop here.
        db.close()
        logger.error("job not started: %s fails its integrity check (%s); restore it from a "
                     "backup", db_path, damage)
        return JobResult("failed", {"check": {"status": "failed", "summary": damage[:300]}})
    run = store.start_run(db, "job", "", {"end": end, "out": str(out.resolve()), "stages": {}})
    db.conn.commit()
    t0 = time.monotonic()
    stages: dict[str, dict] = {}
    logger.info("job %s started: collecting through %s", run.id, end)

    def child(name: str, args: list[str]) -> None:
        t = time.monotonic()
        proc = subprocess.run(_cli("--db", str(db_path), *args), env=stage_env, cwd=PACKAGE_ROOT,
                              capture_output=True, text=True, pass_fds=keep_fds,
                              preexec_fn=_die_with_parent(os.getpid()))
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:300]
        stages[name] = {"status": "ok" if proc.returncode == 0 else "failed",
                        "exit": proc.returncode, "seconds": round(time.monotonic() - t, 1),
                        "summary": (proc.stdout.strip().splitlines() or [""])[-1][:300]
                        if proc.returncode == 0 else tail}
        log = logger.info if proc.returncode == 0 else logger.error
        log("stage %s: %s (%s)", name, stages[name]["status"], stages[name]["summary"])

    extra = collect_args if collect_args is not None else \
        os.environ.get("AICITY_JOB_COLLECT_ARGS", "").split()
    # Until every city has its series, a regional-distribution snapshot of every city's last
    # 30 days (one call a keyword per province) comes first, so the first night gives a
    # city briefing; it asks nothing once the cities' series are in.
    child("snapshot", ["collect", "--what", "snapshot", "--end", end,
                       *_snapshot_args(extra)])
    child("collect", ["collect", "--end", end, *extra])
    child("analyze", ["analyze"])
    t = time.monotonic()
    try:
        start = (date.fromisoformat(end) - timedelta(days=364)).isoformat()
        result = export_briefings(db_path, out, period=f"{start}..{end}")
        summary = f"{len(result.files)} briefings ({result.level} level) in {out}"
        if result.level == "city" and result.basis == "series":
            from aicity.analysis.report import build_report
            build_report(db_path, out / "report.html", period=f"{start}..{end}")
            summary += " and report.html"
        if result.missing:
            summary += f"; missing: {result.missing}"
        stages["export"] = {"status": "ok", "seconds": round(time.monotonic() - t, 1),
                            "summary": summary}
        logger.info("stage export: ok (%s)", stages["export"]["summary"])
    except Exception as err:  # a broken export must not lose the night's data
        stages["export"] = {"status": "failed", "summary": f"{type(err).__name__}: {err}"[:300]}
        logger.error("stage export: failed (%s)", stages["export"]["summary"])
    failed = [n for n, st in stages.items() if st["status"] != "ok"]
    status = "ok" if not failed else ("failed" if len(failed) == len(stages) else "partial")
    store.finish_run(db, run, status, 0, {"end": end, "out": str(out.resolve()),
                                          "stages": stages},
                     error=", ".join(failed))
    db.conn.commit()
    db.close()
    logger.info("job %s finished: %s in %.0f s", run.id, status, time.monotonic() - t0)
    return JobResult(status, stages, run.id, time.monotonic() - t0)


def _snapshot_args(collect_args: list[str]) -> list[str]:
    """The collect options a snapshot shares (scope, server, accounts, budget); --start and
    --window-days are the index series' alone."""
    out, skip = [], False
    for arg in collect_args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--start", "--window-days", "--devices", "--what"):
            skip = "=" not in arg
            continue
        if name == "--no-check":
            continue
        out.append(arg)
    return out


def guarded_job(db_path, **kwargs) -> JobResult | None:
    """run_job under the lock; None (and a log line) when another run holds it."""
    try:
        with RunLock(store_path(db_path)) as lock:
            if lock.took_over:
                logger.warning("took over a stale lock left by a run that died (%s)",
                               lock.took_over)
            return run_job(db_path, keep_fds=(lock.fh.fileno(),), **kwargs)
    except LockHeld as err:
        logger.warning("%s; not starting", err)
        raise


def store_path(db_path) -> Path:
    from aicity.db import store
    return store.db_path(db_path)


def _last_job_start(db_path) -> datetime | None:
    from aicity.db import store
    db = store.connect(db_path)
    try:
        started = store.last_run_start(db, "job")
    finally:
        db.close()
    return datetime.fromisoformat(started) if started else None


def missed_night(trigger, last_start: datetime | None, now: datetime) -> bool:
    """True when the trigger fired (by the clock) since the last job started: run once now."""
    previous = trigger.get_next_fire_time(None, now - timedelta(days=1))
    while True:
        following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if following is None or following > now:
            break
        previous = following
    if previous is None or previous > now:
        return False
    return last_start is None or last_start < previous


def schedule(db_path, *, at: str = "02:30", log_file: Path | None = None) -> None:
    """Run the job every night at `at` (Asia/Shanghai) until SIGTERM or Ctrl-C."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    hour, _, minute = at.partition(":")
    trigger = CronTrigger(hour=int(hour), minute=int(minute or 0), timezone=SHANGHAI)
    scheduler = BlockingScheduler(timezone=SHANGHAI)

    def job():
        try:
            guarded_job(db_path)
        except LockHeld:
            pass

    # coalesce: nights missed while the process was suspended run once, not once per night
    scheduler.add_job(job, trigger, id="nightly", coalesce=True, max_instances=1,
                      misfire_grace_time=12 * 3600)
    now = datetime.now(SHANGHAI)
    if missed_night(trigger, _last_job_start(db_path), now):
        logger.info("the last scheduled run was missed; running once now")
        scheduler.add_job(job, id="catch-up", next_run_time=now)

    def stop(signum, frame):
        logger.info("signal %s: stopping after the current run", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    logger.info("scheduled nightly at %s Asia/Shanghai; next run %s", at,
                trigger.get_next_fire_time(None, now))
    try:
        scheduler.start()
    except KeyboardInterrupt:
        logger.info("interrupted; stopping")


def configure_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@dataclass
class DemoResult:
    out: Path
    db: Path
    files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    period: str = ""           # what the briefings and rankings cover


def export_rankings(db_path, out_dir: Path, period: str | None = None) -> list[Path]:
    """Rankings per dimension, demand types and industry profiles as Excel-ready CSVs (the
    briefing writer: BOM, CRLF, formula-like text neutralised, data source column)."""
    from aicity.analysis import queries
    from aicity.analysis.export import english_names, write_csv
    from aicity.db import store
    out_dir.mkdir(parents=True, exist_ok=True)
    db = store.connect(db_path)
    files = []
    try:
        simulated = "emulator" in store.sources(db)
        tables = {f"rank_{d}": queries.rank(db, category=d, period=period, uncertainty=True)
                  for d in ("basic", "professional", "technical", "application", "industry")}
        tables["demand_types"] = queries.demand_types(db, period=period)
        tables["industries"] = queries.industries(db, period=period)
        label = "simulated (emulator)" if simulated else "baidu"
        names = english_names(store.registry(db))
        for name, frame in tables.items():
            files.append(write_csv(frame, out_dir / f"{name}.csv", "en", label, names))
    finally:
        db.close()
    return files


def run_demo(out: Path = Path("demo-output"), *, seed: int = 2018, days: int = 365,
             regions: list[str] | None = None, latest: date | None = None) -> DemoResult:
    """Emulator → backfill with the real crawler → analyse → export, all on this machine."""
    from aicity.emulator.process import running_emulator
    from aicity.crawler.run import collect, latest_published
    from aicity.db import store
    from aicity.keywords.taxonomy import default_taxonomy

    out = Path(out)
    prepare_demo_dir(out)
    db_file = out / "aicity.db"
    result = DemoResult(out=out, db=db_file)
    t0 = time.monotonic()
    store.init_db(db_file, taxonomy=default_taxonomy())
    last = latest or latest_published()
    start = last - timedelta(days=days - 1)
    n_regions = len(regions) if regions else len(store.default_registry().filter())
    n_keywords = len(default_taxonomy().unique_terms())
    rows = n_regions * n_keywords * days
    # measured: about 40 bytes a simulated day in all (the compact row, its share of the
    # decomposition's float32 arrays, aggregates and indexes; 650 MB for the full demo)
    click.echo(f"demo: {n_regions} regions x {n_keywords} keywords x {days} days = {rows:,} "
               f"simulated daily values; the output folder will take about "
               f"{rows * 40 / 1e6:,.0f} MB", err=True)
    click.echo(f"[1/4] emulator: simulated Baidu Index on loopback (seed {seed}), "
               f"{start}..{last}", err=True)
    # Simulated accounts; the emulator's rate limit is off and so is the daily budget.
    os.environ["AICITY_BAIDU_COOKIES"] = "\n".join(f"BDUSS=demo-account-{i}"
                                                   for i in range(DEMO_ACCOUNTS))
    os.environ["AICITY_BAIDU_DAILY_BUDGET"] = "0"
    # The emulator refuses an expiring token now and then, as the site does; on loopback a
    # back-off of minutes only makes the demo wait.
    os.environ.setdefault("AICITY_BAIDU_BACKOFF", "1")
    with running_emulator(seed=seed, latest=last.isoformat(), rate_limit="0") as url:
        click.echo(f"[2/4] collecting from {url} with the Scrapy crawler, pacing off", err=True)
        t = time.monotonic()
        # The emulator has the real site's habits: some first answers are blank and a second
        # pass asks for them again, as the next night would.
        series = rows = requests = 0
        for attempt in range(1, 5):
            res = collect(db_file, start=start, end=last, regions=regions, base_url=url,
                          delay=0, window_days=366, devices=("all",), progress=attempt == 1)
            series += res.series_stored
            rows += res.rows_written
            requests += res.requests
            if res.stopped or not res.remaining_pieces:
                break
            click.echo(f"      pass {attempt}: {res.remaining_pieces} pieces answered blank; "
                       f"asking again", err=True)
        result.timings["collect"] = time.monotonic() - t
    if res.stopped or res.remaining_pieces:
        raise click.ClickException(f"demo collection incomplete: {res.remaining_pieces} pieces "
                                   f"missing ({res.stopped or res.failures})")
    click.echo(f"      {series:,} series, {rows:,} rows, "
               f"{requests:,} requests in {result.timings['collect']:.0f} s", err=True)
    click.echo("[3/4] analysing (STL decomposition, indices)", err=True)
    t = time.monotonic()
    # In a process of its own, as the nightly job runs it: this one ran the crawl, and forking
    # analysis workers from it hung them (a lock held by a thread the crawl left behind).
    proc = subprocess.run(_cli("--db", str(db_file.resolve()), "analyze", "--full"),
                          cwd=PACKAGE_ROOT, env=child_env(),
                          stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent(os.getpid()))
    if proc.returncode:
        raise click.ClickException(f"demo analysis failed (exit {proc.returncode})")
    result.timings["analyze"] = time.monotonic() - t
    click.echo("[4/4] exporting", err=True)
    t = time.monotonic()
    from aicity.analysis.export import export_briefings
    # The briefings cover the collected days (at most the last year): the default "last full
    # year" would be mostly outside a one-year demo.
    result.period = f"{max(start, last - timedelta(days=364))}..{last}"
    briefing = export_briefings(db_file, out / "briefings", period=result.period)
    result.files = [*briefing.files[:3], briefing.manifest]
    result.files += export_rankings(db_file, out / "rankings", period=result.period)
    from aicity.analysis.report import build_report
    result.files.append(build_report(db_file, out / "report.html", period=result.period))
    result.timings["export"] = time.monotonic() - t
    result.timings["total"] = time.monotonic() - t0
    _record_demo_files(out)
    return result


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
            listed = json.loads(marker.read_text(encoding="utf-8")).get("files", [])
        except (ValueError, OSError, AttributeError):
            listed = []
        _remove_demo_files(out, listed)
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


def _record_demo_files(out: Path) -> None:
    files = sorted(str(p.relative_to(out)) for e in DEMO_ENTRIES
                   for p in ([out / e] if (out / e).is_file() else (out / e).rglob("*"))
                   if p.is_file())
    (out / DEMO_MARKER).write_text(json.dumps({"files": files}, ensure_ascii=False, indent=1),
                                   encoding="utf-8")
