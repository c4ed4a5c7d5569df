"""What a request budget buys, and three nights on every real-site habit.

    python bench/nights.py                     # both parts
    python bench/nights.py --part budget       # the plan only (no crawl; seconds)
    python bench/nights.py --part nights --regions 12
    python bench/nights.py --part first-night --accounts 1

Part `budget`: for every current region × every taxonomy keyword and two years of history,
requests tonight without a budget (every region in full), and for 1, 2 and 12 accounts at the
default 1,500 requests a day: requests per night, nights until every region has its recent
window, the most days each level falls behind once it has, and nights until history is
complete (crawler.plan.outlook, the same order `collect` plans by).

Part `nights`: N regions (the nation, provinces and cities in registry order) × every keyword
against the emulator with every habit on (blank answers at 2%, expiring tokens at 2%, one day
asked beyond the published end each night). After three nights: every stored value equals
what the emulator's world holds for that day, and a fourth plan asks nothing of the covered
range. Everything the emulator serves is simulated.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LATEST = date(2026, 11, 20)


def budget_part() -> None:
    from aicity.crawler.plan import Area, outlook, plan_night
    from aicity.service.collect import CHECK_BATCH
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    reg = default_registry()
    areas = [Area(r.code, r.level, float(r.population or 0))
             for r in reg.filter(include_legacy=False)]
    keywords = list(dict.fromkeys(t.term for t in default_taxonomy().terms))
    checks = math.ceil(len(keywords) / CHECK_BATCH)
    start = LATEST - timedelta(days=729)
    t = time.perf_counter()
    full = plan_night(keywords, areas, start, LATEST, {}, window_days=300,
                      check_requests=checks)
    one_day = plan_night(keywords, areas, LATEST, LATEST, {}, window_days=300,
                         check_requests=checks)
    print(f"{len(areas)} regions × {len(keywords)} keywords, {start}..{LATEST} "
          f"(planned in {time.perf_counter() - t:.1f} s)")
    print(f"  no budget, fresh database: {full.requests:,} requests "
          f"({len(full.pieces):,} pieces)")
    print(f"  no budget, one new day for everyone: {one_day.requests:,} requests")
    for accounts in (1, 2, 12):
        view = outlook(len(keywords), areas, start, LATEST, {}, budget=1500 * accounts,
                       window_days=300, check_requests=checks)
        behind = ", ".join(f"{k} {v}" for k, v in view.staleness.items())
        print(f"  {accounts:>2} account(s), {1500 * accounts:,}/night: "
              f"{view.requests_per_night:,} requests a night; every region after "
              f"{view.nights_until_all_collected} night(s); then days behind: {behind}; "
              f"history complete after {view.nights_until_history} night(s)")
    snapshot_figures(keywords, reg)


def snapshot_figures(keywords: list[str], reg) -> None:
    """The first nights' city snapshot (regional distribution, one call a keyword per province)
    on 1, 2 and 12 accounts: keywords the first night's briefing has for every city, and the
    nights until the snapshot is complete (the index series start with what is left)."""
    from aicity.crawler.plan import snapshot_order, snapshot_outlook
    from aicity.keywords.taxonomy import default_taxonomy
    strata = [(t.term, f"{t.category}/{t.group or ''}") for t in default_taxonomy().terms]
    order = snapshot_order(strata)
    province_code = {r.name: r.code for r in reg.filter(level="province")}
    provinces = sorted({province_code[r.province] for r in reg.filter(level="city")
                        if r.province in province_code})
    print(f"  city snapshot: {len(order)} keywords × {len(provinces)} provinces = "
          f"{len(order) * len(provinces):,} calls for every city's last 30 days")
    for accounts in (1, 2, 12):
        first, nights = snapshot_outlook(order, provinces, LATEST, {}, budget=1500 * accounts)
        print(f"  {accounts:>2} account(s): the first night's city briefing has {first} of "
              f"{len(order)} keywords for every city; the snapshot is complete after "
              f"{nights} night(s)")


def nights_part(n_regions: int) -> None:
    from aicity.emulator.process import running_emulator
    from aicity.emulator.world import World
    from aicity.db import store
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    reg = default_registry()
    codes = [r.code for r in reg.filter(include_legacy=False)][:n_regions]
    terms = default_taxonomy()
    words = {}
    for t in terms.terms:
        words.setdefault(t.term, (t.category, t.group))
    start = (LATEST - timedelta(days=364)).isoformat()
    env = dict(os.environ, AICITY_BAIDU_COOKIES="\n".join(f"BDUSS=bench-{i}" for i in range(4)),
               AICITY_BAIDU_DAILY_BUDGET="0", AICITY_BAIDU_BACKOFF="0.01",
               PYTHONPATH=str(ROOT))
    scope = ["--regions", ",".join(map(str, codes)), "--start", start, "--delay", "0",
             "--devices", "all"]
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "nights.db"
        store.init_db(db_path, taxonomy=terms)
        for night in range(4):
            published = LATEST + timedelta(days=min(night, 2))
            ask = (published + timedelta(days=1)).isoformat()
            habits = "real" if night < 3 else "real,blank=0"
            with running_emulator(seed=7, latest=published.isoformat(), habits=habits,
                                  rate_limit="0") as url:
                args = [sys.executable, "-m", "aicity", "--db", str(db_path), "collect",
                        "--base-url", url, *scope, "--end", ask, "--format", "json"]
                if night == 3:
                    args.append("--dry-run")
                t = time.perf_counter()
                out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
                result = json.loads(out.stdout)
                print(f"night {night + 1}{' (plan only)' if night == 3 else ''}: published "
                      f"through {published}, asked through {ask}: exit {out.returncode}, "
                      f"{result['requests'] if night < 3 else result['requests_planned']} "
                      f"requests, {result['rows_written']:,} rows, "
                      f"{result['waiting_days']} empty days waiting, "
                      f"{result['pieces']} pieces, {time.perf_counter() - t:.0f} s")
        final = LATEST + timedelta(days=2)
        world = World(reg, words, seed=7, latest=final)
        db = store.connect(db_path)
        wrong = total = 0
        for term, region, day, value in db.execute(
                "SELECT k.term, o.region, o.date, o.value FROM observations o JOIN keywords k "
                "ON k.id = o.keyword_id WHERE o.device = 'all'"):
            d = date.fromisoformat(day)
            meant = world.series(term, region, d, d)[0]
            meant = None if math.isnan(meant) else int(meant)
            total += 1
            wrong += meant != value
        pieces = result["pieces"]
        print(f"after three nights: {total:,} stored values, {wrong} differ from the world; "
              f"the fourth plan has {pieces} pieces, all for the newest days "
              f"({result['requests_planned']} requests, none for the covered range)")


def first_night_part(accounts: int) -> None:
    """A fresh database, every region and keyword, `accounts` accounts at 1,500 requests,
    the emulator with every real-site habit: the nightly job once, and what its briefing has."""
    from aicity import scheduler as nightly
    from aicity.crawler.config import CollectOrder
    from aicity.emulator.process import running_emulator
    from aicity.db import store
    from aicity.keywords.taxonomy import default_taxonomy
    from datetime import datetime
    now = datetime(2026, 11, 21, 14, 0, tzinfo=nightly.SHANGHAI)
    cookies = "\n".join(f"BDUSS=first-night-{i}" for i in range(accounts))
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "first.db"
        store.init_db(db_path, taxonomy=default_taxonomy())
        t = time.perf_counter()
        with running_emulator(seed=7, latest=LATEST.isoformat(), habits="real",
                              rate_limit="0") as url:
            order = CollectOrder(site={"cookies_text": cookies, "daily_budget": 1500,
                                       "base_url": url, "delay": 0})
            result = nightly.run_job(db_path, now=now, out=Path(tmp) / "out", order=order)
        print(f"first night, {accounts} account(s), every region: job {result.status} in "
              f"{time.perf_counter() - t:.0f} s")
        for name, stage in result.stages.items():
            print(f"  {name}: {stage['status']}: {stage['summary'][:240]}")
        manifest = json.loads(next((Path(tmp) / "out").rglob("manifest.json")).read_text())
        print(f"  briefing: level {manifest['level']}, basis {manifest.get('basis')}, "
              f"{manifest['regions_with_data']} of {manifest['regions']} regions, period "
              f"{manifest['start']}..{manifest['end']}, "
              f"{manifest.get('snapshot_keywords', '-')} of {manifest.get('keywords', '-')} "
              f"keywords")
        if manifest.get("basis") == "distribution":
            partial_agreement(db_path, date.fromisoformat(manifest["start"]),
                              date.fromisoformat(manifest["end"]))


def partial_agreement(db_path, start: date, end: date) -> None:
    """How far a snapshot cut short by the budget is from a whole one: per dimension, the
    rank correlation and the share of cities in the same tier, between the stored snapshot
    (its keywords) and the emulator world's means over all keywords for the same days."""
    import numpy as np
    import pandas as pd

    from aicity.service import queries
    from aicity.analysis.rankings import rank_table
    from aicity.emulator.world import World
    from aicity.db import store
    from aicity.db.regions import default_registry
    from aicity.keywords.taxonomy import default_taxonomy
    from aicity.vocabulary import DIMENSIONS
    words = {}
    for t in default_taxonomy().terms:
        words.setdefault(t.term, (t.category, t.group))
    world = World(default_registry(), words, seed=7, latest=LATEST)
    db = store.connect(db_path)
    per = queries.distribution_period(db)
    cities = [r.code for r in default_registry().filter(level="city")]
    for dim in DIMENSIONS:
        part, _ = queries.dimension_series(db, category=dim, period=per, level="city",
                                           basis="distribution")
        terms = [t.term for t in default_taxonomy().terms if t.category == dim]
        whole = pd.Series({c: sum(float(np.round(np.nan_to_num(np.nanmean(
            world.series(t, c, start, end))))) for t in terms) for c in cities})
        a, b = rank_table(part.dropna()), rank_table(whole)
        joined = a.add_suffix("_part").join(b.add_suffix("_whole"), how="inner")
        rho = joined["rank_part"].astype(float).corr(joined["rank_whole"].astype(float))
        same = (joined["tier_part"] == joined["tier_whole"]).mean()
        top10 = len(set(a.index[:10]) & set(b.index[:10]))
        print(f"    {dim}: rank correlation {rho:.3f} with all keywords; same tier "
              f"{same:.0%} of cities; top 10 shared {top10}/10")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["budget", "nights", "first-night", "all"],
                        default="all")
    parser.add_argument("--accounts", type=int, default=1,
                        help="accounts for --part first-night")
    parser.add_argument("--regions", type=int, default=20)
    args = parser.parse_args()
    if args.part in ("budget", "all"):
        budget_part()
    if args.part in ("nights", "all"):
        nights_part(args.regions)
    if args.part in ("first-night", "all"):
        first_night_part(args.accounts)


if __name__ == "__main__":
    main()
