"""Host services shared by every request and runtime (cache, statistics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from dynlan.host._cache import CacheBackend


@dataclass(slots=True)
class Host:
    cache: CacheBackend
    dev: bool = False
    nursery: trio.Nursery | None = None
    """Owns the runtimes' background tasks (process pools, watchers); lives as long as the server."""
    counters: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    """Services later layers add (response cache, purge hooks)."""

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n
