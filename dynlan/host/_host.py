"""Host services shared by every request and runtime (cache, statistics)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from dynlan.host._cache import CacheBackend
from dynlan.host._respcache import ResponseCache


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
    counters: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Services later layers add (response cache, purge hooks)."""

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n
