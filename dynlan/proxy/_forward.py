"""One request forwarded to an upstream, its response streamed back.

    choose an upstream (policy; ejected and unhealthy ones left out)
      -> a pooled keep-alive connection, or a new one (a refused or timed-out connect: the next upstream)
      -> request head (hop-by-hop fields dropped, Forwarded / X-Forwarded-* / Via added), then the body
         chunk by chunk as the client sends it, while the response is awaited
      -> response head (hop-by-hop dropped, Via added), then the body chunk by chunk as the upstream sends it
      -> the connection back to the pool when both messages ended on a keep-alive connection

Nothing is buffered beyond one chunk each way, so a 100 MiB upload or download costs what two chunks cost. The
client's exchange sets the pace: a slow client slows the reads from the upstream (trio's send waits), and the
upstream's slowness is bounded by `timeouts.read` and `timeouts.write`.

A WebSocket handshake (HTTP/1.1 `Upgrade`, or an HTTP/2 extended CONNECT, RFC 8441) goes upstream as an HTTP/1.1
upgrade on a connection of its own; after the upstream's 101 (checked as a client checks it, RFC 6455 §4.1), the
client's handshake is accepted with what the upstream chose, and the bytes of both sides are relayed as they come
until either side ends. The frames are the same bytes over HTTP/1.1 and HTTP/2, so nothing is parsed. An answer
other than 101 goes to the client as any response.

Failures before the response head are HttpErrors the pipeline renders with the site's error pages: 502 when no
upstream could be reached or one broke the exchange, 504 when one timed out. After the head, the response cannot
change: the error propagates and the server breaks the response off (the client sees a truncated body or a reset
stream, never a complete-looking one).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import trio
from wsproto.utilities import generate_accept_token

from dynlan.http import HttpError
from dynlan.http._headers import trailer_fields
from dynlan.observability._tracing import current as current_tracing
from dynlan.proxy._client import ConnectFailed, Http1Connection, UpstreamBroken, UpstreamTimeout
from dynlan.proxy._codec import BodyChunk, ResponseEnd, ResponseHead
from dynlan.proxy._group import Group, UpstreamState
from dynlan.proxy._headers import (
    request_headers,
    response_headers,
    response_trailers,
    sticky_cookie,
)
from dynlan.realtime._handshake import Offer, accept_headers

if TYPE_CHECKING:
    from dynlan.app._exchange import SiteExchange
    from dynlan.realtime import Tunnel

log = logging.getLogger("dynlan")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""RFC 9110 §9.2.2: methods a client may repeat. A request of one of them that broke on a reused keep-alive
connection before any response byte (the upstream closed it as we sent) is sent again on a new connection."""


async def forward(group: Group, ex: SiteExchange, target: str, peer: str, trusted_peer: bool,
                  websocket: Offer | None = None) -> None:
    """Forward the request on `ex` to an upstream of `group`, with `target` as its request target; `websocket`:
    the request's well-formed WebSocket handshake (`dynlan.realtime.offer`), or None."""
    tracing = current_tracing()
    if tracing is None:
        await _forward(group, ex, target, peer, trusted_peer, websocket)
        return
    # A client span for the hop; the upstream's `traceparent` (copied from the request's) names it.
    with tracing.client_span(ex.request, f"proxy {ex.request.method}", target) as (span, traceparent):
        ex.request.headers.set("traceparent", traceparent)
        await _forward(group, ex, target, peer, trusted_peer, websocket)
        span.set_attribute("http.response.status_code", ex.status)


async def _forward(group: Group, ex: SiteExchange, target: str, peer: str, trusted_peer: bool,
                   websocket: Offer | None) -> None:
    spec = group.spec
    request = ex.request
    client = request.client[0] if request.client is not None else ""
    sticky = request_cookie(request.headers.get_all("cookie"), spec.cookie) if spec.policy == "cookie" else None
    headers, body_kind = request_headers(request, spec, peer, trusted_peer)
    key = ""
    if websocket is not None:
        # The upgrade is this hop's (Connection and Upgrade are hop-by-hop): asked again upstream, with the
        # client's key over HTTP/1.1 (the upstream's accept token is then the client's too), a new one over HTTP/2.
        key = websocket.key or base64.b64encode(os.urandom(16)).decode("ascii")
        headers = [f for f in headers if f[0] not in _UPGRADE_DROPPED]
        headers += [("connection", "upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", key)]
        body_kind = "none"
    first = b""
    if body_kind == "probe":
        # No declared length (HTTP/2 and HTTP/3 need none): the first read tells whether there is a body at all.
        first = await ex.receive()
        body_kind = "chunked" if first else "none"
    if body_kind == "chunked":
        headers.append(("transfer-encoding", "chunked"))
    tried: list[UpstreamState] = []
    timed_out = False
    while True:
        state = group.choose(client, sticky, tried)
        if state is None:
            if timed_out:
                raise HttpError(504, "the upstream server did not answer in time")
            raise HttpError(502, "the upstream server could not be reached")
        tried.append(state)
        try:
            conn, reused = await group.connection(state)
        except ConnectFailed as exc:
            # Nothing was sent: trying the next upstream is safe whatever the method.
            log.warning("[%s] proxy: %s", request.request_id, exc)
            group.failed(state, str(exc))
            timed_out = timed_out or exc.timed_out
            continue
        state.in_flight += 1
        try:
            if websocket is None:
                retry = await _exchange(group, state, conn, reused, ex, target, headers, body_kind, first, sticky)
            else:
                retry = await _upgrade(group, state, conn, reused, ex, target, headers, websocket, key, sticky)
        finally:
            state.in_flight -= 1
        if not retry:
            return
        tried.pop()  # the upstream is not at fault: its keep-alive connection was closing


