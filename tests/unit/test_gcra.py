"""GCRA, the rate limits' algorithm: a token bucket of `burst` refilled one request every `interval`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynlan.config import ConfigError
from dynlan.ratelimit import gcra, parse_rate_limit


def run(times: list[float], interval: float, burst: int) -> list[bool]:
    tat: float | None = None
    out = []
    for now in times:
        decision, new = gcra(tat, now, interval, burst)
        if new is not None:
            tat = new
        out.append(decision.allowed)
    return out


def test_a_burst_then_one_per_interval() -> None:
    assert run([0.0] * 5, 1.0, 3) == [True, True, True, False, False]
    assert run([0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0], 1.0, 3) == [True, True, True, False, True, False, True]


def test_fields() -> None:
    first, tat = gcra(None, 100.0, 15.0, 4)
    assert (first.allowed, first.remaining, first.reset, first.retry_after) == (True, 3, 15.0, 0.0)
    for _ in range(3):
        _, tat = gcra(tat, 100.0, 15.0, 4)
    refused, unchanged = gcra(tat, 100.0, 15.0, 4)
    assert unchanged is None and not refused.allowed
    assert (refused.remaining, refused.retry_after, refused.reset) == (0, 15.0, 60.0)
    # A quiet spell refills the bucket, never past `burst`.
    later, _ = gcra(tat, 1000.0, 15.0, 4)
    assert later.remaining == 3


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1, max_size=200),
       st.floats(min_value=0.01, max_value=10), st.integers(min_value=1, max_value=20))
def test_never_more_than_the_rate_allows(times: list[float], interval: float, burst: int) -> None:
    times.sort()
    allowed = [t for t, ok in zip(times, run(times, interval, burst), strict=True) if ok]
    # In any window of length w, at most burst + w / interval requests get through.
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            window = allowed[j] - start
            assert j - i + 1 <= burst + window / interval + 1e-6


@pytest.mark.parametrize(("table", "error"), [
    ({}, "x.requests: missing"),
    ({"requests": 1.5}, "x.requests: expected a whole number"),
    ({"requests": 5, "per": "0s"}, "x.per: must be more than 0"),
    ({"requests": 5, "per": "1 week"}, "x.per: '1 week' is not a duration"),
    ({"requests": 5, "burst": 0}, "x.burst"),
    ({"requests": 5, "key": "header:"}, "x.key"),
    ({"requests": 5, "key": "cookie:a b"}, "x.key"),
    ({"requests": 5, "name": 'a"b'}, "x.name"),
    ({"requests": 5, "rate": 1}, "x: unknown key 'rate'"),
])
def test_errors_name_the_key(table: dict[str, object], error: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_rate_limit(table, "x", "/x/*")
    assert error in str(info.value)


def test_parsed() -> None:
    limit = parse_rate_limit({"requests": 100, "per": "1m", "burst": 20, "key": "header:X-Api-Key"}, "x", "/api/*")
    assert (limit.interval, limit.burst, limit.key, limit.key_name, limit.name) == (0.6, 20, "header", "x-api-key", "/api/*")
    assert limit.policy_header() == '"/api/*";q=100;w=60'
    assert parse_rate_limit({"requests": 2, "per": "500ms"}, "x", "/").per == 0.5
