"""WordGraph/multi: Baidu's demand graph (需求图谱), related words per keyword and week; it feeds
`aicity keywords suggest`."""
from __future__ import annotations

from urllib.parse import urlencode

import scrapy

from aicity.crawler import protocol as proto
from aicity.crawler.parsing import word_graph_items


class WordGraphSpider(scrapy.Spider):
    name = "word_graph"

    def __init__(self, keywords: list[str], dates: list[str], base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.keywords, self.dates = list(keywords), list(dates)
        self.base_url = base_url.rstrip("/")

    async def start(self):
        batch = proto.MAX_SERIES_PER_REQUEST
        for when in self.dates or [""]:
            for i in range(0, len(self.keywords), batch):
                params = [("wordlist[]", w) for w in self.keywords[i:i + batch]]
                params.append(("datelist", when.replace("-", "")))
                yield scrapy.Request(f"{self.base_url}/api/WordGraph/multi?{urlencode(params)}",
                                     callback=self.parse, dont_filter=True,
                                     meta={"baidu_endpoint": "word_graph"})

    def parse(self, response):
        payload = response.meta["baidu_payload"]
        if payload.get("status") != proto.OK:
            self.crawler.stats.inc_value(f"aicity/failures/status_{payload.get('status')}")
            return
        yield from word_graph_items(payload)
