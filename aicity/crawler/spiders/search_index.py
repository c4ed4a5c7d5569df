"""SearchApi/index: keyword × region × date-range series, with the ptbk step and a keyword
pre-check so an unindexed keyword is reported and skipped instead of sinking its batch."""
from __future__ import annotations

import functools
import logging
from urllib.parse import urlencode

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from aicity.crawler import protocol as proto
from aicity.crawler.items import IndexAnswerItem, UnindexedKeywordItem
from aicity.crawler.parsing import (DEVICES, checksum_problems, numberless_items,
                                   series_items, unindexed_items)
from aicity.crawler.plan import Piece, plan_priority

logger = logging.getLogger(__name__)
# checkWordsExists takes up to 15 keywords (5 groups of 3) per call
CHECK_BATCH = 15
# A whole-series blank is re-asked once, the first night it is seen: on the real site most
# city-level blanks are genuine (below the reporting floor), so asking more only spends the
# budget; the pipeline accepts a blank seen again on a later night.
BLANK_RETRIES = 1
# An answer its own generalRatio contradicts is asked again with a new uniqid and key.
CHECKSUM_RETRIES = 2
# What a follow-up request carries over from the one it answers.
_CARRIED = ("blank_tries", "checksum_tries")


def _tries(meta: dict) -> dict:
    return {k: meta.get(k, 0) for k in _CARRIED}
PTBK_PATHS = ("/Interface/ptbk", "/Interface/api/ptbk")


