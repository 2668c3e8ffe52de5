"""Rate limits of site rules: the policy (`_policy`), the algorithm (`_gcra`), and the shared counters (`_limiter`)."""

from __future__ import annotations

from dynlan.ratelimit._gcra import Decision, gcra
from dynlan.ratelimit._limiter import RateLimiter, RateLimitUnavailable
from dynlan.ratelimit._policy import RateLimit, parse_duration, parse_rate_limit

__all__ = ["Decision", "RateLimit", "RateLimitUnavailable", "RateLimiter", "gcra", "parse_duration", "parse_rate_limit"]
