"""The emulator's HTTP side, on twisted.web: the Baidu Index endpoints, envelopes and status codes.

Rules it enforces, as the real site is reported to:
* no ``BDUSS`` in the cookie -> 10000; a BDUSS starting with ``expired`` also answers 10000
  (so clients can test retiring an account);
* no or malformed ``Cipher-Text`` on index and region requests -> 10018;
* more requests from one account than the rate limit allows -> 10001, and the account stays
  blocked for ``block_seconds``;
* an unknown keyword anywhere in a request -> 10002 for the whole request; more than five series
  -> 10002;
* spans up to 366 days come back daily, longer ones weekly from the start date; nothing before
  2011-01-01.

Habits of the real site as public crawlers report them (2024-2026), each switchable with
``--habits`` (``real``, the default, is all of them; ``none`` is none):
* ``lowercase``: Latin letters come back lowercased in ``userIndexes[].word``;
* ``entry-type``: the series ``type`` (day/week) sits in each ``userIndexes`` entry (OG's 2021
  capture, NIB's 2026 parser); ``block-type`` puts it in each device block instead;
* ``calendar weeks`` (always): spans over 366 days come back in Monday-Sunday weeks with a
  partial week at each end, each round(sum of its days in range / those days), empty = 0;
* ``forbidden=RATE``: an answer is HTTP 403 (the throttle reported in 2026) at RATE;
* ``wrong-digits=RATE``: a ptbk key maps digits to other digits at RATE, as a key that is not
  the answer's own does: plausible, wrong numbers that only ``generalRatio`` shows;
* ``floor=N``: a daily value below N (default 57) is sent empty, never as a small number or
  0, each device on its own (research note 2026 §1: nothing between 1 and 56 in 92,782 public
  province values); weekly values then count those days as 0, and the region endpoint
  averages the same floored days (a city whose mean is 0 is not listed);
* ``municipal-by-province``: the city codes of 北京/上海/天津/重庆 (514/57/164/11) are refused
  with 10002, as the site's area table lists no cities there;
* ``blank=RATE``: a series' first answer for a range is blank (every value empty) at RATE; asking
  again gets the data;
* ``unpublished``: days after the latest published day come back empty, not cut off;
* ``token-expiry=RATE``: a Cipher-Text is refused as expired (10018) at RATE; a refused token
  stays refused, a new one is judged afresh;
* ``strict-token``: the Cipher-Text must open with the site's key, carry its T0 and version, and
  name the first keyword in a trend-page URL where only the keyword is percent-encoded;
* ``region-one-word``: SearchApi/region takes one keyword a call (more is 10002);
* ``top-cities=N``: a national region query lists the provinces and only the top N cities;
  the ``*Real`` shares are fractional.

Faults (``--faults 5xx=0.1,malformed=0.05,timeout=0.01,empty_ptbk=0.05,block=0.01,abnormal=0.01``)
are drawn per request from a seeded generator, so a run is repeatable.
"""
from __future__ import annotations

import json
import random
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs

import numpy as np
from twisted.internet import reactor
from twisted.web import resource, server

from aicity.emulator import wire
from aicity.emulator.world import World
from aicity.vocabulary import DEVICES

FAULT_KINDS = ("5xx", "malformed", "timeout", "empty_ptbk", "block", "abnormal")
HABIT_FLAGS = ("lowercase", "entry-type", "unpublished", "strict-token", "region-one-word",
               "municipal-by-province", "block-type")
HABIT_RATES = {"blank": 0.02, "token-expiry": 0.02, "top-cities": 10, "forbidden": 0.01,
               "wrong-digits": 0.01, "floor": 57}
# what `real` turns on: every habit but block-type (the 2026 study puts type in the entry), at
# these rates; HTTP 403 is a single unconfirmed report [L], so `real` leaves it off
REAL_FLAGS = tuple(f for f in HABIT_FLAGS if f != "block-type")
REAL_RATES = {**HABIT_RATES, "forbidden": 0.0}


