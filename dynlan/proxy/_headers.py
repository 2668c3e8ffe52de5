"""The fields a proxied request and response carry: hop-by-hop ones dropped, forwarding ones added.

RFC 9110 §7.6.1: `Connection` and every field it names belong to one connection, as do `Keep-Alive`, `TE`,
`Transfer-Encoding`, `Upgrade` and `Proxy-Connection`; `Trailer` announces trailers of the message as framed on
this hop. None of them is passed on: the proxy frames the upstream message itself, and the server the client's.
`Proxy-*` fields are for this proxy (`Proxy-Authorization` must never reach an upstream).

One hop-by-hop value is passed on: a client's `TE: trailers` says it takes trailer fields, which the proxy passes
on from the upstream; an upstream that sends trailers only to clients that asked (gRPC servers, RFC 9113 §8.2.2)
must hear it. It goes as `TE: trailers` with `Connection: TE` (RFC 9110 §10.1.4: TE is a connection option),
whatever else the client's TE listed (transfer codings are this hop's to choose, and the proxy asks for none).

Forwarding fields (RFC 7239 `Forwarded`, the de facto `X-Forwarded-For`/`-Proto`/`-Host`, RFC 9110 §7.6.3 `Via`):
when the peer is in `[server] trusted_proxies`, what it sent is kept and this hop appended; from any other peer
they are dropped and written anew, so a client cannot make an upstream believe it is someone else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from dynlan.http import HttpRequest
from dynlan.http._headers import trailer_fields
from dynlan.proxy._config import ProxySpec

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
})
_FORWARDING = frozenset({"forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
VIA_NAME = "dynlan"


def _connection_names(headers: Iterable[tuple[str, str]]) -> set[str]:
    names: set[str] = set()
    for name, value in headers:
        if name == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def _dropped(name: str, listed: set[str]) -> bool:
    return name in HOP_BY_HOP or name.startswith("proxy-") or name in listed


def _via_version(http_version: str) -> str:
    """RFC 9110 §7.6.3: the received protocol, without "HTTP/" (`1.1`, `2`, `3`)."""
    return http_version[5:] if http_version.upper().startswith("HTTP/") else http_version


def _forwarded_node(address: str) -> str:
    """An address as a `Forwarded` node (RFC 7239 §6): IPv6 in brackets and quotes."""
    if ":" in address:
        return f'"[{address}]"'
    return address or "unknown"


_SPECIAL = HOP_BY_HOP | _FORWARDING | {"host", "expect", "content-length", "via"}
"""Request fields the loop of `request_headers` looks at; every other one passes as it is (unless `Proxy-*`)."""


def request_headers(request: HttpRequest, spec: ProxySpec, peer: str, trusted_peer: bool,
                    ) -> tuple[list[tuple[str, str]], str]:
    """The fields to send upstream, and how the body is framed: "none", "body" (Content-Length kept),
    "chunked" (the client sent it chunked: chunked again) or "probe" (HTTP/2 and /3 without a length)."""
    # One pass over the fields (this runs for every proxied request): most go as they are; the forwarding
    # fields a trusted peer sent are kept in place, and where this hop adds to one, it adds to the last.
    out: list[tuple[str, str]] = [("host", spec.host or request.host or spec.upstreams[0].default_host)]
    listed: set[str] | None = None
    chunked = has_length = trailers = False
    zero_length = False
    last: dict[str, int] = {}
    for name, value in request.headers:
        if name not in _SPECIAL:
            if name[:6] != "proxy-":
                out.append((name, value))
            continue
        if name == "transfer-encoding":
            chunked = True
        elif name == "te":
            trailers = trailers or _accepts_trailers(value)
        elif name == "connection":
            listed = (listed or set()) | {token.strip().lower() for token in value.split(",") if token.strip()}
        elif name == "content-length":
            if not has_length:
                # Only the first: the server has checked that repeats agree (RFC 9110 §8.6).
                has_length = True
                zero_length = value.strip() == "0"
                out.append((name, value))
        elif name == "via" or (name in _FORWARDING and trusted_peer):
            last[name] = len(out)
            out.append((name, value))
        # Else hop-by-hop, Host (set above), Expect (100-continue is answered to the client by the server when
        # the body is first read; the upstream gets the body without waiting) or a forwarding field from a peer
        # that is not trusted: not passed on.
    if listed:
        # Fields the client named in Connection are this hop's (RFC 9110 §7.6.1).
        out = [field for field in out if field[0] not in listed or field[0] == "host"]
        last = {name: i for i, (name, _) in enumerate(out) if name in last}
    proto = request.scheme
    host = request.host
    version = _via_version(request.http_version)
    node = f"for={_forwarded_node(peer)};proto={proto}"
    if host:
        node += f';host="{host}"'  # quoted: a port's ':' is not a token character (RFC 7239 §4)
    _add(out, last, "forwarded", node)
    _add(out, last, "x-forwarded-for", peer)
    if "x-forwarded-proto" not in last:
        out.append(("x-forwarded-proto", proto))
    if host and "x-forwarded-host" not in last:
        out.append(("x-forwarded-host", host))
    _add(out, last, "via", f"{version} {VIA_NAME}")
    if trailers:
        out.append(("te", "trailers"))
        out.append(("connection", "te"))
    if chunked:
        kind = "chunked"
    elif has_length:
        kind = "none" if zero_length else "body"
    elif version.startswith("1"):
        kind = "none"  # RFC 9112 §6.3: neither Content-Length nor Transfer-Encoding: no body
    else:
        kind = "probe"
    return out, kind


def _add(fields: list[tuple[str, str]], last: dict[str, int], name: str, value: str) -> None:
    """Add `value` to the last field called `name` (at `last[name]`) as one more list element, or a new field."""
    at = last.get(name)
    if at is None:
        fields.append((name, value))
    else:
        fields[at] = (name, f"{fields[at][1]}, {value}")


def _accepts_trailers(value: str) -> bool:
    """Whether a TE field lists `trailers` (RFC 9110 §10.1.4: a keyword among t-codings, without parameters)."""
    return any(part.strip().lower() == "trailers" for part in value.split(","))


def _append(fields: list[tuple[str, str]], name: str, value: str) -> None:
    """Add `value` to the last field called `name` as one more list element, or a new field."""
    for i in range(len(fields) - 1, -1, -1):
        if fields[i][0] == name:
            fields[i] = (name, f"{fields[i][1]}, {value}")
            return
    fields.append((name, value))


def _replace(fields: list[tuple[str, str]], name: str, value: str) -> None:
    fields[:] = [f for f in fields if f[0] != name]
    fields.append((name, value))


_RESPONSE_DROPPED = frozenset(name.encode() for name in HOP_BY_HOP) | {b"date", b"server"}
"""Date and Server are the server's own (it adds them to every response, RFC 9110 §6.6.1: the origin of the
response to this client is this server); two of each would be a contradiction."""


_MEMO_SIZE = 256
_memo: dict[tuple[tuple[bytes, bytes], ...], list[tuple[str, str]]] = {}
"""Recent heads' fields as converted: an upstream sends the same ones again and again (only `Date` changes, once a
second), and the conversion is pure. Emptied when full, so fields that differ every time cost one entry each."""


def response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The upstream response's fields for the client: hop-by-hop ones dropped, `Via` added (a new list)."""
    key = tuple(raw)
    known = _memo.get(key)
    if known is None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        known = _memo[key] = _response_headers(key)
    return known.copy()


