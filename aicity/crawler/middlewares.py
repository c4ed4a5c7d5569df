"""Downloader middlewares: the JSON envelope, and accounts (cookies, Cipher-Text, pacing,
Baidu's status codes). Spiders never see a cookie and never retry.

Order on the way back (higher number first): EnvelopeMiddleware (590) parses the body once and
retries malformed JSON and empty ptbk keys; AccountsMiddleware (580) acts on 10000/10001/10018;
ReachabilityMiddleware (560) counts connection failures in a row and stops a run whose server is
gone; Scrapy's RetryMiddleware (550) retries HTTP 5xx and timeouts.

A run stops early for one of three causes, kept in the stats as `aicity/stopped_cause`:
`accounts` (none left), `token` (the site refuses our Cipher-Text), `network` (server gone).
"""
from __future__ import annotations

import asyncio
import json
import logging

from scrapy import Request
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest

from scrapy.utils.misc import load_object

from aicity.crawler import protocol as proto
from aicity.crawler.accounts import AccountPool, NoAccountsLeft, account_slot
from aicity.db import store

logger = logging.getLogger(__name__)

# The emulator marks every answer; data from it is stored with source 'emulator'.
SIMULATED_HEADER = "X-Aicity-World"

# HTTP statuses that mean "this account is going too fast" (403 as reported in 2026, 429).
THROTTLED = (403, 429)
# Keys a re-issued request must not inherit from the attempt that failed.
_PER_ATTEMPT = ("account_index", "download_slot", "baidu_payload", "download_latency")


def _out_of_descriptors(exception) -> bool:
    """A connection Twisted could not even open because the process has no descriptor left
    (ConnectBindError "Couldn't bind: 24: Too many open files")."""
    text = str(exception)
    return getattr(exception, "errno", None) == 24 or "Too many open files" in text \
        or ": 24:" in text


def stop_run(crawler, cause: str, why: str) -> bool:
    """Close the spider once, keeping what was collected; False if it was already stopping."""
    if crawler.stats.get_value("aicity/stopped"):
        return False
    crawler.stats.set_value("aicity/stopped", why)
    crawler.stats.set_value("aicity/stopped_cause", cause)
    logger.error("%s; stopping and keeping what was collected", why)

    async def close():
        try:
            await crawler.engine.close_spider_async(reason=f"stopped_{cause}")
        except RuntimeError:     # already closed (a stop found while closing)
            pass

    asyncio.ensure_future(close())
    return True


def _fresh(request: Request, **meta) -> Request:
    kept = {k: v for k, v in request.meta.items() if k not in _PER_ATTEMPT}
    kept.update(meta)
    return request.replace(dont_filter=True, meta=kept)


