"""A Scrapy extension bench/workers.py adds to each worker: every request sent, one line a
request in a file (the workers' files together say what was asked twice)."""
from __future__ import annotations

import time

from scrapy import signals


class RecordIndexRequests:
    def __init__(self, path: str):
        self.fh = open(path, "a", encoding="utf-8", buffering=1)
        # when each answer came, apart: the lines above are compared across runs
        self.times = open(path + ".times", "a", encoding="utf-8", buffering=1)

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.settings.get("RECORD_TO"))
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def response_received(self, response, request, spider=None):
        self.fh.write(request.url.split("?", 1)[0].rsplit("/", 1)[-1] + " "
                      + request.url.split("?", 1)[-1] + "\n")
        self.times.write(f"{time.time():.3f}\n")
