"""Scrapy extensions the tests add to a crawl through `collect(settings=...)`."""
from __future__ import annotations

import os
import signal

from scrapy import signals


class KillAfterItems:
    """Dies by SIGKILL once KILL_AFTER_ITEMS items are stored, as a crash or `kill -9` would,
    to prove a killed run resumes cleanly."""

    def __init__(self, limit: int):
        self.limit = limit
        self.stored = 0

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.settings.getint("KILL_AFTER_ITEMS"))
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def item_scraped(self, item, response=None, spider=None):
        self.stored += 1
        if self.stored >= self.limit:
            os.kill(os.getpid(), signal.SIGKILL)


class SignalAfterItems:
    """Sends this process SIGNAL_AFTER_ITEMS_SIGNAL (SIGTERM unless told) once
    SIGNAL_AFTER_ITEMS items are stored, as an operator's Ctrl-C or `kill` would mid-run."""

    def __init__(self, limit: int, signum: int):
        self.limit = limit
        self.signum = signum
        self.stored = 0

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.settings.getint("SIGNAL_AFTER_ITEMS"),
                  crawler.settings.getint("SIGNAL_AFTER_ITEMS_SIGNAL", int(signal.SIGTERM)))
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def item_scraped(self, item, response=None, spider=None):
        self.stored += 1
        if self.stored == self.limit:
            os.kill(os.getpid(), self.signum)


class CommandAfterItems:
    """Runs COMMAND_AFTER_ITEMS_ARGS (a list) once COMMAND_AFTER_ITEMS items are stored, and
    waits for it: a server restarted in the middle of a crawl."""

    def __init__(self, limit: int, args: list):
        self.limit = limit
        self.args = args
        self.stored = 0

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.settings.getint("COMMAND_AFTER_ITEMS"),
                  crawler.settings.getlist("COMMAND_AFTER_ITEMS_ARGS"))
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def item_scraped(self, item, response=None, spider=None):
        import subprocess
        self.stored += 1
        if self.stored == self.limit:
            # no pipes: the restarted server would hold them open, and run() wait for ever
            subprocess.run(self.args, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
