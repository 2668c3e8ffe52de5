"""The host API pages call into, the same for every language."""

from __future__ import annotations

from dynlan.host._cache import CacheBackend, CacheError, MemoryCache
from dynlan.host._context import (
    OUTPUT_BUFFER,
    BudgetExceeded,
    PageContext,
    PageError,
    PageLog,
    PageResponse,
)
from dynlan.host._fs import FileInfo, FsError, SiteFs
from dynlan.host._host import Host
from dynlan.host._respcache import (
    CachedResponse,
    CachePolicy,
    PolicyError,
    ResponseCache,
    make_policy,
)
from dynlan.host._run import run_page, source_excerpt
from dynlan.host._values import CacheValue, CacheValueError, parse_ttl

__all__ = [
    "OUTPUT_BUFFER",
    "BudgetExceeded",
    "CacheBackend",
    "CacheError",
    "CachePolicy",
    "CachedResponse",
    "CacheValue",
    "CacheValueError",
    "FileInfo",
    "FsError",
    "Host",
    "MemoryCache",
    "PageContext",
    "PageError",
    "PageLog",
    "PageResponse",
    "PolicyError",
    "ResponseCache",
    "SiteFs",
    "make_policy",
    "parse_ttl",
    "run_page",
    "source_excerpt",
]
