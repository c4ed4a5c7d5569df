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


class AfterItems:
    """Does `act()` once the crawl has stored `limit` items (the setting named LIMIT)."""
    LIMIT = ""

    def __init__(self, crawler):
        self.settings = crawler.settings
        self.limit = crawler.settings.getint(self.LIMIT)
        self.stored = 0

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def item_scraped(self, item, response=None, spider=None):
        self.stored += 1
        if self.stored == self.limit:
            self.act()

    def act(self) -> None:
        raise NotImplementedError


class SignalAfterItems(AfterItems):
    """Sends this process SIGNAL_AFTER_ITEMS_SIGNAL (SIGTERM unless told) once
    SIGNAL_AFTER_ITEMS items are stored, as an operator's Ctrl-C or `kill` would mid-run."""
    LIMIT = "SIGNAL_AFTER_ITEMS"

    def act(self) -> None:
        os.kill(os.getpid(), self.settings.getint("SIGNAL_AFTER_ITEMS_SIGNAL",
                                                  int(signal.SIGTERM)))


class CommandAfterItems(AfterItems):
    """Runs COMMAND_AFTER_ITEMS_ARGS (a list) once COMMAND_AFTER_ITEMS items are stored, and
    waits for it: a server restarted in the middle of a crawl."""
    LIMIT = "COMMAND_AFTER_ITEMS"

    def act(self) -> None:
        import subprocess
        # no pipes: the restarted server would hold them open, and run() wait for ever
        subprocess.run(self.settings.getlist("COMMAND_AFTER_ITEMS_ARGS"), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
