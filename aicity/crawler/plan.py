"""What a collect run has to fetch: the (keywords, region, date range) pieces not yet stored,
and, on a request budget, which of them tonight.

Pure functions over the coverage table's ranges, so planning is tested without a crawl.

A night on a budget is planned for freshness, newest data first (`plan_night`):
1. the recent window (the last `window_days` up to the latest day) of the nation and the
   provinces, every night when the budget allows it;
2. the recent window of the cities, never collected first (larger cities first), then the
   stalest: when the budget cannot cover them all, they are refreshed in rotation, and since one
   request covers up to a year, rotation delays freshness but loses no day. When the budget
   cannot even refresh every province nightly, all regions rotate together with the nation and
   provinces weighted `LEAD_WEIGHT` times a city, so no level starves;
3. older history, newest windows first. Once every region has been collected once, history
   gets at least `history_share` of the budget, so it completes even when refreshing every
   city would take the whole budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable

from aicity.crawler.protocol import EARLIEST, MAX_SERIES_PER_REQUEST

DEFAULT_WINDOW_DAYS = 300   # daily data is safe up to about a year per request; 300 is the norm


@dataclass(frozen=True)
class Piece:
    region: int
    start: date
    end: date
    keywords: tuple[str, ...]
    recent: bool = field(default=False, compare=False)   # in the window ending at the latest day

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def missing_ranges(start: date, end: date, covered: Iterable[tuple[date, date]]
                   ) -> list[tuple[date, date]]:
    """[start, end] minus the union of covered ranges, as sorted disjoint ranges."""
    out = []
    cursor = start
    for a, b in sorted(covered):
        if b < cursor or a > end:
            continue
        if a > cursor:
            out.append((cursor, min(end, a - timedelta(days=1))))
        cursor = max(cursor, b + timedelta(days=1))
        if cursor > end:
            break
    if cursor <= end:
        out.append((cursor, end))
    return out


# --- a night on a budget ---------------------------------------------------------------------

LEVEL_RANK = {"country": 0, "province": 1, "city": 2}
REQUESTS_PER_PIECE = 2          # the index request and its ptbk key

# Scrapy's scheduler keeps one queue per distinct request priority and scans all of them each
# time one runs dry, so a priority per planned request made a night of 10,000 requests
# quadratic (a fifth of the crawler's time went to the scan). Planned requests share a
# priority in bands; FIFO queues (crawler.settings) keep the plan's order inside a band, and
# follow-ups (a ptbk at +1, a re-ask at -1) stay next to their band.
PRIORITY_BAND = 512


def plan_priority(position: int) -> int:
    """Scrapy request priority of the plan's `position`-th request (earlier is higher)."""
    return -2 * (position // PRIORITY_BAND)
DEFAULT_HISTORY_SHARE = 0.25


@dataclass(frozen=True)
class Area:
    """What the planner needs to know of a region."""
    code: int
    level: str
    population: float = 0.0

    @property
    def leads(self) -> bool:
        """The nation and the provinces are kept fresh before any city."""
        return LEVEL_RANK.get(self.level, 2) < 2


@dataclass
class NightPlan:
    pieces: list[Piece]                 # tonight, in the order to send them
    deferred: list[Piece]               # left for later nights by the budget
    budget: int | None                  # requests available tonight (None = no limit)
    check_requests: int

    @property
    def requests(self) -> int:
        return REQUESTS_PER_PIECE * len(self.pieces) + (self.check_requests if self.pieces
                                                          else 0)


def fresh_through(keywords: list[str], region: int,
                  covered: dict[tuple[str, int], list[tuple[date, date]]]) -> date | None:
    """The newest day every keyword of a region has (None if one has nothing)."""
    ends = []
    for kw in keywords:
        ranges = covered.get((kw, region))
        if not ranges:
            return None
        ends.append(max(b for _, b in ranges))
    return min(ends) if ends else None


def _grid_from_end(a: date, b: date, window_days: int, end: date
                   ) -> list[tuple[int, date, date]]:
    """[a, b] cut on a grid counted back from `end`: (k, start, stop), window k holding
    end - (k+1)·W + 1 .. end - k·W, so every keyword's recent days share window 0."""
    out = []
    stop = b
    while stop >= a:
        k = (end - stop).days // window_days
        grid_start = end - timedelta(days=(k + 1) * window_days - 1)
        first = max(a, grid_start)
        out.append((k, first, stop))
        stop = first - timedelta(days=1)
    return out


LEAD_WEIGHT = 7
NEVER = 10 ** 6     # days behind of a region never collected


def _priority(area: Area, newest: date | None, today: date, leads_first: bool) -> tuple:
    """Sort key of a region's recent window: most urgent first."""
    behind = NEVER if newest is None else (today - newest).days
    if leads_first:
        return (0 if area.leads else 1, -behind, LEVEL_RANK.get(area.level, 2),
                -area.population, area.code)
    weighted = behind * (LEAD_WEIGHT if area.leads else 1)
    return (1, -weighted, LEVEL_RANK.get(area.level, 2), -area.population, area.code)


def plan_night(keywords: list[str], areas: list[Area], start: date, end: date,
               covered: dict[tuple[str, int], list[tuple[date, date]]], *,
               budget: int | None = None, window_days: int = DEFAULT_WINDOW_DAYS,
               batch: int = MAX_SERIES_PER_REQUEST, check_requests: int = 0,
               history_share: float = DEFAULT_HISTORY_SHARE) -> NightPlan:
    """Tonight's pieces within `budget` requests (None: everything missing), newest first."""
    start = max(start, EARLIEST)
    if end < start:
        return NightPlan([], [], budget, check_requests)
    groups: dict[tuple[int, int, date, date], list[str]] = {}
    for area in areas:
        for kw in keywords:
            for a, b in missing_ranges(start, end, covered.get((kw, area.code), [])):
                for k, wa, wb in _grid_from_end(a, b, window_days, end):
                    groups.setdefault((area.code, k, wa, wb), []).append(kw)
    by_code = {a.code: a for a in areas}
    fresh = {a.code: fresh_through(keywords, a.code, covered) for a in areas}
    pieces_left = None if budget is None else \
        max(0, (budget - check_requests) // REQUESTS_PER_PIECE)
    lead_pieces = sum(-(-len(kws) // batch) for (code, k, _, _), kws in groups.items()
                      if k == 0 and by_code[code].leads)
    leads_first = pieces_left is None or lead_pieces <= pieces_left

    def order(item):
        (code, k, wa, _), _ = item
        area = by_code[code]
        if k == 0:
            return (0, *_priority(area, fresh[code], end, leads_first), wa)
        return (1, k, LEVEL_RANK.get(area.level, 2), -area.population, code, wa)

    ordered: list[Piece] = []
    for (code, k, wa, wb), kws in sorted(groups.items(), key=order):
        for i in range(0, len(kws), batch):
            ordered.append(Piece(code, wa, wb, tuple(kws[i:i + batch]), recent=(k == 0)))
    if pieces_left is None:
        return NightPlan(ordered, [], None, check_requests)
    recent = [p for p in ordered if p.recent]
    history = [p for p in ordered if not p.recent]
    everyone_once = all(f is not None for f in fresh.values())
    if everyone_once and history:
        reserve = min(len(history), int(pieces_left * history_share))
    else:
        reserve = 0
    tonight = recent[:pieces_left - reserve]
    tonight += history[:pieces_left - len(tonight)]
    chosen = set(map(id, tonight))
    return NightPlan(tonight, [p for p in ordered if id(p) not in chosen], budget,
                     check_requests)


# --- what a budget means over the nights to come (collect --dry-run) --------------------------

@dataclass
class Outlook:
    nights_until_all_collected: int | None      # every region has its recent window
    nights_until_history: int | None            # every region back to `start`
    staleness: dict[str, int]                   # level -> most days behind, once all collected
    requests_per_night: int
    nights_simulated: int


def outlook(keywords: int, areas: list[Area], start: date, end: date,
            state: dict[int, tuple[date | None, date | None]], *, budget: int | None,
            window_days: int = DEFAULT_WINDOW_DAYS, batch: int = MAX_SERIES_PER_REQUEST,
            check_requests: int = 0, history_share: float = DEFAULT_HISTORY_SHARE,
            max_nights: int = 730) -> Outlook:
    """Simulate the nights ahead at region level with the same order as `plan_night`.

    state: region -> (oldest, newest) day all its keywords have (None, None if nothing).
    Each night the latest day moves on by one; a region's refresh costs one piece per keyword
    batch per window it lacks, a history step one window.
    """
    per_window = -(-keywords // batch)
    oldest = {a.code: state.get(a.code, (None, None))[0] for a in areas}
    newest = {a.code: state.get(a.code, (None, None))[1] for a in areas}
    by_code = {a.code: a for a in areas}
    all_once = history_done = None
    worst: dict[str, int] = {}
    spent_max = 0
    for night in range(max_nights):
        today = end + timedelta(days=night)
        left = None if budget is None else max(0, (budget - check_requests)
                                                 // REQUESTS_PER_PIECE)
        floor = max(start, EARLIEST)
        used = 0
        if left is None:                      # no budget: everything, tonight
            used = sum(per_window * max(1, -(-((today - (o or floor)).days + 1)
                                              // window_days)) for o in oldest.values())
            newest = dict.fromkeys(newest, today)
            oldest = dict.fromkeys(oldest, floor)
        else:
            leads_first = sum(per_window for a in areas if a.leads) <= left
            needs = []
            for a in areas:
                n = newest[a.code]
                if n is None or n < today:
                    windows = 1 if n is None else -(-(today - n).days // window_days)
                    needs.append((_priority(a, n, today, leads_first), a.code,
                                  per_window * windows))
            needs.sort()
            behind = sorted((c for c, o in oldest.items() if o is not None and o > floor),
                            key=lambda c: (LEVEL_RANK[by_code[c].level],
                                           -by_code[c].population, c))
            reserve = 0
            if behind and all(n is not None for n in newest.values()):
                reserve = min(len(behind) * per_window, int(left * history_share))
            for _, code, cost in needs:
                if used + cost > left - reserve:
                    break
                used += cost
                if newest[code] is None:
                    oldest[code] = max(floor, today - timedelta(days=window_days - 1))
                newest[code] = today
            while behind and used + per_window <= left:   # one window each, in turn
                for code in list(behind):
                    if used + per_window > left:
                        break
                    used += per_window
                    oldest[code] = max(floor, oldest[code] - timedelta(days=window_days))
                    if oldest[code] <= floor:
                        behind.remove(code)
        spent_max = max(spent_max, used * REQUESTS_PER_PIECE + (check_requests if used else 0))
        if all_once is None and all(newest[c] is not None for c in newest):
            all_once = night + 1
        if all_once is not None:
            for a in areas:
                lag = (today - newest[a.code]).days
                worst[a.level] = max(worst.get(a.level, 0), lag)
        if history_done is None and all(o is not None and o <= floor
                                        for o in oldest.values()):
            history_done = night + 1
        if all_once is not None and history_done is not None and night + 1 >= all_once + 30:
            break
    return Outlook(all_once, history_done, worst, spent_max, night + 1)


# --- a city snapshot from the regional distribution (the first nights) -------------------------
#
# Index series cost one request (and its ptbk) per five keywords per region: 8,372 index requests
# for the 364 cities, more than five accounts send in a day. Baidu's regional distribution
# (SearchApi/region) answers one keyword for every city of a province at once, as a mean over a
# period, so a snapshot of every city costs keywords × provinces calls (112 × 31 = 3,472). It is
# what the first nights' briefing stands on until the city series come in rotation.

SNAPSHOT_DAYS = 30
# Part of a night's budget a snapshot leaves for what the site makes us ask again (an expired
# token, a blank answer): measured at about 2% on the emulator's real-site habits.
SNAPSHOT_RETRY_MARGIN = 0.03


@dataclass
class SnapshotPlan:
    start: date
    end: date
    calls: list[tuple[str, int]]        # (keyword, province code) tonight, in order
    deferred: int                       # calls left for later nights by the budget
    done_keywords: int                  # keywords already answered for every province
    keywords: int
    provinces: int
    reason: str = ""                    # why nothing is planned ('' when calls are)

    @property
    def complete(self) -> bool:
        return self.done_keywords == self.keywords


def snapshot_order(strata: list[tuple[str, str]]) -> list[str]:
    """Keywords in the order a snapshot asks for them: the groups advance in step, each by the
    same fraction of its keywords (a keyword of the taxonomy's order within its group), so a
    snapshot cut short by the budget has every dimension and group measured to about the same
    degree, by the same keywords in every city.

    strata: (keyword, group) pairs in taxonomy order; a keyword in several groups comes at its
    first turn."""
    groups: dict[str, list[str]] = {}
    for kw, grp in strata:
        groups.setdefault(grp, []).append(kw)
    turns = sorted(((i + 0.5) / len(kws), g, kw) for g, (_, kws) in enumerate(groups.items())
                   for i, kw in enumerate(kws))
    return list(dict.fromkeys(kw for _, _, kw in turns))


def plan_snapshot(keywords: list[str], provinces: list[int], end: date,
                  answered: dict[tuple[date, date], set[tuple[str, int]]], *,
                  budget: int | None, days: int = SNAPSHOT_DAYS) -> SnapshotPlan:
    """Tonight's regional-distribution calls: the newest unfinished snapshot window ending
    within the last `days` days is carried on (so every keyword of a snapshot covers the same
    days), else a new one ends at `end`. Keyword by keyword in `keywords`' order, every
    province of a keyword before the next keyword, within the budget less a margin for
    retries (`SNAPSHOT_RETRY_MARGIN`).

    answered: (window start, window end) -> the (keyword, province) pairs stored for it."""
    current = None
    for (a, b) in sorted(answered, key=lambda w: (w[1], w[0]), reverse=True):
        if b <= end and (end - b).days < days and (b - a).days + 1 == days:
            current = (a, b)
            break
    if current is None:
        current = (end - timedelta(days=days - 1), end)
    have = answered.get(current, set())
    todo = [(kw, p) for kw in keywords for p in provinces if (kw, p) not in have]
    done = sum(1 for kw in keywords if all((kw, p) in have for p in provinces))
    if budget is not None:
        budget -= math.ceil(budget * SNAPSHOT_RETRY_MARGIN)
    room = len(todo) if budget is None else max(0, min(len(todo), budget))
    reason = ""
    if not todo:
        reason = f"the snapshot {current[0]}..{current[1]} is complete"
    elif room == 0:
        reason = "no request left in today's budget"
    return SnapshotPlan(current[0], current[1], todo[:room], len(todo) - room, done,
                        len(keywords), len(provinces), reason)


def snapshot_outlook(keywords: list[str], provinces: list[int], end: date,
                     answered: dict[tuple[date, date], set[tuple[str, int]]], *,
                     budget: int | None, max_nights: int = 30) -> tuple[int, int | None]:
    """(keywords the first night's snapshot has for every province, nights until it is
    complete; None beyond `max_nights`), spending `budget` calls a night on it."""
    answered = {w: set(v) for w, v in answered.items()}
    first = None
    for night in range(1, max_nights + 1):
        plan = plan_snapshot(keywords, provinces, end, answered, budget=budget)
        answered.setdefault((plan.start, plan.end), set()).update(plan.calls)
        done = plan_snapshot(keywords, provinces, end, answered, budget=None)
        first = done.done_keywords if first is None else first
        if done.complete:
            return first, night
    return first or 0, None