def _response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    listed: set[str] | None = None
    via = -1
    for name, value in raw:
        name = name.lower()
        if name in _RESPONSE_DROPPED or name[:6] == b"proxy-":
            if name == b"connection":
                tokens = value.decode("latin-1").lower().split(",")
                listed = (listed or set()) | {token.strip() for token in tokens if token.strip()}
            continue
        if name == b"via":
            via = len(out)
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    if listed:
        out = [field for field in out if field[0] not in listed]
        via = max((i for i, (name, _) in enumerate(out) if name == "via"), default=-1)
    if via < 0:
        out.append(("via", _VIA_RESPONSE))
    else:
        out[via] = ("via", f"{out[via][1]}, {_VIA_RESPONSE}")
    return out


_VIA_RESPONSE = f"1.1 {VIA_NAME}"


def response_trailers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The upstream's trailer fields for the client: those a trailer section must not carry (RFC 9110 §6.5.1,
    `trailer_fields`) dropped; the client's exchange frames the rest (or drops them all where it cannot)."""
    return trailer_fields((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw)


def sticky_cookie(name: str, value: str) -> str:
    """The Set-Cookie naming the upstream a client stays with (an HMAC id, never the address)."""
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Lax"


def peer_trusted(peer: str, trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether the connection's peer is one of `[server] trusted_proxies` (its forwarding fields are kept)."""
    if not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in trusted)
