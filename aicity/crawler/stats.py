"""The crawl's stats collector: Scrapy's in-memory one, read and counted at plain speed."""
from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector


class CrawlStats(MemoryStatsCollector):
    """MemoryStatsCollector without the attribute hook Scrapy 2.13 added to warn about the
    deprecated `spider` argument: it runs on every attribute read (an f-string, a failed
    lookup, a wrapper call) and Scrapy and our middlewares count a dozen things a request.
    It was 3-5 % of a crawler's time. Nothing here passes `spider`; the methods still take
    it."""

    __getattribute__ = object.__getattribute__
