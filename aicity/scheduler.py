"""The main job (collect, analyse, export) and the nightly scheduler.

`run_job` runs the stages once, each in a spawned child process that calls the library
function with typed arguments (aicity.children: `collect_ordered(db, CollectOrder)`,
`analyze(db)`, the export), so a failed stage is recorded and the others still run;
collection is incremental, so a stage that failed is made good the next night. `guarded_job`
holds the database's run lock (aicity.lock) while it runs, and its stages hold it with it.
`schedule` runs the job on an APScheduler cron trigger (default 02:30 Asia/Shanghai) and
catches up a missed night once at start-up.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from aicity.children import in_child, stop_on_sigterm
from aicity.crawler.config import PUBLISH_HOUR, CollectOrder
from aicity.lock import LockHeld, run_lock
from aicity.vocabulary import SHANGHAI

logger = logging.getLogger("aicity.scheduler")


@dataclass
class JobResult:
    status: str
    stages: dict = field(default_factory=dict)
    run_id: int | None = None
    seconds: float = 0.0


def run_job(db_path, *, order: CollectOrder | None = None, now: datetime | None = None,
            out: Path | None = None, lag_days: int | None = None,
            publish_hour: int = PUBLISH_HOUR, cache_dir: Path | None = None,
            keep_fds: tuple[int, ...] = ()) -> JobResult:
    """Collect what is new (up to the latest day Baidu publishes), analyse incrementally, write
    the briefings. Each stage is recorded; a failure does not stop the stages after it.

    `order` is what the night's collect is told (site, accounts, tuning, scope: `aicity
    schedule --collect-args` makes it from `aicity collect`'s options); its accounts are read
    again each night. `keep_fds` (the run lock) are held by the stages' children too, so the
    lock is held as long as any of them lives."""
    from aicity.service.collect import latest_published
    from aicity.db import store
    order = order or CollectOrder()
    now = now or datetime.now(SHANGHAI)
    db_path = store.db_path(db_path)
    server = store.is_server(db_path)
    # Baidu publishes yesterday in the morning: at 02:30 the latest day out is the day before.
    end = latest_published(now, lag_days, publish_hour).isoformat()
    default_out = Path("aicity-briefings") if server else Path(str(db_path) + "-briefings")
    out = Path(out or default_out).resolve() / end
    db = store.connect(db_path)
    damage = store.integrity_problem(db)
    if damage:
        # Stages on a damaged file could store into it or answer from it wrongly: stop here.
        db.close()
        logger.error("job not started: %s fails its integrity check (%s); restore it from a "
                     "backup", store.shown(db_path), damage)
        return JobResult("failed", {"check": {"status": "failed", "summary": damage[:300]}})
    run = store.open_run(db, "job", "", {"end": end, "out": str(out.resolve()), "stages": {}})
    t0 = time.monotonic()
    stages: dict[str, dict] = {}
    logger.info("job %s started: collecting through %s", run.id, end)

    def stage(name: str, fn, *args) -> None:
        t = time.monotonic()
        try:
            ok, summary = in_child(fn, *args, keep_fds=keep_fds)
        except Exception as err:   # CollectError, a storage error, a child that died
            ok, summary = False, (str(err).strip().splitlines() or [type(err).__name__])[0]
        stages[name] = {"status": "ok" if ok else "failed",
                        "seconds": round(time.monotonic() - t, 1), "summary": summary[:300]}
        log = logger.info if ok else logger.error
        log("stage %s: %s (%s)", name, stages[name]["status"], stages[name]["summary"])

    # Until every city has its series, a regional-distribution snapshot of every city's last
    # 30 days (one call a keyword per province) comes first, so the first night gives a
    # city briefing; it asks nothing once the cities' series are in.
    stage("snapshot", collect_stage, db_path, order.snapshot(end))
    stage("collect", collect_stage, db_path, replace(order, end=end))
    stage("analyze", analyze_stage, db_path, cache_dir)
    stage("export", export_stage, db_path, out, end)
    failed = [n for n, st in stages.items() if st["status"] != "ok"]
    status = "ok" if not failed else ("failed" if len(failed) == len(stages) else "partial")
    store.close_run(db, run, status, 0, {"end": end, "out": str(out.resolve()),
                                         "stages": stages},
                    error=", ".join(failed))
    db.close()
    logger.info("job %s finished: %s in %.0f s", run.id, status, time.monotonic() - t0)
    return JobResult(status, stages, run.id, time.monotonic() - t0)


# --- the stages, each called in a child process of its own: (ok, one-line summary) ----------

def collect_stage(db_path, order: CollectOrder) -> tuple[bool, str]:
    """A night's collect (or snapshot) as `aicity collect` would run it and say it."""
    from aicity.crawler.describe import describe, failure
    from aicity.service.collect import collect_ordered
    result = collect_ordered(db_path, order)
    why = failure(result)
    return (False, why) if why else (True, describe(result).splitlines()[-1])


def analyze_stage(db_path, cache_dir: Path | None) -> tuple[bool, str]:
    """Incremental analysis; SIGTERM (the job killed) stops its workers on the way out."""
    from aicity.service.refit import analyze, describe
    stop_on_sigterm()
    return True, describe(analyze(db_path, cache_dir=cache_dir))


def export_stage(db_path, out: Path, end: str) -> tuple[bool, str]:
    """The briefings of the year up to `end`, and the report where cities have series."""
    from aicity.service.export import export_briefings
    start = (date.fromisoformat(end) - timedelta(days=364)).isoformat()
    result = export_briefings(db_path, out, period=f"{start}..{end}")
    summary = f"{len(result.files)} briefings ({result.level} level) in {out}"
    if result.level == "city" and result.basis == "series":
        from aicity.service.report import build_report
        build_report(db_path, out / "report.html", period=f"{start}..{end}")
        summary += " and report.html"
    if result.missing:
        summary += f"; missing: {result.missing}"
    return True, summary


def guarded_job(db_path, **kwargs) -> JobResult | None:
    """run_job under the lock; None (and a log line) when another run holds it."""
    try:
        with run_lock(store_path(db_path)) as lock:
            if lock.took_over:
                logger.warning("took over a stale lock left by a run that died (%s)",
                               lock.took_over)
            # a file lock is inherited by the stages' children; a server's lock stays with
            # this process's connection
            fds = (lock.fh.fileno(),) if hasattr(lock, "fh") else ()
            return run_job(db_path, keep_fds=fds, **kwargs)
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


def schedule(db_path, *, at: str = "02:30", **job) -> None:
    """Run the job every night at `at` (Asia/Shanghai) until SIGTERM or Ctrl-C; `job` are
    run_job's options."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    hour, _, minute = at.partition(":")
    trigger = CronTrigger(hour=int(hour), minute=int(minute or 0), timezone=SHANGHAI)
    scheduler = BlockingScheduler(timezone=SHANGHAI)

    def job():
        try:
            guarded_job(db_path, **job)
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


def default_log_file(db_path, log_dir: Path | None = None) -> Path:
    """Where the job logs when not told: a folder of its own (`--log-dir`; else `logs/` beside a
    SQLite file, or the user's state folder for a server database), in a file named after the
    database without any credential (a URL's password must not become a file name)."""
    from urllib.parse import urlsplit

    from aicity.db import store
    if store.is_server(db_path):
        parts = urlsplit(str(db_path))
        name = "_".join(x for x in (parts.hostname or "localhost", str(parts.port or ""),
                                    parts.path.strip("/") or "postgres") if x)
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        folder = log_dir or state / "aicity" / "logs"
    else:
        path = Path(db_path)
        name = path.name
        folder = log_dir or path.parent / "logs"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return folder / f"{safe}.log"


def configure_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


