"""The `proxy` key of a `[[route]]` rule, checked and compiled once when the config is read (and on reload).

```toml
proxy = { upstreams = ["http://127.0.0.1:9001", "unix:/run/app.sock"], policy = "round_robin",
          strip_prefix = true, host = "api.internal",
          health = { path = "/health", interval = 2.0, fails = 2 },
          eject = { fails = 3, seconds = 10.0 },
          timeouts = { connect = 2.0, read = 30.0, write = 30.0 }, keepalive = 32 }
```

Every problem is a ConfigError naming the key (`...: route[2].proxy.policy: ...`), so `dynlan serve`, `dynlan
check` and a reload refuse it the same way. The compiled `ProxySpec` is a frozen value: two reads of the same
table compare equal, which lets a reload that leaves a proxy unchanged keep its pools and health state.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dynlan.config import ConfigError

POLICIES = ("round_robin", "least_conn", "ip_hash", "cookie", "random_two")
_KEYS = ("upstreams", "policy", "strip_prefix", "host", "health", "eject", "timeouts", "keepalive", "cookie",
         "cookie_key")
_HOST = re.compile(r"[A-Za-z0-9._-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEALTH_PATH = re.compile(r"/[!-~]*")

_PROCESS_KEY = os.urandom(32)
"""Signs sticky cookies when the config gives no `cookie_key`. Made when this module is first imported, which
is in the supervisor (it reads the config before it starts workers), so forked workers share it; a restart
makes a new one (set `cookie_key` for cookies that survive restarts)."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """One server requests are forwarded to."""

    url: str
    """As written (`http://127.0.0.1:9001`, `unix:/run/app.sock`): what logs and `dynlan routes` show."""
    host: str
    """TCP host name or address; empty for a Unix socket."""
    port: int
    unix_path: str
    """The socket file of a `unix:` upstream; empty for TCP."""
    default_host: str
    """What `Host` says when the client sent none and the config sets none (`127.0.0.1:9001`, `localhost`)."""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str
    """Asked for with GET; a 2xx or 3xx answer is healthy."""
    interval: float = 5.0
    """Seconds between two checks of one upstream."""
    fails: int = 2
    """Checks failed in a row that take an upstream out; one that passes brings it back."""
    timeout: float = 2.0
    """A check that has no answer in this time has failed."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    """To open a connection to an upstream: past it, the next upstream is tried (or 504)."""
    read: float = 60.0
    """Waiting for the response head, and between two reads of its body: past it, 504 (or the response is cut)."""
    write: float = 60.0
    """Between two writes of the request to the upstream."""


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A compiled `proxy` table."""

    upstreams: tuple[Upstream, ...]
    policy: str = "round_robin"
    strip_prefix: bool = False
    host: str = ""
    """The `Host` sent upstream; empty: the client's."""
    health: HealthCheck | None = None
    eject_fails: int = 3
    """Failures in a row (refused, timed out, broken before the response) that eject an upstream..."""
    eject_seconds: float = 10.0
    """...for this long (passive health)."""
    timeouts: Timeouts = Timeouts()
    keepalive: int = 32
    """Idle connections kept open per upstream."""
    cookie: str = "dynlan_upstream"
    """The sticky cookie's name (policy `cookie`)."""
    cookie_key: bytes = b""
    """Signs the sticky cookie's upstream ids (empty: the process's own key)."""
    allow: tuple[str, ...] | None = None
    """A rule of a site's own file: the server's `[outbound] allow` list, which bounds where it may connect (empty:
    public addresses only), checked again at each connect after the name resolves. None: a rule of the server's
    config, which goes where it says."""

    def describe(self) -> str:
        return f"-> proxy {self.policy} {','.join(u.url for u in self.upstreams)}"

    def sticky_id(self, upstream: Upstream) -> str:
        """The cookie value naming `upstream`: an HMAC of its URL, so the cookie never shows an address and a
        client cannot make one that names an upstream it was not given."""
        key = self.cookie_key or _PROCESS_KEY
        return hmac.new(key, upstream.url.encode(), hashlib.sha256).hexdigest()[:20]


