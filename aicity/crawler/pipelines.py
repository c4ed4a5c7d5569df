"""Item pipeline: validate and store through db/ (the only place the crawler writes)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from scrapy.exceptions import DropItem

from aicity.crawler import confirm
from aicity.crawler.middlewares import stop_run
from aicity.crawler.items import (IndexAnswerItem, PieceDone, RegionDistributionItem,
                                  SeriesItem, UnindexedKeywordItem, WordGraphItem)
from aicity.crawler.parsing import iso_grid, value_grid
from aicity.db import store
from aicity.vocabulary import DEVICES

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.db_path = crawler.settings.get("AICITY_DB")
        self.run_id = crawler.settings.get("AICITY_RUN_ID")
        self.db = None
        self.broken = ""          # why storage failed; later items are dropped, not stored
        # A writer (an import, `analyze`) may hold the database for a while: wait for it rather
        # than lose the piece. Only a storage error that waiting cannot fix stops the run.
        self.busy_timeout = crawler.settings.getfloat("AICITY_DB_BUSY_TIMEOUT", 600.0)
        self.devices = set(crawler.settings.getlist("AICITY_DEVICES") or DEVICES)
        self.confirm_tries = crawler.settings.getint("AICITY_UNCONFIRMED_TRIES",
                                                     confirm.DEFAULT_TRIES)
        self.confirm_days = crawler.settings.getfloat("AICITY_UNCONFIRMED_DAYS",
                                                      confirm.DEFAULT_DAYS)
        self.blank_rest_hours = crawler.settings.getfloat("AICITY_BLANK_REST_HOURS",
                                                          confirm.DEFAULT_BLANK_REST_HOURS)
        # the newest day any daily answer of this run had a value on: published for all
        self.published_through = ""
        # Series stored per transaction (0: what the database wants; db/writer.py says why)
        self.batch_items = crawler.settings.getint("AICITY_DB_BATCH_ITEMS", 0)
        self.batch_seconds = crawler.settings.getfloat("AICITY_DB_BATCH_SECONDS", 2.0)
        self.writer = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        # connected as the crawl is built, not as the spider opens: a database that refuses
        # the connection (PostgreSQL's connection limit) then fails the crawl before anything
        # is opened, and collect says so in one line (service.collect._crawl)
        pipeline.db = store.connect(pipeline.db_path, busy_timeout=pipeline.busy_timeout)
        return pipeline

    def open_spider(self):
        self.registry = store.registry(self.db)
        # the newest day an earlier run saw the site publish: a day after it is not accepted
        # as below the floor before some answer shows the site has published it
        self.published_through = self.published_before = store.published_through(self.db)
        self.writer = store.BatchWriter(
            self.db, items=self.batch_items, seconds=self.batch_seconds,
            rows_key="aicity/rows_written", committed=self._counted,
            stored_again=lambda n: self.crawler.stats.inc_value("aicity/batches_stored_again"),
            refusals=(DropItem,))

    def close_spider(self):
        if self.db is not None:
            try:
                if self.writer is not None:
                    self.writer.flush()
                if self.published_through > self.published_before:
                    # once, after the last batch: a row every writer updates, kept in a batch,
                    # made each writer wait for the other's whole batch
                    store.note_published_through(self.db, self.published_through)
            except store.storage_errors() as err:
                self._fail(err)
            finally:
                self.db.close()

    def _counted(self, counts) -> None:
        for key, n in counts.items():
            self.crawler.stats.inc_value(key, n)

    def _fail(self, err: BaseException) -> bool:
        """A failed write: True when it was made good (the server had restarted: once it is
        back, the batch's items are stored again); else the run stops. Disk full, a damaged or
        read-only file, a lock held past the timeout: every later piece would fail the same
        way. Stop, keep what is stored (each piece is whole or absent, so nothing is
        half-written; what failed is not marked covered)."""
        try:
            if self.writer.recover(err):
                self.crawler.stats.inc_value("aicity/database_reconnects")
                return True
        except store.DatabaseProblem as gone:
            err = gone
        except store.storage_errors() as again:        # failed again once back: give up
            err = again
        self.broken = store.storage_problem(err, self.db_path)
        self.crawler.stats.inc_value("aicity/items_not_stored")
        stop_run(self.crawler, "storage", f"storing failed: {self.broken}")
        return False

    def process_item(self, item):
        if isinstance(item, PieceDone):
            # after the piece's rows are committed (items of a callback reach the pipeline in
            # order): the shared queue may forget the piece. Not after a storage failure: the
            # lease then goes back to the queue when the worker stops.
            if not self.broken:
                try:
                    self.writer.flush()
                except store.storage_errors() as err:
                    if not self._fail(err):
                        raise DropItem(self.broken) from None
                from aicity.crawler.queue import queue_errors
                try:
                    self.crawler.spider.piece_queue.done(item.lease)
                except queue_errors() as err:   # stored; the queue learns it from coverage
                    self.crawler.spider.queue_failed(err)
                    return item
                self.crawler.stats.inc_value("aicity/queue/done")
            return item
        if self.broken:
            self.crawler.stats.inc_value("aicity/items_not_stored")
            raise DropItem(f"not stored: {self.broken}")
        try:
            # a batch's size counts series (PostgreSQL's 25), an answer holding up to five
            size = len(item.series) if isinstance(item, IndexAnswerItem) else 1
            return self.writer.store(item, self._process, size=size)
        except store.storage_errors() as err:
            if not self._fail(err):
                raise DropItem(self.broken) from None
            return item           # stored again on a new connection, with its batch
        except DropItem:
            raise                 # refused before anything was written: the batch goes on
        except BaseException as err:
            # a batch without savepoints cannot go on after a failed statement: its series
            # go back (uncovered, asked again), the error is Scrapy's to report
            self.writer.roll_back(err)
            raise

    def _process(self, item):
        # before the first row, so a run killed before it finishes says where its rows came from
        self.writer.note_source(self.run_id, item_source(self.crawler))
        if isinstance(item, IndexAnswerItem):
            self._store_answer(item)
        elif isinstance(item, SeriesItem):
            self._store_series(item)
        elif isinstance(item, UnindexedKeywordItem):
            store.mark_unindexed(self.db, [item.keyword], item_source(self.crawler))
            self._count("aicity/unindexed_keywords")
            logger.warning("keyword %r is not indexed by Baidu; skipped", item.keyword)
        elif isinstance(item, RegionDistributionItem):
            rows = [{"keyword": item.keyword, "area": item.area, "region": code,
                     "start": item.start, "end": item.end, "value": value,
                     "share_permille": item.shares.get(code), "source": item_source(self.crawler)}
                    for code, value in item.values.items() if code in self.registry.by_code]
            self._count("aicity/rows_written",
                        store.save_region_distribution(self.db, rows, self.run_id))
        elif isinstance(item, WordGraphItem):
            rows = [dict(w, keyword=item.keyword, period=item.period,
                         source=item_source(self.crawler)) for w in item.words if w.get("word")]
            self._count("aicity/rows_written",
                        store.save_word_graph(self.db, rows, self.run_id))
        else:
            raise DropItem(f"unknown item type {type(item).__name__}")
        return item

    def _count(self, key: str, n: int | None = 1) -> None:
        self.writer.count(key, n)

    def _store_answer(self, answer: IndexAnswerItem) -> None:
        """Every series of one answer judged first (reads only, no lock held), then all stored in
        one transaction, and counted once it commits. A series refused (an unknown region,
        devices of different lengths) is left out on its own."""
        judged = []
        for item in answer.series:
            try:
                judged.append(self._judged(item))
            except DropItem as why:
                self.crawler.stats.inc_value("aicity/series_refused")
                logger.debug("Dropped: %s", why)
        with self.db.atomic():
            saved = [self._save(j) for j in judged]
        self._count_saved(saved)

    def _store_series(self, item: SeriesItem) -> None:
        judged = self._judged(item)
        with self.db.atomic():
            saved = [self._save(judged)]
        self._count_saved(saved)

    def _judged(self, item: SeriesItem) -> Judged:
        """What to store of one series (its verdict on empty days, how far it is covered)."""
        if item.region not in self.registry.by_code:
            raise DropItem(f"{item.keyword}: unknown region {item.region}")
        rows = {device: values for device, values in item.values.items()
                if device in self.devices}
        lengths = {len(v) for v in rows.values()}
        if len(lengths) != 1:
            raise DropItem(f"{item.keyword}/{item.region}: devices disagree on length")
        values = item.values["all"]
        first, step = value_grid(item)
        days = iso_grid(first, step, len(values))
        if item.granularity == "day":
            newest = next((i for i in range(len(values) - 1, -1, -1)
                           if values[i] is not None), None)
            if newest is not None and days[newest] > self.published_through:
                # the site has published this day for every word and region
                self.published_through = days[newest]
        verdict = confirm.Verdict(len(values))
        if confirm.first_unconfirmed(values) < len(values):
            now = datetime.now(timezone.utc).replace(microsecond=0)
            prior = store.unconfirmed_state(self.db, item.keyword, item.region, days)
            if item.blank_before:
                # the blank answers this run already had count: a day first seen blank
                # then is as old as the run's first answer (moments ago)
                fresh = (item.blank_before, now.isoformat())
                prior = (dict.fromkeys(days, fresh) if not prior else
                         {d: _counted(prior.get(d), item.blank_before, fresh) for d in days})
            verdict = confirm.judge(values, days, prior, now, self.confirm_tries,
                                    self.confirm_days, self.blank_rest_hours,
                                    self.published_through)
            self._count("aicity/unconfirmed_days",
                        sum(1 for m in verdict.unconfirmed if not m[4]))
        keep = verdict.keep
        cover_end = None
        if keep == len(values):
            cover_end = item.end
        elif keep:
            # the last kept day (or the last day of the last kept calendar week)
            last = first + timedelta(days=step * (keep - 1)
                                     + (6 if item.granularity == "week" else 0))
            cover_end = min(item.end, last.isoformat())
        return Judged(item, {d: v[:keep] for d, v in rows.items()}, keep, cover_end,
                      verdict.unconfirmed, first.isoformat())

    def _save(self, judged: Judged) -> tuple[int | None, bool]:
        """Store a judged series within the open transaction: (rows written or None while
        not known yet, whether any value was kept)."""
        item = judged.item
        written: list[int | None] = []
        # a municipality's answer (asked by province code) is its city's series too
        for region in (item.region, *self.registry.stored_also_as(item.region)):
            written.append(store.save_series(
                self.db, item.keyword, region, item.start, judged.cover_end, item.granularity,
                judged.rows, item_source(self.crawler), self.run_id,
                unconfirmed=judged.unconfirmed, values_from=judged.values_from))
        return (None if None in written else sum(written)), judged.keep > 0

    def _count_saved(self, saved: list[tuple[int | None, bool]]) -> None:
        rows = [n for n, _ in saved]
        self._count("aicity/rows_written", None if None in rows else sum(rows))
        kept = sum(1 for _, any_kept in saved if any_kept)
        if kept:
            self._count("aicity/series_stored", kept)


class Judged(NamedTuple):
    item: SeriesItem
    rows: dict[str, list[int | None]]       # device -> the values kept
    keep: int
    cover_end: str | None                   # None: nothing covered (all unconfirmed)
    unconfirmed: list
    values_from: str


def _counted(state: tuple | None, blank_before: int, fresh: tuple) -> tuple:
    """A waiting day's (tries, first seen[, reason]) counting the blank answers a series had
    earlier in this run (asked again at once, they never reached the pipeline); `fresh` is a
    day's when it was not waiting yet."""
    if state is None:
        return fresh
    return (max(state[0], blank_before), *state[1:])


def item_source(crawler) -> str:
    """'emulator' when the server said its world is simulated, 'baidu' for the real site, else
    'other' (a server that speaks the protocol but is neither)."""
    return crawler.stats.get_value("aicity/source") or crawler.settings.get("AICITY_SOURCE",
                                                                            "other")
