"""A `rate_limit` table as written in a rule (or for a whole site), checked and compiled once.

    rate_limit = { requests = 100, per = "1m", burst = 20, key = "ip" }

`requests` per `per` is the steady rate; `burst` is how many may come at once (default: `requests`, so a
client can spend a whole period's quota in one go, then one more every `per / requests`). `key` says whose
requests share a bucket: `ip` (the client's address, after `[server] trusted_proxies`), `header:NAME`,
`cookie:NAME`, or `route` (everyone's requests to the rule's path together). A request without the header or
cookie is counted by its address. `name` names the policy in the `RateLimit` headers (default: the rule's path).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from dynlan.config import ConfigError

_KEYS = ("requests", "per", "burst", "key", "name")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_NAME = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")
"""What a structured-field string may hold (RFC 8941 §3.3.3) without escapes."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    per: float
    """Seconds."""
    burst: int
    key: str
    """`ip`, `route`, `header` or `cookie`."""
    key_name: str
    """The header (lower-case) or cookie name for `header` and `cookie`."""
    name: str
    """The policy's name in the RateLimit headers."""
    identity: str
    """What tells this limit's counters from another's (name, path, rate and key): the same on every instance
    that has the same rule."""

    @property
    def interval(self) -> float:
        return self.per / self.requests

    def policy_header(self) -> str:
        """`RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers-09 §4): quota `q` per window `w` seconds."""
        return f'"{self.name}";q={self.requests};w={max(1, round(self.per))}'

    def bucket(self, client: str, path: str, headers: Any, cookies: dict[str, str]) -> str:
        """The bucket a request is counted in (a header's or cookie's value as a digest: a long value cannot make a
        long key)."""
        if self.key == "route":
            return "route"
        if self.key == "header":
            found = headers.get(self.key_name)
        elif self.key == "cookie":
            found = cookies.get(self.key_name)
        else:
            found = None
        if found is None:
            return "ip:" + client
        return self.key[0] + ":" + hashlib.blake2b(found.encode("utf-8", "replace"), digest_size=16).hexdigest()


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a duration (\"1m\", \"10s\", \"1h\", or seconds), got {value!r}")
    if isinstance(value, str):
        found = _DURATION.fullmatch(value.strip())
        if found is None:
            raise ConfigError(f"{where}: {value!r} is not a duration (\"500ms\", \"10s\", \"1m\", \"1h\", \"1d\")")
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    else:
        seconds = float(value)
    if seconds <= 0:
        raise ConfigError(f"{where}: must be more than 0 seconds, got {value!r}")
    return seconds


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: expected a whole number above 0, got {value!r}")
    return value


def parse_rate_limit(value: Any, where: str, path: str) -> RateLimit:
    """A rule's `rate_limit` table; ConfigError naming the key on any problem."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table {{ requests = 100, per = \"1m\", burst = 20, key = \"ip\" }}")
    for key in value:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(_KEYS)})")
    if "requests" not in value:
        raise ConfigError(f"{where}.requests: missing (how many requests per `per`)")
    requests = _positive(value["requests"], f"{where}.requests")
    per = parse_duration(value.get("per", "1s"), f"{where}.per")
    burst = _positive(value.get("burst", requests), f"{where}.burst")
    written_key = value.get("key", "ip")
    if not isinstance(written_key, str):
        raise ConfigError(f"{where}.key: expected \"ip\", \"route\", \"header:NAME\" or \"cookie:NAME\", got {written_key!r}")
    kind, _, key_name = written_key.partition(":")
    if kind in ("ip", "route") and not key_name:
        pass
    elif kind in ("header", "cookie") and key_name and _TOKEN.fullmatch(key_name):
        key_name = key_name.lower() if kind == "header" else key_name
    else:
        raise ConfigError(f"{where}.key: {written_key!r} is not \"ip\", \"route\", \"header:NAME\" or \"cookie:NAME\"")
    name = value.get("name", path)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}.name: expected printable text without '\"' or '\\', got {name!r}")
    identity = "\0".join((name, path, str(requests), repr(per), str(burst), written_key))
    return RateLimit(requests, per, burst, kind, key_name, name, identity)
