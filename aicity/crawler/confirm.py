"""Which empty values of an answer to believe. Pure functions: tested without a crawl.

The real site sometimes answers a series with every value empty, and a re-request fixes it; days
it has not published yet also come back empty. So a blank answer, and the run of empty days at
the end of any answer, are *unconfirmed*: not stored and not covered, so later runs ask again.
Most city-level blanks are genuine, though (the series stays below Baidu's reporting floor): a
blank that comes back blank on a second night is accepted as below the floor (stored as NULL,
covered, and the reason kept). A trailing empty day is accepted after `tries` answers over at
least `days` days, or at once when the site has already published that day (another answer of
the same run has a value on it: Baidu updates every word and region together), for then it is
below the floor, not unpublished. Empty days inside an answer, with values after them, are
below the floor too and are stored as NULL at once.

A day after the newest day the site is known to have published is never accepted, however often
it comes back empty: it is unpublished, not below the floor (asking past the site's latest day,
then again after the rest, stored such days as below the floor for good; when the site later
published them, their values were never asked for).
"""
from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aicity.vocabulary import BLANK_ANSWER, EMPTY_AT_END

BLANK, RECENT_END = BLANK_ANSWER, EMPTY_AT_END
DEFAULT_TRIES = 3
DEFAULT_DAYS = 2.0
# A whole-series blank is accepted (below Baidu's reporting floor) once it came back blank on
# two nights: two answers at least this many hours apart.
DEFAULT_BLANK_REST_HOURS = 12.0


@dataclass(frozen=True)
class Verdict:
    keep: int                       # how many leading values to store
    unconfirmed: list = field(default_factory=list)  # (date, reason, tries, first_seen, accepted)


def first_unconfirmed(values: list) -> int:
    """Index of the first value of the trailing empty run (len(values) when there is none)."""
    i = len(values)
    while i > 0 and values[i - 1] is None:
        i -= 1
    return i


def judge(values: list, dates: list[str], prior: dict[str, tuple[int, str]], now: datetime,
          tries: int = DEFAULT_TRIES, days: float = DEFAULT_DAYS,
          blank_rest_hours: float = DEFAULT_BLANK_REST_HOURS,
          published_through: str | None = None) -> Verdict:
    """What to store of one series' answer (its `all` values, dated).

    prior: date -> (tries so far, first seen as ISO time[, reason]) of days already waiting.
    A blank answer is accepted when it is the second, on another night; empty days at the end
    after `tries` answers over `days` days. A day keeps the reason it was first seen with (the
    last days of one answer, unpublished, may make up the whole of the next).
    `published_through`: the newest day the site is known to have published (ISO; "" when it
    is known to have published nothing we have seen, None when unknown); an empty day at the
    end of an answer that has values is accepted at once up to it. A blank answer is not: the
    site's transient blanks empty whole series. No day after it is ever accepted.
    """
    cut = first_unconfirmed(values)
    if cut == len(values):
        return Verdict(len(values))
    answer_reason = BLANK if cut == 0 else RECENT_END
    rules = waiting_rules(tries, days, blank_rest_hours)
    # a day seen for the first time is as old as this answer (a blank answer has 365 of them)
    first_time = (0, now.isoformat())
    waiting = list(dates[cut:])
    states = list(map(prior.get, waiting, itertools.repeat(first_time)))
    # (list.count and sorted compare in C: a Python loop here cost what it saves)
    if states.count(states[0]) == len(states) and sorted(waiting) == waiting:
        # The usual case, a blank series asked again, or the last days of a night: every
        # waiting day in the same state, judged once instead of once a day (a demo judged
        # eight million days one by one)
        reason, count, first, settled, publishable = _day_state(states[0], answer_reason,
                                                                rules, now, {})
        # the days up to the newest the site published; none after it is ever accepted
        through = (len(waiting) if published_through is None
                   else bisect.bisect_right(waiting, published_through))
        accepted = through if settled or (publishable and published_through is not None) else 0
        marks = [(day, reason, count, first, i < accepted) for i, day in enumerate(waiting)]
        return Verdict(cut + accepted, marks)
    return judged_day_by_day(waiting, states, cut, answer_reason, rules, now, published_through)


def waiting_rules(tries: int, days: float, blank_rest_hours: float
                  ) -> dict[str, tuple[int, timedelta]]:
    """For each reason a day waits, (answers needed, how long since first seen)."""
    return {BLANK: (2, timedelta(hours=blank_rest_hours)),
            RECENT_END: (tries, timedelta(days=days))}


def judged_day_by_day(waiting: list[str], states: list[tuple], cut: int, answer_reason: str,
                      rules: dict, now: datetime, published_through: str | None) -> Verdict:
    """judge's verdict day by day: each waiting day (ascending or not) in its own state."""
    marks, accepted_run = [], True
    # the days of one answer share a few first-seen times: each parsed once, not once a day
    ages: dict[str, timedelta] = {}
    for day, state in zip(waiting, states):
        reason, count, first, settled, publishable = _day_state(state, answer_reason, rules,
                                                                now, ages)
        published = publishable and published_through is not None and day <= published_through
        unpublished = published_through is not None and day > published_through
        accepted = accepted_run and not unpublished and (published or settled)
        accepted_run = accepted  # coverage is contiguous: stop accepting at the first refusal
        marks.append((day, reason, count, first, accepted))
    keep = cut + sum(1 for m in marks if m[4])
    return Verdict(keep, marks)


def _day_state(state: tuple, answer_reason: str, rules: dict, now: datetime,
               ages: dict[str, timedelta]) -> tuple[str, int, str, bool, bool]:
    """(reason, count with this answer, first seen, whether its tries and age are enough,
    whether the site's publishing the day would settle it) of a waiting day in `state`."""
    before, first, *known = state
    reason = known[0] if known and known[0] in rules else answer_reason
    need, wait = rules[reason]
    count = before + 1
    if before:
        age = ages.get(first)
        if age is None:
            age = ages[first] = now - datetime.fromisoformat(first)
    else:
        age = timedelta(0)
    publishable = reason == RECENT_END and answer_reason == RECENT_END
    return reason, count, first, count >= need and age >= wait, publishable
