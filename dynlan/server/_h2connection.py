"""HTTP/2 connections on trio: one task per stream, one reader, one writer.

The reader feeds bytes to the sans-I/O `H2Protocol` and routes its events to
the streams. Each stream runs `app.handle()` in its own task inside the
connection's nursery; a RST_STREAM cancels that task alone. Stream tasks never
write to the socket themselves: they queue frames in the protocol and wake the
writer, so a cancelled stream can never leave half a frame on the wire, and the
responses of many streams leave in one write.
"""

from __future__ import annotations

import logging
import math
import time

import h2.errors
import trio

from dynlan import SERVER_NAME
from dynlan.config import HttpConfig
from dynlan.http import (
    DataReceived,
    Headers,
    HttpRequest,
    MessageComplete,
    RequestReceived,
    split_target,
)
from dynlan.http._h2proto import (
    ConnectionClosed,
    H2Data,
    H2Event,
    H2Protocol,
    RequestRejected,
    StreamClosed,
    StreamReset,
    WindowOpened,
)
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import App
from dynlan.server._state import DATE, ServerState, new_request_id
from dynlan.server._stream import StreamExchange, StreamGone, serve_stream

log = logging.getLogger("dynlan")

RECV_SIZE = 65536
HIGH_WATER = 512 * 1024
"""Bytes of response queued for the writer past which stream tasks wait until it takes them.

Flow control alone does not bound this: a client may grant windows of 2 GiB
and then read slowly, and without this mark every stream would keep queuing
frames the socket cannot take (memory exhaustion by a slow reader)."""

DRAIN_SECONDS = 2.0
"""Seconds a stream whose response is complete stays open for the rest of its request.

Its later frames are still checked (a second HEADERS, trailers, the declared
content-length: RFC 9113 §8.1.1) rather than dropped as they would be on a
stream already reset. The body is discarded without crediting the stream's
window, so the client sends at most one window more; then, or after this time,
RST_STREAM NO_ERROR asks it to stop (RFC 9113 §8.1)."""


