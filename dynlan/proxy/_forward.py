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

Failures before the response head are HttpErrors the pipeline renders with the site's error pages: 502 when no
upstream could be reached or one broke the exchange, 504 when one timed out. After the head, the response cannot
change: the error propagates and the server breaks the response off (the client sees a truncated body or a reset
stream, never a complete-looking one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

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

if TYPE_CHECKING:
    from dynlan.app._exchange import SiteExchange

log = logging.getLogger("dynlan")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""RFC 9110 §9.2.2: methods a client may repeat. A request of one of them that broke on a reused keep-alive
connection before any response byte (the upstream closed it as we sent) is sent again on a new connection."""


async def forward(group: Group, ex: SiteExchange, target: str, peer: str, trusted_peer: bool) -> None:
    """Forward the request on `ex` to an upstream of `group`, with `target` as its request target."""
    tracing = current_tracing()
    if tracing is None:
        await _forward(group, ex, target, peer, trusted_peer)
        return
    # A client span for the hop; the upstream's `traceparent` (copied from the request's) names it.
    with tracing.client_span(ex.request, f"proxy {ex.request.method}", target) as (span, traceparent):
        ex.request.headers.set("traceparent", traceparent)
        await _forward(group, ex, target, peer, trusted_peer)
        span.set_attribute("http.response.status_code", ex.status)


async def _forward(group: Group, ex: SiteExchange, target: str, peer: str, trusted_peer: bool) -> None:
    spec = group.spec
    request = ex.request
    client = request.client[0] if request.client is not None else ""
    sticky = request_cookie(request.headers.get_all("cookie"), spec.cookie) if spec.policy == "cookie" else None
    headers, body_kind = request_headers(request, spec, peer, trusted_peer)
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
            retry = await _exchange(group, state, conn, reused, ex, target, headers, body_kind, first, sticky)
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
    except UpstreamTimeout as exc:
        log.warning("[%s] proxy: %s: %s", request.request_id, state.upstream.url, exc)
        group.failed(state, str(exc))
        # After the head, close=True: the server breaks the response off (a cut connection or a reset stream).
        raise HttpError(504, "the upstream server did not answer in time", close=ex.response_started) from None
    except UpstreamBroken as exc:
        if reused and not ex.response_started and body_kind == "none" and request.method in IDEMPOTENT:
            return True
        log.warning("[%s] proxy: %s: %s", request.request_id, state.upstream.url, exc)
        group.failed(state, str(exc))
        raise HttpError(502, "the upstream server failed to answer", close=ex.response_started) from None
    finally:
        if not released:
            conn.close()


async def _relay_response(group: Group, state: UpstreamState, conn: Http1Connection, ex: SiteExchange,
                          sticky: str | None) -> list[tuple[str, str]] | None:
    """The response's head and body to the client; returns its trailer fields, for the end of the response (None:
    the response went whole, in one answer, and is over)."""
    spec = group.spec
    event = await conn.next_event()
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