@dataclass
class Habits:
    """The real site's habits the emulator copies (see the module docstring)."""
    lowercase: bool = False
    entry_type: bool = False
    block_type: bool = False
    municipal_by_province: bool = False
    forbidden: float = 0.0
    wrong_digits: float = 0.0
    floor: int = 0               # a day's value below this is sent empty (per device)
    blank: float = 0.0
    unpublished: bool = False
    token_expiry: float = 0.0
    strict_token: bool = False
    region_one_word: bool = False
    top_cities: int = 0          # 0 = every city in a national region answer

    @classmethod
    def parse(cls, spec: str | None) -> "Habits":
        """'real' (all, default rates), 'none', or a list like 'lowercase,blank=0.1'."""
        spec = (spec or "real").strip()
        if spec == "none":
            return cls()
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if "real" in parts:
            parts = [*REAL_FLAGS, *(f"{k}={v}" for k, v in REAL_RATES.items()),
                     *(p for p in parts if p != "real")]
        habits = cls()
        for part in parts:
            name, sep, value = part.partition("=")
            name = name.strip()
            if name in HABIT_FLAGS and not sep:
                setattr(habits, name.replace("-", "_"), True)
            elif name in HABIT_RATES:
                default = HABIT_RATES[name]
                try:
                    number = type(default)(value) if sep else default
                except ValueError:
                    raise ValueError(f"habit {part!r}: {value!r} is not a number") from None
                if isinstance(default, float) and not 0 <= number <= 1:
                    raise ValueError(f"habit {part!r}: rate must be between 0 and 1")
                setattr(habits, name.replace("-", "_"), number)
            else:
                raise ValueError(f"habit {part!r}: expected 'real', 'none' or some of "
                                 f"{', '.join(HABIT_FLAGS)}, "
                                 f"{', '.join(k + '=N' for k in HABIT_RATES)}")
        return habits


def parse_faults(spec: str | None) -> dict[str, float]:
    """'5xx=0.1,malformed=0.05' -> {'5xx': 0.1, 'malformed': 0.05}; ValueError names the bad
    part."""
    faults: dict[str, float] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, rate = part.partition("=")
        if not sep or name.strip() not in FAULT_KINDS:
            raise ValueError(f"fault {part!r}: expected NAME=RATE with NAME one of "
                             f"{', '.join(FAULT_KINDS)}")
        try:
            value = float(rate)
        except ValueError:
            raise ValueError(f"fault {part!r}: rate {rate!r} is not a number") from None
        if not 0 <= value <= 1:
            raise ValueError(f"fault {part!r}: rate must be between 0 and 1")
        faults[name.strip()] = value
    return faults


@dataclass
class Limits:
    requests: int = 0          # per window and account; 0 = no limit
    window: float = 60.0       # seconds
    block_seconds: float = 600.0
    timeout_delay: float = 30.0


@dataclass
class AccountState:
    recent: deque = field(default_factory=deque)
    blocked_until: float = 0.0
    burst: int = 0


@dataclass
class Site:
    """The Cipher-Text constants the site expects (change them to play a site update)."""
    key: str = wire.SITE_KEY
    t0: int = wire.SITE_T0
    version: str = wire.SITE_VERSION


class EmulatorState:
    def __init__(self, world: World, limits: Limits, faults: dict[str, float], seed: int,
                 clock=time.monotonic, habits: Habits | None = None, site: Site | None = None):
        self.world = world
        self.limits = limits
        self.faults = faults
        self.habits = habits or Habits()
        self.site = site or Site()
        self.habit_rng = random.Random(seed + 2)
        self.blanked: set = set()        # series ranges already answered blank once
        self.refused_tokens: set = set()
        self.judged_tokens: set = set()
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(seed + 1)
        self.keys: OrderedDict[str, str] = OrderedDict()
        self.accounts: dict[str, AccountState] = {}
        self.clock = clock
        self.seed = seed
        self.counts: dict[str, int] = {}

    def fault(self, kind: str) -> bool:
        rate = self.faults.get(kind, 0.0)
        return rate > 0 and self.fault_rng.random() < rate

    def blank_first(self, *what) -> bool:
        """True the first time a series range is asked for, at the blank rate (repeatably)."""
        rate = self.habits.blank
        if rate <= 0 or what in self.blanked:
            return False
        draw = random.Random("|".join(map(str, (self.seed, *what)))).random()
        if draw < rate:
            self.blanked.add(what)
            return True
        return False

    def remember_key(self, key: str) -> str:
        uniqid = "%032x" % self.rng.getrandbits(128)
        self.keys[uniqid] = key
        while len(self.keys) > 200_000:
            self.keys.popitem(last=False)
        return uniqid


def _bduss(request) -> str | None:
    cookie = (request.getHeader("cookie") or "")
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "BDUSS" and value:
            return value
    return None


def _args(request) -> dict[str, list[str]]:
    query = request.uri.decode("utf-8", "replace").partition("?")[2]
    return parse_qs(query, keep_blank_values=True)