class SearchIndexSpider(scrapy.Spider):
    name = "search_index"
    # Blank series asked again are gathered five to a request across the pieces of a region
    # and range (most city-level blanks are genuine, and a piece seldom has five): a city's
    # night of rare terms took 1.6 blank series a re-ask. A queue worker's requests each belong
    # to one leased piece, so it asks a piece's blanks on their own.
    pack_blanks = True

    def __init__(self, pieces: list[Piece], base_url: str, check: bool = True,
                 known_blank=frozenset(), **kwargs):
        super().__init__(**kwargs)
        # (keyword, region) answered wholly blank on an earlier night: not re-asked at once
        self.known_blank = frozenset(known_blank)
        self.pieces = list(pieces)
        self.base_url = base_url.rstrip("/")
        self.check = check
        self.unindexed: set[str] = set()
        self._checks_pending = 0
        # (region, start, end, blank tries) -> [(keyword, priority)] of blank series waiting
        # to be packed
        self._blanks: dict[tuple, list[tuple[str, int]]] = {}

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.pack_blanks:
            crawler.signals.connect(spider._ask_blanks_left, signal=signals.spider_idle)
        return spider

    @functools.cached_property
    def devices(self) -> tuple[str, ...]:
        """The series the pipeline keeps (the rest of an answer is not decoded)."""
        return tuple(self.settings.getlist("AICITY_DEVICES") or DEVICES)

    # --- requests -------------------------------------------------------------------------
    def _api(self, path: str, params: dict, endpoint: str, callback, cipher_keyword=None,
             cb_kwargs=None, meta=None, errback=None) -> scrapy.Request:
        url = f"{self.base_url}{path}?{urlencode(params, doseq=True)}"
        return scrapy.Request(url, callback=callback, cb_kwargs=cb_kwargs or {}, dont_filter=True,
                              errback=errback,
                              meta={"baidu_endpoint": endpoint, "cipher_keyword": cipher_keyword,
                                    **(meta or {})})

    def index_request(self, piece: Piece, priority: int = 0, **tries) -> scrapy.Request:
        params = {"area": piece.region, "word": proto.word_param(list(piece.keywords)),
                  "startDate": piece.start.isoformat(), "endDate": piece.end.isoformat()}
        request = self._api("/api/SearchApi/index", params, "index", self.parse_index,
                            cipher_keyword=piece.keywords[0], cb_kwargs={"piece": piece},
                            meta=_tries(tries))
        # The plan's order (newest first) is kept by priority, so when the budget ends a night
        # early (retries also spend it) what is left out is the plan's tail, not a scatter.
        return request.replace(priority=priority)

    async def start(self):
        keywords = list(dict.fromkeys(k for p in self.pieces for k in p.keywords))
        if not self.check or not keywords:
            for i, piece in enumerate(self.pieces):
                yield self.index_request(piece, priority=plan_priority(i))
            return
        batches = [keywords[i:i + CHECK_BATCH] for i in range(0, len(keywords), CHECK_BATCH)]
        self._checks_pending = len(batches)
        for batch in batches:
            yield self._api("/api/AddWordApi/checkWordsExists", {"word": ",".join(batch)},
                            "check", self.parse_check, errback=self.check_failed)

    # --- parsing --------------------------------------------------------------------------
    def parse_check(self, response):
        payload = response.meta["baidu_payload"]
        if payload.get("status") == proto.OK:
            for item in unindexed_items(payload):
                self.unindexed.add(item.keyword)
                yield item
        else:
            logger.warning("keyword check answered status %s; crawling without it",
                           payload.get("status"))
        self._checks_pending -= 1
        if self._checks_pending == 0:
            yield from self._index_requests()

    def check_failed(self, failure):
        logger.warning("keyword check failed (%s); crawling those keywords unchecked",
                       failure.value)
        self._checks_pending -= 1
        if self._checks_pending == 0:
            yield from self._index_requests()

    def _index_requests(self):
        for i, piece in enumerate(self.pieces):
            keywords = tuple(k for k in piece.keywords if k not in self.unindexed)
            if keywords:
                yield self.index_request(Piece(piece.region, piece.start, piece.end, keywords),
                                         priority=plan_priority(i))

    def parse_index(self, response, piece: Piece):
        payload = response.meta["baidu_payload"]
        status = payload.get("status")
        if status == proto.BAD_REQUEST:
            if len(piece.keywords) > 1:
                # One bad keyword sinks the batch: ask for each keyword on its own.
                for kw in piece.keywords:
                    yield self.index_request(Piece(piece.region, piece.start, piece.end, (kw,)),
                                             priority=response.request.priority)
            else:
                # 10002 also answers a refused area or date: only checkWordsExists may say
                # that the keyword itself is not indexed.
                yield self._api("/api/AddWordApi/checkWordsExists",
                                {"word": piece.keywords[0]}, "check", self.parse_refusal,
                                cb_kwargs={"piece": piece}, errback=self.refusal_check_failed)
            return
        if status != proto.OK:
            self.crawler.stats.inc_value(f"aicity/failures/status_{status}")
            logger.warning("region %s %s..%s: status %s (%s); will be retried next run",
                           piece.region, piece.start, piece.end, status, payload.get("message"))
            return
        uniqid = (payload.get("data") or {}).get("uniqid")
        if not uniqid:
            self.crawler.stats.inc_value("aicity/failures/no_uniqid")
            return
        # An answer with no number in it (every series empty every day: a city below the
        # reporting floor, or blanks asked again) needs no key. Keys for such answers were one
        # request in six of the demo's year, and nearly one in three on small cities' rare
        # terms, each spending an account's daily budget.
        items = numberless_items(payload, piece.region,
                                 (piece.start.isoformat(), piece.end.isoformat()),
                                 keywords=piece.keywords, devices=self.devices)
        if items is not None:
            self.crawler.stats.inc_value("aicity/answers_without_key")
            yield from self._answered(piece, payload, items, response.meta,
                                      response.request.priority + 1)
            return
        yield self.ptbk_request(PTBK_PATHS[0], uniqid, piece, payload,
                                response.meta.get("account_index"),
                                _tries(response.meta)
                                ).replace(priority=response.request.priority + 1)

    def parse_refusal(self, response, piece: Piece):
        """A one-keyword 10002, checked: the keyword is marked only when the site says it is
        not indexed; otherwise the area or the dates were refused and the keyword stays."""
        payload = response.meta["baidu_payload"]
        keyword = piece.keywords[0]
        if payload.get("status") == proto.OK and any(
                i.keyword == keyword for i in unindexed_items(payload)):
            yield UnindexedKeywordItem(keyword=keyword)
            return
        self._area_or_dates_refused(piece)

    def refusal_check_failed(self, failure):
        self._area_or_dates_refused(failure.request.cb_kwargs["piece"])
        return []

    def _area_or_dates_refused(self, piece: Piece) -> None:
        self.crawler.stats.inc_value("aicity/failures/refused_area_or_dates")
        logger.warning("region %s %s..%s: the site refused the request (10002) and did not "
                       "say %s is unindexed; the area or the dates were refused, and the "
                       "keyword is kept",
                       piece.region, piece.start, piece.end, piece.keywords[0])

    def ptbk_request(self, path, uniqid, piece, payload, account, tries: dict):
        return self._api(path, {"uniqid": uniqid}, "ptbk", self.parse_ptbk,
                         cb_kwargs={"piece": piece, "index_payload": payload},
                         # the key belongs to this uniqid: ask with the same account
                         meta={"sticky_account": account, "uniqid": uniqid, **tries},
                         errback=self.ptbk_failed)

    def ptbk_failed(self, failure):
        """Both ptbk paths are in use (2025-2026 tools disagree): on a 404, try the other."""
        response = getattr(failure.value, "response", None)
        request = failure.request
        path = request.url.split("?", 1)[0].split(self.base_url, 1)[-1]
        if response is not None and response.status == 404 and path == PTBK_PATHS[0]:
            yield self.ptbk_request(PTBK_PATHS[1], request.meta["uniqid"],
                                    request.cb_kwargs["piece"], request.cb_kwargs["index_payload"],
                                    request.meta.get("sticky_account"),
                                    _tries(request.meta)
                                    ).replace(priority=request.priority)
            return
        self.crawler.stats.inc_value("aicity/failures/ptbk")
        logger.warning("ptbk request failed (%s); will be retried next run", failure.value)

    def parse_ptbk(self, response, piece: Piece, index_payload: dict):
        key = response.meta["baidu_payload"].get("data") or ""
        try:
            items = series_items(index_payload, key, piece.region,
                                 (piece.start.isoformat(), piece.end.isoformat()),
                                 keywords=piece.keywords, devices=self.devices)
        except proto.ProtocolError as err:
            self.crawler.stats.inc_value("aicity/failures/undecodable")
            logger.warning("region %s %s..%s: %s; will be retried next run", piece.region,
                           piece.start, piece.end, err)
            return
        yield from self._answered(piece, index_payload, items, response.meta,
                                  response.request.priority)

    def _answered(self, piece: Piece, index_payload: dict, items: list, meta: dict,
                  priority: int):
        """The decoded series of one answer: checked against its own averages, blanks asked
        again, the rest handed to the pipeline. `meta` and `priority` are those of the request
        that completed the answer (its ptbk, or the index request when no key was needed)."""
        problems = checksum_problems(index_payload, items)
        if problems:
            # Never stored: numbers the answer itself contradicts were decoded with a key
            # that is not theirs. The key is the answer's, not a series', so the series that
            # pass are in doubt too (a wrong key's numbers match their average now and then:
            # a demo stored nine such series): the whole piece is asked again, a new uniqid
            # and key, a couple of times. On the last try a series whose own average the site
            # keeps contradicting no longer holds back the others, and is left for the next
            # run.
            tries = meta.get("checksum_tries", 0)
            wrong = tuple(k for k in piece.keywords if k in problems)
            self.crawler.stats.inc_value("aicity/checksum/mismatched_series", len(wrong))
            # handled when asked again (counted in the run record); a warning only when given up
            logger.log(logging.INFO if tries < CHECKSUM_RETRIES else logging.WARNING,
                       "region %s %s..%s: %s; %s", piece.region, piece.start, piece.end,
                       "; ".join(f"{k}: {problems[k]}" for k in wrong),
                       "asking for the whole answer again" if tries < CHECKSUM_RETRIES else
                       "not stored, left for the next run")
            if tries < CHECKSUM_RETRIES:
                yield self.index_request(piece, priority=priority - 1,
                                         checksum_tries=tries + 1,
                                         blank_tries=meta.get("blank_tries", 0))
                return
            self.crawler.stats.inc_value("aicity/failures/checksum", len(wrong))
            items = [i for i in items if i.keyword not in problems]
        # The real site sometimes answers a series blank and a re-request fixes it: ask again
        # once, the first night a series is blank, before the pipeline keeps it as
        # unconfirmed for a later night.
        tries = meta.get("blank_tries", 0)
        blank = tuple(i.keyword for i in items if all(v is None for v in i.values["all"])
                      and (i.keyword, piece.region) not in self.known_blank)
        if blank and tries < BLANK_RETRIES:
            self.crawler.stats.inc_value("aicity/blank_answers_asked_again", len(blank))
            yield from self._ask_blank_again(piece, blank, priority - 1, tries + 1)
            items = [i for i in items if i.keyword not in blank]
        for item in items:
            if tries and all(v is None for v in item.values["all"]):
                item.blank_before = tries      # the same blank, asked again at once
        if items:
            yield IndexAnswerItem(series=items)

    # --- blank series, asked again ----------------------------------------------------------
    def _ask_blank_again(self, piece: Piece, keywords: tuple[str, ...], priority: int,
                         tries: int):
        where = (piece.region, piece.start, piece.end, tries)
        if not self.pack_blanks:
            yield self._blank_request(where, keywords, priority)
            return
        waiting = self._blanks.setdefault(where, [])
        waiting.extend((k, priority) for k in keywords)
        while len(waiting) >= proto.MAX_SERIES_PER_REQUEST:
            pack = waiting[:proto.MAX_SERIES_PER_REQUEST]
            del waiting[:proto.MAX_SERIES_PER_REQUEST]
            yield self._blank_request(where, tuple(k for k, _ in pack), max(p for _, p in pack))

    def _blank_request(self, where: tuple, keywords: tuple[str, ...], priority: int):
        region, start, end, tries = where
        self.crawler.stats.inc_value("aicity/blank_reask_requests")
        return self.index_request(Piece(region, start, end, keywords), priority=priority,
                                  blank_tries=tries)

    def _ask_blanks_left(self):
        """When nothing else is left: the blank series that never made a pack of five."""
        if not self._blanks or self.crawler.stats.get_value("aicity/stopped"):
            return
        left, self._blanks = self._blanks, {}
        for where, waiting in left.items():
            if waiting:
                self.crawler.engine.crawl(self._blank_request(
                    where, tuple(k for k, _ in waiting), max(p for _, p in waiting)))
        raise DontCloseSpider