async def _exchange(group: Group, state: UpstreamState, conn: Http1Connection, reused: bool, ex: SiteExchange,
                    target: str, headers: list[tuple[str, str]], body_kind: str, first: bytes,
                    sticky: str | None) -> bool:
    """One request and its response on `conn`; True when it should be sent again on a new connection."""
    request = ex.request
    released = False
    # Each task keeps its error here rather than raising it through the nursery (one error, not a group).
    failed: list[Exception] = []
    body_failed: list[Exception] = []
    relayed = False
    try:
        await conn.send_request(request.method, target, headers, chunked=body_kind == "chunked",
                                body=body_kind != "none")
        trailers: list[tuple[str, str]] | None = []
        if body_kind == "none":
            trailers = await _relay_response(group, state, conn, ex, sticky)
        else:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_body, conn, ex, first, body_failed, nursery.cancel_scope)
                try:
                    trailers = await _relay_response(group, state, conn, ex, sticky)
                    relayed = True
                except Exception as exc:
                    failed.append(exc)
                # The upstream answered before the request body was all sent (an early 413 or redirect), or
                # failed: the connection is spent either way, and the rest of the body is not sent.
                nursery.cancel_scope.cancel()
            client_side = [e for e in body_failed if not isinstance(e, UpstreamBroken | UpstreamTimeout)]
            if client_side and not relayed:
                raise client_side[0]  # the client's body failed (413, a broken connection): that is the story
            if failed:
                raise failed[0]
        if trailers is not None:
            await ex.finish(trailers)
        group.release(state, conn)
        released = True
        return False
    except (UpstreamTimeout, UpstreamBroken) as exc:
        if isinstance(exc, UpstreamBroken) and reused and not ex.response_started and body_kind == "none" \
                and request.method in IDEMPOTENT:
            return True
        raise _failure(group, state, ex, exc) from None
    finally:
        if not released:
            conn.close()


def _failure(group: Group, state: UpstreamState, ex: SiteExchange, exc: UpstreamTimeout | UpstreamBroken) -> HttpError:
    """A failed exchange, logged and counted against its upstream: the answer is 504 for a timeout, else 502. After
    the head, close=True: the server breaks the response off (a cut connection or a reset stream)."""
    log.warning("[%s] proxy: %s: %s", ex.request.request_id, state.upstream.url, exc)
    group.failed(state, str(exc))
    if isinstance(exc, UpstreamTimeout):
        return HttpError(504, "the upstream server did not answer in time", close=ex.response_started)
    return HttpError(502, "the upstream server failed to answer", close=ex.response_started)


async def _relay_response(group: Group, state: UpstreamState, conn: Http1Connection, ex: SiteExchange,
                          sticky: str | None, head: ResponseHead | None = None) -> list[tuple[str, str]] | None:
    """The response's head (`head` when it was read already) and body to the client; returns its trailer fields,
    for the end of the response (None: the response went whole, in one answer, and is over)."""
    spec = group.spec
    event = head if head is not None else await conn.next_event()
    if not isinstance(event, ResponseHead):
        raise UpstreamBroken("the upstream closed the connection before its response")
    group.succeeded(state)
    out = response_headers(event.headers)
    if spec.policy == "cookie" and sticky != state.sticky:
        out.append(("set-cookie", sticky_cookie(spec.cookie, state.sticky)))
    if ex.request.method != "HEAD":
        whole = conn.buffered_body()
        if whole is not None:
            await ex.respond(event.status, out, whole)
            return None
    await ex.send_head(event.status, out)
    while True:
        body = await conn.next_event()
        if isinstance(body, BodyChunk):
            await ex.send_body(body.data)
            continue
        # ResponseEnd (a response cut short is an UpstreamBroken from next_event).
        return response_trailers(body.trailers) if isinstance(body, ResponseEnd) else []


_UPGRADE_DROPPED = frozenset({"sec-websocket-key", "te", "connection", "upgrade"})