class EnvelopeMiddleware:
    """Parse Baidu's JSON envelope once (spiders read request.meta['baidu_payload'])."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.max_retry = crawler.settings.getint("RETRY_TIMES")

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _retry(self, request: Request, reason: str):
        new = get_retry_request(request, spider=self.crawler.spider, reason=reason,
                                max_retry_times=self.max_retry)
        if new is None:
            self.crawler.stats.inc_value("aicity/failures/" + reason.replace(" ", "_"))
            raise IgnoreRequest(f"gave up after {self.max_retry} retries: {reason} "
                                f"({request.meta.get('baidu_endpoint')})")
        return _fresh(new)

    def process_response(self, request, response):
        if response.status != 200 or not request.meta.get("baidu_endpoint"):
            return response
        if response.headers.get(SIMULATED_HEADER, b"").startswith(b"simulated"):
            self.crawler.stats.set_value("aicity/source", "emulator")
        try:
            payload = json.loads(response.text)
        except ValueError:
            return self._retry(request, "malformed JSON")
        if not isinstance(payload, dict) or "status" not in payload:
            return self._retry(request, "malformed JSON")
        status = payload["status"]
        self.crawler.stats.inc_value(f"aicity/status/{status}")
        if request.meta["baidu_endpoint"] == "ptbk" and status == proto.OK \
                and not payload.get("data"):
            return self._retry(request, "empty ptbk")
        request.meta["baidu_payload"] = payload
        return response


class AccountsMiddleware:
    """Give each request an account; act on Baidu's account status codes.

    Each account is its own download slot with concurrency 1 and the configured delay, so one
    account never has two requests in flight and never goes faster than the pacing allows.
    """

    def __init__(self, crawler):
        s = crawler.settings
        self.crawler = crawler
        cookies = list(s.getlist("AICITY_BAIDU_COOKIES"))
        # The daily budget is kept in the database by account key, so a second run on the same
        # day (or one after a crash) does not spend it again. A connection of its own, not the
        # store pipeline's: a request sent is spent even when the batch of series its answer
        # joined is rolled back, so the two must never share a transaction.
        self.db = store.connect(s.get("AICITY_DB"))
        salt = store.crawl_salt(self.db)
        from aicity.crawler.accounts import account_key, today_shanghai
        used = store.budget_used(self.db, [account_key(salt, c) for c in cookies],
                                 today_shanghai())
        self.pool = AccountPool(cookies, daily_budget=s.getint("AICITY_BAIDU_DAILY_BUDGET"),
                                cooldown=s.getfloat("AICITY_BAIDU_COOLDOWN"),
                                abnormal_backoff=s.getfloat("AICITY_BAIDU_BACKOFF"),
                                throttle_cooldown=s.getfloat("AICITY_BAIDU_THROTTLE_COOLDOWN"),
                                salt=salt, used=used)
        # A block rests escalate across runs: an account still resting from last night's
        # 10001 is not probed again before its time.
        kept = store.account_states(self.db, [a.key for a in self.pool.accounts])
        for acct in self.pool.accounts:
            if acct.key in kept:
                self.pool.restore(acct, kept[acct.key])
        self.throttle_retries = s.getint("AICITY_THROTTLE_RETRIES")
        self.max_wait = s.getfloat("AICITY_BAIDU_MAX_WAIT")
        self.abnormal_retries = s.getint("AICITY_BAIDU_ABNORMAL_RETRIES")
        self.token_streak_limit = s.getint("AICITY_BAIDU_TOKEN_STREAK")
        self.token_streak = 0
        # The constants in use, then earlier sets tried in turn when the site refuses a fresh
        # token (Baidu rotates them; old ones have kept working for months).
        self.cipher_sets = [(s.get("AICITY_CIPHER_KEY"), s.getint("AICITY_CIPHER_T0"),
                             s.get("AICITY_CIPHER_VERSION")),
                            *(tuple(p) for p in s.getlist("AICITY_CIPHER_PREVIOUS"))]
        self.cipher_set = 0
        self.cipher_confirmed = False
        self.user_agent = s.get("USER_AGENT")
        self.unflushed = 0
        crawler.aicity_accounts = self.pool  # read by collect() for the run summary
        from scrapy import signals
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @property
    def stopped(self) -> str:
        return self.crawler.stats.get_value("aicity/stopped") or ""

    def _write(self, what: str, write) -> bool:
        """Run `write` (a bookkeeping write); once more on a new connection when the server
        had restarted. A failure stops the run, saying why in one line."""
        try:
            write()
            return True
        except store.storage_errors() as err:
            problem: BaseException = err
        try:
            if store.reconnect_if_lost(self.db):
                write()
                return True
        except store.DatabaseProblem as gone:
            problem = gone
        except store.storage_errors() as again:
            problem = again
        where = self.crawler.settings.get("AICITY_DB")
        stop_run(self.crawler, "storage", f"storing failed: {store.storage_problem(problem, where)}"
                 f" (recording {what})")
        return False

    def flush_budget(self) -> None:
        spent = self.pool.take_spent()
        if not self._write("the request budget", lambda: store.add_budget_used(self.db, spent)):
            # Keep the count for the next flush; a storage failure stops the run.
            for key, n in spent.items():
                self.pool.spent[key] = self.pool.spent.get(key, 0) + n
            return
        self.unflushed = 0

    def spider_closed(self, spider=None, reason=None):
        self.flush_budget()
        self.db.close()

    def save_state(self, acct) -> None:
        self._write("an account's rest", lambda: store.save_account_states(
            self.db, {acct.key: self.pool.state(acct)}))

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _stop(self, why: str) -> None:
        stop_run(self.crawler, "accounts", f"no Baidu account left: {why}")

    async def process_request(self, request):
        if not request.meta.get("baidu_endpoint"):
            return None
        if self.stopped:
            raise IgnoreRequest("no accounts left")
        prefer = request.meta.get("sticky_account")
        while True:
            try:
                got = self.pool.acquire(prefer)
            except NoAccountsLeft as err:
                self._stop(str(err))
                raise IgnoreRequest("no accounts left") from None
            if not isinstance(got, float):
                break
            if got > self.max_wait:
                self._stop(f"{self.pool.summary()}; the next is free in {got:.0f} s, more than "
                           f"AICITY_BAIDU_MAX_WAIT={self.max_wait:.0f} s")
                raise IgnoreRequest("no accounts left")
            # Wait in short steps: a back-off may last minutes, and SIGTERM (or a stop) must
            # not wait for it to end before the run closes.
            deadline = asyncio.get_running_loop().time() + got
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                await asyncio.sleep(min(1.0, left))
                if self.stopped or not self.crawler.crawling:
                    raise IgnoreRequest("the run is stopping")
            if self.stopped:
                raise IgnoreRequest("no accounts left")
        request.meta["account_index"] = got.index
        request.meta["download_slot"] = account_slot(got.index)
        request.headers["Cookie"] = got.cookie()
        keyword = request.meta.get("cipher_keyword")
        if keyword is not None:
            key, t0, version = self.cipher_sets[self.cipher_set]
            request.headers["Cipher-Text"] = proto.cipher_text(
                keyword=keyword, user_agent=self.user_agent, aes_key=key, t0=t0, version=version)
        elif request.meta["baidu_endpoint"] == "word_graph":
            request.headers["Cipher-Text"] = ""
        self.crawler.stats.inc_value(f"aicity/requests/account_{got.index}")
        self.unflushed += 1
        if self.unflushed >= 20:   # a killed run loses at most this many counted requests
            self.flush_budget()
        return None

    def process_response(self, request, response):
        index = request.meta.get("account_index")
        if response.status in THROTTLED and index is not None:
            return self._throttled(request, response, self.pool.accounts[index - 1])
        payload = request.meta.get("baidu_payload")
        if payload is None or index is None:
            return response
        acct = self.pool.accounts[index - 1]
        status = payload.get("status")
        if status != proto.ABNORMAL and request.meta.get("cipher_keyword") is not None:
            self.token_streak = 0
        if status == proto.OK:
            # rests start again from the first (a rare 10018 hours later, a block next week)
            if self.pool.answered(acct):
                self.save_state(acct)
            if request.meta.get("cipher_keyword") is not None and not self.cipher_confirmed:
                self._cipher_works()
        if status == proto.NOT_LOGGED_IN:
            self.pool.retire(acct, "not logged in, 10000")
            logger.warning("%s retired: Baidu says it is not logged in (10000); "
                           "replace its cookie", acct.label)
            self.crawler.stats.inc_value("aicity/accounts/retired")
            return _fresh(request)
        if status == proto.BLOCKED:
            seconds = self.pool.block(acct)
            logger.warning("%s blocked by Baidu (10001, %d in a row); parked for %.0f s",
                           acct.label, acct.blocks, seconds)
            self.crawler.stats.inc_value("aicity/accounts/parked")
            self.save_state(acct)
            return _fresh(request)
        if status == proto.ABNORMAL:
            self.token_streak += 1
            if self.token_streak >= self.token_streak_limit:
                stop_run(self.crawler, "token",
                         f"Baidu refused our Cipher-Text on {self.token_streak} requests in a "
                         f"row (10018): its key, T0 or version has probably changed; put the "
                         f"new values in AICITY_CIPHER_FILE or AICITY_CIPHER_KEY/_T0/_VERSION "
                         f"and check with `aicity doctor`")
                raise IgnoreRequest("Cipher-Text refused")
            if not request.meta.get("token_renewed"):
                # A token can expire: the first answer to 10018 is the same request with a
                # new token (process_request builds one), not a back-off.
                self.crawler.stats.inc_value("aicity/tokens_renewed")
                logger.info("%s: Cipher-Text refused (10018); asking again with a new token",
                            acct.label)
                return _fresh(request, token_renewed=True)
            if not self.cipher_confirmed and len(self.cipher_sets) > 1:
                # a fresh token refused too: the constants may have rotated; the other sets
                # are tried in turn (round again: the first refusal may have been a passing
                # one) until one is answered, or the token streak stops the run
                self.cipher_set = (self.cipher_set + 1) % len(self.cipher_sets)
                logger.warning("Cipher-Text refused with a fresh token (10018); trying the "
                               "constants of T0 %s", self.cipher_sets[self.cipher_set][1])
                return _fresh(request, token_renewed=False)
            tries = request.meta.get("abnormal_tries", 0) + 1
            seconds = self.pool.back_off(acct)
            logger.warning("%s: Baidu reports abnormal access (10018) again with a new token; "
                           "backing off %.0f s. If this persists, run `aicity doctor`",
                           acct.label, seconds)
            if tries > self.abnormal_retries:
                self.crawler.stats.inc_value("aicity/failures/abnormal_access")
                raise IgnoreRequest("gave up after repeated 10018")
            return _fresh(request, abnormal_tries=tries, token_renewed=False)
        return response

    def _cipher_works(self) -> None:
        self.cipher_confirmed = True
        t0 = self.cipher_sets[self.cipher_set][1]
        self.crawler.stats.set_value("aicity/cipher_t0", t0)
        if self.cipher_set:
            logger.warning("Cipher-Text: the site accepts the earlier constants of T0 %s, not "
                           "the newest; refresh them with `aicity doctor --acs FILE`", t0)

    def _throttled(self, request, response, acct):
        """HTTP 403 or 429 (reported when the site throttles, 2026): the account rests and the
        request is asked again, never lost for the night."""
        tries = request.meta.get("throttle_tries", 0) + 1
        seconds = self.pool.throttled(acct)
        self.crawler.stats.inc_value("aicity/accounts/throttled")
        logger.warning("%s throttled (HTTP %s); resting %.0f s and asking again", acct.label,
                       response.status, seconds)
        if tries > self.throttle_retries:
            self.crawler.stats.inc_value("aicity/failures/throttled")
            raise IgnoreRequest(f"HTTP {response.status} {tries} times")
        return _fresh(request, throttle_tries=tries)


class ReachabilityMiddleware:
    """Stop the run when the server stops answering: after a streak of connection failures
    with no response between, the rest of the plan would only be retried into the void (one
    run once sent 3,000 requests to a refused port)."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.limit = crawler.settings.getint("AICITY_BAIDU_UNREACHABLE_STREAK")
        # No answer at all: the exceptions Scrapy itself retries as network failures.
        self.network_errors = tuple(load_object(e) if isinstance(e, str) else e
                                    for e in crawler.settings.getlist("RETRY_EXCEPTIONS"))
        self.streak = 0
        self.last_error = ""

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request):
        if self.crawler.stats.get_value("aicity/stopped"):
            raise IgnoreRequest("run stopped")
        return None

    def process_response(self, request, response):
        self.streak = 0
        return response

    def process_exception(self, request, exception):
        if not isinstance(exception, self.network_errors):
            return None
        if _out_of_descriptors(exception):
            # not the server's fault and no retry will mend it: one line, not Scrapy's
            # traceback of every connection that could not be opened
            stop_run(self.crawler, "crawl", store.open_files_problem(OSError(24, "EMFILE")))
            raise IgnoreRequest("out of file descriptors")
        self.streak += 1
        self.last_error = type(exception).__name__
        if self.limit and self.streak >= self.limit:
            host = request.url.split("/")[2] if "//" in request.url else request.url
            stop_run(self.crawler, "network",
                     f"the server at {host.rsplit('@', 1)[-1]} did not answer {self.streak} "
                     f"requests in a row ({self.last_error}); check the network or the base "
                     f"URL, then run again (nothing is lost: collection resumes)")
            raise IgnoreRequest("server unreachable")
        return None
