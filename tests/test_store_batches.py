"""The store pipeline commits several series at once where a commit is dear (PostgreSQL), each
series whole: a failed batch leaves none of its series covered, and a piece is reported done to
the shared queue only once its rows are committed."""
from __future__ import annotations

import sqlite3

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from aicity.crawler.items import IndexAnswerItem, PieceDone, SeriesItem
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
    pipe = StorePipeline.from_crawler(crawler)
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


def test_sqlite_keeps_one_item_a_transaction(db_path):
    pipe, _ = _pipeline(db_path, batch=0)              # 0: the store's own choice
    assert pipe.writer.items == 1
    pipe.process_item(_item(97))
    assert _covered(db_path) == {97}
    pipe.close_spider()


def test_an_answers_series_share_one_transaction_and_a_refused_one_is_left_out(db_path):
    """A commit a series (and Scrapy's steps for each item) were a tenth of a crawler's time:
    the spider hands the pipeline an answer's series together."""
    pipe, crawler = _pipeline(db_path, batch=0)
    pipe.process_item(IndexAnswerItem(series=[_item(97)]))     # the run's source is noted
    statements = []
    pipe.db.conn.set_trace_callback(statements.append)
    unknown = _item(97)
    unknown.region = 1023                                      # no such region
    pipe.process_item(IndexAnswerItem(series=[_item(94), unknown, _item(95)]))
    pipe.db.conn.set_trace_callback(None)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == \
        ["BEGIN IMMEDIATE", "COMMIT"]
    assert _covered(db_path) == {97, 94, 95}
    assert crawler.stats.get_value("aicity/series_refused") == 1
    assert crawler.stats.get_value("aicity/series_stored") == 3
    assert crawler.stats.get_value("aicity/rows_written") == 9
    pipe.close_spider()


def test_an_answer_that_fails_to_store_leaves_none_of_its_series(db_path, monkeypatch):
    pipe, crawler = _pipeline(db_path, batch=0)
    pipe.process_item(IndexAnswerItem(series=[_item(97)]))
    real, calls = store.save_series, []

    def full_at_the_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)
    monkeypatch.setattr(store, "save_series", full_at_the_second)
    with pytest.raises(DropItem):
        pipe.process_item(IndexAnswerItem(series=[_item(94), _item(95), _item(96)]))
    pipe.close_spider()
    assert _covered(db_path) == {97}                  # the answer's series: asked again
    assert crawler.stats.get_value("aicity/series_stored") == 1
    assert crawler.stats.get_value("aicity/stopped_cause") == "storage"


# --- PostgreSQL: batches sent without waiting, ranges nothing is stored in inserted plainly ---

def _pg_pipeline(pg_url, batch: int = 25):
    from aicity.keywords.taxonomy import default_taxonomy
    store.init_db(pg_url, taxonomy=default_taxonomy())
    return _pipeline(pg_url, batch)


def _stored(url, region: int) -> list:
    db = store.connect(url)
    try:
        kw = store.keyword_ids(db, ["人工智能"])["人工智能"]
        return list(store.series(db, kw, region)["value"])
    finally:
        db.close()


def test_on_postgresql_rows_are_counted_once_a_batch_and_a_new_range_is_inserted(pg_url):
    pipe, crawler = _pg_pipeline(pg_url)
    assert pipe.db.fresh_inserts and pipe.db.flat_nesting
    pipe.process_item(_item(97))
    pipe.process_item(_item(94))
    assert crawler.stats.get_value("aicity/rows_written") is None   # counted as it commits
    pipe.close_spider()
    assert crawler.stats.get_value("aicity/rows_written") == 6
    assert crawler.stats.get_value("aicity/series_stored") == 2
    assert _stored(pg_url, 97) == [100, 110, 120]
    # stored again with one day changed: an upsert, one row written
    pipe, crawler = _pg_pipeline(pg_url)
    changed = _item(97)
    changed.values = {"all": [100, 111, 120]}
    pipe.process_item(changed)
    pipe.close_spider()
    assert crawler.stats.get_value("aicity/rows_written") == 1
    assert _stored(pg_url, 97) == [100, 111, 120]


def _waiting_for_a_lock(url) -> bool:
    db = store.connect(url)
    try:
        return db.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                          "'Lock' AND datname = current_database()").fetchone()[0] > 0
    finally:
        db.close()


def test_on_postgresql_a_batch_meeting_another_writers_days_is_stored_again(pg_url):
    import threading
    import time
    first, _ = _pg_pipeline(pg_url)
    second, second_crawler = _pipeline(pg_url, 25)
    first.process_item(_item(97))
    first.db.conn.count_sent()        # its rows are in, not committed
    late = _item(97)
    late.values = {"all": [100, 110, 130]}
    second.process_item(_item(94))
    second.process_item(late)         # nothing committed in its range: a plain insert ...
    closing = threading.Thread(target=second.close_spider)
    closing.start()                   # ... which waits for the first batch's rows
    deadline = time.monotonic() + 30
    while not _waiting_for_a_lock(pg_url):
        assert time.monotonic() < deadline, "the second batch never waited for the first"
    first.close_spider()              # committed: the second's plain insert fails ...
    closing.join(30)
    assert not closing.is_alive()
    # ... and its batch is stored again, with upserts
    assert second_crawler.stats.get_value("aicity/batches_stored_again") == 1
    assert second_crawler.stats.get_value("aicity/stopped_cause") is None
    assert second_crawler.stats.get_value("aicity/series_stored") == 2     # counted once
    assert second_crawler.stats.get_value("aicity/rows_written") == 3 + 1
    assert _stored(pg_url, 97) == [100, 110, 130]
    assert _covered(pg_url) == {97, 94}
