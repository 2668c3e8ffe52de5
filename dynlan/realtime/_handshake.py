"""The WebSocket opening handshake, sans-I/O: is a request an offer, and what answers it.

RFC 6455 §4.2 over HTTP/1.1 (`Upgrade: websocket`, answered 101), RFC 8441 over
HTTP/2 (extended CONNECT with `:protocol = websocket`, answered 200). The HTTP/2
core presents an extended CONNECT as a GET with `upgrade: websocket` (a field no
HTTP/2 client can send itself, RFC 9113 §8.2.2), so a page sees one request shape.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from wsproto.utilities import generate_accept_token

from dynlan.http import HttpRequest

VERSION = "13"
"""The only protocol version there is (RFC 6455 §4.1)."""

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class Offer:
    """A well-formed WebSocket request."""

    key: str
    """`Sec-WebSocket-Key` (HTTP/1.1); empty over HTTP/2, which has none (RFC 8441 §5)."""
    protocols: tuple[str, ...]
    """Subprotocols the client offers, in its order of preference."""
    http2: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """A WebSocket request that cannot be accepted: its answer."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def asks_websocket(request: HttpRequest) -> bool:
    """Whether the request asks for a WebSocket at all (well-formed or not)."""
    value = request.headers.get("upgrade")
    return value is not None and "websocket" in _tokens(value)


def is_realtime(request: HttpRequest) -> bool:
    """A WebSocket or event-stream request: never answered from (nor collapsed into) the response cache."""
    if asks_websocket(request):
        return True
    accept = request.headers.get("accept")
    return accept is not None and "text/event-stream" in accept


def offer(request: HttpRequest) -> Offer | Refusal | None:
    """The request's WebSocket offer; a `Refusal` when it asks for one badly; None when it does not ask."""
    if not asks_websocket(request) or request.http_version == "3":
        # (WebSockets over HTTP/3, RFC 9220, are not offered.)
        return None
    headers = request.headers
    protocols = tuple(p.strip() for p in ",".join(headers.get_all("sec-websocket-protocol")).split(",") if p.strip())
    if any(not _TOKEN.fullmatch(p) for p in protocols):
        return Refusal(400, "malformed Sec-WebSocket-Protocol")
    version = (headers.get("sec-websocket-version") or "").strip()
    if request.http_version == "2":
        if version != VERSION:
            # RFC 6455 §4.4: the versions the server speaks, with 426.
            return Refusal(426, "WebSocket version 13 is required", (("sec-websocket-version", VERSION),))
        return Offer("", protocols, True)
    if request.http_version != "1.1" or request.method != "GET":
        # RFC 6455 §4.1: a GET of HTTP/1.1 or later.
        return Refusal(400, "a WebSocket handshake is an HTTP/1.1 GET")
    if "upgrade" not in _tokens(headers.get("connection")):
        return Refusal(400, "a WebSocket handshake has Connection: Upgrade")
    if version != VERSION:
        return Refusal(426, "WebSocket version 13 is required", (("sec-websocket-version", VERSION),))
    key = (headers.get("sec-websocket-key") or "").strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        nonce = b""
    if len(nonce) != 16:
        # RFC 6455 §4.1: a base64-encoded 16-byte nonce.
        return Refusal(400, "malformed Sec-WebSocket-Key")
    return Offer(key, protocols, False)


def accept_headers(offer: Offer, protocol: str | None) -> list[tuple[str, str]]:
    """The fields of the answer that accepts `offer` (101 over HTTP/1.1, 200 over HTTP/2)."""
    out: list[tuple[str, str]] = []
    if not offer.http2:
        out += [("upgrade", "websocket"), ("connection", "Upgrade"),
                ("sec-websocket-accept", generate_accept_token(offer.key.encode("ascii")).decode("ascii"))]
    if protocol:
        out.append(("sec-websocket-protocol", protocol))
    return out


def upgrade_required() -> Refusal:
    """What a page that takes only WebSockets answers a plain request with (RFC 9110 §15.5.22)."""
    return Refusal(426, "this page speaks WebSocket",
                   (("upgrade", "websocket"), ("sec-websocket-version", VERSION)))
