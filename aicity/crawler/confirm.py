"""Which empty values of an answer to believe. Pure functions: tested without a crawl.

The real site sometimes answers a series with every value empty, and a re-request fixes it; days
it has not published yet also come back empty. So a blank answer, and the run of empty days at
the end of any answer, are *unconfirmed*: not stored and not covered, so later runs ask again.
A day that stayed empty for `tries` answers over at least `days` days is accepted as truly
missing (stored as NULL, covered, and the reason kept). Empty days inside an answer, with values
after them, are real gaps and are stored as NULL at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

BLANK = "blank answer"
RECENT_END = "empty at the end of the answer"
DEFAULT_TRIES = 3
DEFAULT_DAYS = 2.0


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
          tries: int = DEFAULT_TRIES, days: float = DEFAULT_DAYS) -> Verdict:
    """What to store of one series' answer (its `all` values, dated).

    prior: date -> (tries so far, first seen as ISO time) of days already waiting.
    """
    cut = first_unconfirmed(values)
    if cut == len(values):
        return Verdict(len(values))
    reason = BLANK if cut == 0 else RECENT_END
    marks, accepted_run = [], True
    for day in dates[cut:]:
        before, first = prior.get(day, (0, now.isoformat()))
        count = before + 1
        age = now - datetime.fromisoformat(first)
        accepted = accepted_run and count >= tries and age >= timedelta(days=days)
        accepted_run = accepted  # coverage is contiguous: stop accepting at the first refusal
        marks.append((day, reason, count, first, accepted))
    keep = cut + sum(1 for m in marks if m[4])
    return Verdict(keep, marks)
