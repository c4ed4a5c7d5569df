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
  2011-01-01; nothing after the latest published day.

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

from crawler import protocol as proto
from crawler.emulator.world import World

FAULT_KINDS = ("5xx", "malformed", "timeout", "empty_ptbk", "block", "abnormal")


def parse_faults(spec: str | None) -> dict[str, float]:
    """'5xx=0.1,malformed=0.05' -> {'5xx': 0.1, 'malformed': 0.05}; ValueError names the bad part."""
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


class EmulatorState:
    def __init__(self, world: World, limits: Limits, faults: dict[str, float], seed: int,
                 clock=time.monotonic):
        self.world = world
        self.limits = limits
        self.faults = faults
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
            return proto.envelope("", proto.NOT_LOGGED_IN, "not login")
        acct = st.accounts.setdefault(account, AccountState())
        now = st.clock()
        if acct.blocked_until > now:
            return proto.envelope("", proto.BLOCKED, "request block")
        if acct.burst > 0:
            acct.burst -= 1
            return proto.envelope("", proto.BLOCKED, "request block")
        if st.fault("block"):
            acct.burst = 2  # this answer and the next two
            return proto.envelope("", proto.BLOCKED, "request block")
        lim = st.limits
        if lim.requests:
            while acct.recent and acct.recent[0] <= now - lim.window:
                acct.recent.popleft()
            if len(acct.recent) >= lim.requests:
                acct.blocked_until = now + lim.block_seconds
                return proto.envelope("", proto.BLOCKED, "request block")
            acct.recent.append(now)
        if needs_cipher:
            header = request.getHeader("cipher-text") or ""
            parts = header.split("_", 2)
            if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() \
                    or st.fault("abnormal"):
                return proto.envelope("", proto.ABNORMAL,
                                      "您好，百度指数监测到您疑似存在异常访问行为")
        try:
            return handler(_args(request))
        except (ValueError, KeyError, proto.ProtocolError) as err:
            return proto.envelope("", proto.BAD_REQUEST, f"bad request: {err}")

    # --- date handling ------------------------------------------------------------------------
    def _period(self, args) -> tuple[date, date]:
        world = self.state.world
        days = _one(args, "days")
        if days:
            end = world.latest
            start = end - timedelta(days=int(days) - 1)
        else:
            start = _parse_date(_one(args, "startDate"))
            end = _parse_date(_one(args, "endDate"))
        start = max(start, proto.EARLIEST)
        end = min(end, world.latest)
        if end < start:
            raise ValueError("empty date range")
        return start, end

    # --- endpoints ----------------------------------------------------------------------------
    def search_index(self, args) -> dict:
        st, world = self.state, self.state.world
        series = proto.parse_word_param(_one(args, "word", ""))
        if not series or len(series) > proto.MAX_SERIES_PER_REQUEST:
            raise ValueError(f"{len(series)} series (1 to 5 allowed)")
        for terms in series:
            for term in terms:
                if not world.knows(term):
                    raise ValueError(f"keyword {term!r} is not indexed")
        area = int(_one(args, "area", "0"))
        if area not in world.by_code:
            raise ValueError(f"unknown area {area}")
        start, end = self._period(args)
        weekly = (end - start).days + 1 > 366
        key = proto.make_ptbk(st.rng)
        empty_key = st.fault("empty_ptbk")
        uniqid = st.remember_key("" if empty_key else key)
        user_indexes, ratios = [], []
        for terms in series:
            entry = {"word": [{"name": t, "wordType": 1} for t in terms],
                     "type": "week" if weekly else "day"}
            ratio = {}
            for device in ("all", "pc", "wise"):
                total = sum(world.series(t, area, start, end, device) for t in terms)
                values = world.weekly(total) if weekly else total
                plain = proto.format_values([None if np.isnan(v) else int(v) for v in values])
                entry[device] = {"startDate": start.isoformat(), "endDate": end.isoformat(),
                                 "data": proto.encode(plain, key)}
                ok = values[~np.isnan(values)]
                ratio[device] = {"avg": int(ok.mean()) if len(ok) else 0, "yoy": 0, "qoq": 0}
            user_indexes.append(entry)
            ratios.append(ratio)
        return proto.envelope({"userIndexes": user_indexes, "generalRatio": ratios,
                               "uniqid": uniqid})

    def ptbk(self, args) -> dict:
        uniqid = _one(args, "uniqid", "")
        key = self.state.keys.get(uniqid)
        if key is None:
            raise ValueError("unknown uniqid")
        return proto.envelope(key)

    def search_region(self, args) -> dict:
        world = self.state.world
        words = [w for w in (_one(args, "word", "") or "").split(",") if w]
        if not words or len(words) > proto.MAX_SERIES_PER_REQUEST:
            raise ValueError(f"{len(words)} words (1 to 5 allowed)")
        for w in words:
            if not world.knows(w):
                raise ValueError(f"keyword {w!r} is not indexed")
        region = int(_one(args, "region", "0"))
        place = world.by_code.get(region)
        if place is None or place.level == "city":
            raise ValueError(f"region {region} must be 0 or a province code")
        start, end = self._period(args)
        provinces = list(world.provinces.values()) if place.level == "country" else [place]
        out = []
        for w in words:
            prov = {}
            city = {}
            for p in provinces:
                v = world.series(w, p.code, start, end)
                prov[str(p.code)] = int(np.nan_to_num(np.nanmean(v))) if len(v) else 0
                for code in world._province_cities[p.name]:
                    cv = world.series(w, code, start, end)
                    city[str(code)] = int(np.round(np.nan_to_num(np.nanmean(cv)))) if len(cv) \
                        else 0
            total_p = sum(prov.values()) or 1
            total_c = sum(city.values()) or 1
            out.append({"key": w, "period": f"{start:%Y%m%d}|{end:%Y%m%d}", "area": region,
                        "areaName": place.name, "prov": prov, "city": city,
                        "provReal": {k: round(1000 * v / total_p) for k, v in prov.items()},
                        "cityReal": {k: round(1000 * v / total_c) for k, v in city.items()}})
        return proto.envelope({"region": out})

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
        return proto.envelope({"period": f"{monday:%Y%m%d}|{sunday:%Y%m%d}", "wordlist": items})

    def check_words(self, args) -> dict:
        world = self.state.world
        entries = [e for e in (_one(args, "word", "") or "").split(",") if e]
        problems = [{"word": e, "status": proto.NOT_INDEXED} for e in entries
                    if not all(world.knows(t) for t in e.split("+"))]
        return proto.envelope({"result": problems})


def _parse_date(text: str | None) -> date:
    if not text:
        raise ValueError("startDate and endDate (or days) are required")
    return date.fromisoformat(text)


def make_site(state: EmulatorState) -> server.Site:
    site = server.Site(Api(state))
    site.noisyLogs = False
    return site


def serve(state: EmulatorState, port: int = 0, host: str = "127.0.0.1", on_ready=None) -> None:
    """Listen on host:port (0 = a free port), call on_ready(port), run until stopped."""
    listening = reactor.listenTCP(port, make_site(state), interface=host)
    if on_ready:
        on_ready(listening.getHost().port)
    reactor.run()
