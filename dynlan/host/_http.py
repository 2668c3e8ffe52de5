"""HTTP calls from pages: the `http_request` host call (`http.request{...}` in Lua; docs/host-api.md, "http").

    the URL (http or https, ASCII, no user info)
      -> its host and port must be in the site's `[outbound] allow` list (deny by default)
      -> the name is resolved once, and the address checked: a name entry admits public addresses only; the
         machine's own, private, link-local and other special addresses need an address entry that covers them
         (so a name that resolves to 127.0.0.1 — DNS rebinding — reaches nothing the list does not name)
      -> the connection goes to that very address (no second lookup), from the worker's keep-alive pools, the
         proxy's own (`dynlan/proxy/_pool.py`: one per scheme, address, port and, for TLS, name), so a page's
         call and a proxy route to one server share its connections
      -> request and response over HTTP/1.1 by the proxy's client (`dynlan/proxy/_client.py`: llhttp parses
         responses; TLS for https, verified against the system's certificate authorities), the response body
         capped by `[outbound] max_response_size`
      -> redirects followed only when the call asks (`redirects = n`), each new URL checked the same way

The call runs inside the page's wall-time budget: the page's cancel scope cuts it (503), and a `timeout` the page
gives ends it sooner with an error the page can catch.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import trio

from dynlan.config import ConfigError
from dynlan.host._context import BudgetExceeded
from dynlan.observability._tracing import current as current_tracing
from dynlan.proxy._client import Http1Connection, Unsendable, UpstreamBroken, UpstreamTimeout
from dynlan.proxy._codec import BodyChunk, ResponseHead
from dynlan.proxy._config import Timeouts
from dynlan.proxy._pool import Origin, Pools

if TYPE_CHECKING:
    from dynlan.host._context import PageContext
    from dynlan.host._host import Host

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = frozenset({80, 443})
"""The ports an allow entry without `:port` admits."""
MAX_REDIRECTS = 10
IDLE_PER_KEY = 8
"""Idle connections a page's call leaves in the pool of its destination (the pools bound the total)."""
USER_AGENT = "dynlan"
PAST_BUDGET = 0.5
"""Seconds past the page's wall time a call made outside the page's cancel scope may last."""

NOT_PUBLIC: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    # RFC 6890 and the IANA special-purpose registries, with the ranges that embed or translate to an IPv4
    # address (IPv4-mapped, NAT64, 6to4, Teredo), since these may lead to a private one.
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
))
"""Addresses a name entry never reaches and a site's own address entry may not name (the server's list grants
them)."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URL = re.compile(r"[!-~]+")
_NAME = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_FORBIDDEN_HEADERS = frozenset({
    # The framing and the connection are the client's: a page that set them could smuggle a second request
    # onto a pooled connection (RFC 9112 §6.1, §11.2) or hold it open.
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
    "proxy-connection", "expect",
})
_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")
"""Dropped when a redirect leads to another origin (they were given for the first one)."""
_OPTIONS = frozenset({"method", "url", "headers", "body", "timeout", "redirects", "base64"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class HttpCallError(RuntimeError):
    """The call failed in a way the page sees and may catch (refused host, timeout, body over the cap)."""


# -- the allow list --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One entry of `[outbound] allow`: a host name (`api.example.com`, `*.example.com`) or an address or
    network (`127.0.0.1`, `10.0.0.0/8`, `[::1]`), with a port (`:9000`) or the default ports 80 and 443."""

    text: str
    name: str
    """Lower-case name, `*.` first for a wildcard; empty for an address entry."""
    network: Network | None
    ports: frozenset[int]

    def admits_name(self, host: str, port: int) -> bool:
        if not self.name or port not in self.ports:
            return False
        if self.name.startswith("*."):
            return host.endswith(self.name[1:]) and len(host) > len(self.name) - 1
        return host == self.name

    def admits_address(self, address: Address, port: int) -> bool:
        return self.network is not None and port in self.ports and address.version == self.network.version \
            and address in self.network

    def within(self, outer: AllowEntry) -> bool:
        """Everything this entry admits, `outer` admits too."""
        if not self.ports <= outer.ports:
            return False
        if self.network is not None:
            return outer.network is not None and self.network.version == outer.network.version \
                and self.network.subnet_of(outer.network)  # type: ignore[arg-type]
        if not outer.name:
            return False
        if outer.name.startswith("*."):
            return self.name.endswith(outer.name[1:]) and len(self.name) > len(outer.name) - 1
        return self.name == outer.name

    @property
    def special(self) -> bool:
        """An address entry reaching the machine itself, a private network or another non-public range."""
        network = self.network
        if network is None:
            return False
        return any(network.version == n.version and network.overlaps(n) for n in NOT_PUBLIC)


