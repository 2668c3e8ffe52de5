"""The rate limiter: one decision per rate-limited request, from the store every worker (and instance) shares.

`[ratelimit] store = "memory"` keeps the counters in the instance's shared store (`dynlan.host._shared`): every
worker process of the instance counts in the same buckets. `store = "redis"` keeps them in Redis, where one Lua
script reads, decides and writes atomically (not a read-modify-write from here, which two instances could
interleave), on Redis's clock: every instance of a cluster counts in the same buckets.

When the store cannot answer, `on_error` decides: `open` lets the request through (and logs it, once a minute),
`closed` refuses it with 503.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING

from dynlan.host._redis import RedisLink, RedisUnavailable
from dynlan.host._shared import SharedStore, SharedStoreError
from dynlan.ratelimit._gcra import REDIS_SCRIPT, Decision, gcra
from dynlan.ratelimit._policy import RateLimit

if TYPE_CHECKING:
    from dynlan.config import RateLimitConfig

log = logging.getLogger("dynlan")

SWEEP_EVERY = 4096
"""Decisions between two sweeps of the buckets that are full again (nothing left to remember)."""
WARN_EVERY = 60.0


class RateLimitUnavailable(Exception):
    """The counters could not be read and the limiter fails closed (503)."""


class RateLimiter:
    def __init__(self, store: str, on_error: str, shared: SharedStore | None, redis: RedisLink | None) -> None:
        if store == "redis" and redis is None:
            raise ValueError("a Redis rate-limit store needs a Redis link")
        if store != "redis" and shared is None:
            raise ValueError("a memory rate-limit store needs the instance's shared store")
        self.store = store
        self.on_error = on_error
        self._shared = shared
        self._redis = redis
        self._script = redis.script(REDIS_SCRIPT) if redis is not None and store == "redis" else None
        self._decisions = 0
        self._warned = 0.0
        self.refused = 0
        self.failures = 0

    @classmethod
    def from_config(cls, cfg: RateLimitConfig, shared: SharedStore | None, redis: RedisLink | None) -> RateLimiter:
        return cls(cfg.store, cfg.on_error, shared, redis)

    async def check(self, limit: RateLimit, site: str, bucket: str) -> Decision | None:
        """The decision for one request; None when the store is down and the limiter fails open."""
        try:
            if self._script is not None:
                assert self._redis is not None
                decision: Decision = await self._redis.run(self._redis_check, limit, site, bucket)
            else:
                decision = self._local_check(limit, site, bucket)
        except (RedisUnavailable, SharedStoreError) as exc:
            self.failures += 1
            if self.on_error == "closed":
                raise RateLimitUnavailable(f"rate limits cannot be checked: {exc}") from None
            now = time.monotonic()
            if now - self._warned > WARN_EVERY:
                self._warned = now
                log.warning("rate limits not enforced (on_error = \"open\"): %s", exc)
            return None
        if not decision.allowed:
            self.refused += 1
        return decision

    def _local_check(self, limit: RateLimit, site: str, bucket: str) -> Decision:
        assert self._shared is not None
        key = f"{site}\0{limit.identity}\0{bucket}"
        # CLOCK_MONOTONIC is one clock for every process of the machine.
        now = time.monotonic()
        with self._shared.transaction() as db:
            row = db.execute("SELECT tat FROM rate WHERE key = ?", (key,)).fetchone()
            decision, tat = gcra(row[0] if row is not None else None, now, limit.interval, limit.burst)
            if tat is not None:
                db.execute("INSERT INTO rate (key, tat) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET tat = excluded.tat",
                           (key, tat))
            self._decisions += 1
            if self._decisions % SWEEP_EVERY == 0:
                db.execute("DELETE FROM rate WHERE tat < ?", (now,))
        return decision

    def _redis_check(self, limit: RateLimit, site: str, bucket: str) -> Decision:
        assert self._redis is not None and self._script is not None
        identity = hashlib.blake2b(limit.identity.encode(), digest_size=12).hexdigest()
        key = self._redis.key("rate", site, identity, bucket)
        interval = max(1, round(limit.interval * 1_000_000))
        allowed, remaining, reset, retry = self._script(keys=[key], args=[interval, limit.burst])
        return Decision(bool(allowed), int(remaining), int(reset) / 1e6, int(retry) / 1e6)

    def statistics(self) -> dict[str, int | float]:
        return {"decisions": self._decisions, "refused": self.refused, "failures": self.failures}
