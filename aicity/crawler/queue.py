"""The plan's pieces shared by collect workers on any hosts, through Redis.

Redis' reliable-queue pattern (LMOVE into a list of the worker's own): a piece a worker takes
stays in its lease list until the pipeline has stored it (or the worker has given up on it),
so a killed worker loses nothing. Each worker keeps a key alive with a time to live; when the
key has expired, any worker moves the dead one's leases back to the queue. Scrapy's side (a
spider that asks for more when idle) is scrapy-redis' RedisMixin (spiders/queued_index.py).

Keys, under `prefix` (default "aicity:index"):
  pending          list of pieces (JSON) not yet taken
  taken:<worker>   list of pieces a worker holds
  workers          set of workers that took pieces
  alive:<worker>   present while the worker lives (expires after `lease_seconds`)
  attempts         hash: how many times a piece was handed back from a stopped worker
  plan             the last day of the plan being worked; the first worker to find no plan
                   (or an older one) pushes its own, so a night's plan is pushed once however
                   many workers start
  plan:scope       what the plan covers (a digest of regions, keywords, days and devices):
                   a worker of another scope is refused while the plan is tonight's, and
                   replaces it when it was left by an earlier night
  plan:about       the same in words, for the refusal
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from datetime import date
from typing import Callable, Iterable

from aicity.crawler.plan import Piece

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "aicity:index"
DEFAULT_LEASE_SECONDS = 60.0
# A piece handed back this many times (its workers died holding it) is dropped: it stays
# missing in the database and the next night's plan asks for it again.
MAX_ATTEMPTS = 3

# Push the plan only when none is being worked, or the one being worked ends on an earlier
# day (left by a night whose workers all stopped: its pieces are still done, and tonight's days
# are not held back by it), atomically: two workers starting together push one plan.
# A plan of another scope being worked tonight (or later) refuses the push (-1); one left by an
# earlier night goes, pending pieces and all (they are that scope's to ask again). A plan pushed
# without a scope (by a version before scopes, or a script) is taken for any.
_PUSH = """
local current = redis.call('GET', KEYS[2])
local scope = redis.call('GET', KEYS[3])
local other = scope and scope ~= '' and ARGV[2] ~= '' and scope ~= ARGV[2]
if current and current >= ARGV[1] then
  if other then return -1 end
  return 0
end
if other then redis.call('DEL', KEYS[1]) end
for i = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
return #ARGV - 3
"""
# The plan is finished when nothing is pending and no worker holds a piece: then it goes, and
# the next run pushes a new one.
_FINISH = """
if redis.call('LLEN', KEYS[1]) > 0 then return 0 end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('LLEN', ARGV[1] .. w) > 0 then return 0 end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return 1
"""


class OtherPlan(RuntimeError):
    """The queue is working tonight's plan of another scope."""


def piece_to_json(piece: Piece) -> str:
    return json.dumps({"region": piece.region, "start": piece.start.isoformat(),
                       "end": piece.end.isoformat(), "keywords": list(piece.keywords),
                       "recent": piece.recent}, ensure_ascii=False, sort_keys=True)