def parse_entry(text: str) -> AllowEntry:
    """One allow entry; ValueError saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a host (\"api.example.com\", \"127.0.0.1:9000\", \"10.0.0.0/8:443\")")
    if text.startswith("unix:"):
        # A Unix socket a site's `proxy` rules may use (dynlan.proxy); pages' calls are http and https only.
        if not text[5:].startswith("/") or "\x00" in text:
            raise ValueError(f"{text!r}: a Unix socket is named by its absolute path (\"unix:/run/app.sock\")")
        return AllowEntry(text, "", None, frozenset())
    host, ports = text.strip().lower(), DEFAULT_PORTS
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: no closing ']'")
        rest, host = host[end + 1:], host[1:end]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            ports = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
        ports = _port(port, text)
    try:
        network = ipaddress.ip_network(host, strict=True)
    except ValueError as exc:
        if "/" in host or host.replace(".", "").isdigit() or ":" in host:
            raise ValueError(f"{text!r} is not an address or network ({exc})") from None
        if not _NAME.fullmatch(host) or len(host) > 253:
            raise ValueError(f"{text!r} is not a host name (letters, digits, '-' and '.', or '*.' first)") from None
        return AllowEntry(text, host, None, ports)
    return AllowEntry(text, "", network, ports)


ANY_PORT = frozenset(range(1, 65536))
"""What `:*` admits (an operator's grant of a host's every port, `"127.0.0.1:*"`)."""


def _port(value: str, text: str) -> frozenset[int]:
    if value == "*":
        return ANY_PORT
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"{text!r}: {value!r} is not a TCP port")
    return frozenset({int(value)})


def parse_allow(values: list[str], where: str) -> tuple[AllowEntry, ...]:
    """A config's allow list; ConfigError naming the entry."""
    entries = []
    for i, value in enumerate(values):
        try:
            entries.append(parse_entry(value))
        except ValueError as exc:
            raise ConfigError(f"{where}[{i}]: {exc}") from None
    return tuple(entries)


def check_site_allow(site: list[str], server: list[str], where: str) -> None:
    """A site's list against the server's (ConfigError naming the entry): when the server has a list, every
    entry of the site's must be within one of it; without one, a site may name public hosts and networks only
    (the machine's own addresses and private networks are the server's to grant, in its own list)."""
    granted = parse_allow(server, "outbound.allow")
    for i, entry in enumerate(parse_allow(site, where)):
        check_site_entry(entry, granted, f"{where}[{i}]")


def check_site_entry(entry: AllowEntry, granted: tuple[AllowEntry, ...], where: str) -> None:
    """One host a site's file names, against the server's list (`check_site_allow`)."""
    if granted:
        if not any(entry.within(outer) for outer in granted):
            raise ConfigError(f"{where} = {entry.text!r} is not within the server's outbound.allow; "
                              f"a site can only narrow it")
    elif entry.special:
        raise ConfigError(f"{where} = {entry.text!r} is a loopback, private or other non-public address; "
                          f"a site may name one only where the server's outbound.allow does")


@functools.lru_cache(maxsize=256)
def policy(allow: tuple[str, ...]) -> tuple[AllowEntry, ...]:
    """A checked allow list, compiled once per distinct list."""
    return tuple(parse_entry(text) for text in allow)


