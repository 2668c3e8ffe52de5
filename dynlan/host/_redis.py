"""The Redis cache backend: one cache shared by every worker process and machine.

redis-py's client is synchronous here (its asyncio client needs asyncio, and
the server runs on trio), so calls run on worker threads; the connection pool
is thread-safe and reconnects by itself once Redis is back. Values are stored
with the same encoding as the in-memory cache, so structure survives.
"""

from __future__ import annotations

from typing import Any

import trio

from dynlan.host._cache import CacheError
from dynlan.host._values import CacheValue, decode, encode


class RedisCache:
    local = False

    def __init__(self, url: str, prefix: str = "dynlan:", timeout: float = 2.0) -> None:
        import redis

        self._redis_module = redis
        self.url = url
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                            health_check_interval=10)
        self._limiter = trio.CapacityLimiter(16)
        self.errors = 0
        self.calls = 0

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _run(self, fn: Any, *args: Any) -> Any:
        self.calls += 1
        try:
            return fn(*args)
        except self._redis_module.RedisError as exc:
            self.errors += 1
            raise CacheError(f"cache backend unavailable ({self.url}): {exc}") from None

    # Blocking forms, for code already off the event loop (or that accepts blocking it).

    def get_blocking(self, key: str) -> CacheValue:
        data = self._run(self._client.get, self._key(key))
        return None if data is None else decode(data)

    def set_blocking(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        data = encode(value)
        if ttl:
            self._run(self._client.set, self._key(key), data, None, int(ttl * 1000))
        else:
            self._run(self._client.set, self._key(key), data)

    def delete_blocking(self, key: str) -> bool:
        return bool(self._run(self._client.delete, self._key(key)))

    def incr_blocking(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        full = self._key(key)
        try:
            if isinstance(delta, int):
                result: int | float = self._run(self._client.incrby, full, delta)
            else:
                result = float(self._run(self._client.incrbyfloat, full, delta))
        except CacheError as exc:
            if "not an integer" in str(exc) or "not a valid float" in str(exc):
                raise CacheError(f"cache value of '{key}' is not a number") from None
            raise
        if ttl:
            self._run(self._client.pexpire, full, int(ttl * 1000))
        return result

    async def get(self, key: str) -> CacheValue:
        return await trio.to_thread.run_sync(self.get_blocking, key, limiter=self._limiter)

    async def set(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        await trio.to_thread.run_sync(self.set_blocking, key, value, ttl, limiter=self._limiter)

    async def delete(self, key: str) -> bool:
        result: bool = await trio.to_thread.run_sync(self.delete_blocking, key, limiter=self._limiter)
        return result

    async def incr(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        result: int | float = await trio.to_thread.run_sync(self.incr_blocking, key, delta, ttl, limiter=self._limiter)
        return result

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self._client.close)

    def statistics(self) -> dict[str, int | float]:
        return {"calls": self.calls, "errors": self.errors}
