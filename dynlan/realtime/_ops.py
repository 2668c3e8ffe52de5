"""The real-time operations of the host-call table (`dynlan.host._calls` lists them with the others).

Each takes the request's context and plain arguments, like every operation: what
a page reaches is its own request's WebSocket and event stream, and the channels
of its own site. Errors a page may catch are `ValueError`s (the table turns them
into `HostCallError`s).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import trio

from dynlan.realtime import _handshake
from dynlan.realtime._channels import hub_for
from dynlan.realtime._sse import HEADERS as SSE_HEADERS
from dynlan.realtime._sse import format_comment, format_event
from dynlan.realtime._state import Realtime
from dynlan.realtime._websocket import Received, WebSocket

if TYPE_CHECKING:
    from dynlan.host._context import PageContext

Args = tuple[Any, ...]


def _arg(args: Args, i: int) -> Any:
    return args[i] if len(args) > i else None


def _state(ctx: PageContext) -> Realtime:
    if ctx.realtime is None:
        ctx.realtime = Realtime()
    return ctx.realtime


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{what} is a number of seconds")
    return float(value)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ValueError(f"{what} is a string")
    return value


def _live_for(ctx: PageContext) -> float:
    """From now on the page's wall-time budget is the connection's lifetime."""
    lifetime = ctx.websocket.lifetime
    ctx.wall_deadline = trio.current_time() + lifetime
    for scope in ctx.wall_scopes:
        scope.deadline = ctx.wall_deadline
    return lifetime


def _protocols(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [_text(value, "protocol")]
    if isinstance(value, list):
        return [_text(v, "protocol") for v in value]
    raise ValueError("protocol is a string or a list of strings")


# -- WebSocket ------------------------------------------------------------------------


async def ws_accept(ctx: PageContext, args: Args) -> dict[str, Any] | None:
    """(options) -> {protocol, lifetime}, or None when the request is no WebSocket handshake (the answer is then
    426, or 400 for a malformed handshake, unless the page writes its own)."""
    options = _arg(args, 0)
    if options is not None and not isinstance(options, dict):
        options = {} if options == [] else None
        if options is None:
            raise ValueError("websocket.accept takes a table of options {protocol = ...}")
    state = _state(ctx)
    if state.websocket is not None or state.sse:
        raise ValueError("this page has already accepted a WebSocket or an event stream")
    response = ctx.response
    if response.streaming or response.written:
        raise ValueError("websocket.accept comes before the page writes anything")
    found = _handshake.offer(ctx.request)
    if found is None:
        state.refusal = _handshake.upgrade_required()
        return None
    if isinstance(found, _handshake.Refusal):
        state.refusal = found
        return None
    wanted = _protocols((options or {}).get("protocol"))
    chosen = next((p for p in wanted if p in found.protocols), None)
    fields = _handshake.accept_headers(found, chosen)
    tunnel, initial = await ctx.exchange.open_tunnel(fields)
    response.streaming = response.finished = True
    cfg = ctx.websocket
    state.websocket = WebSocket(tunnel, max_message=cfg.max_message, idle_timeout=cfg.idle_timeout, initial=initial)
    tunnel.finisher = state.websocket.finish
    ctx.log.debug(f"WebSocket accepted ({'HTTP/2' if found.http2 else 'HTTP/1.1'}, protocol {chosen or '-'})")
    return {"protocol": chosen or "", "lifetime": _live_for(ctx)}


def _websocket(ctx: PageContext) -> WebSocket:
    ws = ctx.realtime.websocket if ctx.realtime is not None else None
    if ws is None:
        raise ValueError("no WebSocket: call websocket.accept() first")
    return ws


async def ws_receive(ctx: PageContext, args: Args) -> dict[str, Any] | None:
    """(subscription ids, timeout, encoding) -> {kind = text|binary|channel|timeout, data, channel}; None once closed.
    With encoding `base64`, a binary message's data is base64 text (PHP's bridge is JSON)."""
    ws = _websocket(ctx)
    state = _state(ctx)
    ids = _arg(args, 0)
    subs = [state.subscription(i) for i in ids] if isinstance(ids, list) else []
    timeout = _seconds(_arg(args, 1), "timeout")
    if not subs and timeout is None:
        # Only the peer's next message can end this wait: no scope for a channel or a timeout to cancel.
        got = await ws.receive()
        return None if got is None else _received(ctx, ws, got, args)
    for sub in subs:
        message = sub.take_nowait()
        if message is not None:
            return {"kind": "channel", "data": message, "channel": sub.name}
    with trio.CancelScope() as scope:
        if timeout is not None:
            scope.deadline = trio.current_time() + timeout
        for sub in subs:
            sub.set_waker(scope.cancel)
        try:
            got = await ws.receive()
        finally:
            for sub in subs:
                sub.set_waker(None)
    if scope.cancelled_caught:
        for sub in subs:
            message = sub.take_nowait()
            if message is not None:
                return {"kind": "channel", "data": message, "channel": sub.name}
        return {"kind": "timeout"}
    if got is None:
        return None
    return _received(ctx, ws, got, args)


def _must_wait(op: str, args: Args) -> Exception:
    from dynlan.host._calls import MustWait  # (the table imports this module)

    return MustWait(op, args)


def ws_receive_nowait(ctx: PageContext, args: Args) -> dict[str, Any] | None:
    """`ws_receive` answered at once when a message is already here (and no channel or timeout is asked for)."""
    ws = _websocket(ctx)
    got = ws.receive_nowait() if not _arg(args, 0) and _arg(args, 1) is None else None
    if got is None:
        raise _must_wait("ws_receive", args)
    return _received(ctx, ws, got, args)


def _received(ctx: PageContext, ws: WebSocket, got: Received, args: Args) -> dict[str, Any]:
    """The message as the page gets it; with `queued` when more of the peer's frames are already here (a runtime
    may then ask for the next one with `ws_receive_nowait` first: otherwise that would only find nothing)."""
    _state(ctx).renewed = True
    if isinstance(got.data, str):
        answer: dict[str, Any] = {"kind": "text", "data": got.data}
    elif _arg(args, 2) == "base64":
        answer = {"kind": "binary", "data": base64.b64encode(got.data).decode("ascii")}
    else:
        answer = {"kind": "binary", "data": got.data}
    if ws.queued:
        answer["queued"] = True
    return answer


def ws_send_nowait(ctx: PageContext, args: Args) -> bool:
    """`ws_send` answered at once when the socket takes the message; else the rest waits (`ws_flush`)."""
    ws = _websocket(ctx)
    if not ws.send_nowait(_message(args)):
        raise _must_wait("ws_flush", ())
    return ws.open


async def ws_flush(ctx: PageContext, args: Args) -> bool:
    """() -> whether the connection is still open, once what `ws_send` left is sent."""
    return await _websocket(ctx).flush()


async def ws_send(ctx: PageContext, args: Args) -> bool:
    """(data, kind) -> whether the connection is still open. Kind `text`, `binary`, or nil: text when the data
    is a string of a language that tells strings from bytes, or bytes that are valid UTF-8."""
    return await _websocket(ctx).send(_message(args))


def _message(args: Args) -> str | bytes:
    data: Any = _arg(args, 0)
    kind = _arg(args, 1)
    if kind == "base64":
        # PHP's bridge is JSON: its binary messages cross base64-encoded.
        try:
            data, kind = base64.b64decode(_text(data, "message"), validate=True), "binary"
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
    if kind is not None and kind not in ("text", "binary"):
        raise ValueError("the kind of a message is 'text' or 'binary'")
    if data is None:
        raise ValueError("ws:send takes a message")
    if isinstance(data, bool | int | float):
        data = str(data)
    if not isinstance(data, str | bytes):
        raise ValueError("a message is a string")
    if kind == "binary" and isinstance(data, str):
        data = data.encode()
    elif kind != "binary" and isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            if kind == "text":
                raise ValueError("a text message is valid UTF-8") from None
    message: str | bytes = data
    return message


async def ws_close(ctx: PageContext, args: Args) -> None:
    """(code, reason): the close handshake (RFC 6455 §7.1.2)."""
    ws = _websocket(ctx)
    code, reason = _arg(args, 0), _arg(args, 1)
    if code is None:
        code = 1000
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    # RFC 6455 §7.4: 1000, or 3000-4999 for applications; the others are the protocol's own.
    if isinstance(code, bool) or not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
        raise ValueError("a close code is 1000 or 3000 to 4999")
    text = _text(reason, "reason") if reason is not None else ""
    if len(text.encode()) > 123:
        raise ValueError("a close reason is at most 123 bytes")
    await ws.close(code, text)


def ws_info(ctx: PageContext, args: Args) -> dict[str, Any] | None:
    """() -> {open, close_code, close_reason} of the page's WebSocket."""
    ws = ctx.realtime.websocket if ctx.realtime is not None else None
    if ws is None:
        return None
    return {"open": ws.open, "close_code": ws.close_code, "close_reason": ws.close_reason}