def public(address: Address) -> bool:
    """An address of the public Internet: not this machine, a private or link-local network (with the cloud
    metadata address), nor any range IANA reserves; an IPv4-mapped IPv6 address is judged by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not any(address.version == n.version and address in n for n in NOT_PUBLIC)


def _admitted(entries: tuple[AllowEntry, ...], address: Address, port: int, by_name: bool) -> bool:
    if any(entry.admits_address(address, port) for entry in entries):
        return True
    return by_name and public(address)


async def resolve(entries: tuple[AllowEntry, ...], host: str, port: int) -> Address:
    """The one address the call connects to, checked against the list (HttpCallError when none may be)."""
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if _admitted(entries, literal, port, by_name=False):
            return literal
        raise HttpCallError(f"{_shown(host)}:{port} is not in this site's [outbound] allow list")
    if not any(entry.admits_name(host, port) for entry in entries):
        raise HttpCallError(f"{host}:{port} is not in this site's [outbound] allow list")
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:
        raise HttpCallError(f"{host}: the name does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if _admitted(entries, address, port, by_name=True):
            return address
    raise HttpCallError(f"{host} resolves to {', '.join(sorted({str(i[4][0]) for i in infos}))}, a loopback, private "
                        f"or other non-public address that this site's [outbound] allow list does not name")


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# -- the call --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    """The request target: path and query."""

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return _shown(self.host) if self.port == default else f"{_shown(self.host)}:{self.port}"


def parse_url(url: str) -> Target:
    if not _URL.fullmatch(url):
        raise ValueError(f"invalid URL {url!r}: spaces, control and non-ASCII characters must be percent-encoded")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid URL {url!r}: only http and https URLs can be requested")
    if not parts.hostname:
        raise ValueError(f"invalid URL {url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"invalid URL {url!r}: user and password go in an Authorization header, not the URL")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname.rstrip("."), port or (443 if parts.scheme == "https" else 80), path)


@dataclass(slots=True)
class Call:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    timeout: float | None
    redirects: int
    base64: bool


def parse_call(args: tuple[Any, ...]) -> Call:
    """The host call's arguments: (body, options). The body comes first so that a runtime may pass it as it is
    (Lua strings are bytes); when it is nil, `options.body` is used."""
    raw = args[0] if args else None
    options = args[1] if len(args) > 1 else None
    if isinstance(options, list) and not options:
        options = {}
    if not isinstance(options, dict):
        raise ValueError("http.request takes a table of options (method, url, headers, body, timeout, redirects)")
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(f"http.request: unknown option '{sorted(unknown)[0]}'")
    url = options.get("url")
    if not isinstance(url, str):
        raise ValueError("http.request: `url` is required (a string)")
    method = options.get("method") or "GET"
    if not isinstance(method, str) or not _TOKEN.fullmatch(method):
        raise ValueError(f"http.request: invalid method {method!r}")
    encoded = bool(options.get("base64"))
    body = raw if raw is not None else options.get("body")
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = base64.b64decode(body, validate=True) if encoded else body.encode()
    else:
        raise ValueError("http.request: `body` must be a string")
    timeout = options.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(f"http.request: `timeout` must be a number of seconds above 0, got {timeout!r}")
    redirects = options.get("redirects", 0)
    if isinstance(redirects, float) and redirects.is_integer():
        redirects = int(redirects)
    if isinstance(redirects, bool) or not isinstance(redirects, int) or not 0 <= redirects <= MAX_REDIRECTS:
        raise ValueError(f"http.request: `redirects` is how many to follow, 0 to {MAX_REDIRECTS}, got {redirects!r}")
    return Call(method.upper(), url, _headers(options.get("headers")), data,
                float(timeout) if timeout is not None else None, redirects, encoded)


def _headers(value: Any) -> list[tuple[str, str]]:
    if value is None or (isinstance(value, list) and not value):
        return []
    if not isinstance(value, dict):
        raise ValueError("http.request: `headers` must be a table of name = value")
    out = []
    for name, field_value in value.items():
        text = str(int(field_value)) if isinstance(field_value, float) and field_value.is_integer() else str(field_value)
        lower = str(name).lower()
        if not _TOKEN.fullmatch(lower):
            raise ValueError(f"http.request: invalid header name {name!r}")
        if _BAD_VALUE.search(text):
            # A CR or LF would start a header or a request of the page's own on the shared connection.
            raise ValueError(f"http.request: invalid value for header {name!r}: control characters are not allowed")
        if lower in _FORBIDDEN_HEADERS:
            raise ValueError(f"http.request: the {lower} header is set by the server")
        out.append((lower, text))
    return out


async def http_request(ctx: PageContext, args: tuple[Any, ...]) -> dict[str, Any]:
    """The `http_request` host call: {status, headers, body, url} of the final response."""
    call = parse_call(args)
    tracing = current_tracing()
    if tracing is None:
        return await _request(ctx, call)
    # A client span under the page's; the upstream gets its `traceparent` (W3C Trace Context), not the page's.
    with tracing.client_span(ctx.request, f"http.request {call.method}", call.url) as (span, traceparent):
        call.headers = [(k, v) for k, v in call.headers if k.lower() not in ("traceparent", "tracestate")]
        call.headers.append(("traceparent", traceparent))
        result = await _request(ctx, call)
        span.set_attribute("http.response.status_code", result["status"])
        return result


async def _request(ctx: PageContext, call: Call) -> dict[str, Any]:
    outbound = ctx.outbound
    entries = policy(tuple(outbound.allow))
    client = Client.of(ctx.host)
    ctx.host.count("http.calls")
    # The page's own cancel scope ends the call with the page (503); the page's remaining time bounds it here
    # too, a little later so that the page's scope comes first where there is one, for the calls a runtime
    # serves outside that scope (PHP's host socket, a synchronous Python page's thread).
    remaining = _remaining(ctx) + PAST_BUDGET
    timeout = call.timeout if call.timeout is not None and call.timeout < remaining else None
    with trio.move_on_after(timeout if timeout is not None else remaining) as scope:
        return await _follow(client, entries, call, outbound.max_response_size)
    assert scope.cancelled_caught
    if timeout is None:
        wall = ctx.limits.wall_time
        raise BudgetExceeded("time", f"page ran past its time budget of {wall:g} s (in http.request {call.url})")
    raise HttpCallError(f"http.request: no complete answer from {call.url} within {timeout:g} s")


def _remaining(ctx: PageContext) -> float:
    """Seconds left of the page's wall time (run_page notes when the page started)."""
    running = ctx.host.inflight.get(ctx.request.request_id)
    if running is None:
        return ctx.limits.wall_time
    return max(0.0, running[2] + ctx.limits.wall_time - time.monotonic())


