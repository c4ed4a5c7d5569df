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
        batch = proto.MAX_SERIES_PER_REQUEST
        for area in self.areas:
            for i in range(0, len(self.keywords), batch):
                words = self.keywords[i:i + batch]
                params = {"region": area, "word": ",".join(words), "startDate": self.start_date,
                          "endDate": self.end_date}
                yield scrapy.Request(f"{self.base_url}/api/SearchApi/region?{urlencode(params)}",
                                     callback=self.parse, cb_kwargs={"area": area},
                                     dont_filter=True,
                                     meta={"baidu_endpoint": "region", "cipher_keyword": words[0]})

    def parse(self, response, area: int):
        payload = response.meta["baidu_payload"]
        if payload.get("status") != proto.OK:
            self.crawler.stats.inc_value(f"aicity/failures/status_{payload.get('status')}")
            return
        yield from region_items(payload, area)
