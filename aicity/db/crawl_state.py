"""The crawl's own state: values it keeps, accounts, salt, daily budgets, unindexed keywords."""
from __future__ import annotations

import json
import secrets
from typing import Iterable, Sequence

from sqlite_utils import Database

from aicity.db.connection import now_iso


def crawl_state(db: Database, key: str) -> str:
    """A value the crawl or the nightly job keeps ('' when there is none)."""
    row = db.execute("SELECT value FROM crawl_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else ""


def set_crawl_state(db: Database, key: str, value: str | None) -> None:
    """Keep a value, or forget it (None)."""
    if value is None:
        db.execute("DELETE FROM crawl_state WHERE key = ?", [key])
    else:
        db.execute("INSERT INTO crawl_state(key, value) VALUES (?, ?) ON CONFLICT(key) "
                   "DO UPDATE SET value = excluded.value", [key, value])


def account_states(db: Database, keys: Sequence[str] | None = None) -> dict[str, dict]:
    """What the crawl keeps of each account between runs (block count, rest), by account key
    (a salted hash, never the cookie); every account's when `keys` is None."""
    rows = db.execute("SELECT key, value FROM crawl_state WHERE key LIKE 'account:%'").fetchall()
    states = {k[len("account:"):]: json.loads(v) for k, v in rows}
    return states if keys is None else {k: states[k] for k in keys if k in states}


def save_account_states(db: Database, states: dict[str, dict]) -> None:
    with db.atomic():
        for key, state in states.items():
            set_crawl_state(db, f"account:{key}", json.dumps(state, sort_keys=True))


def crawl_salt(db: Database) -> str:
    """This database's salt for account keys (made once, kept)."""
    row = db.execute("SELECT value FROM crawl_state WHERE key = 'account_salt'").fetchone()
    if row:
        return row[0]
    salt = secrets.token_hex(16)
    with db.atomic():
        db.execute("INSERT INTO crawl_state(key, value) VALUES ('account_salt', ?) "
                   "ON CONFLICT(key) DO NOTHING", [salt])
    return db.execute("SELECT value FROM crawl_state WHERE key = 'account_salt'").fetchone()[0]


def budget_used(db: Database, accounts: Sequence[str], day: str) -> dict[str, int]:
    """Requests each account key already sent on `day` (Asia/Shanghai)."""
    if not accounts:
        return {}
    marks = ",".join("?" * len(accounts))
    used = {a: 0 for a in accounts}
    used.update((r[0], r[1]) for r in db.execute(
        f"SELECT account, used FROM account_budget WHERE day = ? AND account IN ({marks})",
        [day, *accounts]))
    return used


def add_budget_used(db: Database, spent: dict[tuple[str, str], int]) -> None:
    """Add requests sent, keyed by (account key, day)."""
    if not spent:
        return
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO account_budget(account, day, used) VALUES (?, ?, ?) "
            "ON CONFLICT(account, day) DO UPDATE SET used = account_budget.used + excluded.used",
            [(a, d, n) for (a, d), n in spent.items() if n])


def unindexed(db: Database, terms: Sequence[str] | None = None) -> set[str]:
    """Keywords Baidu reported as not indexed (among `terms` when given)."""
    found = {r[0] for r in db.execute("SELECT keyword FROM unindexed_keywords")}
    return found if terms is None else found & set(terms)


def unindexed_rows(db: Database) -> list[tuple[str, str, str]]:
    """(keyword, checked_at, source) of every keyword marked as not indexed."""
    return [tuple(r) for r in db.execute(
        "SELECT keyword, checked_at, source FROM unindexed_keywords ORDER BY keyword")]


def clear_unindexed(db: Database, keywords: Sequence[str]) -> int:
    """Forget marks (the next collect asks the site again); how many were there."""
    with db.atomic():
        n = 0
        for k in keywords:
            n += db.execute("DELETE FROM unindexed_keywords WHERE keyword = ?", [k]).rowcount
    return n


def mark_unindexed(db: Database, keywords: Iterable[str], source: str) -> None:
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO unindexed_keywords(keyword, checked_at, source) VALUES (?, ?, ?) "
            "ON CONFLICT(keyword) DO UPDATE SET checked_at = excluded.checked_at",
            [(k, now_iso(), source) for k in keywords])



# the newest day any answer had a value on: the site had published it (crawler.confirm)
PUBLISHED_THROUGH = "site_published_through"


def published_through(db: Database) -> str:
    """The newest day the site is known to have published ('' when none is known)."""
    return crawl_state(db, PUBLISHED_THROUGH)


def note_published_through(db: Database, day: str) -> None:
    """Keep `day` as the newest published one unless a later one is kept (writers on several
    hosts may note theirs in any order), committed at once."""
    greatest = "max" if db.dialect == "sqlite" else "greatest"
    with db.atomic():
        db.execute("INSERT INTO crawl_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                   f"SET value = {greatest}(crawl_state.value, excluded.value)",
                   [PUBLISHED_THROUGH, day])