def parse_proxy(value: Any, where: str, allow: tuple[str, ...] | None = None) -> ProxySpec:
    """A rule's `proxy` table compiled; ConfigError naming `where` and the key. `allow`: the rule is a site's own,
    bounded by the server's `[outbound] allow` (`ProxySpec.allow`)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table {{ upstreams = [\"http://127.0.0.1:9001\"], ... }}")
    for key in value:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(_KEYS)})")
    raw = value.get("upstreams")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}.upstreams: expected a non-empty list of URLs (\"http://host:port\", "
                          f"\"unix:/path\"), got {raw!r}")
    upstreams = tuple(_upstream(url, f"{where}.upstreams[{i}]") for i, url in enumerate(raw))
    seen: set[str] = set()
    for i, upstream in enumerate(upstreams):
        if upstream.url in seen:
            raise ConfigError(f"{where}.upstreams[{i}]: {upstream.url!r} is listed twice")
        seen.add(upstream.url)
    policy = value.get("policy", "round_robin")
    if policy not in POLICIES:
        raise ConfigError(f"{where}.policy: {policy!r} is not a policy (known: {', '.join(POLICIES)})")
    strip = value.get("strip_prefix", False)
    if not isinstance(strip, bool):
        raise ConfigError(f"{where}.strip_prefix: expected true or false, got {strip!r}")
    host = value.get("host", "")
    if not isinstance(host, str) or (host and not _HOST.fullmatch(host)):
        raise ConfigError(f"{where}.host: {host!r} is not a host name (with an optional :port)")
    keepalive = _int(value.get("keepalive", 32), f"{where}.keepalive", 0, 10000)
    cookie = value.get("cookie", "dynlan_upstream")
    if not isinstance(cookie, str) or not _COOKIE_NAME.fullmatch(cookie):
        raise ConfigError(f"{where}.cookie: {cookie!r} is not a cookie name (RFC 6265 §4.1.1)")
    cookie_key = value.get("cookie_key", "")
    if not isinstance(cookie_key, str) or (cookie_key and len(cookie_key) < 16):
        raise ConfigError(f"{where}.cookie_key: a secret of at least 16 characters")
    eject = _table(value.get("eject", {}), f"{where}.eject", ("fails", "seconds"))
    spec = ProxySpec(
        upstreams=upstreams,
        policy=policy,
        strip_prefix=strip,
        host=host,
        health=_health(value["health"], f"{where}.health") if "health" in value else None,
        eject_fails=_int(eject.get("fails", 3), f"{where}.eject.fails", 1, 1000),
        eject_seconds=_seconds(eject.get("seconds", 10.0), f"{where}.eject.seconds"),
        timeouts=_timeouts(value.get("timeouts", {}), f"{where}.timeouts"),
        keepalive=keepalive,
        cookie=cookie,
        cookie_key=cookie_key.encode(),
        allow=allow,
    )
    if allow is not None:
        for i, upstream in enumerate(upstreams):
            _check_site_upstream(upstream, allow, f"{where}.upstreams[{i}]")
    return spec


def _check_site_upstream(upstream: Upstream, allow: tuple[str, ...], where: str) -> None:
    """An upstream in a site's own file (which is not trusted) reaches only what the server grants: a TCP address
    or name as a site's own `[outbound] allow` entry would (within the server's list; without one, public
    addresses only), a Unix socket only when the server's list names it (`unix:/run/app.sock`)."""
    if upstream.unix_path:
        if f"unix:{upstream.unix_path}" not in allow:
            raise ConfigError(f"{where} = {upstream.url!r}: a site's proxy reaches a Unix socket only where the "
                              f"server's outbound.allow lists \"unix:{upstream.unix_path}\"")
        return
    from dynlan.host._http import check_site_entry, parse_allow, parse_entry  # noqa: PLC0415 - the host imports the proxy

    try:
        entry = parse_entry(authority(upstream.host, upstream.port))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check_site_entry(entry, parse_allow(list(allow), "outbound.allow"), where)


def authority(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _upstream(value: Any, where: str) -> Upstream:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a URL string, got {value!r}")
    if value.startswith("unix:"):
        path = value[5:]
        if not path.startswith("/") or "\x00" in path:
            raise ConfigError(f"{where}: {value!r}: a Unix socket is named by its absolute path (\"unix:/run/app.sock\")")
        return Upstream(value, "", 0, path, "localhost")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a URL ({exc})") from None
    if parts.scheme != "http":
        raise ConfigError(f"{where}: {value!r}: upstreams are spoken to in plain HTTP/1.1 (\"http://host:port\") "
                          f"or over a Unix socket (\"unix:/path\")")
    if not parts.hostname:
        raise ConfigError(f"{where}: {value!r} has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{where}: {value!r}: an upstream is scheme, host and port only (no path, query or user)")
    port = port or 80
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return Upstream(value, host, port, "", f"{shown}:{port}" if port != 80 else shown)


def _table(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    for key in value:
        if key not in keys:
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(keys)})")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise ConfigError(f"{where}: expected seconds above 0 (at most a day), got {value!r}")
    return float(value)


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _health(value: Any, where: str) -> HealthCheck:
    table = _table(value, where, ("path", "interval", "fails", "timeout"))
    path = table.get("path")
    if not isinstance(path, str) or not _HEALTH_PATH.fullmatch(path):
        raise ConfigError(f"{where}.path: expected a path (\"/health\"), got {path!r}")
    return HealthCheck(
        path,
        _seconds(table.get("interval", 5.0), f"{where}.interval"),
        _int(table.get("fails", 2), f"{where}.fails", 1, 1000),
        _seconds(table.get("timeout", 2.0), f"{where}.timeout"),
    )


def _timeouts(value: Any, where: str) -> Timeouts:
    table = _table(value, where, ("connect", "read", "write"))
    return Timeouts(
        _seconds(table.get("connect", 5.0), f"{where}.connect"),
        _seconds(table.get("read", 60.0), f"{where}.read"),
        _seconds(table.get("write", 60.0), f"{where}.write"),
    )
