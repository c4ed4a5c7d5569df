"""Typed items the spiders yield and the pipeline stores."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SeriesItem:
    """One keyword's series for one region and one requested range, every device."""
    keyword: str
    region: int
    requested_start: str
    requested_end: str
    granularity: str                      # from the response's `type`: day or week
    start: str                            # from the response's startDate
    end: str
    values: dict[str, list[int | None]] = field(default_factory=dict)   # device -> values
    # answers this run gave before this one, every value empty (a blank asked again at once)
    blank_before: int = 0


@dataclass
class IndexAnswerItem:
    """The series of one SearchApi/index answer (up to five keywords), stored in one
    transaction: a commit a series and Scrapy's steps for each item were a tenth of a crawler's
    time. Each series is still judged, covered and refused on its own."""
    series: list[SeriesItem] = field(default_factory=list)


@dataclass
class UnindexedKeywordItem:
    keyword: str


@dataclass
class RegionDistributionItem:
    keyword: str
    area: int
    start: str
    end: str
    values: dict[int, int | float | None]         # region code -> period value
    shares: dict[int, float | None] = field(default_factory=dict)   # the *Real maps, as sent


@dataclass
class WordGraphItem:
    keyword: str
    period: str
    words: list[dict] = field(default_factory=list)     # word, pv, ratio, sim


@dataclass
class PieceDone:
    """Every request of one queued piece has ended (stored, or given up until the next run):
    the pipeline acknowledges it in the shared queue after the piece's rows."""
    lease: bytes
