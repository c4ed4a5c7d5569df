"""The site's other answers: region distributions and related-word graphs."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Sequence

from sqlite_utils import Database

from aicity.db.connection import _upsert, frame, now_iso

if TYPE_CHECKING:
    import pandas as pd


def _upsert_counted(db: Database, table: str, rows: list[dict], pk: tuple[str, ...]) -> int:
    with db.atomic():
        return _upsert(db, table, rows, pk)


def save_region_distribution(db: Database, rows: list[dict], run_id: int | None) -> int:
    stamp = {"fetched_at": now_iso(), "run_id": run_id}
    return _upsert_counted(db, "region_distribution", [{**r, **stamp} for r in rows],
                           ("keyword", "area", "region", "start", "end"))


def distribution_answered(db: Database, since: str) -> dict[tuple[date, date],
                                                             set[tuple[str, int]]]:
    """Regional-distribution windows ending on or after `since`: (start, end) -> the
    (keyword, province area) pairs answered for it."""
    out: dict[tuple[date, date], set[tuple[str, int]]] = {}
    for kw, area, a, b in db.execute(
            'SELECT DISTINCT keyword, area, start, "end" FROM region_distribution '
            'WHERE "end" >= ? AND area BETWEEN 901 AND 999', [since]):
        out.setdefault((date.fromisoformat(a), date.fromisoformat(b)), set()).add((kw, area))
    return out


def distribution_means(db: Database, start: str, end: str, keyword_ids: Sequence[int]
                       ) -> pd.DataFrame:
    """keyword_id, area, region, value: the regional distribution's period means for the
    window [start, end] as answered by province queries (each names the province itself and
    its cities)."""
    import pandas as pd
    frames = [pd.DataFrame(columns=["keyword_id", "area", "region", "value"])]
    ids = list(keyword_ids)
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        frames.append(frame(
            db, "SELECT k.id AS keyword_id, d.area, d.region, d.value FROM region_distribution d "
            'JOIN keywords k ON k.term = d.keyword WHERE d.start = ? AND d."end" = ? '
            f"AND d.area BETWEEN 901 AND 999 AND k.id IN ({','.join('?' * len(part))})",
            [start, end, *part]))
    return pd.concat(frames, ignore_index=True)


def distribution_windows(db: Database) -> list[tuple[str, str, int]]:
    """(start, end, provinces asked) of each regional-distribution window of province
    queries, newest first."""
    return [tuple(r) for r in db.execute(
        'SELECT start, "end", COUNT(DISTINCT area) FROM region_distribution '
        'WHERE area BETWEEN 901 AND 999 GROUP BY start, "end" ORDER BY "end" DESC, start DESC')]


def save_word_graph(db: Database, rows: list[dict], run_id: int | None) -> int:
    stamp = {"fetched_at": now_iso(), "run_id": run_id}
    keep = ("keyword", "word", "period", "pv", "ratio", "sim", "source")
    return _upsert_counted(db, "word_graph", [{**{k: r[k] for k in keep}, **stamp} for r in rows],
                           ("keyword", "word", "period"))


def word_graph_frame(db: Database) -> pd.DataFrame:
    """Related words as stored: keyword, word, period, pv, ratio, sim, source."""
    return frame(db, "SELECT keyword, word, period, pv, ratio, sim, source FROM word_graph "
                     "ORDER BY keyword, period, word")

