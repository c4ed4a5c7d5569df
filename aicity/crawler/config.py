"""What a crawl is told: where the site is, with which accounts, how fast, and how it treats the
site's answers.

The command line builds these from its options, each with its environment variable (`aicity
collect --help`); the library reads no environment. Defaults are the real site's and the
pacing public crawlers report (research note §10).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from aicity.crawler import confirm
from aicity.crawler.cipher import CipherConfig, load_cipher

REAL_BASE_URL = "https://index.baidu.com"
PUBLISH_HOUR = 12   # Baidu Index publishes yesterday during the morning, Beijing time


class CollectError(RuntimeError):
    """A collect run that cannot start (no cookies, bad dates, unknown regions...)."""


def without_credentials(url: str) -> str:
    """The URL without a user name or password, for messages and the runs table."""
    parsed = urlparse(url)
    if parsed.username or parsed.password:
        return parsed._replace(netloc=parsed.hostname + (f":{parsed.port}" if parsed.port
                                                         else "")).geturl()
    return url


@dataclass(frozen=True)
class SiteAccess:
    """The site and the accounts: where to send requests, whose cookies, at what pace."""
    base_url: str = REAL_BASE_URL
    cookies: tuple[str, ...] = ()
    delay: float = 15.0             # seconds between two requests of one account
    daily_budget: int = 1500        # requests an account may send a Beijing day; 0 = no limit
    cipher: CipherConfig = field(default_factory=load_cipher)
    # The site adds yesterday during the morning: the latest day asked for is yesterday from
    # this hour (Beijing time) on, the day before yesterday before it; or a fixed lag in days.
    publish_hour: int = PUBLISH_HOUR
    lag_days: int | None = None

    def __post_init__(self):
        url = self.base_url.rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CollectError(f"base URL {without_credentials(url)!r} is not an http(s) URL")
        if parsed.username or parsed.password:
            raise CollectError(f"base URL {without_credentials(url)!r} carries a user name or "
                               f"password; Baidu Index takes none: give the URL without them")
        object.__setattr__(self, "base_url", url)
        if self.delay < 0:
            raise CollectError(f"delay {self.delay} must not be negative")
        if self.daily_budget < 0:
            raise CollectError(f"daily budget (0 = no limit) {self.daily_budget} must not be "
                               f"negative")
        if not 0 <= self.publish_hour <= 23:
            raise CollectError(f"publish hour {self.publish_hour} is not an hour of the day")
        if self.lag_days is not None and self.lag_days < 0:
            raise CollectError(f"lag of {self.lag_days} days must not be negative")

    def settings(self) -> dict:
        """The Scrapy settings the crawl takes from this, named as their environment
        variables (the cookies are not a Scrapy setting of Scrapy's own, so its log of
        overridden settings never shows them), except the pace: Scrapy's own DOWNLOAD_DELAY,
        which each account's download slot takes (crawler/settings.py)."""
        return {"AICITY_BAIDU_COOKIES": list(self.cookies), "DOWNLOAD_DELAY": self.delay,
                "AICITY_BAIDU_DAILY_BUDGET": self.daily_budget,
                **self.cipher.settings()}

    def __repr__(self) -> str:   # never a cookie in a log line or a traceback
        return (f"SiteAccess(base_url={without_credentials(self.base_url)!r}, "
                f"accounts={len(self.cookies)}, delay={self.delay}, "
                f"daily_budget={self.daily_budget})")


@dataclass(frozen=True)
class Tuning:
    """How the crawl answers the site's refusals and gaps (Scrapy settings of the same names)."""
    cooldown: float = 3600.0        # first rest after 10001 (blocked), doubling: 1 h, 2 h, 4 h,
    #                                 then the account rests until the next night
    throttle_cooldown: float = 600.0  # first rest after HTTP 403/429 (throttled), doubling
    abnormal_backoff: float = 300.0  # first back-off after 10018 (abnormal access), doubling
    abnormal_retries: int = 3       # new Cipher-Texts tried for one request before backing off
    max_wait: float = 900.0         # seconds to wait for a parked account before giving up
    token_streak: int = 10          # 10018 in a row that mean the token itself is refused
    unreachable_streak: int = 12    # connection failures in a row that mean the server is gone
    unconfirmed_tries: int = confirm.DEFAULT_TRIES  # answers an empty last day needs before
    #                                                 it is accepted as missing...
    unconfirmed_days: float = confirm.DEFAULT_DAYS  # ...over at least this many days
    blank_rest_hours: float = confirm.DEFAULT_BLANK_REST_HOURS  # a blank series is asked again
    #                                 after this, and accepted below the floor when blank again
    download_timeout: int = 30
    log_level: str = "WARNING"

    def settings(self) -> dict:
        """The Scrapy settings these become, each named as the environment variable that
        feeds it (DOWNLOAD_TIMEOUT and LOG_LEVEL are Scrapy's own: AICITY_DOWNLOAD_TIMEOUT and
        AICITY_LOG_LEVEL feed them)."""
        return {"AICITY_BAIDU_COOLDOWN": self.cooldown,
                "AICITY_BAIDU_THROTTLE_COOLDOWN": self.throttle_cooldown,
                "AICITY_BLANK_REST_HOURS": self.blank_rest_hours,
                "AICITY_BAIDU_BACKOFF": self.abnormal_backoff,
                "AICITY_BAIDU_ABNORMAL_RETRIES": self.abnormal_retries,
                "AICITY_BAIDU_MAX_WAIT": self.max_wait,
                "AICITY_BAIDU_TOKEN_STREAK": self.token_streak,
                "AICITY_BAIDU_UNREACHABLE_STREAK": self.unreachable_streak,
                "AICITY_UNCONFIRMED_TRIES": self.unconfirmed_tries,
                "AICITY_UNCONFIRMED_DAYS": self.unconfirmed_days,
                "DOWNLOAD_TIMEOUT": self.download_timeout,
                "LOG_LEVEL": self.log_level}


