"""Host services shared by every request and runtime (cache, statistics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from dynlan.host._cache import CacheBackend, ScopedCache
from dynlan.host._respcache import ResponseCache

if TYPE_CHECKING:
    from dynlan.sessions import SessionService


@dataclass(slots=True)
class Host:
    cache: CacheBackend
    dev: bool = False
    nursery: trio.Nursery | None = None
    """Owns the runtimes' background tasks (process pools, watchers); lives as long as the server."""
    responses: ResponseCache | None = None
    """The response cache (None when `[cache] responses = false`)."""
    broadcast_purge: Callable[[dict[str, str]], None] | None = None
    """Tells the other worker processes about a purge a page made (set by the server)."""
    publish_purge: Callable[[dict[str, str]], None] | None = None
    """Tells the other instances about a purge a page made, through Redis (dynlan.host._purges)."""
    sessions: SessionService | None = None
    """Sessions (dynlan.sessions); None in a host made without them."""
    counters: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Services later layers add (response cache, purge hooks)."""
    inflight: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    """Pages running now: request id -> (site, page relative to the site, monotonic start). The watchdog names
    them when the event loop stays blocked."""
    _scoped: dict[str, ScopedCache] = field(default_factory=dict)

    def cache_for(self, namespace: str) -> ScopedCache:
        """The page cache as one namespace sees it (a site's own, or a shared one the server config grants)."""
        scoped = self._scoped.get(namespace)
        if scoped is None:
            scoped = self._scoped[namespace] = ScopedCache(self.cache, namespace)
        return scoped

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n