async def _follow(client: Client, entries: tuple[AllowEntry, ...], call: Call, cap: int) -> dict[str, Any]:
    url, method, headers, body = call.url, call.method, call.headers, call.body
    target = parse_url(url)
    left = call.redirects
    while True:
        address = await resolve(entries, target.host, target.port)
        status, fields, data = await client.exchange(target, address, method, headers, body, cap)
        location = _field(fields, "location")
        if left == 0 or status not in (301, 302, 303, 307, 308) or location is None:
            break
        left -= 1
        url = urljoin(url, location)
        following = parse_url(url)
        # RFC 9110 §15.4: 303 is answered with a GET; so are 301 and 302 to a POST, as every browser does.
        if status == 303 and method != "HEAD" or status in (301, 302) and method == "POST":
            method, body = "GET", b""
            headers = [(k, v) for k, v in headers if not k.startswith("content-")]
        if following.origin != target.origin:
            headers = [(k, v) for k, v in headers if k not in _CREDENTIALS]
        target = following
    return {"status": status, "headers": _header_table(fields), "url": url,
            "body": base64.b64encode(data).decode("ascii") if call.base64 else data}


def _field(fields: list[tuple[bytes, bytes]], name: bytes | str) -> str | None:
    key = name.encode() if isinstance(name, str) else name
    for k, v in fields:
        if k == key:
            return v.decode("latin-1")
    return None