# -- channels -------------------------------------------------------------------------


def channel_publish(ctx: PageContext, args: Args) -> bool:
    """(name, message): to every subscriber of the site's channel, in every worker (and machine, with Redis)."""
    name = _text(_arg(args, 0), "channel name")
    message = _arg(args, 1)
    if isinstance(message, bool | int | float):
        message = str(message)
    if not isinstance(message, str | bytes):
        raise ValueError("a channel message is a string")
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            pass
    hub_for(ctx.host).publish(ctx.site_name, name, message)
    return True


def channel_subscribe(ctx: PageContext, args: Args) -> int:
    """(name) -> the subscription's number (the request's own)."""
    name = _text(_arg(args, 0), "channel name")
    sub = hub_for(ctx.host).subscribe(ctx.site_name, name, ctx.websocket.channel_backlog)
    return _state(ctx).add(sub)


def channel_unsubscribe(ctx: PageContext, args: Args) -> None:
    state = _state(ctx)
    sub = state.subscription(_arg(args, 0))
    sub.close()
    del state.subscriptions[_arg(args, 0)]


async def channel_receive(ctx: PageContext, args: Args) -> Any:
    """(subscription, timeout) -> the next message, or None when the timeout passed. On an event stream, comment
    lines go out every `heartbeat` seconds while it waits."""
    state = _state(ctx)
    sub = state.subscription(_arg(args, 0))
    timeout = _seconds(_arg(args, 1), "timeout")
    message = sub.take_nowait()
    if message is not None:
        return message
    deadline = trio.current_time() + timeout if timeout is not None else None
    while True:
        limit = deadline
        if state.sse:
            beat = trio.current_time() + ctx.websocket.heartbeat
            limit = beat if limit is None else min(limit, beat)
        with trio.CancelScope() as scope:
            if limit is not None:
                scope.deadline = limit
            await sub.wait()
        if not scope.cancelled_caught:
            return sub.take_nowait()
        if deadline is not None and trio.current_time() >= deadline:
            return None
        await _send_raw(ctx, format_comment())


