"""The main job (collect, analyse, export) and `aicity demo`, which runs it offline.

The nightly APScheduler wrapper (issue 6) calls `run_job`; the demo starts the emulator, backfills
two years for every region and keyword, and runs the same stages.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import click

DEMO_ACCOUNTS = 8


@dataclass
class DemoResult:
    out: Path
    db: Path
    files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def export_rankings(db_path, out_dir: Path, period: str | None = None) -> list[Path]:
    """Rankings per dimension, demand types and industry profiles as Excel-ready CSVs."""
    from analysis import persist
    from db import store
    out_dir.mkdir(parents=True, exist_ok=True)
    db = store.connect(db_path)
    files = []
    try:
        simulated = "emulator" in store.sources(db)
        tables = {f"rank_{d}": persist.rank(db, category=d, period=period, uncertainty=True)
                  for d in ("basic", "professional", "technical", "application", "industry")}
        tables["demand_types"] = persist.demand_types(db, period=period)
        tables["industries"] = persist.industries(db, period=period)
        for name, frame in tables.items():
            frame = frame.copy()
            frame["data_source"] = "simulated (emulator)" if simulated else "baidu"
            path = out_dir / f"{name}.csv"
            frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
            files.append(path)
    finally:
        db.close()
    return files


def run_demo(out: Path = Path("demo-output"), *, seed: int = 2018, days: int = 730,
             regions: list[str] | None = None, latest: date | None = None) -> DemoResult:
    """Emulator → backfill with the real crawler → analyse → export, all on this machine."""
    from analysis.persist import analyze
    from crawler.emulator.process import running_emulator
    from crawler.run import collect, latest_published
    from db import store
    from keywords.taxonomy import default_taxonomy

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    db_file = out / "aicity.db"
    result = DemoResult(out=out, db=db_file)
    t0 = time.monotonic()
    store.init_db(db_file, taxonomy=default_taxonomy())
    last = latest or latest_published()
    start = last - timedelta(days=days - 1)
    click.echo(f"[1/4] emulator: simulated Baidu Index on loopback (seed {seed}), "
               f"{start}..{last}", err=True)
    # Simulated accounts; the emulator's rate limit is off and so is the daily budget.
    os.environ["AICITY_BAIDU_COOKIES"] = "\n".join(f"BDUSS=demo-account-{i}"
                                                   for i in range(DEMO_ACCOUNTS))
    os.environ["AICITY_BAIDU_DAILY_BUDGET"] = "0"
    with running_emulator(seed=seed, latest=last.isoformat(), rate_limit="0") as url:
        click.echo(f"[2/4] collecting from {url} with the Scrapy crawler, pacing off", err=True)
        t = time.monotonic()
        res = collect(db_file, start=start, end=last, regions=regions, base_url=url, delay=0,
                      window_days=366, devices=("all",), progress=True)
        result.timings["collect"] = time.monotonic() - t
    if res.stopped or res.remaining_pieces:
        raise click.ClickException(f"demo collection incomplete: {res.remaining_pieces} pieces "
                                   f"missing ({res.stopped or res.failures})")
    click.echo(f"      {res.series_stored:,} series, {res.rows_written:,} rows, "
               f"{res.requests:,} requests in {result.timings['collect']:.0f} s", err=True)
    click.echo("[3/4] analysing (STL decomposition, indices)", err=True)
    t = time.monotonic()
    with click.progressbar(length=1, label="analysing", file=sys.stderr) as bar:
        def progress(stage, done, total):
            bar.length, bar.label = total, f"analysing {stage}"
            bar.pos = done
            bar.render_progress()
        analyze(db_file, full=True, progress=progress)
    result.timings["analyze"] = time.monotonic() - t
    click.echo("[4/4] exporting", err=True)
    t = time.monotonic()
    result.files = export_rankings(db_file, out / "briefings")
    result.timings["export"] = time.monotonic() - t
    result.timings["total"] = time.monotonic() - t0
    return result
