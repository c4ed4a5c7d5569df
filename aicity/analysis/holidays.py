"""China's public holidays, for the anomaly rule: searches drop over the Spring Festival and the
National Day week every year, and a dip the calendar explains is not news.

The official schedule (which days are off, which weekend days are worked instead) comes from
the `chinesecalendar` package, which follows the State Council's notice of each year. The
Spring Festival's effect on searches reaches beyond its official days (people travel before
and after), so its window is widened by `SPRING_FESTIVAL_MARGIN` days each side. A year the
package does not know yet has no holidays here: its dips may be flagged, and a newer
`chinesecalendar` fixes that.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np

SPRING_FESTIVAL_MARGIN = 7


@lru_cache(maxsize=64)
def _year(year: int) -> frozenset[date]:
    """The days of `year` (and the margins reaching into it) that holidays explain."""
    try:
        import chinese_calendar as cc
    except ImportError:          # pragma: no cover - a dependency, but never fatal here
        return frozenset()
    days: set[date] = set()
    for y in (year - 1, year, year + 1):
        try:
            start, end = date(y, 1, 1), date(y, 12, 31)
            for day in (start + timedelta(days=i) for i in range((end - start).days + 1)):
                off, name = cc.get_holiday_detail(day)
                if name is None:
                    continue
                if off:
                    days.add(day)
                if name == "Spring Festival":
                    for k in range(-SPRING_FESTIVAL_MARGIN, SPRING_FESTIVAL_MARGIN + 1):
                        days.add(day + timedelta(days=k))
                days.add(day)        # an adjusted working day is no ordinary day either
        except NotImplementedError:
            continue                 # a year the package does not know
    return frozenset(d for d in days if d.year == year)


def holiday_mask(first: date, n: int) -> np.ndarray:
    """True for each of the n days from `first` that a holiday (or its working day in lieu, or
    the Spring Festival's travel days) explains."""
    out = np.zeros(n, dtype=bool)
    if n <= 0:
        return out
    last = first + timedelta(days=n - 1)
    for year in range(first.year, last.year + 1):
        for day in _year(year):
            i = (day - first).days
            if 0 <= i < n:
                out[i] = True
    return out


HOLIDAY_ZH = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
              "Labour Day": "劳动节", "Dragon Boat Festival": "端午节",
              "Mid-autumn Festival": "中秋节", "National Day": "国庆节"}


def holiday_names(first: date, last: date, lang: str = "en") -> list[tuple[date, str]]:
    """The official days off and working days in lieu between first and last, each with its
    holiday's name (Chinese with lang 'zh'; a working day in lieu says so)."""
    try:
        import chinese_calendar as cc
    except ImportError:          # pragma: no cover - a dependency, but never fatal here
        return []
    out = []
    day = first
    while day <= last:
        try:
            off, name = cc.get_holiday_detail(day)
        except NotImplementedError:      # a year the package does not know
            off, name = False, None
        if name is not None:
            shown = HOLIDAY_ZH.get(name, name) if lang == "zh" else name
            if not off:
                shown += "（调休上班）" if lang == "zh" else " (working day in lieu)"
            out.append((day, shown))
        day += timedelta(days=1)
    return out