async def _upgrade(group: Group, state: UpstreamState, conn: Http1Connection, reused: bool, ex: SiteExchange,
                   target: str, headers: list[tuple[str, str]], websocket: Offer, key: str,
                   sticky: str | None) -> bool:
    """A WebSocket handshake on `conn`, then both sides relayed; True when it should be sent again on a new
    connection (a reused one that was closing)."""
    request = ex.request
    released = False
    try:
        await conn.send_request("GET", target, headers, chunked=False, body=False, upgrade=True)
        head = await conn.next_event()
        if not isinstance(head, ResponseHead):
            raise UpstreamBroken("the upstream closed the connection before its response")
        if head.status != 101:
            # Refused (401, 403, 404, 426 ...): the upstream's answer is the client's.
            trailers = await _relay_response(group, state, conn, ex, sticky, head)
            if trailers is not None:
                await ex.finish(trailers)
            group.release(state, conn)
            released = True
            return False
        group.succeeded(state)
        fields = _accepted(head.headers, websocket, key)
        tunnel, initial = await ex.open_tunnel(fields)
        await _splice(conn, tunnel, initial, conn.upgraded() or b"", request.request_id)
        return False
    except (UpstreamTimeout, UpstreamBroken) as exc:
        if isinstance(exc, UpstreamBroken) and reused and not ex.response_started:
            return True
        raise _failure(group, state, ex, exc) from None
    finally:
        if not released:
            conn.close()


def _accepted(raw: list[tuple[bytes, bytes]], websocket: Offer, key: str) -> list[tuple[str, str]]:
    """The upstream's 101, checked as a WebSocket client checks it (RFC 6455 §4.1, UpstreamBroken when it is
    not one), and the fields that accept the client's handshake with what the upstream chose."""
    fields: dict[bytes, list[bytes]] = {}
    for name, value in raw:
        fields.setdefault(name, []).append(value)

    def tokens(name: bytes) -> set[str]:
        return {t.strip().lower() for v in fields.get(name, []) for t in v.decode("latin-1").split(",")}

    if "websocket" not in tokens(b"upgrade") or "upgrade" not in tokens(b"connection"):
        raise UpstreamBroken("the upstream's 101 is not a WebSocket one")
    accept = b"".join(fields.get(b"sec-websocket-accept", [])).strip()
    if accept != generate_accept_token(key.encode("ascii")):
        raise UpstreamBroken("the upstream's Sec-WebSocket-Accept does not match the key")
    chosen = b", ".join(fields.get(b"sec-websocket-protocol", [])).decode("latin-1").strip()
    if chosen and chosen not in websocket.protocols:
        raise UpstreamBroken(f"the upstream chose a subprotocol the client did not offer ({chosen!r})")
    out = accept_headers(websocket, chosen or None)
    extensions = b", ".join(fields.get(b"sec-websocket-extensions", [])).decode("latin-1").strip()
    if extensions:
        # The frames are relayed as they are: what the upstream agreed to (permessage-deflate) the client gets.
        out.append(("sec-websocket-extensions", extensions))
    return out


async def _splice(conn: Http1Connection, tunnel: Tunnel, initial: bytes, early: bytes, request_id: str) -> None:
    """The bytes of both sides to the other, as they come, until either side ends (or the upstream is silent for
    `timeouts.read`): then both close."""

    async def pump(first: bytes, receive: Callable[[], Awaitable[bytes]], send: Callable[[bytes], Awaitable[None]],
                   where: str, done: trio.CancelScope) -> None:
        try:
            data = first
            while True:
                if data:
                    await send(data)
                data = await receive()
                if not data:
                    return
        except (UpstreamBroken, UpstreamTimeout, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.debug("[%s] proxy: WebSocket relay %s ended: %s", request_id, where, exc)
        finally:
            done.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump, initial, tunnel.receive_some, conn.send_raw, "to the upstream", nursery.cancel_scope)
        await pump(early, conn.receive_raw, tunnel.send_all, "to the client", nursery.cancel_scope)


async def _send_body(conn: Http1Connection, ex: SiteExchange, first: bytes, errors: list[Exception],
                     cancel: trio.CancelScope) -> None:
    """The request body, as the client sends it, to the upstream (with its length, or chunked)."""
    try:
        data = first or await ex.receive()
        while data:
            await conn.send_body(data)
            data = await ex.receive()
        await conn.end_body(trailer_fields(ex.request_trailers))
    except (UpstreamBroken, UpstreamTimeout) as exc:
        # The upstream stopped reading: its response (an early answer, or the connection's end) tells the rest.
        errors.append(exc)
    except Exception as exc:
        # The client's side failed (413, a broken connection): the exchange is over.
        errors.append(exc)
        cancel.cancel()


def request_cookie(lines: Sequence[str], name: str) -> str | None:
    """The value of cookie `name` in the request's Cookie fields (RFC 6265 §5.4), or None."""
    for line in lines:
        for pair in line.split(";"):
            key, eq, value = pair.strip().partition("=")
            if eq and key == name:
                return value.strip().strip('"')
    return None

