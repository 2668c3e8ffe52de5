"""HTTP/3 on trio: one UDP endpoint, a task per QUIC connection, a task per request stream.

The endpoint task receives every datagram and hands it to its connection
(`QuicRouter`). Each connection task owns its timer (`get_timer()`) and is the
only one that sends its datagrams: stream tasks queue frames and wake it, as
on HTTP/2. A reset stream cancels its own task only.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
import time
from typing import Any

import trio

from dynlan import SERVER_NAME
from dynlan.config import HttpConfig
from dynlan.http import (
    DataReceived,
    Headers,
    HttpError,
    HttpRequest,
    MessageComplete,
    RequestReceived,
    split_target,
)
from dynlan.http._h2proto import ConnectionClosed, StreamClosed, StreamReset
from dynlan.http._h3proto import H3Event, H3Protocol, QuicRouter
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import App
from dynlan.server._state import DATE, ServerState, new_request_id

log = logging.getLogger("dynlan")

MAX_DATAGRAM = 65536
SEND_BUFFER = 1024 * 1024
"""Response bytes a stream may have unacknowledged before its task waits (backpressure)."""
READ_CHUNK = 256 * 1024


class _StreamGone(trio.BrokenResourceError):
    """The stream or its connection closed while the response was being sent."""


class H3Endpoint:
    """The UDP side of the server: datagrams in, connections out."""

    def __init__(self, raw: socket.socket, router: QuicRouter, app: App, http: HttpConfig,
                 state: ServerState, access: AccessLog, extra_headers: list[tuple[str, str]]) -> None:
        self.sock = trio.socket.from_stdlib_socket(raw)
        self._raw = raw
        """The same socket as `sock`, for sends that need no wait (trio made it non-blocking)."""
        self.router = router
        self.app = app
        self.http = http
        self.state = state
        self.access = access
        self.extra_headers = extra_headers
        self.connections: set[H3Connection] = set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                try:
                    data, addr = await self.sock.recvfrom(MAX_DATAGRAM)
                except OSError:
                    continue  # e.g. ICMP port unreachable reported on the socket
                now = trio.current_time()
                conn_proto, new, reply = self.router.route(data, addr, now)
                if reply is not None:
                    await self._sendto(reply, addr)
                if conn_proto is None:
                    continue
                if new:
                    if self.state.shutting_down:
                        self.router.forget(conn_proto)
                        continue
                    conn = H3Connection(self, conn_proto)
                    self.connections.add(conn)
                    nursery.start_soon(conn.run, nursery)
                if conn_proto.owner is not None:
                    conn_proto.owner.datagram(data, addr, now)

    async def _sendto(self, data: bytes, addr: Any) -> None:
        # Straight to the (non-blocking) socket: a datagram rarely finds the send
        # buffer full, and a scheduler round trip per datagram is the costly part.
        try:
            self._raw.sendto(data, addr)
            return
        except BlockingIOError:
            pass
        except OSError:
            return
        try:
            await self.sock.sendto(data, addr)
        except OSError:
            pass


class H3Connection:
    def __init__(self, endpoint: H3Endpoint, proto: H3Protocol) -> None:
        self.endpoint = endpoint
        self.proto = proto
        proto.owner = self
        self.streams: dict[int, H3Exchange] = {}
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.client: tuple[str, int] | None = None
        self._close_by = math.inf

    def cancel_if_idle(self) -> None:
        """Graceful shutdown: GOAWAY; the connection closes once its streams are answered and acknowledged."""
        self.proto.goaway()
        self._close_by = trio.current_time() + 2.0
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if self.client is None:
            self.client = (addr[0], addr[1])
        self._dispatch(self.proto.receive_datagram(data, addr, now))
        self.wake()

    async def run(self, nursery: trio.Nursery) -> None:
        """Timers and sending for this connection, until it is closed."""
        self._nursery = nursery
        proto = self.proto
        state = self.endpoint.state
        state.connection_opened()
        state.connections.add(self)
        try:
            while not proto.closed:
                deadline = proto.timer()
                wait_until = deadline if deadline is not None else math.inf
                if proto.going_away and not self.streams:
                    wait_until = min(wait_until, trio.current_time() + 0.05)
                with trio.move_on_at(wait_until):
                    await self._wake.wait()
                self._wake = trio.Event()
                now = trio.current_time()
                if deadline is not None and now >= deadline:
                    self._dispatch(proto.handle_timer(now))
                if proto.going_away and not self.streams and (proto.drained() or now >= self._close_by):
                    # Closing drops unsent stream data: only once the answers are acknowledged.
                    proto.close()
                for data, addr in proto.datagrams_to_send(now):
                    await self.endpoint._sendto(data, addr)
        finally:
            for exchange in list(self.streams.values()):
                exchange.scope.cancel()
            self.endpoint.connections.discard(self)
            self.endpoint.router.forget(proto)
            state.connections.discard(self)
            state.connection_closed()

    def _dispatch(self, events: list[H3Event]) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                self._open_stream(event)
            elif isinstance(event, DataReceived):
                exchange = self.streams.get(event.stream_id)
                if exchange is not None and not exchange.done:
                    exchange.body_arrived(event.data)
            elif isinstance(event, MessageComplete):
                exchange = self.streams.get(event.stream_id)
                if exchange is not None:
                    exchange.body_complete()
            elif isinstance(event, StreamReset):
                exchange = self.streams.get(event.stream_id)
                if exchange is not None:
                    exchange.done = True
                    exchange.scope.cancel()
            elif isinstance(event, ConnectionClosed):
                for exchange in self.streams.values():
                    exchange.done = True
                    exchange.scope.cancel()

    def _open_stream(self, event: RequestReceived) -> None:
        if self._nursery is None:
            return
        path, query, authority = split_target(event.target)
        headers = Headers.from_lowered(event.headers)
        request = HttpRequest(
            method=event.method, target=event.target, path=path, query_string=query, headers=headers,
            http_version="3", scheme="https", host=authority or headers.get("host") or "",
            client=self.client, request_id=new_request_id(),
        )
        exchange = H3Exchange(self, event.stream_id, request)
        self.streams[event.stream_id] = exchange
        self._nursery.start_soon(self._run_stream, exchange)

    async def _run_stream(self, exchange: H3Exchange) -> None:
        started = time.perf_counter()
        request = exchange.request
        http = self.endpoint.http
        with exchange.scope:
            try:
                declared = request.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > http.max_body_size:
                    raise HttpError(413, "request body too large")
                await self.endpoint.app.handle(exchange)
                if not exchange.finished:
                    await exchange.finish()
            except HttpError as exc:
                if not exchange.response_started:
                    body = f"{exc.status} {exc.message}\n".encode()
                    await exchange.respond(exc.status, [("content-type", "text/plain; charset=utf-8"),
                                                        ("content-length", str(len(body)))], body)
                else:
                    self.proto.reset(exchange.stream_id)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            except Exception:
                log.exception("request %s on HTTP/3 stream %d failed", request.request_id, exchange.stream_id)
                self.proto.reset(exchange.stream_id)
        if exchange.scope.cancelled_caught and not exchange.finished:
            self.proto.reset(exchange.stream_id)
        exchange.done = True
        self.streams.pop(exchange.stream_id, None)
        self.wake()
        self.endpoint.access.log(request, exchange.status or 499, exchange.bytes_sent, started)


class H3Exchange:
    """One request/response on an HTTP/3 stream (implements `Exchange`)."""

    def __init__(self, conn: H3Connection, stream_id: int, request: HttpRequest) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.request = request
        self.scope = trio.CancelScope()
        self.status = 0
        self.bytes_sent = 0
        self.finished = False
        self.done = False
        self.complete = False
        self._body: collections.deque[bytes] = collections.deque()
        self._body_seen = 0
        self._arrived: trio.Event | None = None
        self._head: tuple[int, list[tuple[str, str]]] | None = None
        self._head_only = request.method == "HEAD"

    @property
    def response_started(self) -> bool:
        return self.status != 0

    def body_arrived(self, data: bytes) -> None:
        self._body.append(data)
        if self._arrived is not None:
            self._arrived.set()

    def body_complete(self) -> None:
        self.complete = True
        if self._arrived is not None:
            self._arrived.set()

    async def receive(self) -> bytes:
        http = self.conn.endpoint.http
        while not self._body:
            if self.complete:
                return b""
            self._arrived = trio.Event()
            with trio.move_on_after(http.body_timeout) as scope:
                await self._arrived.wait()
            self._arrived = None
            if scope.cancelled_caught:
                raise HttpError(408, "request body timed out")
        data = self._body.popleft()
        self._body_seen += len(data)
        if self._body_seen > http.max_body_size:
            raise HttpError(413, "request body too large")
        return data

    def _send_head(self, end: bool) -> None:
        if self._head is None:
            return
        status, headers = self._head
        self._head = None
        full = [("date", DATE.get()), ("server", SERVER_NAME), *self.conn.endpoint.extra_headers, *headers]
        try:
            self.conn.proto.send_response(self.stream_id, status, full, end)
        except StreamClosed:
            raise _StreamGone() from None
        if end:
            self.finished = True
        self.conn.wake()

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self._head = (status, headers)

    async def _send(self, data: bytes, end: bool) -> None:
        if self.done:
            raise _StreamGone()
        proto = self.conn.proto
        view = memoryview(data)
        while True:
            piece = view[:READ_CHUNK]
            view = view[READ_CHUNK:]
            try:
                proto.send_data(self.stream_id, piece.tobytes(), end and not view)
            except StreamClosed:
                raise _StreamGone() from None
            self.bytes_sent += len(piece)
            self.conn.wake()
            if not view:
                break
            # Backpressure: wait while the client has not acknowledged what is queued.
            deadline = trio.current_time() + self.conn.endpoint.http.send_timeout
            while proto.queued(self.stream_id) > SEND_BUFFER:
                if trio.current_time() > deadline or self.done:
                    proto.reset(self.stream_id)
                    raise _StreamGone()
                await trio.sleep(0.005)
        if end:
            self.finished = True

    async def send_body(self, data: bytes) -> None:
        if self._head_only or not data:
            return
        self._send_head(False)
        await self._send(data, end=False)

    async def send_file(self, fd: int, offset: int, length: int) -> None:
        if self._head_only or length <= 0:
            return
        self._send_head(False)
        while length > 0:
            data = await trio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, length), offset)
            if not data:
                raise _StreamGone()
            await self._send(data, end=False)
            offset += len(data)
            length -= len(data)

    async def finish(self) -> None:
        if self.finished:
            return
        if not self.response_started:
            self.status = 204
            self._head = (204, [])
        if self._head is not None:
            self._send_head(True)
            return
        await self._send(b"", end=True)

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self._head = (status, headers)
        if not body or self._head_only:
            self._send_head(True)
            return
        self._send_head(False)
        await self._send(body, end=True)
