"""The simulated world the emulator serves. Deterministic for a seed; all data is simulated.

A city's daily search index for a keyword is

    national level of the keyword (by dimension, lognormal)
    × the city's share (population^0.7 × a digital-affinity factor from its 2017 tier
      × a per-city draw)
    × the city's affinity for the keyword's group (a per-city, per-group draw)
    × a time profile: slow growth to a turning point in March 2017 and faster growth after,
      a weekly cycle, the Spring Festival dip, school holidays (professional and technical terms),
      news spikes (dated events in news_events.csv plus a few random ones per keyword)
    × day-to-day noise,

rounded. These are the true volumes: what the site shows of them (nothing below its reporting
floor, research note 2026 §1) is the server's business, device by device. A term with a first
date (`since`, a product launch) has no searches before it. Provinces are the sums of their
cities and the nation the sum of all. PC's share falls from 65% in 2011 to 30% in 2020; mobile
(`wise`) is the rest.

Calibration (bench/floor.py prints the figures): with the site's floor of 57, the dimension
levels and SCALE put the province-weeks left blank for the professional and technical terms over
2011-2023 inside the 16-54% the study measured on public province data for niche terms, keep
the basic terms' provinces reported almost every week, and leave most city-days of professional
and technical terms below the floor, as the study expects at city level.

Nothing here looks at the report's rankings: who ranks where comes out of these draws.
"""
from __future__ import annotations

import csv
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

from aicity.emulator.wire import FIRST_DAY as EARLIEST

HERE = Path(__file__).parent
TURNING_POINT = date(2017, 3, 1)
MUNICIPALITIES = ("北京", "上海", "天津", "重庆")
DIMENSION_LEVEL = {"basic": 8.3, "professional": 6.6, "technical": 6.0, "application": 6.0,
                   "industry": 6.2, "": 5.0}
TIER_AFFINITY = {"一线": 8.0, "新一线": 3.5, "二线": 1.8}
POPULATION_EXPONENT = 0.7  # hukou counts include rural counties; damp them
WEEKLY = {"basic": [1.0, 1.0, 1.0, 0.99, 0.96, 0.9, 0.92],
          "other": [1.0, 1.03, 1.03, 1.01, 0.95, 0.76, 0.8]}
SCALE = 5.0  # puts 人工智能 near 20,000 a day nationally in 2017
# Day-to-day noise is a pure function of (seed, keyword, city, day): publishing a new day never
# rewrites history, and an answer computes its own days and no others (a national answer the
# days of every city at once). Drawing blocks of 366 days from a random stream each cost 60 µs a
# block, and a national answer of the taxonomy drew 48,000 of them.
EVENT_SPAN_DAYS = 7300
# city-days of every city's series kept for the answers that follow (8 bytes each: 400 MB)
EVERY_CITY_KEPT = 50_000_000


