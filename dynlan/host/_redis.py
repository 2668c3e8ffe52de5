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


class RedisUnavailable(Exception):
    """Redis did not answer (down, restarting, unreachable); the message names the server."""


class RedisLink:
    """One Redis client for what the instances of a cluster share besides the page cache: rate-limit counters,
    sessions, and response-cache purges (published on a channel every instance listens to).

    As for the cache, calls run on worker threads (redis-py is synchronous here) and the client reconnects by
    itself once Redis is back: a call made while it is away fails with `RedisUnavailable` at once or after
    `timeout` seconds, never hangs the request.
    """

    def __init__(self, url: str, prefix: str = "dynlan:", timeout: float = 2.0) -> None:
        import redis

        self._redis_module = redis
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           health_check_interval=10)
        self._limiter = trio.CapacityLimiter(16)
        self.errors = 0
        self.calls = 0

    def key(self, *parts: str) -> str:
        """A key under the configured prefix (parts joined by NUL: no part can name another's key)."""
        return self.prefix + "\0".join(parts)

    def run_blocking(self, fn: Any, *args: Any) -> Any:
        self.calls += 1
        try:
            return fn(*args)
        except self._redis_module.RedisError as exc:
            self.errors += 1
            raise RedisUnavailable(f"Redis at {self.url} is unavailable: {exc}") from None

    async def run(self, fn: Any, *args: Any) -> Any:
        return await trio.to_thread.run_sync(self.run_blocking, fn, *args, limiter=self._limiter)

    def script(self, source: str) -> Any:
        """A Lua script run atomically by Redis (EVALSHA, loaded again with EVAL after a Redis restart)."""
        return self.client.register_script(source)

    async def publish(self, channel: str, message: str) -> None:
        await self.run(self.client.publish, self.key(channel), message)

    async def listen(self, channel: str, deliver: Any, *, retry: float = 1.0,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Call `deliver(text)` for each message on `channel`, until cancelled; resubscribes after an outage.

        Messages published while Redis was away are lost (pub/sub keeps nothing): a purge missed then is made
        good by the entries' own expiry.
        """
        name = self.key(channel)
        started = False
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await trio.to_thread.run_sync(pubsub.subscribe, name)
                if not started:
                    started = True
                    task_status.started()
                while True:
                    # A short wait per thread call: cancelling the task abandons at most this much of a thread.
                    message = await trio.to_thread.run_sync(pubsub.get_message, True, 0.5, abandon_on_cancel=True)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        deliver(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
            except self._redis_module.RedisError:
                self.errors += 1
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep(retry)
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(pubsub.close)

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self.client.close)
