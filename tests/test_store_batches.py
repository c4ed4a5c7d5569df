"""The store pipeline commits several series at once where a commit is dear (PostgreSQL), each
series whole: a failed batch leaves none of its series covered, and a piece is reported done to
the shared queue only once its rows are committed."""
from __future__ import annotations

import sqlite3

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from aicity.crawler.items import PieceDone, SeriesItem
from aicity.crawler.pipelines import StorePipeline
from aicity.db import store


def _item(region: int) -> SeriesItem:
    return SeriesItem(keyword="人工智能", region=region, requested_start="2017-01-01",
                      requested_end="2017-01-03", granularity="day", start="2017-01-01",
                      end="2017-01-03", values={"all": [100, 110, 120]})


def _covered(path) -> set[int]:
    db = store.connect(path)
    try:
        return {r for (r,) in db.execute("SELECT DISTINCT region FROM coverage")}
    finally:
        db.close()


class _Queue:
    def __init__(self, path):
        self.path, self.done_when_covered = path, []

    def done(self, lease):
        # what another process would see at this moment
        self.done_when_covered.append((lease, _covered(self.path)))


def _pipeline(path, batch: int):
    db = store.connect(path)
    try:
        run = store.start_run(db, "collect", "emulator", {})
        db.conn.commit()
    finally:
        db.close()
    crawler = get_crawler(settings_dict={"AICITY_DB": str(path), "AICITY_SOURCE": "emulator",
                                         "AICITY_DB_BATCH_ITEMS": batch,
                                         "AICITY_RUN_ID": run.id})
    crawler.spider = type("Spider", (), {"piece_queue": _Queue(path)})()
    pipe = StorePipeline(crawler)
    pipe.open_spider()
    return pipe, crawler


def test_a_batch_is_committed_whole_and_before_its_piece_is_done(db_path):
    pipe, crawler = _pipeline(db_path, batch=3)
    for region in (97, 94):
        pipe.process_item(_item(region))
    assert _covered(db_path) == set()                 # the batch is open
    pipe.process_item(PieceDone(lease="piece-1"))     # the piece's rows first, then done
    assert crawler.spider.piece_queue.done_when_covered == [("piece-1", {97, 94})]
    for region in (95, 96, 98):
        pipe.process_item(_item(region))              # three: committed
    assert _covered(db_path) == {97, 94, 95, 96, 98}
    pipe.process_item(_item(99))
    pipe.close_spider()                               # what is left is committed at the end
    assert 99 in _covered(db_path)
    # every series is noted for incremental analysis, in order of the batches' commits
    db = store.connect(db_path)
    try:
        touched = db.execute("SELECT region, seq FROM touched ORDER BY seq").fetchall()
    finally:
        db.close()
    assert {r for r, _ in touched} == {97, 94, 95, 96, 98, 99}
    seq = dict(touched)
    assert max(seq[97], seq[94]) < min(seq[95], seq[96], seq[98])
    assert max(seq[95], seq[96], seq[98]) < seq[99]


def test_a_failed_batch_leaves_none_of_its_series_and_stops_the_run(db_path, monkeypatch):
    pipe, crawler = _pipeline(db_path, batch=3)
    pipe.process_item(_item(97))
    pipe.process_item(_item(94))
    pipe.process_item(_item(95))                      # a batch committed
    pipe.process_item(_item(96))                      # in the next one
    real = store.save_series

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(store, "save_series", disk_full)
    with pytest.raises(DropItem):
        pipe.process_item(_item(98))
    monkeypatch.setattr(store, "save_series", real)
    pipe.close_spider()
    assert _covered(db_path) == {97, 94, 95}          # 96 went with its batch: asked again
    assert crawler.stats.get_value("aicity/stopped_cause") == "storage"


def test_sqlite_keeps_one_series_a_transaction(db_path):
    pipe, _ = _pipeline(db_path, batch=0)              # 0: the store's own choice
    assert pipe.batch_items == 1
    pipe.process_item(_item(97))
    assert _covered(db_path) == {97}
    pipe.close_spider()