def _stable_int(*parts) -> int:
    """A seed from text that is the same in every process (hash() is salted per process)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Place:
    code: int
    name: str
    level: str
    province: str
    population: float
    tier: str


class World:
    """Series for every (keyword, region, day) from 2011-01-01 to `latest`."""

    def __init__(self, regions, keywords: dict[str, tuple], seed: int = 0,
                 latest: date | None = None):
        """regions: iterable of objects with code, name, level, province, population, tier_2017
        and legacy; keywords: term -> (category, group) or (category, group, first date or
        None)."""
        self.seed = seed
        self.latest = latest or (date.today() - timedelta(days=1))
        self.start = EARLIEST
        self.days = (self.latest - self.start).days + 1
        self.keywords = {k: tuple(v[:2]) for k, v in keywords.items()}
        self.first_dates = {k: v[2] for k, v in keywords.items() if len(v) > 2 and v[2]}
        regions = [r for r in regions if not getattr(r, "legacy", False)]
        places = [Place(r.code, r.name, r.level, r.province, float(r.population or 0),
                        r.tier_2017) for r in regions]
        # the site's area table lists no cities under these (the municipal-by-province habit
        # refuses their city codes)
        self.municipal_cities = {r.code for r in regions if r.level == "city"
                                 and r.province in MUNICIPALITIES}
        self.cities = [p for p in places if p.level == "city"]
        self.provinces = {p.name: p for p in places if p.level == "province"}
        self.country = next(p for p in places if p.level == "country")
        self.by_code = {p.code: p for p in places}
        self._city_index = {p.code: i for i, p in enumerate(self.cities)}
        self._province_cities = {name: [c.code for c in self.cities if c.province == name]
                                 for name in self.provinces}
        # the same by index into self.cities: the rows an aggregate answer sums
        self._province_rows = {name: [self._city_index[c] for c in codes]
                               for name, codes in self._province_cities.items()}
        rng = np.random.default_rng([seed, 1])
        pops = np.array([c.population for c in self.cities])
        known = pops[pops > 0]
        pops[pops == 0] = np.median(known) * 0.6 if len(known) else 1e6
        tier = np.array([TIER_AFFINITY.get(c.tier, 1.0) for c in self.cities])
        share = pops ** POPULATION_EXPONENT * tier * rng.lognormal(0.0, 0.35, len(self.cities))
        self.city_share = share / share.sum()
        self._dates = np.array([self.start + timedelta(days=i) for i in range(self.days)])
        self._profiles: dict[str, np.ndarray] = {}
        self._affinities: dict[tuple[str, str], np.ndarray] = {}
        self._pc: np.ndarray | None = None
        self._keys: dict[str, np.ndarray] = {}
        self._every_city: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        with (HERE / "spring_festival.csv").open(encoding="utf-8") as fh:
            self._festivals = [date.fromisoformat(r["date"]) for r in csv.DictReader(fh)]
        with (HERE / "news_events.csv").open(encoding="utf-8") as fh:
            self._events = list(csv.DictReader(fh))

    # --- vocabulary ---------------------------------------------------------------------------
    def knows(self, keyword: str) -> bool:
        return keyword in self.keywords

    # --- time profile -------------------------------------------------------------------------
    def _day_index(self, d: date) -> int:
        return (d - self.start).days

    def profile(self, keyword: str) -> np.ndarray:
        """National daily level of a keyword over the whole world span (floats)."""
        hit = self._profiles.get(keyword)
        if hit is not None:
            return hit
        category, group = self.keywords[keyword]
        rng = np.random.default_rng([self.seed, 2, _stable_int(keyword)])
        t = np.arange(self.days, dtype=float)
        tp = self._day_index(TURNING_POINT)
        # log-level: +0.15/yr before the turning point, +0.6/yr for a year after, +0.2/yr later
        slope_before, slope_after, slope_late = 0.15, 0.6, 0.2
        year = 365.0
        log_trend = np.where(t < tp, slope_before * (t - tp) / year,
                             np.where(t < tp + year, slope_after * (t - tp) / year,
                                      slope_after + slope_late * (t - tp - year) / year))
        level = np.exp(rng.normal(DIMENSION_LEVEL.get(category, 5.0), 0.7))
        weekday = np.array([d.weekday() for d in self._dates[:7]])
        cycle = np.array(WEEKLY["basic" if category == "basic" else "other"])
        weekly = np.resize(np.roll(cycle, -weekday[0]), self.days)
        festival = np.ones(self.days)
        school = np.ones(self.days)
        for sf in self._festivals:
            k = self._day_index(sf)
            if -30 < k < self.days + 30:
                festival *= 1 - 0.45 * np.exp(-((t - k) / 5.0) ** 2)
                if category in ("professional", "technical"):
                    school[max(0, k - 14):max(0, min(self.days, k + 21))] *= 0.85
        if category in ("professional", "technical"):
            for year_ in range(self.start.year, self.latest.year + 1):
                lo = self._day_index(date(year_, 7, 10))
                hi = self._day_index(date(year_, 8, 31))
                school[max(0, lo):max(0, min(self.days, hi + 1))] *= 0.75
        spikes = np.ones(self.days)
        events = [(date.fromisoformat(e["date"]), float(e["strength"])) for e in self._events
                  if e["category"] == category]
        for _ in range(rng.integers(1, 4)):
            events.append((self.start + timedelta(days=int(rng.integers(0, EVENT_SPAN_DAYS))),
                           float(rng.uniform(0.5, 2.5))))
        for when, strength in events:
            k = self._day_index(when)
            if 0 <= k < self.days:
                after = t - k
                decay = np.exp(-np.clip(after, 0, None) / 3.0)
                spikes += np.where(after >= 0, strength * decay, 0.0)
        out = level * np.exp(log_trend) * weekly * festival * school * spikes
        born = self.first_dates.get(keyword)
        if born is not None:
            # nobody searched the word before it existed; interest then builds over a few weeks
            k = self._day_index(born)
            out = out * np.clip((t - k + 1) / 28.0, 0.0, 1.0)
        self._profiles[keyword] = out
        return out

    # --- regional series ----------------------------------------------------------------------
    def _group_affinity(self, keyword: str) -> np.ndarray:
        category, group = self.keywords[keyword]
        hit = self._affinities.get((category, group))
        if hit is None:
            rng = np.random.default_rng([self.seed, 3, _stable_int(category, group)])
            hit = self._affinities[category, group] = rng.lognormal(0.0, 0.35, len(self.cities))
        return hit

    def _city_series(self, keyword: str, code: int, lo: int, hi: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(values, pc) as float32 for day indexes lo..hi: the row of every city's days when an
        aggregate answer has computed them, else computed alone (the same bits)."""
        i = self._city_index[code]
        every = self._every_city.get((keyword, lo, hi))
        if every is not None:
            return every[0][i], every[1][i]
        values, pc = self._cities(keyword, [i], lo, hi)
        return values[0], pc[0]

    def _aggregate_series(self, keyword: str, code: int, lo: int, hi: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(all, pc) of a province or the nation for day indexes lo..hi: sums of integers,
        exact in any order."""
        values, pc = self._every_city_series(keyword, lo, hi)
        if code != self.country.code:
            rows = self._province_rows[self.by_code[code].name]
            values, pc = values[rows], pc[rows]
        return (values.sum(axis=0, dtype=float).astype(np.float32),
                pc.sum(axis=0, dtype=float).astype(np.float32))

    def _every_city_series(self, keyword: str, lo: int, hi: int
                           ) -> tuple[np.ndarray, np.ndarray]:
        """(values, pc) of every city (rows in self.cities' order) for day indexes lo..hi,
        kept for the answers that follow: a province's, and the cities' own (about 1 MB a
        keyword-year; the demo's year of 131 keywords holds 140 MB of them)."""
        key = (keyword, lo, hi)
        hit = self._every_city.get(key)
        if hit is None:
            hit = self._cities(keyword, list(range(len(self.cities))), lo, hi)
            for array in hit:
                array.flags.writeable = False
            self._every_city[key] = hit
            while sum(v.size for v, _ in self._every_city.values()) > EVERY_CITY_KEPT:
                self._every_city.popitem(last=False)
        else:
            self._every_city.move_to_end(key)
        return hit

    def _cities(self, keyword: str, rows: list[int], lo: int, hi: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """(values, pc) as float32, one row for each of the cities at `rows` (indexes into
        self.cities), for day indexes lo..hi. Every step is exact integer or correctly rounded
        arithmetic, so a city's row is the same bits whether it is computed alone or with all the
        others (a province's sum is then exactly the sum of its cities' answers)."""
        cells = _mix64(self._city_keys(keyword)[rows][:, None] ^ _day_keys(lo, hi)[None, :])
        noise, pc_noise = _noise_tables()
        factor = (self.city_share * self._group_affinity(keyword) * SCALE)[rows]
        national = self.profile(keyword)[lo:hi + 1]
        # two 16-bit slices of the hash pick the noises (as int64 views: numpy gathers with an
        # index of its own integer type at twice the speed)
        day_noise = noise[(cells >> np.uint64(48)).view(np.int64)]
        values = np.round(national[None, :] * factor[:, None] * day_noise)
        pc_index = ((cells >> np.uint64(32)) & np.uint64(0xFFFF)).view(np.int64)
        pc = np.round(values * self._pc_share()[lo:hi + 1][None, :] * pc_noise[pc_index])
        pc = np.minimum(pc, values)
        return values.astype(np.float32), pc.astype(np.float32)

    def _city_keys(self, keyword: str) -> np.ndarray:
        """Each city's noise key for a keyword (uint64, in the order of self.cities)."""
        hit = self._keys.get(keyword)
        if hit is None:
            codes = np.array([c.code for c in self.cities], dtype=np.uint64)
            hit = self._keys[keyword] = _mix64(
                np.uint64(_stable_int(self.seed, "noise", keyword))
                ^ _mix64(codes * np.uint64(_GOLDEN)))
        return hit

    def _pc_share(self) -> np.ndarray:
        if self._pc is None:
            t = np.arange(self.days) / 365.0
            self._pc = np.clip(0.65 - 0.035 * t, 0.3, 0.65)
        return self._pc

    def series(self, keyword: str, code: int, start: date, end: date,
               device: str = "all") -> np.ndarray:
        """Daily values (float) for start..end inclusive, clamped to the world."""
        return self.devices(keyword, code, start, end)[device]

    def devices(self, keyword: str, code: int, start: date, end: date
                ) -> dict[str, np.ndarray]:
        """The daily values of all three devices ('all', 'pc', 'wise'), as `series` gives
        each: an answer needs the three, and they share their blocks."""
        lo = max(0, self._day_index(start))
        hi = min(self.days - 1, self._day_index(end))
        if hi < lo:
            empty = np.array([], dtype=float)
            return {"all": empty, "pc": empty, "wise": empty}
        place = self.by_code[code]
        if place.level == "city":
            values, pc = self._city_series(keyword, code, lo, hi)
        else:
            values, pc = self._aggregate_series(keyword, code, lo, hi)
        total, pc_total = values.astype(float), pc.astype(float)
        return {"all": total, "pc": pc_total, "wise": total - pc_total}

    def weekly(self, values: np.ndarray, start: date) -> np.ndarray:
        """The site's weekly values of daily `values` from `start`: one per Monday-Sunday
        calendar week touching the range (a partial week at each end), each
        round(sum of the week's days in range / those days), an empty day counting as 0; a
        week is empty only when all its days are (what 4,198 weeks of public data show)."""
        offset = start.weekday()             # days of the first week before the range
        n = len(values)
        out = []
        for lo in range(-offset, n, 7):
            chunk = values[max(0, lo):lo + 7]
            if np.isnan(chunk).all():
                out.append(np.nan)
            else:
                out.append(np.floor(np.nansum(chunk) / len(chunk) + 0.5))
        return np.array(out)

    def related(self, keyword: str, when: date) -> list[dict]:
        """Demand-graph neighbours of a keyword for the week containing `when`."""
        category, group = self.keywords[keyword]
        rng = np.random.default_rng([self.seed, 4, _stable_int(keyword), when.toordinal() // 7])
        peers = [k for k, cg in self.keywords.items() if cg == (category, group) and k != keyword]
        words = []
        base = float(self.profile(keyword)[min(self.days - 1, max(0, self._day_index(when)))])
        for peer in peers[:8]:
            words.append((peer, rng.uniform(0.5, 0.95)))
        for suffix in ("是什么", "教程", "公司", "应用", "招聘", "前景"):
            words.append((keyword + suffix, rng.uniform(0.3, 0.8)))
        out = []
        for word, sim in words:
            out.append({"word": word, "pv": int(base * rng.uniform(0.05, 1.2) * 7),
                        "ratio": int(rng.integers(-60, 120)), "sim": round(float(sim), 3)})
        return out


_GOLDEN = 0x9E3779B97F4A7C15
# 16 bits of a cell's hash choose its noise: exp(sigma z) at the 65,536 normal quantiles
_LEVELS = 1 << 16


def _mix64(x):
    """SplitMix64's finaliser on uint64 arrays (wrapping): a cell's hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=8)
def _day_keys(lo: int, hi: int) -> np.ndarray:
    """Each day's key, day indexes lo..hi."""
    return _mix64(np.arange(lo + 1, hi + 2, dtype=np.uint64) * np.uint64(_GOLDEN))


@lru_cache(maxsize=1)
def _noise_tables() -> tuple[np.ndarray, np.ndarray]:
    """(day noise, pc noise): lognormal factors exp(0.12 z) and exp(0.05 z) at the midpoints of
    65,536 equal-probability slices of the standard normal."""
    z = np.array([NormalDist().inv_cdf((i + 0.5) / _LEVELS) for i in range(_LEVELS)])
    return np.exp(0.12 * z), np.exp(0.05 * z)
