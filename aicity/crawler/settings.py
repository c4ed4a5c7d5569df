"""Scrapy settings for the aicity crawler: the one settings module (scrapy.cfg points here).

Defaults only: `aicity collect` fills in the run's own values (database, accounts, pacing,
Cipher-Text, tuning) from its options, each of which has an environment variable of the
setting's name. The defaults of the site's and the tuning's settings are SiteAccess's and
Tuning's (crawler/config.py), written once there. Nothing here reads the environment.
"""
from aicity.crawler.config import SiteAccess, Tuning
from aicity.vocabulary import DEVICES

BOT_NAME = "aicity"
SPIDER_MODULES = ["aicity.crawler.spiders"]
NEWSPIDER_MODULE = "aicity.crawler.spiders"

# Baidu Index is an API behind a login, not pages for robots.txt; we pace per account instead.
ROBOTSTXT_OBEY = False
# Cookies are set per request by AccountsMiddleware (one account per request); Scrapy's cookie
# jar would mix accounts and store Baidu's Set-Cookie values.
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy's remote control (2.19) serves an HTTP endpoint that runs Python code sent to it and
# writes its token to a job file in the user's home: nothing an unattended crawler should open
REMOTE_CONTROL_ENABLED = False
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
LOG_FORMATTER = "aicity.crawler.logformatter.QuietLogFormatter"

AICITY_DB = "aicity.db"
AICITY_BAIDU_COOKIES: list[str] = []      # one cookie string per account
AICITY_BAIDU_DAILY_BUDGET = SiteAccess.daily_budget
# How refusals and gaps are met: the cooldowns after 10001 and 403/429 (doubling), the
# back-off after 10018, the waits and streaks that stop a run, when an empty day is accepted
# (crawler/confirm.py), how long a blank series rests; and Scrapy's DOWNLOAD_TIMEOUT, LOG_LEVEL.
globals().update(Tuning().settings())
AICITY_RUN_ID = None
AICITY_DEVICES = list(DEVICES)            # which of Baidu's three series to store
AICITY_PROGRESS = False                   # a progress bar on stderr (aicity demo)
AICITY_PROGRESS_TOTAL = 0

# Cipher-Text constants rotate with Baidu's acs JavaScript: they live in crawler/cipher.toml
# (or a file or values given to `aicity collect`), which passes them in.
AICITY_CIPHER_KEY = ""
AICITY_CIPHER_T0 = 0
AICITY_CIPHER_VERSION = ""
# HTTP 403/429: the request waits for its rested account this many times, then is left for
# the next run.
AICITY_THROTTLE_RETRIES = 20

USER_AGENT = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
DEFAULT_REQUEST_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Referer": "https://index.baidu.com/v2/main/index.html",
    "X-Requested-With": "XMLHttpRequest",
}

CONCURRENT_REQUESTS = 1
# Items a response yields that are processed at once. The pipeline writes to SQLite one item
# at a time anyway, and Scrapy starts this many asyncio tasks for every response: at the
# default 100 that was 105 tasks an answer and most of the crawler's time.
CONCURRENT_ITEMS = 1
# First in, first out within a priority: requests are scheduled in the plan's order (newest
# days first), in bands of one priority (crawler.plan.plan_priority).
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
# The pace (`--delay`, AICITY_BAIDU_DELAY): seconds between two requests of one account. Each
# account is its own download slot (AccountsMiddleware sets `download_slot`), which takes this
# delay; collect gives each account's slot one request in flight (DOWNLOAD_SLOTS) and sets the
# per-domain limit, which is also the size of Scrapy's keep-alive pool for the site's one host,
# to the number of accounts, so each account's next request reuses a connection.
DOWNLOAD_DELAY = SiteAccess.delay
CONCURRENT_REQUESTS_PER_DOMAIN = 1
RETRY_ENABLED = True
RETRY_TIMES = 8
# 403 and 429 are a throttled account: AccountsMiddleware rests it and asks again
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]

DOWNLOADER_MIDDLEWARES = {
    "aicity.crawler.middlewares.AccountsMiddleware": 580,
    # Sees connection failures before RetryMiddleware (550) retries them.
    "aicity.crawler.middlewares.ReachabilityMiddleware": 560,
    "aicity.crawler.middlewares.EnvelopeMiddleware": 590,
    # Baidu's API does not redirect; a redirect means a login page, which AccountsMiddleware
    # should see as such rather than follow.
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,   # cookies, not HTTP auth
}
# Spider middlewares that do nothing for an API crawl yet cost a step per item on every
# response (five items an answer): no depth limit, no long URLs; and the Referer stays the
# index page, as a browser's XHR sends it, instead of becoming the previous API URL.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# A development check that re-reads and parses a callback's source on every response (its
# cache is keyed by bound methods, which are new each time): 6% of the crawl.
WARN_ON_GENERATOR_RETURN_VALUE = False
EXTENSIONS = {"aicity.crawler.extensions.ProgressBar": 500}
STATS_CLASS = "aicity.crawler.stats.CrawlStats"

ITEM_PIPELINES = {
    "aicity.crawler.pipelines.StorePipeline": 300,
}