def _header_table(fields: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response fields by lower-case name; repeated fields joined by ", " (RFC 9110 §5.3), Set-Cookie by a
    newline (its values hold commas)."""
    out: dict[str, str] = {}
    for k, v in fields:
        name, value = k.decode("latin-1"), v.decode("latin-1")
        if name in out:
            out[name] += ("\n" if name == "set-cookie" else ", ") + value
        else:
            out[name] = value
    return out


# -- connections -----------------------------------------------------------------------------------------------

UNBOUNDED = Timeouts(connect=86400.0, read=86400.0, write=86400.0)
"""A call's connection has no timeouts of its own: the call's cancel scope (the page's time, or the call's
`timeout`) bounds every wait."""


class Client:
    """Pages' HTTP calls over the worker's connection pools, the same the proxy's routes use
    (`dynlan.proxy.Pools`): a page's call and a proxied request to one server share its kept-alive connections."""

    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self._tls: ssl.SSLContext | None = None

    @staticmethod
    def of(host: Host) -> Client:
        """The client kept in the host's services (made on first use, over the worker's pools)."""
        client = host.extra.get("http_client")
        if not isinstance(client, Client):
            client = host.extra["http_client"] = Client(Pools.of(host.extra, host.nursery))
        return client

    def statistics(self) -> dict[str, int]:
        return self.pools.statistics()

    async def exchange(self, target: Target, address: Address, method: str, headers: list[tuple[str, str]],
                       body: bytes, cap: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One request and its whole response (status, fields, body); HttpCallError when it fails."""
        # A TLS connection is only reused for the name it was verified for; a plain one by address alone.
        origin: Origin = (target.scheme, str(address), target.port, target.host if target.scheme == "https" else "")
        fields = [("host", target.authority), *headers]
        if not any(k == "user-agent" for k, _ in headers):
            fields.append(("user-agent", USER_AGENT))
        if body or method in ("POST", "PUT", "PATCH"):
            fields.append(("content-length", str(len(body))))
        conn = self.pools.take(origin)
        reused = conn is not None
        if conn is None:
            conn = await self._open(origin, target, address)
        else:
            conn.timeouts = UNBOUNDED
        try:
            try:
                return await self._roundtrip(conn, method, target.path, fields, body, cap)
            except _Stale:
                # The server closed the kept-alive connection as it was reused, before any response: an
                # idempotent request is sent again on a new one (RFC 9112 §9.3.1).
                conn.close()
                if not reused or method not in _IDEMPOTENT:
                    raise HttpCallError(f"http.request: {target.authority} closed the connection") from None
                conn = await self._open(origin, target, address)
                return await self._roundtrip(conn, method, target.path, fields, body, cap)
        except BaseException:
            # Cancelled (the page's time), refused, cut: whatever is left on the connection is nobody's.
            conn.close()
            raise

    async def _roundtrip(self, conn: Http1Connection, method: str, path: str, fields: list[tuple[str, str]],
                         body: bytes, cap: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        answered = False
        status, size = 0, 0
        received: list[tuple[bytes, bytes]] = []
        parts: list[bytes] = []
        try:
            await conn.send_request(method, path, fields, chunked=False, body=bool(body))
            if body:
                await conn.send_body(body)
                await conn.end_body()
            while True:
                event = await conn.next_event()
                if isinstance(event, ResponseHead):
                    answered = True
                    status, received = event.status, event.headers
                    length = _field(received, b"content-length")
                    if length is not None and length.isdigit() and int(length) > cap:
                        raise HttpCallError(_too_large(cap))
                elif isinstance(event, BodyChunk):
                    size += len(event.data)
                    if size > cap:
                        raise HttpCallError(_too_large(cap))
                    parts.append(event.data)
                else:
                    break  # ResponseEnd (a response cut short is UpstreamBroken)
        except Unsendable as exc:
            raise HttpCallError(f"http.request: the request cannot be sent: {exc}") from None
        except (UpstreamBroken, UpstreamTimeout) as exc:
            if not answered:
                raise _Stale() from None
            raise HttpCallError(f"http.request: {exc}") from None
        self.pools.put(conn, IDLE_PER_KEY)
        return status, received, b"".join(parts)

    async def _open(self, origin: Origin, target: Target, address: Address) -> Http1Connection:
        try:
            tcp = await trio.open_tcp_stream(str(address), target.port)
        except OSError as exc:
            raise HttpCallError(f"http.request: cannot connect to {target.authority} ({address}): "
                                f"{exc.strerror or exc}") from None
        if target.scheme != "https":
            conn = Http1Connection(tcp, origin, UNBOUNDED)
            conn.timer = self.pools.timer
            return conn
        tls = trio.SSLStream(tcp, self._tls_context(), server_hostname=target.host, https_compatible=True)
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError) as exc:
            tcp.socket.close()
            cause = exc.__cause__ or exc
            raise HttpCallError(f"http.request: TLS with {target.authority} failed: {cause}") from None
        return Http1Connection(tls, origin, UNBOUNDED, transport=tcp)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _too_large(cap: int) -> str:
    return f"http.request: the response body is larger than the {cap} bytes a page may receive " \
           f"([outbound] max_response_size)"


class _Stale(Exception):
    """The connection broke before any response came."""


__all__ = ["AllowEntry", "Client", "HttpCallError", "check_site_allow", "check_site_entry", "http_request",
           "parse_allow", "parse_entry", "parse_url", "policy", "public", "resolve"]