class H2Connection:
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
        upgrade: tuple[RequestReceived, bytes] | None = None,
    ) -> None:
        self.stream = stream
        self.app = app
        self.http = http
        self.state = state
        self.access = access
        self.client = client
        self.scheme = scheme
        self.extra_headers = extra_headers or []
        self.proto = H2Protocol(
            max_concurrent_streams=http.h2_max_concurrent_streams,
            initial_window_size=http.h2_initial_window_size,
            max_header_list_size=http.max_header_size,
        )
        self.streams: dict[int, H2Exchange] = {}
        self._draining: dict[int, trio.Event] = {}
        """Streams answered in full whose request is still arriving; each event ends its drain."""
        self._initial = initial
        self._upgrade = upgrade
        self._wake = trio.Event()
        self.timer = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._idle_event: trio.Event | None = None
        self._closing = False
        self._writer_done = trio.Event()
        self._taken = trio.Event()

    # -- lifecycle ------------------------------------------------------------------

    def cancel_if_idle(self) -> None:
        """Graceful shutdown: GOAWAY now; streams in flight finish, then the connection closes."""
        self.proto.goaway()
        self._wake.set()
        if not self.streams:
            self.timer.cancel()

    async def serve(self) -> None:
        self.state.connections.add(self)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.proto.initiate(self._upgrade[1] if self._upgrade else None)
                if self._upgrade is not None:
                    # RFC 7540 §3.2: the upgraded request is stream 1, its body already complete.
                    self._open_stream(self._upgrade[0], complete=True)
                if self.state.shutting_down:
                    self.proto.goaway()
                nursery.start_soon(self._writer)
                self._wake.set()
                with self.timer:
                    self._arm_idle()
                    if self._initial:
                        self._dispatch(self.proto.receive_data(self._initial, trio.current_time()))
                    await self._read_loop()
                if self.proto.going_away and not self.proto.closed:
                    # Finish the streams in flight (bounded by the server's grace period).
                    await self._wait_streams()
                for exchange in list(self.streams.values()):
                    exchange.scope.cancel()
                # Let the writer send what is queued (a GOAWAY, last frames), briefly.
                self._closing = True
                self._wake.set()
                with trio.move_on_after(1):
                    await self._writer_done.wait()
                nursery.cancel_scope.cancel()
            if self.proto.closed:
                await self._linger()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.state.connections.discard(self)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.stream.aclose()

    async def _linger(self) -> None:
        """After a GOAWAY for an error, read (and drop) what the client still sends, briefly:
        closing with unread input resets the connection and can destroy the GOAWAY."""
        with trio.move_on_after(1):
            try:
                send_eof = getattr(self.stream, "send_eof", None)
                if send_eof is not None:
                    await send_eof()
                drained = 0
                while drained < 4 * 1024 * 1024 and await self.stream.receive_some(RECV_SIZE):
                    drained += RECV_SIZE
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, OSError):
                pass

    def _arm_idle(self) -> None:
        # An idle connection (no stream open) closes after keepalive_timeout.
        self.timer.deadline = math.inf if self.streams else trio.current_time() + self.http.keepalive_timeout

    async def _read_loop(self) -> None:
        proto = self.proto
        while not proto.closed:
            if proto.going_away and not self.streams:
                return
            try:
                data = await self.stream.receive_some(RECV_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                # A client that resets or drops its connection is no server error.
                log.info("HTTP/2 connection from %s ended: %s", _peer(self.client), exc)
                return
            if not data:
                return
            self._dispatch(proto.receive_data(bytes(data), trio.current_time()))

    async def _wait_streams(self) -> None:
        while self.streams:
            self._idle_event = trio.Event()
            await self._idle_event.wait()

    def _dispatch(self, events: list[H2Event]) -> None:
        streams = self.streams
        for event in events:
            if isinstance(event, RequestReceived):
                self._open_stream(event)
            elif isinstance(event, RequestRejected):
                self._reject(event)
            elif isinstance(event, DataReceived):
                exchange = streams.get(event.stream_id)
                flow = event.flow_length if isinstance(event, H2Data) else len(event.data)
                if exchange is not None and not exchange.done:
                    exchange.body_arrived(event.data, flow)
                else:
                    self.proto.discarded(event.stream_id, flow)
                    drained = self._draining.get(event.stream_id)
                    if drained is not None and not self.proto.receive_window(event.stream_id):
                        drained.set()  # the client cannot send more: reset it now
            elif isinstance(event, MessageComplete):
                exchange = streams.get(event.stream_id)
                if exchange is not None:
                    exchange.body_complete(event.trailers)
                self._end_drain(event.stream_id)
            elif isinstance(event, StreamReset):
                exchange = streams.get(event.stream_id)
                if exchange is not None:
                    exchange.reset_by_peer()
                self._end_drain(event.stream_id)
            elif isinstance(event, WindowOpened):
                if event.stream_id == 0:
                    for exchange in streams.values():
                        exchange.window_opened()
                else:
                    exchange = streams.get(event.stream_id)
                    if exchange is not None:
                        exchange.window_opened()
            elif isinstance(event, ConnectionClosed) and event.error_code:
                for exchange in streams.values():
                    exchange.reset_by_peer()
        self._wake.set()

    # -- streams ----------------------------------------------------------------------

    def _open_stream(self, event: RequestReceived, complete: bool = False) -> None:
        assert self._nursery is not None
        path, query, authority = split_target(event.target)
        headers = Headers.from_lowered(event.headers)
        request = HttpRequest(
            method=event.method, target=event.target, path=path, query_string=query, headers=headers,
            http_version="2", scheme=self.scheme, host=authority or headers.get("host") or "",
            client=self.client, request_id=new_request_id(),
        )
        exchange = H2Exchange(self, event.stream_id, request)
        if complete:
            exchange.body_complete()
        self.streams[event.stream_id] = exchange
        self.timer.deadline = math.inf
        self._nursery.start_soon(self._run_stream, exchange)

    def _reject(self, event: RequestRejected) -> None:
        """Answer a request the protocol refused (431) on its stream, without starting a task."""
        started = time.perf_counter()
        body = f"{event.status} {event.reason}\n".encode()
        # Without window for the few bytes of explanation, the status alone goes out.
        fits = (self.proto.send_window(event.stream_id) or 0) >= len(body)
        headers = [("date", DATE.get()), ("server", SERVER_NAME), *self.extra_headers]
        if fits:
            headers += [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
        try:
            self.proto.send_response(event.stream_id, event.status, headers, end=not fits)
            if fits:
                self.proto.send_data(event.stream_id, body, end=True)
        except StreamClosed:
            return
        if self.proto.stream_open(event.stream_id):
            # A body is still coming that nobody will read (RFC 9113 §8.1).
            self.proto.reset(event.stream_id, h2.errors.ErrorCodes.NO_ERROR)
        path, query, _ = split_target(event.target)
        request = HttpRequest(
            method=event.method, target=event.target, path=path, query_string=query, headers=Headers(),
            http_version="2", scheme=self.scheme, host="", client=self.client, request_id=new_request_id(),
        )
        self.access.log(request, event.status, len(body) if fits else 0, started)

    async def _run_stream(self, exchange: H2Exchange) -> None:
        try:
            await serve_stream(exchange, self.app, self.access, "HTTP/2")
        finally:
            self._close_stream(exchange)

    def _close_stream(self, exchange: H2Exchange) -> None:
        exchange.done = True
        exchange.release_unread()
        stream_id = exchange.stream_id
        if not exchange.complete and self.proto.stream_open(stream_id):
            # The client is still sending a request nobody will read.
            if exchange.finished and self.proto.receive_window(stream_id) and self._nursery is not None:
                self._draining[stream_id] = drained = trio.Event()
                self._nursery.start_soon(self._drain, stream_id, drained)
            else:
                self.proto.reset(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        self.streams.pop(stream_id, None)
        self._wake.set()
        if not self.streams:
            if self._idle_event is not None:
                self._idle_event.set()
            if not self.timer.cancel_called:
                self._arm_idle()
                if self.proto.going_away:
                    self.timer.cancel()

    async def _drain(self, stream_id: int, drained: trio.Event) -> None:
        """Wait (briefly) for the rest of a request whose response is complete; see `DRAIN_SECONDS`."""
        with trio.move_on_after(DRAIN_SECONDS):
            await drained.wait()
        self._draining.pop(stream_id, None)
        if self.proto.stream_open(stream_id):
            self.proto.reset(stream_id, h2.errors.ErrorCodes.NO_ERROR)
            self._wake.set()

    def _end_drain(self, stream_id: int) -> None:
        drained = self._draining.pop(stream_id, None)
        if drained is not None:
            drained.set()

    # -- writing ------------------------------------------------------------------------

    def wake_writer(self) -> None:
        self._wake.set()

    async def wait_writable(self) -> None:
        """Wait while the backlog is past `HIGH_WATER`, until the writer takes it.

        At most one backlog waits while another is being written; the wait is
        bounded by the writer's send timeout, which cancels every stream.
        """
        while self.proto.queued > HIGH_WATER:
            self._wake.set()
            await self._taken.wait()

    async def _writer(self) -> None:
        """The only task that writes to the socket."""
        try:
            await self._write_loop()
        finally:
            self._writer_done.set()

    async def _write_loop(self) -> None:
        proto = self.proto
        while True:
            if not self._closing:
                await self._wake.wait()
            self._wake = trio.Event()
            data = proto.data_to_send()
            if not data and self._closing:
                return
            if data:
                self._taken.set()
                self._taken = trio.Event()
                with trio.move_on_after(self.http.send_timeout) as scope:
                    try:
                        await self.stream.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        scope.cancel()
                if scope.cancelled_caught:
                    # The client stopped reading (or went away): nothing more can be sent.
                    self.timer.cancel()
                    for exchange in list(self.streams.values()):
                        exchange.scope.cancel()
                    return


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


class H2Exchange(StreamExchange):
    """One request/response on an HTTP/2 stream."""

    def __init__(self, conn: H2Connection, stream_id: int, request: HttpRequest) -> None:
        super().__init__(stream_id, request, conn.http, conn.extra_headers, conn.proto)
        self.conn = conn
        self._window: trio.Event | None = None

    def window_opened(self) -> None:
        if self._window is not None:
            self._window.set()

    def release_unread(self) -> None:
        """Give back the connection window that body nobody read holds (not the stream's:
        see `DRAIN_SECONDS`)."""
        for _, flow in self._body:
            self.conn.proto.discarded(self.stream_id, flow)
        self._body.clear()

    def _consumed(self, flow: int) -> None:
        # Credit the window only as the body is consumed: a page that reads
        # slowly slows the upload instead of filling the server's memory.
        self.conn.proto.consumed(self.stream_id, flow)
        self.conn.wake_writer()

    def _wake(self) -> None:
        self.conn.wake_writer()

    def abort(self, error: bool) -> None:
        code = h2.errors.ErrorCodes.INTERNAL_ERROR if error else h2.errors.ErrorCodes.CANCEL
        self.conn.proto.reset(self.stream_id, code)

    def _queue_end(self, trailers: list[tuple[str, str]]) -> None:
        try:
            if trailers:
                self.conn.proto.send_trailers(self.stream_id, trailers)
            else:
                self.conn.proto.end_stream(self.stream_id)
        except StreamClosed:
            raise StreamGone() from None

    async def _send(self, data: bytes, end: bool) -> None:
        proto = self.conn.proto
        view = memoryview(data)
        while view:
            window = proto.send_window(self.stream_id)
            if window is None:
                raise StreamGone()
            if window <= 0:
                # Flow control (RFC 9113 §5.2): wait for WINDOW_UPDATE, but not forever.
                self._window = trio.Event()
                self.conn.wake_writer()
                with trio.move_on_after(self.http.send_timeout) as scope:
                    await self._window.wait()
                self._window = None
                if scope.cancelled_caught:
                    proto.reset(self.stream_id, h2.errors.ErrorCodes.CANCEL)
                    raise StreamGone()
                continue
            piece = view[:window]
            view = view[window:]
            self._queue_data(piece.tobytes(), end and not view)
            if proto.queued > HIGH_WATER:
                await self.conn.wait_writable()
            elif view:
                await trio.lowlevel.checkpoint()
        if end:
            self.finished = True
