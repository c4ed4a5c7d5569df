"""What a collect run has to fetch: the (keywords, region, date range) pieces not yet stored.

Pure functions over the coverage table's ranges, so planning is tested without a crawl.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable

from crawler.protocol import EARLIEST, MAX_SERIES_PER_REQUEST

DEFAULT_WINDOW_DAYS = 300   # daily data is safe up to about a year per request; 300 is the norm


@dataclass(frozen=True)
class Piece:
    region: int
    start: date
    end: date
    keywords: tuple[str, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def missing_ranges(start: date, end: date, covered: Iterable[tuple[date, date]]
                   ) -> list[tuple[date, date]]:
    """[start, end] minus the union of covered ranges, as sorted disjoint ranges."""
    out = []
    cursor = start
    for a, b in sorted(covered):
        if b < cursor or a > end:
            continue
        if a > cursor:
            out.append((cursor, min(end, a - timedelta(days=1))))
        cursor = max(cursor, b + timedelta(days=1))
        if cursor > end:
            break
    if cursor <= end:
        out.append((cursor, end))
    return out


def _windows(a: date, b: date, window_days: int, anchor: date = EARLIEST
             ) -> list[tuple[date, date]]:
    """Split [a, b] on a fixed grid counted from `anchor`, so that keywords missing the same
    days fall into identical windows and can share a request."""
    out = []
    cursor = a
    while cursor <= b:
        k = (cursor - anchor).days // window_days
        grid_end = anchor + timedelta(days=(k + 1) * window_days - 1)
        stop = min(b, grid_end)
        out.append((cursor, stop))
        cursor = stop + timedelta(days=1)
    return out


def plan_pieces(keywords: list[str], regions: list[int], start: date, end: date,
                covered: dict[tuple[str, int], list[tuple[date, date]]],
                window_days: int = DEFAULT_WINDOW_DAYS,
                batch: int = MAX_SERIES_PER_REQUEST, anchor: date = EARLIEST) -> list[Piece]:
    """Pieces of at most `batch` keywords for one region and one window each; windows are cut
    on a grid from `anchor` (collect uses the run's start, so a fresh backfill of N days takes
    ceil(N / window_days) windows)."""
    start = max(start, EARLIEST)
    if end < start:
        return []
    groups: dict[tuple[int, date, date], list[str]] = {}
    for region in regions:
        for kw in keywords:
            for a, b in missing_ranges(start, end, covered.get((kw, region), [])):
                for wa, wb in _windows(a, b, window_days, min(anchor, a)):
                    groups.setdefault((region, wa, wb), []).append(kw)
    pieces = []
    for (region, wa, wb), kws in sorted(groups.items()):
        for i in range(0, len(kws), batch):
            pieces.append(Piece(region, wa, wb, tuple(kws[i:i + batch])))
    return pieces
