"""SearchApi/region: each keyword's regional distribution over a period (plain JSON)."""
from __future__ import annotations

from urllib.parse import urlencode

import scrapy

from crawler import protocol as proto
from crawler.parsing import region_items


class RegionSpider(scrapy.Spider):
    name = "region"

    def __init__(self, keywords: list[str], areas: list[int], start: str, end: str,
                 base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.keywords, self.areas = list(keywords), list(areas)
        self.start_date, self.end_date = start, end
        self.base_url = base_url.rstrip("/")

    async def start(self):
        # One keyword a call, as current public crawlers send it: the comma form of `word` is
        # the pre-2020 one, and what the site does with several words here is unverified.
        for area in self.areas:
            for word in self.keywords:
                params = {"region": area, "word": word, "startDate": self.start_date,
                          "endDate": self.end_date}
                yield scrapy.Request(f"{self.base_url}/api/SearchApi/region?{urlencode(params)}",
                                     callback=self.parse, cb_kwargs={"area": area},
                                     dont_filter=True,
                                     meta={"baidu_endpoint": "region", "cipher_keyword": word})

    def parse(self, response, area: int):
        payload = response.meta["baidu_payload"]
        if payload.get("status") != proto.OK:
            self.crawler.stats.inc_value(f"aicity/failures/status_{payload.get('status')}")
            return
        yield from region_items(payload, area)
