"""How a crawl stops when asked (SIGTERM, Ctrl-C, or its parent's death): within seconds,
whatever the site does.

Scrapy's own handlers stop gracefully, waiting for every request in flight, and its retries and
timeouts against a site that no longer answers can last minutes: a nightly job's orphaned
collect was still crawling a minute after it was told to stop. Here the first signal asks the
crawl to stop as Scrapy would (the series in hand are stored, the spider closes, the run is
recorded); after STOP_GRACE seconds the reactor is stopped whatever is still in flight, and a
process whose reactor cannot stop (stuck in a call that does not return) ends HARD_STOP seconds
after the signal. A second signal stops the reactor at once.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading

from aicity.children import exit_within

logger = logging.getLogger(__name__)

STOP_GRACE = 5.0
HARD_STOP = 9.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignals:
    """Installed once the reactor runs (Scrapy's handlers are not: the crawl is started with
    install_signal_handlers=False); `received` names the signal that stopped the crawl."""

    def __init__(self, process, grace: float = STOP_GRACE, hard: float = HARD_STOP):
        self.process = process
        self.grace = grace
        self.hard = hard
        self.received = ""
        self._timers: list[threading.Timer] = []
        self._before: dict = {}

    def install(self) -> None:
        for sig in SIGNALS:
            self._before[sig] = signal.signal(sig, self._first)

    def _first(self, signum, frame) -> None:
        from twisted.internet import reactor
        self.received = signal.Signals(signum).name
        for sig in SIGNALS:
            signal.signal(sig, self._again)
        reactor.callFromThread(self._stop_gracefully)
        force = threading.Timer(self.grace, reactor.callFromThread, args=(self._stop_now,))
        force.daemon = True
        force.start()
        self._timers += [force, exit_within(self.hard, 128 + signum)]

    def _again(self, signum, frame) -> None:
        from twisted.internet import reactor
        reactor.callFromThread(self._stop_now)

    def _stop_gracefully(self) -> None:
        logger.info("%s received: storing the series in hand and stopping (%.0f s at most; "
                    "send it again to stop at once)", self.received, self.grace)
        self.process.stop()

    def _stop_now(self) -> None:
        from twisted.internet import reactor
        logger.info("stopping now: what was in flight is asked again by the next run")
        with contextlib.suppress(RuntimeError):      # already stopped or stopping
            reactor.stop()

    def disarm(self) -> None:
        """The reactor has stopped: what follows (recording the run) is not cut short."""
        for timer in self._timers:
            timer.cancel()
        for sig, handler in self._before.items():
            signal.signal(sig, handler)
