"""Periods as analysts write them: a year (2017), a month (2017-03) or START..END."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from aicity.vocabulary import DateError, parse_day


class PeriodError(DateError):
    """A period that is not a year, a month or START..END."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted_years(self, years: int) -> "Period":
        """The same calendar span `years` earlier (-1) or later; 29 February becomes the 28th."""
        def shift(d: date) -> date:
            y = d.year + years
            return date(y, d.month, min(d.day, calendar.monthrange(y, d.month)[1]))
        return Period(shift(self.start), shift(self.end), f"{self.label} {years:+d}y")


def parse_period(text: str | Period) -> Period:
    if isinstance(text, Period):   # already parsed: callers pass periods on, not their text
        return text
    text = str(text).strip()
    if re.fullmatch(r"\d{4}", text):
        y = int(text)
        return Period(date(y, 1, 1), date(y, 12, 31), text)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text)
    if m:
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodError(f"period {text!r}: month {mo} does not exist")
        return Period(date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1]), text)
    if ".." in text:
        a, _, b = text.partition("..")
        try:
            start, end = parse_day(a), parse_day(b)
        except PeriodError as err:
            raise PeriodError(f"period {text!r}: START..END must be YYYY-MM-DD..YYYY-MM-DD "
                              f"({err})") from None
        if end < start:
            raise PeriodError(f"period {text!r} ends before it starts")
        return Period(start, end, text)
    raise PeriodError(f"period {text!r} is not a year (2017), a month (2017-03) or "
                      f"START..END (2017-01-01..2017-06-30)")


def trailing(latest: date, days: int = 365) -> Period:
    start = latest - timedelta(days=days - 1)
    return Period(start, latest, f"{start}..{latest}")