def piece_from_json(data: str | bytes) -> Piece:
    d = json.loads(data)
    return Piece(int(d["region"]), date.fromisoformat(d["start"]), date.fromisoformat(d["end"]),
                 tuple(d["keywords"]), recent=bool(d.get("recent")))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class PieceQueue:
    def __init__(self, client, prefix: str = DEFAULT_PREFIX,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, worker: str | None = None,
                 still_missing: Callable[[list[Piece]], list[Piece]] | None = None):
        self.r = client
        self.prefix = prefix
        self.lease_ms = max(100, int(lease_seconds * 1000))
        self.worker = worker or worker_name()
        # keeps only what is still to be stored (the database's coverage): a piece handed back
        # from a worker that died after storing it is not asked for again
        self.still_missing = still_missing
        self._push = client.register_script(_PUSH)
        self._finish = client.register_script(_FINISH)
        self.taken_count = 0         # pieces this worker took and asked for
        self.skipped_count = 0       # pieces it took and found already stored
        self.requeued_count = 0      # pieces of stopped workers it handed back to the queue
        self.where = "redis"         # the queue as messages name it (its URL, no password)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def my_leases(self) -> str:
        return self.key("taken", self.worker)

    # --- the plan ------------------------------------------------------------------------
    def push_plan(self, pieces: Iterable[Piece], through: str, scope: str = "",
                  about: str = "") -> int:
        """Push the pieces of a plan up to day `through` (ISO) unless a plan of the same
        `scope` through that day or later is being worked; returns how many were pushed.
        Raises OtherPlan when tonight's plan in the queue is of another scope."""
        data = [piece_to_json(p) for p in pieces]
        if not data:
            return 0
        pushed = int(self._push(keys=[self.key("pending"), self.key("plan"),
                                      self.key("plan", "scope"), self.key("plan", "about")],
                                args=[through, scope, about, *data]))
        if pushed < 0:
            theirs = self.r.get(self.key("plan", "about")) or b""
            theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
            raise OtherPlan(theirs or "another scope")
        return pushed

    def pending(self) -> int:
        return int(self.r.llen(self.key("pending")))

    def held_elsewhere(self) -> int:
        """Pieces other living workers hold (they may still hand them back)."""
        n = 0
        for w in self.r.smembers(self.key("workers")):
            w = w.decode() if isinstance(w, bytes) else w
            if w != self.worker:
                n += int(self.r.llen(self.key("taken", w)))
        return n

    # --- a worker's life -----------------------------------------------------------------
    def heartbeat(self) -> None:
        self.r.set(self.key("alive", self.worker), "1", px=self.lease_ms)
        self.r.sadd(self.key("workers"), self.worker)

    def take(self, n: int) -> list[tuple[bytes, Piece]]:
        """Up to n pieces, leased to this worker; those already stored are acknowledged at once
        and not returned."""
        self.heartbeat()
        with self.r.pipeline(transaction=False) as pipe:
            for _ in range(n):
                pipe.lmove(self.key("pending"), self.my_leases, "LEFT", "RIGHT")
            raw = [d for d in pipe.execute() if d is not None]
        out = [(data, piece_from_json(data)) for data in raw]
        if self.still_missing is not None and out:
            missing = set(self.still_missing([piece for _, piece in out]))
            for data, piece in out:
                if piece not in missing:
                    self.done(data)
                    self.skipped_count += 1
            out = [(data, piece) for data, piece in out if piece in missing]
        self.taken_count += len(out)
        return out

    def done(self, data: bytes | str) -> None:
        """The piece is stored (or given up): the lease goes."""
        self.r.lrem(self.my_leases, 1, data)

    def requeue_dead(self) -> int:
        """Hand the pieces of workers whose key expired back to the queue; returns how many."""
        moved = dropped = 0
        for w in self.r.smembers(self.key("workers")):
            w = w.decode() if isinstance(w, bytes) else w
            if w == self.worker or self.r.exists(self.key("alive", w)):
                continue
            leases = self.key("taken", w)
            # LMOVE: each piece is in one list or the other at every moment, even if this
            # worker dies halfway
            while (data := self.r.lmove(leases, self.key("pending"), "LEFT", "LEFT")) is not None:
                attempts = int(self.r.hincrby(self.key("attempts"), data, 1))
                if attempts >= MAX_ATTEMPTS:
                    self.r.lrem(self.key("pending"), 1, data)
                    piece = piece_from_json(data)
                    dropped += 1
                    logger.warning("piece %s %s..%s dropped after %d workers stopped holding "
                                   "it; the next run asks for it again", piece.region,
                                   piece.start, piece.end, attempts)
                    continue
                moved += 1
            self.r.srem(self.key("workers"), w)
        self.requeued_count += moved
        if moved:
            logger.info("%d pieces of stopped workers are back in the queue", moved)
        return moved

    def release(self) -> int:
        """Hand back what this worker still holds (it stops: budget spent, Ctrl-C) and try to
        finish the plan."""
        n = 0
        while self.r.lmove(self.my_leases, self.key("pending"), "RIGHT", "LEFT") is not None:
            n += 1
        self.r.delete(self.key("alive", self.worker))
        self.r.srem(self.key("workers"), self.worker)
        self.finish()
        return n

    def drop_own(self) -> int:
        """Acknowledge every piece this worker still holds (its requests have all ended)."""
        n = int(self.r.llen(self.my_leases))
        self.r.delete(self.my_leases)
        return n

    def finish(self) -> bool:
        """Remove the plan when nothing is left anywhere; True if it went."""
        return bool(self._finish(keys=[self.key("pending"), self.key("workers"),
                                       self.key("plan"), self.key("attempts"),
                                       self.key("plan", "scope"), self.key("plan", "about")],
                                 args=[self.key("taken", "")]))


# A Redis server that went away (killed and restarted, frozen) is waited for: each command is
# tried again after pauses doubling from 0.25 s to 8 s, about a minute in all (redis-py's own
# Retry), and a frozen server answers within SOCKET_SECONDS or counts as gone for that try.
RETRIES = 12
SOCKET_SECONDS = 10.0
WAIT_SECONDS = sum(min(8.0, 0.25 * 2 ** i) for i in range(RETRIES))


def queue_errors() -> tuple[type[BaseException], ...]:
    """What a Redis command raises once its retries are spent (the server is gone)."""
    import redis
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def connect(url: str):
    """A Redis client for `url` (redis://host:port/db), checked with a ping, whose commands
    wait for a server that went away (RETRIES)."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry
    from scrapy_redis.connection import get_redis
    client = get_redis(url=url, socket_timeout=SOCKET_SECONDS,
                       socket_connect_timeout=SOCKET_SECONDS)
    client.ping()          # at once: a queue that is not there at the start is a wrong URL
    client.set_retry(Retry(ExponentialBackoff(cap=8.0, base=0.25), RETRIES,
                           supported_errors=queue_errors()))
    return client
