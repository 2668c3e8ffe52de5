"""Typed, strict configuration.

One dataclass field per option, documented where it is declared. Files are TOML
(`--config FILE` for the server, `dynlan.toml` in a site for that site). A key
that is not a field is an error naming its full path, as is a value of the
wrong type: a typo must never be silently ignored.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynlan.app._rules import Rules


class ConfigError(Exception):
    """Invalid configuration; the message names the file and the key path."""


@dataclass(slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8080
    """TCP port to listen on."""
    workers: int = 1
    """Worker processes sharing the port (SO_REUSEPORT)."""
    default_site: str = ""
    """Site answering hosts that match no site folder (default: the only or first one)."""
    grace_period: float = 10.0
    """Seconds in-flight requests get to finish after SIGINT/SIGTERM."""
    max_connections: int = 1000
    """Open connections per worker; more wait in the listen backlog."""
    backlog: int = 1024
    """Listen backlog."""
    access_log: bool = True
    """Write one line per request to stderr."""
    control_socket: bool = True
    """Listen on a private Unix socket for local commands (`dynlan cache purge`)."""
    trusted_proxies: list[str] = field(default_factory=list)
    """Addresses and CIDR blocks of reverse proxies whose `X-Forwarded-For` / `Forwarded` give the client's
    address (for `allow`/`deny`, logs and pages); from any other peer those headers are ignored."""
    watchdog_grace: float = 5.0
    """Seconds past the wall-time budget a worker's event loop may stay blocked (native code that no runtime can
    interrupt) before its watchdog ends it and the supervisor starts a replacement."""
    max_connections_per_client: int = 0
    """Open connections one client address (the connection's peer) may hold per worker process; more are closed
    at once (0: no cap). Behind a load balancer every connection comes from its address: leave it at 0 there."""


@dataclass(slots=True)
class HttpConfig:
    header_timeout: float = 10.0
    """Seconds a client gets to send a complete request head (slowloris: 408, then close)."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open."""
    body_timeout: float = 30.0
    """Seconds between two chunks of a request body before 408."""
    send_timeout: float = 60.0
    """Seconds a response write may wait on a client that does not read."""
    max_header_size: int = 16384
    """Bytes of request line plus header fields (431 beyond)."""
    max_request_line: int = 8190
    """Bytes of request target (414 beyond)."""
    max_body_size: int = 10 * 1024 * 1024
    """Bytes of request body (413 beyond)."""
    h1_parser: str = "auto"
    """HTTP/1.1 parser: `llhttp` (httptools, fast), `h11`, or `auto` (llhttp when installed)."""
    http2: bool = True
    """Serve HTTP/2: by ALPN over TLS, and as h2c (prior knowledge or `Upgrade: h2c`) on plain ports."""
    h2_max_concurrent_streams: int = 100
    """Streams a client may have open at once on one HTTP/2 connection."""
    h2_initial_window_size: int = 65535
    """Bytes of request body per stream the client may send before the page reads it."""
    http3: bool = False
    """Serve HTTP/3 over QUIC on the same port number (UDP) when TLS is on (`--http3`); advertised by Alt-Svc."""
    h3_idle_timeout: float = 30.0
    """Seconds a QUIC connection may stay silent before it is closed."""
    h3_retry: bool = False
    """Make new QUIC clients prove their address with a Retry round trip first (against spoofed floods)."""
    qpack_max_table_capacity: int = 4096
    """Bytes of QPACK dynamic table a client may use for its request headers."""
    qpack_blocked_streams: int = 16
    """Request streams that may wait on QPACK table updates."""


@dataclass(slots=True)
class CertificateConfig:
    host: str = ""
    """Host name (SNI) this certificate answers for; `*.example.com` matches one label."""
    cert: str = ""
    """PEM certificate chain file."""
    key: str = ""
    """PEM private key file."""


@dataclass(slots=True)
class TlsConfig:
    cert: str = ""
    """PEM certificate chain of the default certificate (`--tls-cert`); empty: no TLS."""
    key: str = ""
    """PEM private key of the default certificate (`--tls-key`)."""
    self_signed: bool = False
    """Serve HTTPS with a development certificate for localhost, made once and kept (`--tls self-signed`)."""
    certificates: list[CertificateConfig] = field(default_factory=list)
    """More certificates, chosen by the name the client asks for (SNI)."""
    redirect_port: int = 0
    """Also listen for plain HTTP on this port and redirect every request to HTTPS (0: off)."""
    hsts_max_age: int = 0
    """Send `Strict-Transport-Security: max-age=N` on HTTPS responses (0: off)."""
    handshake_timeout: float = 10.0
    """Seconds a client gets to complete the TLS handshake."""

    @property
    def enabled(self) -> bool:
        return self.self_signed or bool(self.cert)


@dataclass(slots=True)
class StaticConfig:
    index_names: list[str] = field(default_factory=lambda: ["index.html"])
    """Files served for a folder URL, first match wins (page index files come first)."""
    clean_urls: bool = True
    """Serve `/about` from `about.html`."""
    listing: bool = False
    """Show an HTML listing for folders without an index."""
    symlinks: str = "inside"
    """Symbolic links in the site: `inside` (only what stays inside the site), `owner` (also links leading out
    whose owner owns what they point to), `follow` (anywhere). A site may only tighten it."""


@dataclass(slots=True)
class CompressionConfig:
    enabled: bool = True
    """Compress compressible responses (gzip, brotli, zstd) when the client accepts it."""
    min_size: int = 1024
    """Bytes below which a response is sent as it is."""
    max_size: int = 8 * 1024 * 1024
    """Largest static file compressed on the fly (precompressed siblings have no limit)."""
    precompressed: bool = True
    """Serve `file.br`, `file.zst`, `file.gz` next to `file` when the client accepts them."""


@dataclass(slots=True)
class CacheConfig:
    backend: str = "memory"
    """`memory` (per worker process) or `redis` (shared by workers and machines)."""
    max_bytes: int = 64 * 1024 * 1024
    """Byte budget of the in-memory cache (least recently used entries go first)."""
    url: str = "redis://127.0.0.1:6379/0"
    """Redis server, for `backend = "redis"`."""
    prefix: str = "dynlan:"
    """Prefix of every key DynLan writes to Redis."""
    responses: bool = True
    """Keep page responses that ask to be cached (`response.cache(...)` or `Cache-Control`)."""
    responses_backend: str = "memory"
    """Where cached responses live: `memory` (each worker process its own) or `redis` (shared by every worker and
    instance, at `url`). Purges reach every instance through Redis whenever `url` is in use (docs/deploy.md)."""
    response_max_bytes: int = 64 * 1024 * 1024
    """Byte budget of the response cache, per worker process (least recently used go first)."""
    response_max_entry: int = 8 * 1024 * 1024
    """Largest response body the response cache keeps."""
    stale_if_error: float = 60.0
    """Seconds past expiry a cached response may stand in for a failing page."""
    share: dict[str, list[str]] = field(default_factory=dict)
    """Cache namespaces shared by sites, granted by name (`[cache.share] shop = ["a.test", "b.test"]`: both sites
    use the namespace `shop`). Every other site has its own namespace, its name; a site is in one group at most."""


@dataclass(slots=True)
class RateLimitConfig:
    store: str = "memory"
    """Where `rate_limit` counters live: `memory` (shared by the workers of this instance) or `redis` (shared by
    every instance, at `[cache] url`)."""
    on_error: str = "open"
    """When the store cannot answer: `open` lets requests through, `closed` answers 503."""


@dataclass(slots=True)
class SessionsConfig:
    store: str = "memory"
    """Where sessions live: `memory` (shared by the workers of this instance, gone when it stops) or `redis`
    (shared by every instance, at `[cache] url`)."""
    secret: str = ""
    """Key that signs session cookies (HMAC-SHA256), at least 32 characters; empty: one is generated and kept in
    the store (in Redis, every instance then uses the same one)."""
    cookie: str = "dynlan_session"
    """Name of the session cookie."""
    max_age: float = 14 * 86400.0
    """Seconds a session lives after its last use."""
    site_max_bytes: int = 64 * 1024 * 1024
    """Bytes of sessions one site may keep in the `memory` store (it lives in the machine's memory); past it, a
    page's session write fails with an error naming the budget."""
    on_error: str = "closed"
    """When the store cannot answer: `closed` ends the page with 503, `open` gives the page an empty session
    whose changes are not kept."""


@dataclass(slots=True)
class LimitsConfig:
    wall_time: float = 10.0
    """Seconds a page may run."""
    instructions: int = 200_000_000
    """VM instructions a page may execute (Lua, Wren)."""
    memory: int = 64 * 1024 * 1024
    """Bytes a page may allocate."""
    output_size: int = 64 * 1024 * 1024
    """Bytes a page may write to its response."""


@dataclass(slots=True)
class OutboundConfig:
    allow: list[str] = field(default_factory=list)
    """Hosts a site's pages may call with `http.request` (docs/host-api.md): `"api.example.com"`,
    `"*.example.com"`, `"127.0.0.1:9000"`, `"10.0.0.0/8:443"` (without a port: 80 and 443). Empty: none. A site
    gets only what its own file lists; the server's list, when it has one, bounds every site's, and only the
    server's can grant the machine's own or private addresses."""
    max_response_size: int = 8 * 1024 * 1024
    """Bytes of response body one `http.request` may receive."""


@dataclass(slots=True)
class OpenApiConfig:
    serve: bool = False
    """Serve the site's OpenAPI document (what `dynlan openapi` prints) at `/.well-known/openapi.json`."""
    validate: bool = False
    """Check requests to an annotated page against its declared parameters and request body before it runs
    (400 naming the failing field's JSON pointer, docs/openapi.md)."""


@dataclass(slots=True)
class AdminConfig:
    listen: str = ""
    """`HOST:PORT` of the admin listener (`/metrics`, `/healthz`, `/readyz`, `/admin`; docs/operations.md), served
    by the supervisor. Empty: off (and no metrics are collected)."""
    token: str = ""
    """Bearer token the admin listener asks for (`Authorization: Bearer TOKEN`). Required when `listen` is not a
    loopback address; on loopback, asked for only when set."""


@dataclass(slots=True)
class LogConfig:
    access_format: str = "dynlan"
    """Access log lines: `dynlan` (time, client, request line, status, bytes, duration, request id), `common`,
    `combined` (with referer and user agent) or `json` (one object per line)."""
    access_file: str = ""
    """File the access log is appended to (reopened on SIGUSR1 to the supervisor, for logrotate). Empty: stderr."""
    slow_fraction: float = 0.0
    """Log a page still running past this fraction of its wall-time budget, with where it is (0: off)."""


@dataclass(slots=True)
class TraceConfig:
    endpoint: str = ""
    """OTLP/HTTP traces endpoint (`http://127.0.0.1:4318/v1/traces`). Empty: no traces."""
    service_name: str = "dynlan"
    """The `service.name` resource attribute of the spans."""
    sample_ratio: float = 1.0
    """Fraction of requests traced (a request with a sampled `traceparent` is traced whatever this says)."""


@dataclass(slots=True)
class WebSocketConfig:
    """WebSocket connections and event streams a page holds open (docs/websocket.md)."""

    max_message: int = 4 * 1024 * 1024
    """Bytes of one WebSocket message (all its fragments): a larger one closes the connection with 1009."""
    idle_timeout: float = 300.0
    """Seconds a page may wait in `ws:receive()` with nothing arriving: the connection then closes with 1001."""
    lifetime: float = 3600.0
    """Seconds a WebSocket or an event stream may stay open (the page's wall-time budget once it accepts one)."""
    heartbeat: float = 15.0
    """Seconds between the comment lines an event stream sends while its page waits on a channel."""
    channel_backlog: int = 256
    """Channel messages a subscription keeps while its page is busy; past it the oldest are dropped."""


@dataclass(slots=True)
class SiteConfig:
    """A site's settings: the server's, tightened by the site's `dynlan.toml` (see `SITE_RULES`)."""

    http: HttpConfig = field(default_factory=HttpConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    openapi: OpenApiConfig = field(default_factory=OpenApiConfig)
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Runtime tables ([lua], [wren], ...) as written in this file: the server's go to each runtime's
    `configure()`; a site's are checked and merged by the runtime's `site_options()` at start-up."""
    routes: list[dict[str, Any]] = field(default_factory=list)
    """This file's `[[route]]` tables as written (docs/rules.md): a site's own rules, or the server's rules for
    every site. Checked by `compile_rules` when the file is read."""
    rate_limit: dict[str, Any] = field(default_factory=dict)
    """A rate limit on every request of the site (or, in the server config, of each site): the same table as a
    rule's `rate_limit` (docs/rules.md)."""
    rules: Rules = field(default_factory=lambda: _rules_module().Rules())
    """The rules requests are matched against (not a key of any file): for a site, its own `[[route]]` rules,
    then the server's; for the server config, the server's."""


@dataclass(slots=True)
class Config(SiteConfig):
    """The server's configuration (`--config FILE`)."""

    server: ServerConfig = field(default_factory=ServerConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    log: LogConfig = field(default_factory=LogConfig)
    trace: TraceConfig = field(default_factory=TraceConfig)
    ratelimit: RateLimitConfig = field(default_factory=RateLimitConfig)
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    dev: bool = False
    """Development mode: error pages show tracebacks and source."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return {k: _convert(v, item, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {value!r}")
        return _build(tp, value, path)
    if origin is types.UnionType:  # pragma: no cover - not used by current fields
        raise ConfigError(f"{path}: unsupported type")
    return value


def _rules_module() -> Any:
    # Imported when first needed: the rules module imports this one (ConfigError).
    from dynlan.app import _rules

    return _rules


def _outbound_module() -> Any:
    # Imported when first needed: the host imports this module.
    from dynlan.host import _http

    return _http


_NOT_KEYS = frozenset({"runtimes", "routes", "rules"})
"""Fields that are no key of a file: runtime tables go by the runtime's name, `[[route]]` tables by `route`,
and `rules` is compiled from them."""


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls, localns={"Rules": _rules_module().Rules})


def _build(cls: type[Any], data: dict[str, Any], path: str, into: Any = None) -> Any:
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}
    obj = into if into is not None else cls()
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else key
        if key not in names:
            raise ConfigError(f"unknown key '{key_path}'")
        setattr(obj, key, _convert(value, hints[key], key_path))
    return obj


def _merge(cfg: SiteConfig, data: dict[str, Any], runtime_names: frozenset[str], source: str) -> None:
    for key, value in data.items():
        if key in runtime_names:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{key}' must be a table")
            cfg.runtimes.setdefault(key, {}).update(value)
            continue
        if key == "route":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{source}: route: expected tables ([[route]]), got {value!r}")
            cfg.routes = value
            continue
        if key in _NOT_KEYS:
            raise ConfigError(f"{source}: unknown key '{key}'")
        current = getattr(cfg, key, None)
        hints = _hints(type(cfg))
        if current is None or key not in hints:
            raise ConfigError(f"{source}: unknown key '{key}'")
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{key}' must be a table")
            try:
                _build(type(current), value, key, into=current)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        else:
            try:
                setattr(cfg, key, _convert(value, hints[key], key))
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None


_CHOICES = {
    ("http", "h1_parser"): ("auto", "llhttp", "h11"),
    ("cache", "backend"): ("memory", "redis"),
    ("cache", "responses_backend"): ("memory", "redis"),
    ("ratelimit", "store"): ("memory", "redis"),
    ("ratelimit", "on_error"): ("open", "closed"),
    ("sessions", "store"): ("memory", "redis"),
    ("sessions", "on_error"): ("open", "closed"),
    ("static", "symlinks"): ("inside", "owner", "follow"),
    ("log", "access_format"): ("dynlan", "common", "combined", "json"),
}

_STRICTNESS = {("static", "symlinks"): ("inside", "owner", "follow")}
"""For `stricter` keys (SITE_RULES): their values, the strictest first."""


def _check_choices(cfg: SiteConfig, source: str) -> None:
    for (section, key), allowed in _CHOICES.items():
        if not hasattr(cfg, section):
            continue
        value = getattr(getattr(cfg, section), key)
        if value not in allowed:
            raise ConfigError(f"{source}: {section}.{key}: must be one of {', '.join(allowed)}, got {value!r}")


def _check_values(cfg: SiteConfig, source: str) -> None:
    """Values every config file must keep in range, the server's and a site's alike."""
    if isinstance(cfg, Config):
        _rules_module().parse_networks(cfg.server.trusted_proxies, f"{source}: server.trusted_proxies")
        _outbound_module().parse_allow(cfg.outbound.allow, f"{source}: outbound.allow")
        _check_sessions(cfg.sessions, source)
        if cfg.server.max_connections_per_client < 0:
            raise ConfigError(f"{source}: server.max_connections_per_client: must be 0 (no cap) or more, got "
                              f"{cfg.server.max_connections_per_client}")
        _check_observability(cfg, source)
    for f in dataclasses.fields(LimitsConfig):
        value = getattr(cfg.limits, f.name)
        if value <= 0:
            raise ConfigError(f"{source}: limits.{f.name}: must be more than 0, got {_show(value)}")
    for f in dataclasses.fields(WebSocketConfig):
        value = getattr(cfg.websocket, f.name)
        if value <= 0:
            raise ConfigError(f"{source}: websocket.{f.name}: must be more than 0, got {_show(value)}")
    for i, name in enumerate(cfg.static.index_names):
        # An index name is one file of the folder asked for: `../b.test/x` or `_secret.txt` would serve
        # what the static files never serve (another folder, a private or hidden file, the site's config).
        if not name or "/" in name or "\\" in name or "\0" in name or name.startswith((".", "_")) or name == "dynlan.toml":
            raise ConfigError(f"{source}: static.index_names[{i}]: {name!r} is not the name of a public file")


def _check_observability(cfg: Config, source: str) -> None:
    if cfg.admin.listen:
        from dynlan.observability import admin_address

        admin_address(cfg.admin.listen, cfg.admin.token, f"{source}: admin.listen")
    if not 0 <= cfg.log.slow_fraction <= 1:
        raise ConfigError(f"{source}: log.slow_fraction: must be between 0 and 1, got {_show(cfg.log.slow_fraction)}")
    if not 0 <= cfg.trace.sample_ratio <= 1:
        raise ConfigError(f"{source}: trace.sample_ratio: must be between 0 and 1, got {_show(cfg.trace.sample_ratio)}")


def _check_sessions(cfg: SessionsConfig, source: str) -> None:
    if cfg.secret and len(cfg.secret) < 32:
        raise ConfigError(f"{source}: sessions.secret: at least 32 characters (or empty: generated and kept)")
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", cfg.cookie):
        raise ConfigError(f"{source}: sessions.cookie: {cfg.cookie!r} is not a cookie name")
    if cfg.max_age <= 0:
        raise ConfigError(f"{source}: sessions.max_age: must be more than 0, got {_show(cfg.max_age)}")
    if cfg.site_max_bytes <= 0:
        raise ConfigError(f"{source}: sessions.site_max_bytes: must be more than 0, got {cfg.site_max_bytes}")


SHARE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _check_cache_share(cfg: Config, source: str) -> None:
    groups: dict[str, list[str]] = {}
    member_of: dict[str, str] = {}
    for name, sites in cfg.cache.share.items():
        namespace = name.lower()
        if not SHARE_NAME.fullmatch(namespace):
            raise ConfigError(f"{source}: cache.share.{name}: a namespace name is letters, digits, '.', '_' and '-'")
        if namespace in groups:
            raise ConfigError(f"{source}: cache.share.{name}: named twice")
        if not sites:
            raise ConfigError(f"{source}: cache.share.{name}: lists no site")
        members = []
        for site in (s.lower() for s in sites):
            if site in member_of and member_of[site] != namespace:
                # One namespace per site: which of two would its pages' `cache.get` read?
                raise ConfigError(f"{source}: cache.share: site '{site}' is in both '{member_of[site]}' and '{namespace}'")
            if site not in member_of:
                member_of[site] = namespace
                members.append(site)
        groups[namespace] = members
    cfg.cache.share = groups


def load_config(path: Path | None, runtime_names: frozenset[str] = frozenset()) -> Config:
    """The server config from `path` (defaults when None)."""
    cfg = Config()
    if path is not None:
        _merge(cfg, read_toml(path), runtime_names, str(path))
        _check_choices(cfg, str(path))
        _check_values(cfg, str(path))
        _check_cache_share(cfg, str(path))
        cfg.rules = _rules_module().compile_rules(cfg.routes, str(path), cfg.rate_limit)
    return cfg


SiteRule = typing.Literal["site", "lower", "higher", "off", "stricter", "within", "server"]

SITE_RULES: dict[str, dict[str, SiteRule]] = {
    # Connection settings apply before a request names its site (and HTTP/2 and HTTP/3 carry several
    # sites on one connection): only the server's can hold. The body size is checked per request.
    "http": {
        "header_timeout": "server", "keepalive_timeout": "server", "body_timeout": "server",
        "send_timeout": "server", "max_header_size": "server", "max_request_line": "server",
        "max_body_size": "lower", "h1_parser": "server", "http2": "server",
        "h2_max_concurrent_streams": "server", "h2_initial_window_size": "server", "http3": "server",
        "h3_idle_timeout": "server", "h3_retry": "server", "qpack_max_table_capacity": "server",
        "qpack_blocked_streams": "server",
    },
    # How a site's own files are found; nothing outside the site, nor a hidden or private file, can be
    # reached through them (`_check_values`, and the listing skips such names).
    # A link leading out of the site serves files the site's folder does not hold: a site may only be stricter.
    "static": {"index_names": "site", "clean_urls": "site", "listing": "site", "symlinks": "stricter"},
    # The budgets: a site that raised them could hold a worker (and every site on it) longer.
    "limits": {"wall_time": "lower", "instructions": "lower", "memory": "lower", "output_size": "lower"},
    # Compression costs the worker's CPU, in its event loop for static files: a site may ask for less of it.
    "compression": {"enabled": "off", "min_size": "higher", "max_size": "lower", "precompressed": "site"},
    # Pages' HTTP calls: what a site's file lists is all its pages reach (a site without a list reaches nothing,
    # whatever the server's says); the server's list bounds it, and grants the machine's own and private
    # addresses (SSRF into the machine or its network).
    "outbound": {"allow": "within", "max_response_size": "lower"},
    # What a site says of its own pages, and checks before they run: its own business.
    "openapi": {"serve": "site", "validate": "site"},
    # Connections a page holds open hold a worker's memory and time: a site may only ask for less.
    "websocket": {"max_message": "lower", "idle_timeout": "lower", "lifetime": "lower", "heartbeat": "site",
                  "channel_backlog": "lower"},
}
"""What a site's `dynlan.toml` may do with each key of each section (docs/config.md has it as a table):
`site` any value; `lower`/`higher` at most/at least the server's; `off` turn it off, never on; `stricter` a value
no looser than the server's (`_STRICTNESS`); `within` a list each of whose entries the server's list covers
(`dynlan.host._http.check_site_allow`); `server` nothing (a server setting). A key missing here is a server
setting. A site's `[[route]]` rules are its own to write: they only govern requests to that site, and the
server's rules still apply after them (every matching rule's checks must pass, docs/rules.md)."""

SERVER_SECTIONS = {"server": "[server]", "cache": "[cache]", "tls": "[tls]", "ratelimit": "[ratelimit]",
                   "sessions": "[sessions]", "dev": "dev"}


def _show(value: Any) -> str:
    """A config value as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _check_site_rules(base: Config, cfg: SiteConfig, data: dict[str, Any], source: str) -> None:
    """Refuse what in a site's file would loosen the server's policy (the site's file is not trusted)."""
    for section, table in data.items():
        if section not in SITE_RULES or not isinstance(table, dict):
            continue
        rules = SITE_RULES[section]
        for key in table:
            rule = rules.get(key, "server")
            mine, server = getattr(getattr(cfg, section), key), getattr(getattr(base, section), key)
            where = f"{source}: {section}.{key}"
            if rule == "server":
                raise ConfigError(f"{where} is a server setting; set it in the server config")
            if rule == "lower" and mine > server:
                raise ConfigError(f"{where} = {_show(mine)} is above the server's {_show(server)}; "
                                  f"a site can only lower it")
            if rule == "higher" and mine < server:
                raise ConfigError(f"{where} = {_show(mine)} is below the server's {_show(server)}; "
                                  f"a site can only raise it")
            if rule == "stricter" and _STRICTNESS[section, key].index(mine) > _STRICTNESS[section, key].index(server):
                raise ConfigError(f"{where} = {_show(mine)} is looser than the server's {_show(server)}; "
                                  f"a site can only make it stricter")
            if rule == "within":
                _outbound_module().check_site_allow(mine, server, where)
            if rule == "off" and mine and not server:
                raise ConfigError(f"{where} = {_show(mine)}, but the server's is {_show(server)}; "
                                  f"a site can only turn it off")


def site_config(base: Config, site_file: Path | None, runtime_names: frozenset[str] = frozenset()) -> SiteConfig:
    """A site's config: the server's, tightened by the site's `dynlan.toml`.

    The site's file may only tighten the server's policy (`SITE_RULES`); anything else is a
    ConfigError naming the file and the key. Its runtime tables are kept as written, for the
    runtimes' own `site_options()` (App.prepare).
    """
    cfg = SiteConfig(
        http=dataclasses.replace(base.http),
        static=dataclasses.replace(base.static, index_names=list(base.static.index_names)),
        limits=dataclasses.replace(base.limits),
        compression=dataclasses.replace(base.compression),
        # Not the server's list: a site's pages reach only what the site's own file grants them.
        outbound=OutboundConfig(max_response_size=base.outbound.max_response_size),
        openapi=dataclasses.replace(base.openapi),
        websocket=dataclasses.replace(base.websocket),
    )
    if site_file is not None and site_file.is_file():
        data = read_toml(site_file)
        for key, shown in SERVER_SECTIONS.items():
            if key in data:
                raise ConfigError(f"{site_file}: {shown} is a server setting; set it in the server config (--config)")
        _merge(cfg, data, runtime_names, str(site_file))
        _check_choices(cfg, str(site_file))
        _check_values(cfg, str(site_file))
        _check_site_rules(base, cfg, data, str(site_file))
        cfg.rules = _rules_module().compile_rules(cfg.routes, str(site_file), cfg.rate_limit,
                                                  tuple(base.outbound.allow)).then(base.rules)
    else:
        cfg.rules = base.rules
    return cfg


__all__ = [
    "CacheConfig",
    "CompressionConfig",
    "Config",
    "ConfigError",
    "HttpConfig",
    "LimitsConfig",
    "OpenApiConfig",
    "OutboundConfig",
    "RateLimitConfig",
    "SITE_RULES",
    "ServerConfig",
    "SessionsConfig",
    "SiteConfig",
    "StaticConfig",
    "load_config",
    "site_config",
]
