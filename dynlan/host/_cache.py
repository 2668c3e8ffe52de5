"""The host cache pages share: get/set/delete/incr with TTL.

`MemoryCache` is an LRU bounded by a byte budget (the default backend). Every
backend stores encoded values (see `_values`), so structured values are copied.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from dynlan.host._values import CacheValue, decode, encode


class CacheError(Exception):
    """A cache operation failed (backend down, value not a number for incr, ...)."""


class CacheBackend(Protocol):
    local: bool
    """True when operations never wait on I/O (callers may use the `_nowait` forms)."""

    async def get(self, key: str) -> CacheValue: ...
    async def set(self, key: str, value: CacheValue, ttl: float | None = None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def incr(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float: ...
    async def aclose(self) -> None: ...
    def statistics(self) -> dict[str, int | float]: ...


_ENTRY_OVERHEAD = 64


class MemoryCache:
    """In-process LRU with a byte budget and per-key TTL."""

    local = True

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, clock: object = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _size(self, key: str, data: bytes) -> int:
        return len(key) + len(data) + _ENTRY_OVERHEAD

    def _drop(self, key: str) -> None:
        data, _ = self._data.pop(key)
        self._bytes -= self._size(key, data)

    def get_nowait(self, key: str) -> CacheValue:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return None
        data, expires = entry
        if expires and expires <= self._now():
            self._drop(key)
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return decode(data)

    def set_nowait(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        data = encode(value)
        size = self._size(key, data)
        if size > self.max_bytes:
            raise CacheError(f"value for '{key}' ({len(data)} bytes) is larger than the cache")
        if key in self._data:
            self._drop(key)
        expires = self._now() + ttl if ttl else 0.0
        self._data[key] = (data, expires)
        self._bytes += size
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._data))
            self._drop(oldest)
            self.evictions += 1

    def delete_nowait(self, key: str) -> bool:
        if key in self._data:
            self._drop(key)
            return True
        return False

    def incr_nowait(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        entry = self._data.get(key)
        current: CacheValue = 0
        keep_expiry = 0.0
        if entry is not None and not (entry[1] and entry[1] <= self._now()):
            current = decode(entry[0])
            keep_expiry = entry[1]
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise CacheError(f"cache value of '{key}' is not a number")
        result = current + delta
        if isinstance(result, float) and result.is_integer() and isinstance(delta, int):
            result = int(result)
        if ttl is None and keep_expiry:
            remaining = keep_expiry - self._now()
            self.set_nowait(key, result, remaining)
        else:
            self.set_nowait(key, result, ttl)
        return result

    async def get(self, key: str) -> CacheValue:
        return self.get_nowait(key)

    async def set(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        self.set_nowait(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return self.delete_nowait(key)

    async def incr(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        return self.incr_nowait(key, delta, ttl)

    async def aclose(self) -> None:
        self._data.clear()
        self._bytes = 0

    def statistics(self) -> dict[str, int | float]:
        return {
            "entries": len(self._data),
            "bytes": self._bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }


class ScopedCache:
    """One namespace of a cache backend: what a site's pages see as `cache`.

    Keys are stored as `namespace NUL key`; a namespace (a site's name, or a
    shared name the server config grants) never holds a NUL, so no key of one
    namespace can name a key of another (a hostile site reading or overwriting
    another site's values).
    """

    __slots__ = ("backend", "namespace", "_prefix", "_memory", "local")

    def __init__(self, backend: CacheBackend, namespace: str) -> None:
        if "\0" in namespace:
            raise ValueError("a cache namespace cannot hold a NUL")
        self.backend = backend
        self.namespace = namespace
        self._prefix = namespace + "\0"
        self._memory = backend if isinstance(backend, MemoryCache) else None
        self.local = self._memory is not None

    def _local(self) -> MemoryCache:
        if self._memory is None:
            raise CacheError("this cache backend answers only asynchronously")
        return self._memory

    def get_nowait(self, key: str) -> CacheValue:
        return self._local().get_nowait(self._prefix + key)

    def set_nowait(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        self._local().set_nowait(self._prefix + key, value, ttl)

    def delete_nowait(self, key: str) -> bool:
        return self._local().delete_nowait(self._prefix + key)

    def incr_nowait(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        return self._local().incr_nowait(self._prefix + key, delta, ttl)

    async def get(self, key: str) -> CacheValue:
        return await self.backend.get(self._prefix + key)

    async def set(self, key: str, value: CacheValue, ttl: float | None = None) -> None:
        await self.backend.set(self._prefix + key, value, ttl)

    async def delete(self, key: str) -> bool:
        return await self.backend.delete(self._prefix + key)

    async def incr(self, key: str, delta: int | float = 1, ttl: float | None = None) -> int | float:
        return await self.backend.incr(self._prefix + key, delta, ttl)