def load_cookies(text: str | None = None, path: str | os.PathLike | None = None) -> list[str]:
    """Cookies, one per line, from a file (if given) else from `text`.

    A line holding only the BDUSS value is turned into `BDUSS=<value>`; blank lines and lines
    starting with # are skipped.
    """
    if path:
        text = Path(path).read_text(encoding="utf-8")
    text = text or ""
    cookies = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cookies.append(line if "=" in line else f"BDUSS={line}")
    return cookies


def read_cookies(cookies_text: str | None, cookies_file=None) -> list[str]:
    """The accounts' cookies, from the file if one is named, else from the text (one a line);
    CollectError naming the file when it cannot be read."""
    try:
        return load_cookies(cookies_text, path=cookies_file)
    except UnicodeDecodeError:
        raise CollectError(f"cookies file {cookies_file} is not UTF-8 text") from None
    except OSError as err:
        raise CollectError(f"cookies file {cookies_file}: {err.strerror or err}") from None


def site_access(base_url: str | None = None, delay: float = SiteAccess.delay,
                cipher_file=None, cipher_key=None, cipher_t0=None, cipher_version=None,
                publish_hour: int = PUBLISH_HOUR, lag_days: int | None = None,
                cookies_file=None, cookies_text: str | None = None,
                daily_budget: int = SiteAccess.daily_budget) -> SiteAccess:
    """SiteAccess from the values of `aicity collect`'s site options (named as its options:
    a cookies file is read now, the cipher constants loaded now); CollectError when one is
    wrong."""
    from aicity.crawler.cipher import CipherConfigError
    cookies = read_cookies(cookies_text, cookies_file)
    try:
        cipher = load_cipher(cipher_file, key=cipher_key, t0=cipher_t0, version=cipher_version,
                             names={"key": "AICITY_CIPHER_KEY", "t0": "AICITY_CIPHER_T0",
                                    "version": "AICITY_CIPHER_VERSION"})
    except CipherConfigError as err:
        raise CollectError(str(err)) from None
    return SiteAccess(base_url=base_url or REAL_BASE_URL, cookies=tuple(cookies), delay=delay,
                      daily_budget=daily_budget, cipher=cipher, publish_hour=publish_hour,
                      lag_days=lag_days)


@dataclass(frozen=True)
class CollectOrder:
    """What a collect is told, as `aicity collect`'s options say it: the site's options
    (turned into SiteAccess when the collect starts, so a cookies file renewed by day is read
    again each night), the tuning, and the scope. The nightly job keeps one and hands it to
    each night's collect stages in a child process; `aicity collect` makes one from its
    options. `collect` (service.collect.collect_ordered) is where it is carried out."""
    site: dict = field(default_factory=dict)        # site_access()'s arguments
    tuning: Tuning = field(default_factory=Tuning)
    kind: str = "index"
    start: str | None = None
    end: str | None = None
    regions: tuple[str, ...] | None = None
    keywords: tuple[str, ...] | None = None
    window_days: int | None = None                  # None: the planner's default
    devices: tuple[str, ...] | None = None          # None: all of Baidu's series
    check: bool = True
    dry_run: bool = False
    queue: str | None = None                        # redis://…: one worker of several
    queue_lease: float | None = None

    def access(self) -> SiteAccess:
        return site_access(**self.site)

    def snapshot(self, end: str | None = None) -> CollectOrder:
        """The same site, tuning and scope for a city snapshot (a small job run on one host:
        no start, window, devices or shared queue)."""
        return replace(self, kind="snapshot", end=end or self.end, start=None,
                       window_days=None, devices=None, queue=None, queue_lease=None,
                       check=True)

    def __repr__(self) -> str:   # never a cookie, nor a queue's password, in a log line
        site = {k: ("***" if k == "cookies_text" and v else v) for k, v in self.site.items()}
        return (f"CollectOrder(kind={self.kind!r}, site={site}, start={self.start}, "
                f"end={self.end}, regions={self.regions}, keywords={self.keywords}, "
                f"queue={without_credentials(self.queue) if self.queue else None})")
