"""A progress bar for long crawls (aicity demo), counting index requests answered."""
from __future__ import annotations

import sys

import click
from scrapy import signals
from scrapy.exceptions import NotConfigured


class ProgressBar:
    def __init__(self, total: int):
        self.bar = click.progressbar(length=max(1, total), label="collecting", file=sys.stderr)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("AICITY_PROGRESS"):
            raise NotConfigured
        ext = cls(crawler.settings.getint("AICITY_PROGRESS_TOTAL"))
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def response_received(self, response, request, spider=None):
        if request.meta.get("baidu_endpoint") == "ptbk" and response.status == 200:
            self.bar.update(1)

    def spider_closed(self, spider=None, reason=None):
        self.bar.render_finish()