# -- event streams ----------------------------------------------------------------------


async def sse_start(ctx: PageContext, args: Args) -> dict[str, Any]:
    """() -> {last_event_id}: the response becomes an event stream, its head sent at once."""
    state = _state(ctx)
    if state.websocket is not None or state.sse:
        raise ValueError("this page has already accepted a WebSocket or an event stream")
    response = ctx.response
    if response.streaming or response.written:
        raise ValueError("response.sse() comes before the page writes anything")
    response.set_status(200)
    for name, value in SSE_HEADERS:
        response.set_header(name, value)
    state.sse = True
    await response.flush()
    return {"last_event_id": ctx.request.headers.get("last-event-id") or "", "lifetime": _live_for(ctx)}


async def _send_raw(ctx: PageContext, data: bytes) -> None:
    ctx.response.write(data)  # counted against the output budget like every byte a page sends
    await ctx.response.flush()


def _event_stream(ctx: PageContext) -> None:
    if ctx.realtime is None or not ctx.realtime.sse:
        raise ValueError("no event stream: call response.sse() first")


async def sse_send(ctx: PageContext, args: Args) -> None:
    """({event, id, data, retry}): one event."""
    _event_stream(ctx)
    fields = _arg(args, 0)
    if isinstance(fields, str | bytes):
        fields = {"data": fields}
    if not isinstance(fields, dict):
        raise ValueError("sse:send takes a table {event =, id =, data =, retry =}")
    unknown = set(fields) - {"event", "id", "data", "retry"}
    if unknown:
        raise ValueError(f"unknown event field '{sorted(unknown)[0]}'")
    await _send_raw(ctx, format_event(**fields))


async def sse_comment(ctx: PageContext, args: Args) -> None:
    _event_stream(ctx)
    text = _arg(args, 0)
    await _send_raw(ctx, format_comment(_text(text, "comment") if text is not None else ""))
