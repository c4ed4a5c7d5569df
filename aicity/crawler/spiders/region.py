"""SearchApi/region: each keyword's regional distribution over a period (plain JSON)."""
from __future__ import annotations

import logging
from urllib.parse import urlencode

import scrapy

from aicity.crawler import protocol as proto
from aicity.crawler.parsing import region_items
from aicity.crawler.plan import plan_priority

logger = logging.getLogger(__name__)


class RegionSpider(scrapy.Spider):
    name = "region"

    def __init__(self, keywords: list[str], areas: list[int], start: str, end: str,
                 base_url: str, calls: list[tuple[str, int]] | None = None, **kwargs):
        super().__init__(**kwargs)
        # `calls` (keyword, area) in order, as a snapshot plan gives them; else every keyword
        # for every area.
        self.calls = list(calls) if calls is not None else \
            [(word, area) for area in areas for word in keywords]
        self.start_date, self.end_date = start, end
        self.base_url = base_url.rstrip("/")

    async def start(self):
        # One keyword a call, as current public crawlers send it: the comma form of `word` is
        # the pre-2020 one, and what the site does with several words here is unverified.
        for i, (word, area) in enumerate(self.calls):
            params = {"region": area, "word": word, "startDate": self.start_date,
                      "endDate": self.end_date}
            # In the plan's order (a snapshot's keywords one after another), so a budget that
            # ends early leaves out the last keyword, not a part of each.
            yield scrapy.Request(f"{self.base_url}/api/SearchApi/region?{urlencode(params)}",
                                 callback=self.parse, cb_kwargs={"area": area, "word": word},
                                 dont_filter=True, priority=plan_priority(i),
                                 meta={"baidu_endpoint": "region", "cipher_keyword": word})

    def parse(self, response, area: int, word: str):
        payload = response.meta["baidu_payload"]
        if payload.get("status") != proto.OK:
            self.crawler.stats.inc_value(f"aicity/failures/status_{payload.get('status')}")
            return
        try:
            items = region_items(payload, area, asked=[word])
        except proto.ProtocolError as err:
            self.crawler.stats.inc_value("aicity/failures/undecodable")
            logger.warning("region %s %r: %s; will be asked again next run", area, word, err)
            return
        yield from items
