"""Requests leave Scrapy's scheduler in the plan's order, cheaply (crawler.plan.plan_priority)."""
from __future__ import annotations

from scrapy import Request
from scrapy.pqueues import ScrapyPriorityQueue
from scrapy.settings import Settings
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from aicity.crawler.plan import PRIORITY_BAND, plan_priority


def _queue():
    settings = Settings()
    settings.setmodule("aicity.crawler.settings", priority="project")
    name = settings["SCHEDULER_MEMORY_QUEUE"]     # the crawler's own choice of queue
    crawler = get_crawler(settings_dict={"SCHEDULER_MEMORY_QUEUE": name})
    memory = load_object(name)
    return ScrapyPriorityQueue.from_crawler(crawler, downstream_queue_cls=memory, key="")


def test_planned_requests_pop_in_plan_order_with_follow_ups_next_to_their_band():
    queue = _queue()
    n = 3 * PRIORITY_BAND + 17
    for i in range(n):
        queue.push(Request(f"http://127.0.0.1/{i}", priority=plan_priority(i)))
    # the first planned index request is answered: its ptbk follow-up goes first
    first = queue.pop()
    queue.push(Request("http://127.0.0.1/ptbk-0", priority=plan_priority(0) + 1))
    # a blank answer of the first band is asked again after its band, before the next one
    queue.push(Request("http://127.0.0.1/again-0", priority=plan_priority(0) - 1))
    # a handful of queues, not one per request (Scrapy scans them all when one runs dry)
    assert len(queue.queues) <= 8
    order = [first.url] + [queue.pop().url for _ in range(n + 1)]
    assert order[:2] == ["http://127.0.0.1/0", "http://127.0.0.1/ptbk-0"]
    planned = [u for u in order if u.rsplit("/", 1)[1].isdigit()]
    assert planned == [f"http://127.0.0.1/{i}" for i in range(n)]
    assert order.index("http://127.0.0.1/again-0") == PRIORITY_BAND + 1
    assert queue.pop() is None
