"""What the database holds and how fresh it is (`aicity status`): SQL here, words in the CLI."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlite_utils import Database

from aicity.db.runs import read_detail, shown_status


@dataclass
class LevelFreshness:
    level: str
    regions: int              # regions of the level in the registry
    with_data: int            # regions with any stored data
    data_through: str | None  # the last day stored for any region of the level
    oldest_through: str | None  # the stalest region's last day (rotation shows here)


@dataclass
class Status:
    levels: list[LevelFreshness] = field(default_factory=list)
    analysed_through: str | None = None
    last_analyze: dict | None = None
    last_collect: dict | None = None
    last_job: dict | None = None
    waiting_days: int = 0
    sources: list[str] = field(default_factory=list)


def _run(db: Database, kind: str) -> dict | None:
    row = db.execute("SELECT id, status, started_at, finished_at, error, detail FROM runs "
                     "WHERE kind = ? ORDER BY id DESC LIMIT 1", [kind]).fetchone()
    if row is None:
        return None
    detail = read_detail(row[5])
    status, error = shown_status(row[1], row[4], detail)
    return {"id": row[0], "status": status, "started_at": row[2], "finished_at": row[3],
            "error": error, "detail": detail}


def last_briefings(db: Database) -> str | None:
    """Where the newest nightly job that got its briefings written put them."""
    for (text,) in db.execute("SELECT detail FROM runs WHERE kind = 'job' AND status != "
                              "'running' ORDER BY id DESC LIMIT 20"):
        try:
            detail = json.loads(text or "{}")
        except ValueError:
            continue
        if (detail.get("stages", {}).get("export") or {}).get("status") == "ok":
            return detail.get("out")
    return None


def database_status(db: Database) -> Status:
    """Freshness per level (from what runs wrote), the last runs, days waiting to be confirmed."""
    from aicity.db import store
    out = Status(sources=store.sources(db))
    per_region = dict(db.execute("SELECT region, max(max_date) FROM touched GROUP BY region"
                                 ).fetchall())
    for level in ("country", "province", "city"):
        codes = [r[0] for r in db.execute("SELECT code FROM regions WHERE level = ? AND "
                                          "legacy = 0", [level])]
        last = [per_region[c] for c in codes if c in per_region]
        out.levels.append(LevelFreshness(level, len(codes), len(last), max(last, default=None),
                                         min(last, default=None)))
    row = db.execute("SELECT value FROM analysis_state WHERE key = 'latest_day'").fetchone()
    out.analysed_through = row[0] if row else None
    out.last_analyze, out.last_collect, out.last_job = (_run(db, k) for k in
                                                        ("analyze", "collect", "job"))
    out.waiting_days = db.execute("SELECT count(*) FROM unconfirmed WHERE accepted_at IS NULL"
                                  ).fetchone()[0]
    return out
