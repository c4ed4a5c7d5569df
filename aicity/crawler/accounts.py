"""The pool of Baidu accounts (cookies): who may send the next request, and when.

Only the middleware uses this. Accounts are named by their position (#1, #2, …) in every message;
the cookie itself is never formatted into a string that could reach a log, an exception or the
database.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aicity.crawler.config import Tuning
from aicity.vocabulary import SHANGHAI



# 10001 rests double this many times (1 h, 2 h, 4 h); the next block rests until the night
# after, from this hour (Asia/Shanghai).
BLOCK_STEPS = 3
NIGHT_STARTS = 0


class NoAccountsLeft(RuntimeError):
    """Every account is retired, parked for longer than we may wait, or out of budget."""


@dataclass
class Account:
    index: int                      # 1-based, the only way an account is ever named
    _cookie: str = field(repr=False)
    retired: bool = False
    retired_because: str = ""
    parked_until: float = 0.0
    budget_day: str = ""
    used_today: int = 0
    backoff: float = 0.0
    throttle: float = 0.0           # the last rest after HTTP 403/429 (doubles, reset on success)
    blocks: int = 0                 # 10001 answers in a row (across runs): the rest escalates
    key: str = ""                   # salted hash of the BDUSS: the budget's key in the database

    @property
    def label(self) -> str:
        return f"account #{self.index}"

    def cookie(self) -> str:
        return self._cookie

    def __str__(self) -> str:      # never the cookie
        return self.label


def account_slot(index: int) -> str:
    """Scrapy's download slot for an account's requests (one in flight, paced)."""
    return f"account-{index}"


def account_key(salt: str, cookie: str) -> str:
    """A stable name for an account that reveals nothing of its cookie: a salted hash of its
    BDUSS (the whole cookie when it has none), so budgets survive other cookies changing."""
    bduss = next((p.strip()[len("BDUSS="):] for p in cookie.split(";")
                  if p.strip().startswith("BDUSS=")), cookie)
    return hashlib.sha256(f"{salt}:{bduss}".encode()).hexdigest()[:16]


def today_shanghai() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


class AccountPool:
    def __init__(self, cookies: list[str], *, daily_budget: int = 0,
                 cooldown: float = Tuning.cooldown,
                 abnormal_backoff: float = Tuning.abnormal_backoff,
                 throttle_cooldown: float = Tuning.throttle_cooldown,
                 clock=time.monotonic, wall=None, salt: str = "",
                 used: dict[str, int] | None = None):
        """used: requests each account key already sent today (from the database)."""
        self.accounts = [Account(i + 1, c, key=account_key(salt, c) if salt else "")
                         for i, c in enumerate(cookies)]
        self.daily_budget = daily_budget
        self.cooldown = cooldown
        self.abnormal_backoff = abnormal_backoff
        self.throttle_cooldown = throttle_cooldown
        self.clock = clock
        self.wall = wall or (lambda: datetime.now(SHANGHAI))
        self._next = 0
        self.spent: dict[tuple[str, str], int] = {}   # not yet written to the database
        for acct in self.accounts:
            acct.budget_day = self._today()
            acct.used_today = (used or {}).get(acct.key, 0)

    def __len__(self) -> int:
        return len(self.accounts)

    def _today(self) -> str:
        return self.wall().date().isoformat()

    def _usable(self, acct: Account, now: float) -> bool:
        if acct.retired or acct.parked_until > now:
            return False
        if self.daily_budget:
            if acct.budget_day != self._today():
                acct.budget_day, acct.used_today = self._today(), 0
            if acct.used_today >= self.daily_budget:
                return False
        return True

    def acquire(self, prefer: int | None = None) -> Account | float:
        """An account to use now, or the seconds until one will be free (a float).

        Raises NoAccountsLeft when none will ever be (all retired or out of today's budget).
        """
        now = self.clock()
        if prefer is not None:
            acct = self.accounts[prefer - 1]
            if self._usable(acct, now):
                return self._take(acct)
        n = len(self.accounts)
        for step in range(n):
            acct = self.accounts[(self._next + step) % n]
            if self._usable(acct, now):
                self._next = (self._next + step + 1) % n
                return self._take(acct)
        waits = [a.parked_until - now for a in self.accounts if not a.retired
                 and a.parked_until > now
                 and not (self.daily_budget and a.budget_day == self._today()
                          and a.used_today >= self.daily_budget)]
        if not waits:
            raise NoAccountsLeft(self.summary())
        return max(0.0, min(waits))

    def _take(self, acct: Account) -> Account:
        if acct.budget_day != self._today():
            acct.budget_day, acct.used_today = self._today(), 0
        acct.used_today += 1
        if acct.key:
            k = (acct.key, acct.budget_day)
            self.spent[k] = self.spent.get(k, 0) + 1
        return acct

    def take_spent(self) -> dict[tuple[str, str], int]:
        """Requests sent since the last call, by (account key, day), to add to the database."""
        spent, self.spent = self.spent, {}
        return spent

    def retire(self, acct: Account, reason: str) -> None:
        acct.retired, acct.retired_because = True, reason

    def park(self, acct: Account, seconds: float | None = None) -> float:
        seconds = self.cooldown if seconds is None else seconds
        acct.parked_until = max(acct.parked_until, self.clock() + seconds)
        return seconds

    def block(self, acct: Account) -> float:
        """10001: rest `cooldown`, doubling with each block in a row (1 h, 2 h, 4 h by
        default); after that the account rests until the next night. Probing a blocked account
        lengthens its ban (research note 2026 §1), so the rest only grows until it answers."""
        acct.blocks += 1
        if acct.blocks <= BLOCK_STEPS:
            return self.park(acct, self.cooldown * 2 ** (acct.blocks - 1))
        return self.park(acct, max(self.cooldown, self.seconds_to_next_night()))

    def throttled(self, acct: Account) -> float:
        """HTTP 403 or 429: the site slows this account down; rest, doubling each time."""
        acct.throttle = self.throttle_cooldown if not acct.throttle else acct.throttle * 2
        return self.park(acct, acct.throttle)

    def answered(self, acct: Account) -> bool:
        """A good answer: the account's rests start again from the first. True if it had a
        block count to forget (to be saved)."""
        acct.backoff = acct.throttle = 0.0
        had, acct.blocks = acct.blocks, 0
        return had > 0

    def seconds_to_next_night(self) -> float:
        """Until NIGHT_STARTS (Asia/Shanghai) of the next calendar day."""
        now = self.wall()
        night = (now + timedelta(days=1)).replace(hour=NIGHT_STARTS, minute=0, second=0,
                                                  microsecond=0)
        return (night - now).total_seconds()

    def state(self, acct: Account) -> dict:
        """What is kept across runs for an account: its block count and until when it rests
        (wall-clock ISO time)."""
        left = acct.parked_until - self.clock()
        until = (self.wall() + timedelta(seconds=left)).isoformat(timespec="seconds") \
            if left > 0 else ""
        return {"blocks": acct.blocks, "resting_until": until}

    def restore(self, acct: Account, state: dict) -> None:
        """Take over an account's kept state (see `state`)."""
        acct.blocks = int(state.get("blocks") or 0)
        until = state.get("resting_until") or ""
        if until:
            left = (datetime.fromisoformat(until) - self.wall()).total_seconds()
            if left > 0:
                acct.parked_until = self.clock() + left

    def back_off(self, acct: Account) -> float:
        """10018: park for a back-off that doubles each time this account meets it."""
        acct.backoff = self.abnormal_backoff if not acct.backoff else acct.backoff * 2
        return self.park(acct, acct.backoff)

    def summary(self) -> str:
        now = self.clock()
        retired = [a for a in self.accounts if a.retired]
        parked = [a for a in self.accounts if not a.retired and a.parked_until > now]
        spent = [a for a in self.accounts if not a.retired and self.daily_budget
                 and a.used_today >= self.daily_budget]
        parts = [f"{len(self.accounts)} account(s)"]
        if retired:
            parts.append("retired: " + ", ".join(f"#{a.index} ({a.retired_because})"
                                                 for a in retired))
        if parked:
            parts.append("parked: " + ", ".join(f"#{a.index} for {a.parked_until - now:.0f} s"
                                                for a in parked))
        if spent:
            parts.append("out of today's budget: " + ", ".join(f"#{a.index}" for a in spent))
        return "; ".join(parts)
