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
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

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
# Random draws come in fixed blocks of days, each block from a stream of its own, and random
# events fall in a fixed span: publishing a new day must not rewrite history (one stream over
# start..latest would shift every draw when `latest` moves), and an answer for one year draws
# one or two blocks instead of every block since 2011.
BLOCK_DAYS = 366
EVENT_SPAN_DAYS = 7300


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
        self._festivals = [date.fromisoformat(r["date"]) for r in
                           csv.DictReader((HERE / "spring_festival.csv").open(encoding="utf-8"))]
        self._events = list(csv.DictReader((HERE / "news_events.csv").open(encoding="utf-8")))

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
        """(values, pc) as float32 for day indexes lo..hi."""
        blocks = [_city_block(self, keyword, code, b)
                  for b in range(lo // BLOCK_DAYS, hi // BLOCK_DAYS + 1)]
        return _days(blocks, lo, hi)

    def _aggregate_series(self, keyword: str, code: int, lo: int, hi: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(all, pc) of a province or the nation for day indexes lo..hi."""
        blocks = [_aggregate_block(self, keyword, b)[code]
                  for b in range(lo // BLOCK_DAYS, hi // BLOCK_DAYS + 1)]
        return _days(blocks, lo, hi)

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


def _days(blocks: list[tuple[np.ndarray, np.ndarray]], lo: int, hi: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Days lo..hi out of consecutive blocks, the first of which holds day lo."""
    skip = lo % BLOCK_DAYS
    n = hi - lo + 1
    if len(blocks) == 1:
        values, pc = blocks[0]
        return values[skip:skip + n], pc[skip:skip + n]
    return tuple(np.concatenate([b[j] for b in blocks])[skip:skip + n] for j in range(2))


# A block is 366 days of one series (3 KB). A year of every city and keyword of the registry
# usually straddles two blocks: 95,000 of them, which a national answer draws in full (its
# sum). Held at 32,768, the demo drew each city's blocks twice (the cities' own answers came
# after the nation's had pushed them out): 18 s of its emulator's 50. 131,072 hold them all
# (about 300 MB for the demo, 450 MB at most).
@lru_cache(maxsize=131072)
def _city_block(world: World, keyword: str, code: int, block: int
                ) -> tuple[np.ndarray, np.ndarray]:
    lo = block * BLOCK_DAYS
    hi = min(world.days, lo + BLOCK_DAYS)
    i = world._city_index[code]
    national = world.profile(keyword)[lo:hi]
    affinity = world._group_affinity(keyword)[i]
    noise, pc_noise = _draws(world.seed, keyword, code, block, hi - lo)
    raw = national * world.city_share[i] * affinity * noise * SCALE
    values = np.round(raw)
    pc = np.round(values * world._pc_share()[lo:hi] * pc_noise)
    pc = np.minimum(pc, values)
    return values.astype(np.float32), pc.astype(np.float32)


@lru_cache(maxsize=4096)
def _aggregate_block(world: World, keyword: str, block: int
                     ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """National and provincial sums of a keyword (all, pc) over one block, computed once: a
    national answer would otherwise sum 364 city series on every request."""
    out = {}
    n = min(world.days, (block + 1) * BLOCK_DAYS) - block * BLOCK_DAYS
    national = np.zeros(n)
    national_pc = np.zeros(n)
    for name, codes in world._province_cities.items():
        total = np.zeros(n)
        pc_total = np.zeros(n)
        for c in codes:
            values, pc = _city_block(world, keyword, c, block)
            total += values
            pc_total += pc
        out[world.provinces[name].code] = (total.astype(np.float32), pc_total.astype(np.float32))
        national += total
        national_pc += pc_total
    out[world.country.code] = (national.astype(np.float32), national_pc.astype(np.float32))
    return out


def _draws(seed: int, keyword: str, code: int, block: int, days: int):
    """(noise, pc noise) for the first `days` days of a block: each block is a stream of its
    own, always drawn in full, so a longer world never changes a day before. Between the two
    lies a stream of uniform draws that gaps once took (one 64-bit draw a day): skipped, not
    drawn, so every value stays what it was."""
    rng = np.random.default_rng([seed, 5, _stable_int(keyword), code, block])
    noise = rng.lognormal(0.0, 0.12, BLOCK_DAYS)[:days]
    rng.bit_generator.advance(BLOCK_DAYS)
    return noise, rng.lognormal(0.0, 0.05, BLOCK_DAYS)[:days]
