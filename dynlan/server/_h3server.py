"""HTTP/3 on trio: one UDP endpoint, a task per QUIC connection, a task per request stream.

The endpoint task receives every datagram and hands it to its connection
(`QuicRouter`). Each connection task owns its timer (`get_timer()`) and is the
only one that sends its datagrams: stream tasks queue frames and wake it, as
on HTTP/2. A reset stream cancels its own task only.
"""

from __future__ import annotations

import logging
import math
import socket
from typing import Any

import trio

from dynlan.config import HttpConfig
from dynlan.http import (
    DataReceived,
    Headers,
    HttpRequest,
    MessageComplete,
    RequestReceived,
    split_target,
)
from dynlan.http._h3proto import H3Event, H3Protocol, QuicRouter
from dynlan.http._streams import ConnectionClosed, StreamClosed, StreamReset
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import App
from dynlan.server._state import ServerState, new_request_id
from dynlan.server._stream import READ_CHUNK, StreamExchange, StreamGone, serve_stream

log = logging.getLogger("dynlan")

MAX_DATAGRAM = 65536
SEND_BUFFER = 1024 * 1024
"""Response bytes a stream may have unacknowledged before its task waits (backpressure)."""


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


ACK_WAIT = 2.0
"""Seconds a closing connection's last answers have to be acknowledged before it closes without them."""


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
        """Graceful shutdown: GOAWAY; the connection closes once its streams are answered and acknowledged (or
        ACK_WAIT after its last answer, for a client that never acknowledges)."""
        self.proto.goaway()
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
                if proto.going_away and not self.streams:
                    if self._close_by == math.inf:
                        # Every stream is answered: from now on its answers have ACK_WAIT to be acknowledged.
                        self._close_by = now + ACK_WAIT
                    if proto.drained() or now >= self._close_by:
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
                    exchange.body_arrived(event.data, 0)
            elif isinstance(event, MessageComplete):
                exchange = self.streams.get(event.stream_id)
                if exchange is not None:
                    exchange.body_complete(event.trailers)
            elif isinstance(event, StreamReset):
                exchange = self.streams.get(event.stream_id)
                if exchange is not None:
                    exchange.reset_by_peer()
            elif isinstance(event, ConnectionClosed):
                for exchange in self.streams.values():
                    exchange.reset_by_peer()

    def _open_stream(self, event: RequestReceived) -> None:
        if self._nursery is None:
            return
        self._close_by = math.inf  # a stream to answer: the wait for acknowledgements starts after its answer
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
        try:
            await serve_stream(exchange, self.endpoint.app, self.endpoint.access, "HTTP/3")
        finally:
            exchange.done = True
            self.streams.pop(exchange.stream_id, None)
            self.wake()


class H3Exchange(StreamExchange):
    """One request/response on an HTTP/3 stream."""

    def __init__(self, conn: H3Connection, stream_id: int, request: HttpRequest) -> None:
        super().__init__(stream_id, request, conn.endpoint.http, conn.endpoint.extra_headers, conn.proto)
        self.conn = conn

    def _wake(self) -> None:
        self.conn.wake()

    def abort(self, error: bool) -> None:
        self.conn.proto.reset(self.stream_id)

    def _queue_end(self, trailers: list[tuple[str, str]]) -> None:
        if not trailers:
            self._queue_data(b"", True)
            return
        try:
            self.conn.proto.send_trailers(self.stream_id, trailers)
        except StreamClosed:
            raise StreamGone() from None
        self._wake()

    async def _send(self, data: bytes, end: bool) -> None:
        if self.done:
            raise StreamGone()
        proto = self.conn.proto
        view = memoryview(data)
        while True:
            piece = view[:READ_CHUNK]
            view = view[READ_CHUNK:]
            self._queue_data(piece.tobytes(), end and not view)
            if not view:
                break
            # Backpressure: wait while the client has not acknowledged what is queued.
            deadline = trio.current_time() + self.http.send_timeout
            while proto.queued(self.stream_id) > SEND_BUFFER:
                if trio.current_time() > deadline or self.done:
                    proto.reset(self.stream_id)
                    raise StreamGone()
                await trio.sleep(0.005)
        if end:
            self.finished = True
