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
import os
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
        # Unique to this process's decisions (its pid in the high bits: no two workers share one).
        self._nonce = os.getpid() << 32
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
        interval, burst = limit.interval, limit.burst
        self._decisions += 1
        self._nonce += 1
        nonce = self._nonce
        # One statement, so one atomic step for SQLite (no read-modify-write another worker could interleave): the
        # TAT moves on only when the request is allowed, and then the row takes this decision's nonce, which is
        # how the answer tells an allowed request from a refused one. The decision's numbers are `gcra`'s, from
        # the TAT before (recovered from the one after: one interval less when allowed).
        rows = self._shared.query(
            "INSERT INTO rate (key, tat, nonce) VALUES (?1, ?2 + ?3, ?5) ON CONFLICT(key) DO UPDATE SET "
            "tat = CASE WHEN max(tat, ?2) + ?3 - ?3 * ?4 <= ?2 THEN max(tat, ?2) + ?3 ELSE tat END, "
            "nonce = CASE WHEN max(tat, ?2) + ?3 - ?3 * ?4 <= ?2 THEN ?5 ELSE nonce END "
            "RETURNING tat, nonce", (key, now, interval, burst, nonce))
        tat, stamp = rows[0]
        assert isinstance(tat, float)
        decision, _ = gcra(tat - interval if stamp == nonce else tat, now, interval, burst)
        if self._decisions % SWEEP_EVERY == 0:
            self._shared.query("DELETE FROM rate WHERE tat < ?", (now,))
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
