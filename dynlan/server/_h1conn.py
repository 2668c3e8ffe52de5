"""HTTP/1.1 connections on trio: drives the sans-I/O H1Protocol over a stream."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Protocol

import trio

from dynlan import SERVER_NAME
from dynlan.config import HttpConfig
from dynlan.http import (
    ConnectionEnded,
    DataReceived,
    Exchange,
    Headers,
    HttpError,
    HttpRequest,
    MessageComplete,
    NeedData,
    Paused,
    ProtocolError,
    ReplaySource,
    RequestReceived,
    make_h1_protocol,
    split_target,
)
from dynlan.observability._metrics import LABELS
from dynlan.server._access import AccessLog
from dynlan.server._replay import Kept, Key, ReplayCache
from dynlan.server._state import DATE, ServerState, new_request_id

RECV_SIZE = 65536
UNYIELDED = 2
"""Direct socket reads and writes (that did not wait) between two trips through the scheduler: one
request's read and its answer's write."""
SENDFILE_CHUNK = 1024 * 1024
READ_CHUNK = 256 * 1024


async def _send_file_by_reading(exchange: H1Exchange, fd: int, offset: int, length: int) -> None:
    while length > 0:
        data = await trio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, length), offset)
        if not data:
            raise _Closed("file shrank while being sent")
        await exchange.send_body(data)
        offset += len(data)
        length -= len(data)


class App(Protocol):
    async def handle(self, exchange: Exchange) -> None: ...


class _Closed(trio.BrokenResourceError):
    """The peer went away or broke the protocol; stop serving this connection.

    A `BrokenResourceError`: to the app, the same as any client that went away (no error logged)."""


def raw_error_response(status: int, message: str) -> bytes:
    """A complete `Connection: close` error response, for when the protocol state is broken."""
    body = f"{status} {HTTPStatus(status).phrase}: {message}\n".encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"date: {DATE.get()}\r\nserver: {SERVER_NAME}\r\n"
        f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _asks_upgrade(event: RequestReceived) -> bool:
    """Whether the request has an `Upgrade` field (nearly none has: no dict of its fields is built for them)."""
    return any(name == "upgrade" for name, _ in event.headers)


class H1Connection:
    def __init__(
        self,
        stream: trio.abc.Stream,
        app: App,
        http: HttpConfig,
        state: ServerState,
        access: AccessLog,
        client: tuple[str, int] | None,
        scheme: str = "http",
        extra_headers: list[tuple[str, str]] | None = None,
        initial: bytes = b"",
        upgrade_h2: Callable[[RequestReceived, bytes], Awaitable[None]] | None = None,
        replay: ReplayCache | None = None,
    ) -> None:
        self.stream = stream
        self.upgrade_h2 = upgrade_h2
        """Takes the connection over to HTTP/2 after `Upgrade: h2c` (None: upgrades are ignored)."""
        # What the connection tracks for the end of a shutdown's grace period itself (see `grace`): the app
        # without a scope per request.
        self.app = getattr(app, "untracked", app)
        self.http = http
        self.state = state
        self.access = access
        self.client = client
        self.scheme = scheme
        self.extra_headers = extra_headers or []
        self.linger = False
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None
        """A plain TCP stream's socket, written directly while it has room (`send`)."""
        self._unyielded = 0
        """Direct reads and writes done since this task last let the others run (`_checkpoint`)."""
        self._answered = False
        """Bytes went to the client since the last read: its next request is not there yet."""
        self.timer = trio.CancelScope()
        self.grace = trio.CancelScope()
        """In `state.running` while the app answers a request: the end of the grace period cancels it, and
        the request gets 503 if its response has not started, or is broken off (`_cut_short`)."""
        self.current: tuple[HttpRequest, H1Exchange, float] | None = None
        """The request the app is answering, with when it began."""
        self.phase = "idle"
        self.responded = False
        self.proto = make_h1_protocol(
            http.h1_parser, max_header_size=http.max_header_size, max_request_line=http.max_request_line
        )
        self.replay = replay if self.proto.replays else None
        """Kept answers of static files (`dynlan.server._replay`); the llhttp core only."""
        if initial:
            self.proto.receive_data(initial)

    # One cancel scope per connection carries every timeout; `phase` says which
    # wait it is bounding, so that when it fires we know what to answer.
    # (One scope whose deadline moves is much cheaper than a scope per wait; and the
    # keep-alive and body waits move it only when there is something to wait for.)

    def _arm(self, phase: str, timeout: float) -> None:
        self.phase = phase
        self.timer.deadline = trio.current_time() + timeout

    def _disarm(self) -> None:
        self.phase = "app"
        self.timer.deadline = math.inf

    async def _receive(self, timeout: float | None = None) -> None:
        """Read what the client sent next into the protocol.

        With `timeout`, a wait for it is bounded by that (the phase is the caller's); the deadline
        is set only when there is something to wait for, so a connection whose next bytes are
        already there (a busy one) moves no deadline. Without, the deadline already set bounds it.
        """
        sock = self._socket
        if sock is None:
            if timeout is not None:
                self.timer.deadline = trio.current_time() + timeout
            data = await self.stream.receive_some(RECV_SIZE)
            if timeout is not None:
                self.timer.deadline = math.inf
            self.proto.receive_data(bytes(data))
            return
        # A plain TCP socket is read directly: what is already there is taken at once, and otherwise
        # the task waits until the socket is readable.
        armed = False
        # After an answer the client is still reading it: its next request cannot be there yet. The other
        # connections' tasks run first (under load, it comes while they do), then a read; and a read that finds
        # nothing lets them run once more before a wait in epoll, with its deadline.
        yielded = self._answered
        if yielded:
            self._answered = False
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
        else:
            await self._checkpoint()
        while True:
            fd = sock.fileno()
            if fd == -1:
                raise trio.ClosedResourceError("socket was already closed")
            try:
                data = os.read(fd, RECV_SIZE)
            except BlockingIOError:
                if not yielded:
                    yielded = True
                    self._unyielded = 0
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    continue
                if timeout is not None and not armed:
                    self.timer.deadline = trio.current_time() + timeout
                    armed = True
                await trio.lowlevel.wait_readable(sock)
                self._unyielded = 0
                continue
            except OSError as exc:
                raise _Closed(f"receive failed: {exc}") from None
            if armed:
                self.timer.deadline = math.inf
            else:
                self._unyielded += 1
            self.proto.receive_data(data)
            return

    async def _checkpoint(self) -> None:
        """Before a direct read or write: a cancellation point, and a trip through the scheduler once
        every `UNYIELDED` of them that did not wait, so a busy connection (pipelined requests, a page
        streaming to a fast reader, a fast upload) still lets the others run and a budget end its page.
        trio's own socket calls yield on every call: twice per request, where one is enough."""
        if self._unyielded >= UNYIELDED:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()

    async def send(self, data: bytes) -> None:
        if not data:
            return
        sock = self._socket
        if sock is not None:
            # Most answers fit in the socket's send buffer: written at once, there is no wait for the send
            # timeout to bound, and none of send_all's machinery.
            await self._checkpoint()
            fd = sock.fileno()
            if fd == -1:
                raise trio.ClosedResourceError("socket was already closed")
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise _Closed(f"send failed: {exc}") from None
            self._unyielded += 1
            self._answered = True
            if sent == len(data):
                return
            data = data[sent:]
        # The socket is full (a slow reader): wait for room, within send_timeout.
        phase, deadline = self.phase, self.timer.deadline
        self._arm("send", self.http.send_timeout)
        await self.stream.send_all(data)
        self._unyielded = 0
        self.phase, self.timer.deadline = phase, deadline

    async def next_body_event(self) -> DataReceived | MessageComplete:
        while True:
            event = self.proto.next_event()
            if isinstance(event, DataReceived | MessageComplete):
                return event
            if isinstance(event, NeedData):
                self.phase = "body"
                await self._receive(self.http.body_timeout)
                self.phase = "app"
                continue
            if isinstance(event, ConnectionEnded):
                raise _Closed("client closed mid-body")
            raise ProtocolError(400, "unexpected event in body")  # pragma: no cover

    async def sendfile(self, sock: trio.socket.SocketType, fd: int, offset: int, length: int,
                       exchange: H1Exchange) -> None:
        """Send `length` bytes of `fd` from `offset`, counting them in `exchange.bytes_sent` as they go."""
        phase, deadline = self.phase, self.timer.deadline
        out = sock.fileno()
        while length > 0:
            self._arm("send", self.http.send_timeout)
            try:
                sent = os.sendfile(out, fd, offset, min(length, SENDFILE_CHUNK))
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as exc:
                raise _Closed(f"sendfile failed: {exc}") from None
            if sent == 0:
                raise _Closed("file shrank while being sent")
            offset += sent
            length -= sent
            exchange.bytes_sent += sent
            if length > 0:
                await trio.lowlevel.checkpoint()
        self.phase, self.timer.deadline = phase, deadline

    def cancel_if_idle(self) -> None:
        """Shutdown: an idle keep-alive connection closes now; a busy one after its response."""
        if self.phase == "idle":
            self.timer.cancel()

    async def _next_request(self) -> RequestReceived | None:
        """Wait for the next request head; None when the connection should close quietly."""
        proto = self.proto
        self.responded = False  # the previous request (if any) is answered in full
        event = proto.next_event()
        if isinstance(event, RequestReceived):
            self.phase = "app"  # already here (pipelined, or read while telling HTTP/1.1 from HTTP/2)
            return event
        if isinstance(event, ConnectionEnded) or self.state.shutting_down:
            return None
        if not proto.head_started:
            # Idle: nothing of the next request has arrived. Shutdown may cut this short.
            self.phase = "idle"
            await self._receive(self.http.keepalive_timeout)
            self.phase = "head"  # no longer idle: a shutdown lets this request be answered
            event = proto.next_event()
            if isinstance(event, RequestReceived):
                # The whole head came in one read (as it nearly always does): no head timeout to set.
                self.phase = "app"
                return event
            if isinstance(event, ConnectionEnded | Paused):
                return None
        # The first bytes are in (maybe read with the previous request, or while telling
        # HTTP/1.1 from HTTP/2): the whole head must follow within header_timeout
        # (slowloris: a client trickling header bytes cannot hold the connection).
        self._arm("head", self.http.header_timeout)
        while True:
            event = proto.next_event()
            if isinstance(event, RequestReceived):
                self._disarm()
                return event
            if isinstance(event, ConnectionEnded | Paused):
                return None
            await self._receive()

    async def serve(self) -> None:
        self.state.connections.add(self)
        try:
            with self.timer:
                with self.grace:
                    await self._serve()
                if self.grace.cancelled_caught:
                    await self._cut_short()
            if self.timer.cancelled_caught and self.phase in ("head", "body") and not self.responded:
                # RFC 9110 §15.5.9: 408 when the client took too long to send.
                self.linger = True
                with trio.move_on_after(1):
                    await self.stream.send_all(raw_error_response(408, f"request {self.phase} timed out"))
        except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.state.connections.discard(self)
            with trio.CancelScope(shield=True):
                if self.linger:
                    await self._lingering_close()
                with trio.move_on_after(1):
                    await self.stream.aclose()

    async def _cut_short(self) -> None:
        """The grace period ended while the app answered `current`: 503 if its response had not started (RFC 9110
        §15.6.4), else it is broken off (the connection closes), never finished as if it were complete."""
        current = self.current
        if current is None:
            return
        request, exchange, started = current
        if exchange.tunnel is not None:
            return  # a WebSocket: ended with 1001 and logged on its way out
        self.linger = True
        if not exchange.response_started:
            with trio.move_on_after(1):
                await self.send(raw_error_response(503, "the server is shutting down"))
            exchange.status = 503
        self.access.log(request, exchange.status, exchange.bytes_sent, started)

    async def _lingering_close(self) -> None:
        """Half-close, then drain what the client is still sending, briefly.

        Closing with unread input makes the kernel send a reset, which can
        destroy the error response before the client reads it (the reason
        servers linger on close after refusing a request body).
        """
        with trio.move_on_after(2):
            try:
                send_eof = getattr(self.stream, "send_eof", None)
                if send_eof is not None:
                    await send_eof()
                drained = 0
                while drained < 4 * 1024 * 1024:
                    data = await self.stream.receive_some(RECV_SIZE)
                    if not data:
                        return
                    drained += len(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    async def _serve(self) -> None:
        while True:
            try:
                event = await self._next_request()
            except HttpError as exc:
                # Nothing was answered for this request yet: reply and close.
                self.linger = True
                await self.send(raw_error_response(exc.status, exc.message))
                return
            if event is None:
                return
            if self.upgrade_h2 is not None and _asks_upgrade(event) and await self._try_upgrade(event):
                return
            started = time.perf_counter()
            key = None
            replay = self.replay
            if replay is not None and not self.state.shutting_down:
                key = replay.key(event, self.scheme)
                if key is not None:
                    kept = replay.get(key)
                    if kept is not None and self.proto.replayed():
                        await self._replay(event, kept, started)
                        if self.state.shutting_down or not self.proto.start_next_cycle():
                            return
                        continue
            request = self._request(event)
            exchange = H1Exchange(self, request, key)
            self.responded = False
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.http.max_body_size:
                # Refused before any page runs (RFC 9110 §15.5.14); the unread
                # body makes the connection unusable, so it closes.
                self.linger = True
                await self.send(raw_error_response(413, "request body too large"))
                self.access.log(request, 413, 0, started)
                return
            running = self.state.running
            self.current = (request, exchange, started)
            running.add(self.grace)
            try:
                await self.app.handle(exchange)
                if exchange.tunnel is not None:
                    # A WebSocket: the connection was its until the page ended; it is not HTTP's again.
                    await exchange.tunnel.finish(1000)
                    self.current = None
                    self.access.log(request, 101, exchange.bytes_sent, started)
                    return
                if not exchange.finished:
                    await exchange.finish()
            except HttpError as exc:
                # Raised by the connection itself (413 / 408 while reading the body)
                # after the app gave up on the request.
                self.linger = True
                if exchange.tunnel is not None:
                    # A WebSocket page that failed: 1011 to the peer; one cut because the server stops (its grace
                    # period is over): 1001, going away (RFC 6455 §7.4.1).
                    await exchange.tunnel.finish(1001 if self.state.shutting_down else 1011)
                elif not exchange.response_started:
                    await self.send(raw_error_response(exc.status, exc.message))
                    exchange.status = exc.status
                self.current = None
                self.access.log(request, exchange.status, exchange.bytes_sent, started)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The client went away: the line still says what it asked for and got (499: no response).
                self.current = None
                self.access.log(request, exchange.status or 499, exchange.bytes_sent, started)
                raise
            except trio.Cancelled:
                if exchange.tunnel is not None:
                    # The server stops (its grace period is over): 1001, going away (RFC 6455 §7.4.1).
                    with trio.CancelScope(shield=True):
                        await exchange.tunnel.finish(1001)
                    self.current = None
                    self.access.log(request, 101, exchange.bytes_sent, started)
                raise
            finally:
                running.discard(self.grace)
            self.current = None
            self.access.log(request, exchange.status, exchange.bytes_sent, started)
            if self.state.shutting_down:
                return
            # A page that did not read the whole body: drain it (bounded) so the
            # next request on this connection starts at a message boundary.
            if not self.proto.their_request_complete and not await self._drain_body():
                return
            if not self.proto.start_next_cycle():
                return

    def _request(self, event: RequestReceived) -> HttpRequest:
        path, query, authority = split_target(event.target)
        headers = Headers.from_lowered(event.headers)
        return HttpRequest(
            method=event.method,
            target=event.target,
            path=path,
            query_string=query,
            headers=headers,
            http_version=event.http_version,
            scheme=self.scheme,
            host=authority or headers.get("host") or "",
            client=self.client,
            request_id=new_request_id(),
        )

    async def _replay(self, event: RequestReceived, kept: Kept, started: float) -> None:
        """Answer with a kept answer's bytes; logged and counted as the full path would."""
        request = self._request(event)
        self.responded = True
        replay = self.replay
        assert replay is not None
        replay.used(kept)
        try:
            await self.send(kept.data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.access.log(request, 499, 0, started)
            raise
        LABELS.set(kept.labels)
        self.access.log(request, 200, kept.sent, started)

    async def _try_upgrade(self, event: RequestReceived) -> bool:
        """`Upgrade: h2c` (RFC 7540 §3.2): answer 101 and carry on as HTTP/2, the request on stream 1.

        Only a request without a body is upgraded (as curl and nghttp send it);
        otherwise the upgrade is ignored and the request is answered on HTTP/1.1.
        """
        fields = dict(event.headers)
        if "h2c" not in fields.get("upgrade", "").lower() or "http2-settings" not in fields:
            return False
        if fields.get("content-length", "0") != "0" or "transfer-encoding" in fields:
            return False
        assert self.upgrade_h2 is not None
        await self.send(b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n")
        hop = {"connection", "upgrade", "http2-settings", "keep-alive", "transfer-encoding"}
        request = RequestReceived(event.stream_id, event.method, event.target,
                                  [(k, v) for k, v in event.headers if k not in hop], "2")
        self.responded = True
        await self.upgrade_h2(request, fields["http2-settings"].encode("latin-1"))
        return True

    async def _drain_body(self) -> bool:
        limit = self.http.max_body_size
        seen = 0
        if self.proto.expects_continue:
            # The client never got 100 Continue, so it will not send the body
            # (RFC 9110 §10.1.1): the connection cannot be reused safely.
            return False
        try:
            while True:
                event = await self.next_body_event()
                if isinstance(event, MessageComplete):
                    return True
                seen += len(event.data)
                if seen > limit:
                    return False
        except (HttpError, _Closed):
            return False


class H1Exchange:
    """One request/response on an HTTP/1.1 connection (implements `Exchange`)."""

    def __init__(self, conn: H1Connection, request: HttpRequest, replay_key: Key | None = None) -> None:
        self.conn = conn
        self.request = request
        self.replay_key = replay_key
        """Set when the request may be answered with kept bytes next time (`dynlan.server._replay`)."""
        self._keep: tuple[ReplayCache, Key, ReplaySource, float] | None = None
        """Where this request's 200 is kept, under which key, what it comes from (a file's version:
        `allow_replay`; another source: `allow_replay_while`) and until when."""
        self.status = 0
        self.bytes_sent = 0
        self.finished = False
        self._body_done = False
        self._body_seen = 0
        self._head_only = request.method == "HEAD"
        self._pending = b""
        self.request_trailers: list[tuple[str, str]] = []
        self.tunnel: H1Tunnel | None = None
        """The connection's bytes, once the request was answered 101 (a WebSocket)."""

    @property
    def response_started(self) -> bool:
        return self.status != 0

    async def open_tunnel(self, headers: list[tuple[str, str]]) -> tuple[H1Tunnel, bytes]:
        """Answer 101 (RFC 9110 §15.2.2, RFC 6455 §4.2.2) and hand the connection over; also returns the bytes
        the client sent after its request."""
        if await self.receive():
            raise HttpError(400, "a WebSocket handshake has no body", close=True)
        conn = self.conn
        head, rest = conn.proto.switch_protocols(
            [("date", DATE.get()), ("server", SERVER_NAME), *self.conn.extra_headers, *headers])
        self.status = 101
        self.finished = True
        conn.responded = True
        await conn.send(head)
        self.tunnel = H1Tunnel(conn, self)
        return self.tunnel, rest

    async def receive(self) -> bytes:
        if self._body_done:
            return b""
        proto = self.conn.proto
        if proto.expects_continue and not self.response_started:
            # RFC 9110 §10.1.1: the client waits for 100 Continue before the body.
            await self.conn.send(proto.send_continue())
        event = await self.conn.next_body_event()
        if isinstance(event, MessageComplete):
            self._body_done = True
            self.request_trailers = list(event.trailers)
            return b""
        self._body_seen += len(event.data)
        if self._body_seen > self.conn.http.max_body_size:
            raise HttpError(413, "request body too large", close=True)
        return event.data

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        full = [("date", DATE.get()), ("server", SERVER_NAME), *self.conn.extra_headers, *headers]
        if self.conn.state.shutting_down:
            full.append(("connection", "close"))
        # The protocol refuses a head that would break the framing (InvalidResponseHead)
        # before anything is sent: the response has not started, and the app answers 500.
        head = self.conn.proto.send_response(status, full)
        self.status = status
        self.conn.responded = True
        return head

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        # Held back until the first body chunk or finish(), so small responses
        # leave in one write.
        self._pending = self._head(status, headers)

    async def send_body(self, data: bytes) -> None:
        if self._head_only or not data:
            return
        out = self._pending + self.conn.proto.send_data(data)
        self._pending = b""
        self.bytes_sent += len(data)
        await self.conn.send(out)

    async def send_file(self, fd: int, offset: int, length: int) -> None:
        """Body bytes straight from a file: sendfile(2) on a plain TCP socket, else read and send."""
        if self._head_only or length <= 0:
            return
        proto = self.conn.proto
        sock = getattr(self.conn.stream, "socket", None)
        if sock is None or not getattr(proto, "can_send_raw", lambda: False)():
            await _send_file_by_reading(self, fd, offset, length)
            return
        if self._pending:
            await self.conn.send(self._pending)
            self._pending = b""
        proto.account_raw(length)  # type: ignore[attr-defined]
        await self.conn.sendfile(sock, fd, offset, length, self)

    async def finish(self, trailers: Sequence[tuple[str, str]] = ()) -> None:
        if self.finished:
            return
        if not self.response_started:
            self._pending = self._head(204, [])
        self.finished = True
        out = self._pending + self.conn.proto.send_end(trailers)
        self._pending = b""
        await self.conn.send(out)

    @property
    def replayable(self) -> bool:
        return self.replay_key is not None

    def allow_replay(self, path: str, st: os.stat_result) -> None:
        replay = self.conn.replay
        if self.replay_key is not None and replay is not None:
            self._keep = (replay, self.replay_key, replay.file(path, st), math.inf)

    def allow_replay_while(self, source: ReplaySource, until: float) -> None:
        replay = self.conn.replay
        if self.replay_key is not None and replay is not None:
            self._keep = (replay, self.replay_key, source, until)

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        proto = self.conn.proto
        out = self._head(status, headers)
        if body and not self._head_only:
            out += proto.send_data(body)
            self.bytes_sent += len(body)
        out += proto.send_end()
        self.finished = True
        keep = self._keep
        if keep is not None and status == 200:
            replay, key, source, until = keep
            replay.keep(key, out, LABELS.get(), len(body), source, until)
        await self.conn.send(out)


class H1Tunnel:
    """The connection's bytes after a 101, both ways (implements `dynlan.realtime.Tunnel`)."""

    def __init__(self, conn: H1Connection, exchange: H1Exchange) -> None:
        self.conn = conn
        self.exchange = exchange
        """Counts what goes through the tunnel to the client, as a response's body is (the access log's bytes)."""
        self.finisher: Callable[[int], Awaitable[None]] | None = None
        """Closes what runs over the tunnel when the page is over, with a WebSocket close code."""
        self.closed = False

    async def receive_some(self) -> bytes:
        if self.closed:
            return b""
        sock = self.conn._socket
        if sock is not None:
            # A plain TCP socket is read directly once readable (as `H1Connection._receive` does).
            while True:
                await trio.lowlevel.wait_readable(sock)
                data = self.receive_nowait()
                if data is not None:
                    return data
        try:
            return bytes(await self.conn.stream.receive_some(RECV_SIZE))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def receive_nowait(self) -> bytes | None:
        sock = self.conn._socket
        if sock is None or self.closed:
            return None
        fd = sock.fileno()
        if fd == -1:
            return b""
        try:
            return os.read(fd, RECV_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    async def send_all(self, data: bytes) -> None:
        if self.closed:
            raise trio.ClosedResourceError("the WebSocket's connection is closed")
        await self.conn.send(data)
        self.exchange.bytes_sent += len(data)

    def send_nowait(self, data: bytes) -> int:
        """What a plain TCP socket takes at once (a TLS stream takes nothing here: `send_all` sends it)."""
        sock = self.conn._socket
        if sock is None or self.closed:
            return 0
        try:
            sent = os.write(sock.fileno(), data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"send failed: {exc}") from None
        self.exchange.bytes_sent += sent
        return sent

    async def aclose(self) -> None:
        # RFC 6455 §7.1.1: the server closes the TCP connection first, once the close handshake is done.
        if not self.closed:
            self.closed = True
            with trio.move_on_after(1):
                await self.conn.stream.aclose()

    async def finish(self, code: int) -> None:
        if self.finisher is not None:
            await self.finisher(code)
        await self.aclose()
