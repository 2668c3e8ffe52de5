"""Cache values: strings, numbers, booleans and nested lists/maps, copied on the way in and out.

Values are stored encoded, so a structure a page put in the cache can never be
changed through a reference the page kept, and so the same bytes can go to Redis.
"""

from __future__ import annotations

import json
from typing import Any

CacheValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class CacheValueError(TypeError):
    """A value the cache cannot hold (a function, a userdata, a cycle)."""


def check_value(value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise CacheValueError("cache value nested too deeply (or cyclic)")
    if value is None or isinstance(value, str | bool | int | float):
        return
    if isinstance(value, list):
        for v in value:
            check_value(v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CacheValueError(f"cache map keys must be strings, not {type(k).__name__}")
            check_value(v, depth + 1)
        return
    raise CacheValueError(f"cannot store a {type(value).__name__} in the cache")


def encode(value: CacheValue) -> bytes:
    check_value(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode()


def decode(data: bytes) -> CacheValue:
    result: CacheValue = json.loads(data)
    return result


def parse_ttl(value: Any) -> float | None:
    """A cache TTL from a page: None or 0 for no expiry, else non-negative seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("ttl must be a non-negative number of seconds")
    return float(value) or None
