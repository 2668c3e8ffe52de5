"""The host API pages call into, the same for every language."""

from __future__ import annotations

from dynlan.host._cache import CacheBackend, CacheError, MemoryCache, ScopedCache
from dynlan.host._calls import OPERATIONS, HostCallError, MustWait, call, call_nowait, is_effect
from dynlan.host._context import (
    OUTPUT_BUFFER,
    BudgetExceeded,
    PageContext,
    PageError,
    PageLog,
    PageResponse,
)
from dynlan.host._devreport import DevReport, Frame
from dynlan.host._fs import FileInfo, FsError, SiteFs
from dynlan.host._host import Host
from dynlan.host._respcache import (
    CachedResponse,
    CachePolicy,
    PolicyError,
    ResponseCache,
    make_policy,
)
from dynlan.host._run import run_page
from dynlan.host._values import CacheValue, CacheValueError, parse_ttl

__all__ = [
    "OPERATIONS",
    "OUTPUT_BUFFER",
    "BudgetExceeded",
    "CacheBackend",
    "CacheError",
    "CachePolicy",
    "CachedResponse",
    "CacheValue",
    "CacheValueError",
    "DevReport",
    "FileInfo",
    "FsError",
    "Frame",
    "Host",
    "HostCallError",
    "MustWait",
    "MemoryCache",
    "PageContext",
    "PageError",
    "PageLog",
    "PageResponse",
    "PolicyError",
    "ResponseCache",
    "ScopedCache",
    "SiteFs",
    "call",
    "call_nowait",
    "is_effect",
    "make_policy",
    "parse_ttl",
    "run_page",
]
