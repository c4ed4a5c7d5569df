"""SearchApi/index for a worker of a shared queue: pieces come from Redis, not from a plan.

scrapy-redis' RedisMixin asks the queue for more whenever the spider goes idle; the pieces are
leased (crawler.queue), and each request carries its piece's lease so that, when the last
request of a piece has ended, a PieceDone item follows the piece's rows to the pipeline, which
acknowledges it. The spider closes when nothing is pending and no living worker holds a piece
(a dead worker's pieces come back to the queue and are taken here).

It lives beside spiders/, not in it: Scrapy's spider loader imports every module there, and
this one needs scrapy-redis, which only `aicity[scale]` installs.
"""
from __future__ import annotations

import logging
from collections import Counter

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.spiders import RedisMixin

from aicity.crawler.items import PieceDone
from aicity.crawler.queue import PieceQueue
from aicity.crawler.spiders.search_index import SearchIndexSpider

logger = logging.getLogger(__name__)


class QueuedSearchIndexSpider(RedisMixin, SearchIndexSpider):
    name = "search_index_queued"
    pack_blanks = False      # each request stays within its leased piece

    def __init__(self, base_url: str, piece_queue: PieceQueue, known_blank=frozenset(),
                 **kwargs):
        # no keyword pre-check: a worker does not know the plan's keywords before it takes
        # pieces; an unindexed keyword still shows (the batch is asked keyword by keyword)
        super().__init__(pieces=[], base_url=base_url, check=False, known_blank=known_blank,
                         **kwargs)
        self.piece_queue = piece_queue
        self.open_requests: Counter = Counter()
        self._beat = None
        # what RedisMixin reads (its setup_redis, which would build a client from settings,
        # is not used: the queue brings its own)
        self.server = piece_queue.r
        self.redis_key = piece_queue.key("pending")
        self.redis_encoding = "utf-8"
        self.max_idle_time = 0

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        # pieces in flight: enough to keep every account busy between two takes
        spider.redis_batch_size = max(2, 4 * crawler.settings.getint("CONCURRENT_REQUESTS", 1))
        spider.fetch_data = lambda _key, n: spider.piece_queue.take(n)
        spider.count_size = lambda _key: spider.piece_queue.pending()
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    # --- the queue's side ----------------------------------------------------------------
    def queue_failed(self, err: BaseException) -> None:
        """Redis did not come back within the retries: stop, in one line naming it; what this
        worker holds goes back to the queue when another worker finds it dead."""
        from aicity.crawler.middlewares import stop_run
        from aicity.crawler.queue import WAIT_SECONDS
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        stop_run(self.crawler, "queue",
                 f"queue {self.piece_queue.where}: no answer for {WAIT_SECONDS:.0f} s "
                 f"({first}); what is stored is kept")

    def _opened(self, spider=None):
        from twisted.internet import task
        self._beat = task.LoopingCall(self.piece_queue.heartbeat)
        beating = self._beat.start(self.piece_queue.lease_ms / 3000, now=True)
        beating.addErrback(lambda failure: self.queue_failed(failure.value))

    def _closed(self, spider=None, reason=None):
        from aicity.crawler.queue import queue_errors
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        try:
            handed_back = self.piece_queue.release()
        except queue_errors() as err:
            logger.warning("could not hand the pieces held back to the queue (%s); another "
                           "worker takes them when this one's lease expires",
                           (str(err).splitlines() or [""])[0])
            handed_back = 0
        self.crawler.stats.set_value("aicity/queue/taken", self.piece_queue.taken_count)
        self.crawler.stats.set_value("aicity/queue/already_stored",
                                     self.piece_queue.skipped_count)
        self.crawler.stats.set_value("aicity/queue/handed_back", handed_back)
        self.crawler.stats.set_value("aicity/queue/requeued_from_stopped",
                                     self.piece_queue.requeued_count)

    async def start(self):
        for request in self.next_requests():
            yield request

    def make_request_from_data(self, data):
        lease, piece = data
        self.open_requests[lease] += 1
        request = self.index_request(piece)
        request.meta["lease"] = lease
        return request.replace(errback=self.request_failed)

    def spider_idle(self):
        from aicity.crawler.queue import queue_errors
        if self.crawler.stats.get_value("aicity/stopped"):
            return                                   # stopping: let it close
        q = self.piece_queue
        try:
            q.requeue_dead()
            if not self.open_requests and q.drop_own():
                logger.warning("pieces left held with no request open were acknowledged")
            self.schedule_next_requests()            # RedisMixin: take a batch, crawl it
            more = self.open_requests or q.pending() or q.held_elsewhere()
        except queue_errors() as err:
            self.queue_failed(err)
            return
        if more:
            raise DontCloseSpider                    # more work, or others may hand some back

    def _top_up(self):
        from aicity.crawler.queue import queue_errors
        if len(self.open_requests) < self.redis_batch_size // 2 and \
                not self.crawler.stats.get_value("aicity/stopped"):
            try:
                self.schedule_next_requests()
            except queue_errors() as err:
                self.queue_failed(err)

    # --- requests of a piece -------------------------------------------------------------
    def _within(self, lease, outputs):
        """Pass a callback's outputs on, counting the requests of the piece still open; after
        the last, the piece is done."""
        for out in outputs:
            if isinstance(out, Request) and lease is not None:
                out.meta["lease"] = lease
                if out.errback is None:
                    out = out.replace(errback=self.request_failed)
                self.open_requests[lease] += 1
            yield out
        if lease is None:
            return
        self.open_requests[lease] -= 1
        if self.open_requests[lease] <= 0:
            del self.open_requests[lease]
            yield PieceDone(lease=lease)
            self._top_up()

    def parse_index(self, response, piece):
        yield from self._within(response.meta.get("lease"), super().parse_index(response, piece))

    def parse_ptbk(self, response, piece, index_payload):
        yield from self._within(response.meta.get("lease"),
                                super().parse_ptbk(response, piece, index_payload))

    def parse_refusal(self, response, piece):
        yield from self._within(response.meta.get("lease"),
                                super().parse_refusal(response, piece))

    def refusal_check_failed(self, failure):
        yield from self._within(failure.request.meta.get("lease"),
                                super().refusal_check_failed(failure))

    def ptbk_failed(self, failure):
        yield from self._within(failure.request.meta.get("lease"), super().ptbk_failed(failure))

    def request_failed(self, failure):
        self.crawler.stats.inc_value("aicity/failures/request")
        logger.warning("request failed (%s); its piece will be asked for by the next run",
                       failure.value)
        yield from self._within(failure.request.meta.get("lease"), ())