def _one(args, name, default=None):
    values = args.get(name)
    return values[0] if values else default


class Api(resource.Resource):
    isLeaf = True

    def __init__(self, state: EmulatorState):
        super().__init__()
        self.state = state
        self.routes = {
            "/api/SearchApi/index": (self.search_index, True),
            "/api/SearchApi/region": (self.search_region, True),
            "/Interface/ptbk": (self.ptbk, False),
            "/Interface/api/ptbk": (self.ptbk, False),
            "/api/WordGraph/multi": (self.word_graph, False),
            "/api/AddWordApi/checkWordsExists": (self.check_words, False),
        }

    # --- plumbing -----------------------------------------------------------------------------
    def render_GET(self, request):
        path = request.path.decode("utf-8", "replace")
        st = self.state
        st.counts[path] = st.counts.get(path, 0) + 1
        request.setHeader(b"x-aicity-world", b"simulated; seed=%d" % self.state.seed)
        route = self.routes.get(path)
        if route is None:
            request.setResponseCode(404)
            return b'{"status":404,"data":"","message":"not found"}'
        if st.fault("timeout"):
            reactor.callLater(st.limits.timeout_delay, self._late_finish, request)
            return server.NOT_DONE_YET
        if st.fault("5xx"):
            request.setResponseCode(503)
            return b"<html>503 Service Unavailable</html>"
        if st.habits.forbidden and st.habit_rng.random() < st.habits.forbidden:
            request.setResponseCode(403)
            return b"<html>403 Forbidden</html>"
        handler, needs_cipher = route
        body = self._answer(request, handler, needs_cipher)
        request.setHeader(b"content-type", b"application/json;charset=utf-8")
        if st.fault("malformed"):
            return json.dumps(body, ensure_ascii=False).encode()[: 20] + b"<!--"
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _late_finish(self, request):
        if not request.finished and not request._disconnected:
            request.write(b'{"status":0,"data":"","message":"late"}')
            request.finish()

    def _answer(self, request, handler, needs_cipher) -> dict:
        st = self.state
        account = _bduss(request)
        if account is None or account.startswith("expired"):
            return wire.envelope("", wire.NOT_LOGGED_IN, "not login")
        acct = st.accounts.setdefault(account, AccountState())
        now = st.clock()
        if acct.blocked_until > now:
            return wire.envelope("", wire.REQUEST_BLOCK, "request block")
        if acct.burst > 0:
            acct.burst -= 1
            return wire.envelope("", wire.REQUEST_BLOCK, "request block")
        if st.fault("block"):
            acct.burst = 2  # this answer and the next two
            return wire.envelope("", wire.REQUEST_BLOCK, "request block")
        lim = st.limits
        if lim.requests:
            while acct.recent and acct.recent[0] <= now - lim.window:
                acct.recent.popleft()
            if len(acct.recent) >= lim.requests:
                acct.blocked_until = now + lim.block_seconds
                return wire.envelope("", wire.REQUEST_BLOCK, "request block")
            acct.recent.append(now)
        args = _args(request)
        if needs_cipher and not self._token_ok(request.getHeader("cipher-text") or "", args):
            return wire.envelope("", wire.ABNORMAL, ABNORMAL_MESSAGE)
        try:
            return handler(args)
        except (ValueError, KeyError) as err:
            return wire.envelope("", wire.BAD_REQUEST, f"bad request: {err}")

    def _token_ok(self, header: str, args) -> bool:
        st = self.state
        parts = header.split("_", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() \
                or st.fault("abnormal"):
            return False
        if header in st.refused_tokens:
            return False
        if st.habits.strict_token:
            try:
                t0, _, payload = wire.open_token(header, st.site.key)
            except (ValueError, TypeError):
                return False
            if t0 != st.site.t0 or payload.get("version") != st.site.version:
                return False
            first = self._first_keyword(args)
            if first is not None and wire.token_page_keyword(payload) != first:
                return False
        if st.habits.token_expiry and header not in st.judged_tokens:
            st.judged_tokens.add(header)
            if st.habit_rng.random() < st.habits.token_expiry:
                st.refused_tokens.add(header)
                return False
        return True

    @staticmethod
    def _first_keyword(args) -> str | None:
        word = _one(args, "word", "")
        if not word:
            return None
        if word.startswith("["):
            try:
                return wire.series_from_word(word)[0][0]
            except wire.BadRequest:
                return None
        return word.split(",")[0]

    # --- date handling ------------------------------------------------------------------------
    def _period(self, args, clamp: bool = True) -> tuple[date, date]:
        world = self.state.world
        days = _one(args, "days")
        if days:
            end = world.latest
            start = end - timedelta(days=int(days) - 1)
        else:
            start = _parse_date(_one(args, "startDate"))
            end = _parse_date(_one(args, "endDate"))
        start = max(start, wire.FIRST_DAY)
        if clamp:
            end = min(end, world.latest)
        if end < start:
            raise ValueError("empty date range")
        return start, end

    # --- endpoints ----------------------------------------------------------------------------
    def search_index(self, args) -> dict:
        st, world, habits = self.state, self.state.world, self.state.habits
        series = wire.series_from_word(_one(args, "word", ""))
        if len(series) > wire.SERIES_LIMIT:
            raise ValueError(f"{len(series)} series (1 to 5 allowed)")
        for terms in series:
            for term in terms:
                if not world.knows(term):
                    raise ValueError(f"keyword {term!r} is not indexed")
        area = int(_one(args, "area", "0"))
        if area not in world.by_code:
            raise ValueError(f"unknown area {area}")
        if habits.municipal_by_province and area in world.municipal_cities:
            raise ValueError(f"area {area} is not in the site's area table")
        start, end = self._period(args, clamp=not habits.unpublished)
        weekly = (end - start).days + 1 > 366
        key = wire.new_key(st.rng)
        uniqid = st.remember_key(key)
        kind = "week" if weekly else "day"
        # every series' three devices as the rows of one array, floored, blanked and enciphered
        # together: row by row, numpy's per-call cost was most of an answer's
        rows, blank = [], []
        for terms in series:
            blank.append(st.blank_first("index", "+".join(terms), area, start, end))
            published = [self._published(t, area, start, end) for t in terms]
            rows.extend(sum(p[device] for p in published) for device in DEVICES)
        values = np.vstack(rows)
        if habits.floor:
            values = np.where(values < habits.floor, np.nan, values)
        if weekly:
            values = np.vstack([world.weekly(row, start) for row in values])
        values[np.repeat(blank, len(DEVICES))] = np.nan
        texts = iter(wire.encrypt_rows(values, key))
        # the mean of the reported days (integers: their sum is exact in any order)
        reported = ~np.isnan(values)
        counts = reported.sum(axis=1).tolist()
        sums = np.where(reported, values, 0.0).sum(axis=1).tolist()
        means = iter([int(total / n) if n else 0 for total, n in zip(sums, counts)])
        user_indexes, ratios = [], []
        for terms in series:
            names = [t.lower() if habits.lowercase else t for t in terms]
            entry = {"word": [{"name": n, "wordType": 1} for n in names]}
            if habits.entry_type or not habits.block_type:
                entry["type"] = kind
            ratio = {}
            for device in DEVICES:
                block = {"startDate": start.isoformat(), "endDate": end.isoformat(),
                         "data": next(texts)}
                if habits.block_type:
                    block["type"] = kind
                entry[device] = block
                ratio[device] = {"avg": next(means), "yoy": 0, "qoq": 0}
            user_indexes.append(entry)
            ratios.append(ratio)
        return wire.envelope({"userIndexes": user_indexes, "generalRatio": ratios,
                              "uniqid": uniqid})

    def _published(self, term: str, area: int, start: date, end: date
                   ) -> dict[str, np.ndarray]:
        """Each device's daily values start..end; days after the latest published day are
        empty."""
        world = self.state.world
        devices = world.devices(term, area, start, min(end, world.latest))
        missing = (end - start).days + 1 - len(devices["all"])
        if missing <= 0:
            return devices
        return {d: np.concatenate([v, np.full(missing, np.nan)]) for d, v in devices.items()}

    def ptbk(self, args) -> dict:
        uniqid = _one(args, "uniqid", "")
        key = self.state.keys.get(uniqid)
        if key is None:
            raise ValueError("unknown uniqid")
        st = self.state
        if st.fault("empty_ptbk"):
            # an empty key now and then, the right one when asked again (BIH retries the
            # same uniqid for it); the key stayed empty for good here once, which no public
            # crawler's retry shows and which lost the piece for the night
            return wire.envelope("")
        if key and st.habits.wrong_digits and st.habit_rng.random() < st.habits.wrong_digits:
            key = wire.wrong_digits(key, st.habit_rng)
        return wire.envelope(key)

    def search_region(self, args) -> dict:
        world, habits = self.state.world, self.state.habits
        words = [w for w in (_one(args, "word", "") or "").split(",") if w]
        limit = 1 if habits.region_one_word else wire.SERIES_LIMIT
        if not words or len(words) > limit:
            raise ValueError(f"{len(words)} words (1 to {limit} allowed)")
        for w in words:
            if not world.knows(w):
                raise ValueError(f"keyword {w!r} is not indexed")
        region = int(_one(args, "region", "0"))
        place = world.by_code.get(region)
        if place is None or place.level == "city":
            raise ValueError(f"region {region} must be 0 or a province code")
        start, end = self._period(args)
        national = place.level == "country"
        provinces = list(world.provinces.values()) if national else [place]
        out = []
        for w in words:
            prov, city = {}, {}
            for p in provinces:
                prov[str(p.code)] = self._period_mean(w, p.code, start, end)
                for code in world._province_cities[p.name]:
                    mean = self._period_mean(w, code, start, end)
                    if mean or not habits.floor:
                        city[str(code)] = mean
            total_p = sum(prov.values()) or 1
            total_c = sum(city.values()) or 1
            city_real = {k: round(1000 * v / total_c, 2) for k, v in city.items()}
            if national and habits.top_cities:
                top = sorted(city, key=lambda k: (-city[k], int(k)))[:habits.top_cities]
                city = {k: city[k] for k in top}
                city_real = {k: city_real[k] for k in top}
            prov_real = {k: round(1000 * v / total_p, 2) for k, v in prov.items()}
            if not habits.top_cities:   # the old integer shares
                prov_real = {k: round(v) for k, v in prov_real.items()}
                city_real = {k: round(v) for k, v in city_real.items()}
            out.append({"key": w.lower() if habits.lowercase else w,
                        "period": f"{start:%Y%m%d}|{end:%Y%m%d}", "area": region,
                        "areaName": place.name, "prov": prov, "city": city,
                        "provReal": prov_real, "cityReal": city_real})
        return wire.envelope({"region": out})

    def _period_mean(self, word: str, code: int, start: date, end: date) -> int:
        """A region's mean over the period as the site reports it: the days the floor hides
        count 0, as in its weekly values."""
        v = self.state.world.series(word, code, start, end)
        if not len(v):
            return 0
        floor = self.state.habits.floor
        if floor:
            v = np.where(v < floor, 0.0, v)
        return int(np.round(np.nanmean(np.nan_to_num(v))))

    def word_graph(self, args) -> dict:
        world = self.state.world
        words = args.get("wordlist[]", [])
        when_text = _one(args, "datelist", "")
        when = datetime.strptime(when_text, "%Y%m%d").date() if when_text else world.latest
        monday = when - timedelta(days=when.weekday())
        sunday = min(monday + timedelta(days=6), world.latest)
        items = []
        for w in words:
            if not world.knows(w):
                items.append({"keyword": w, "wordGraph": []})
                continue
            items.append({"keyword": w, "wordGraph": world.related(w, monday)})
        return wire.envelope({"period": f"{monday:%Y%m%d}|{sunday:%Y%m%d}", "wordlist": items})

    def check_words(self, args) -> dict:
        world = self.state.world
        entries = [e for e in (_one(args, "word", "") or "").split(",") if e]
        problems = [{"word": e, "status": wire.NOT_INDEXED} for e in entries
                    if not all(world.knows(t) for t in e.split("+"))]
        return wire.envelope({"result": problems})


ABNORMAL_MESSAGE = ("您好，百度指数监测到您疑似存在异常访问行为，"
                    "如有疑问请联系 ext_indexfk@baidu.com")


def _parse_date(text: str | None) -> date:
    if not text:
        raise ValueError("startDate and endDate (or days) are required")
    return date.fromisoformat(text)


class QuietSite(server.Site):
    """A site that keeps no access log. Twisted's default writes a formatted line a request to
    its global log, which nobody here reads (no observer is started, so the lines only filled
    Twisted's start-up buffer): 3 % of the emulator's time in the demo."""

    noisyLogs = False

    def log(self, request) -> None:
        pass


def make_site(state: EmulatorState) -> server.Site:
    return QuietSite(Api(state))


def serve(state: EmulatorState, port: int = 0, host: str = "127.0.0.1", on_ready=None) -> None:
    """Listen on host:port (0 = a free port), call on_ready(port), run until stopped."""
    listening = reactor.listenTCP(port, make_site(state), interface=host)
    if on_ready:
        on_ready(listening.getHost().port)
    reactor.run()
