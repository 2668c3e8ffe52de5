"""The generic cell rate algorithm (GCRA): a token bucket kept as one number per key.

A limit of `requests` per `per` seconds with room for `burst` at once lets one request through every
`interval = per / requests` seconds on average, and up to `burst` back to back after a quiet spell. The state of
a key is its theoretical arrival time (TAT): when the bucket would be full again. A request at `now` is allowed
when `max(tat, now) + interval - burst * interval <= now`; it then moves the TAT on by one interval. A refused
request changes nothing, so a client that keeps hammering gets in again exactly when the rate allows.

No I/O and no clock: the stores (`_stores.py`) read the time and keep the TAT; the same arithmetic runs as a Lua
script inside Redis for the shared store.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    """Requests that could still come at once after this one."""
    reset: float
    """Seconds until the bucket is full again."""
    retry_after: float
    """For a refused request: seconds until one is allowed (0 when allowed)."""


def gcra(tat: float | None, now: float, interval: float, burst: int) -> tuple[Decision, float | None]:
    """The decision for a request at `now`, and the key's new TAT (None: unchanged, the request is refused)."""
    base = tat if tat is not None and tat > now else now
    new_tat = base + interval
    allow_at = new_tat - interval * burst
    if now < allow_at:
        return Decision(False, 0, base - now, allow_at - now), None
    # A hair of tolerance: (now - allow_at) / interval is a whole number computed in floating point.
    remaining = int((now - allow_at) / interval + 1e-9)
    return Decision(True, remaining, new_tat - now, 0.0), new_tat


# The same, in Redis (microseconds as integers, Redis's own clock, so every instance agrees on `now`).
# KEYS[1] the key; ARGV[1] interval (µs), ARGV[2] burst. Returns {allowed, remaining, reset µs, retry µs}.
REDIS_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
local base = now
if tat and tat > now then base = tat end
local new_tat = base + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, 0, base - now, allow_at - now}
end
local ttl = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
"""
