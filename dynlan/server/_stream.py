"""What HTTP/2 and HTTP/3 streams share: the request body queue, the held-back head,
file bodies, and the task that runs the app for one stream.

A protocol's exchange subclasses `StreamExchange` and says how the end of a
stream and its data are queued (`_queue_end`, `_send`; the head goes to the
protocol's `send_response`), how the writer is woken (`_wake`), how
consumed body bytes are credited back (`_consumed`) and how the stream is reset
(`abort`).
"""

from __future__ import annotations

import abc
import collections
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

import trio

from dynlan import SERVER_NAME
from dynlan.config import HttpConfig
from dynlan.http import HttpError, HttpRequest, ReplaySource
from dynlan.http._headers import InvalidResponseHead, trailer_fields
from dynlan.http._streams import StreamClosed
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import App
from dynlan.server._state import DATE

log = logging.getLogger("dynlan")

READ_CHUNK = 256 * 1024


class StreamGone(trio.BrokenResourceError):
    """The stream was reset or the connection closed while the response was being sent
    (to the app, the same as a client that went away)."""


class StreamProtocol(Protocol):
    """The sans-I/O protocol a stream's head is queued on (HTTP/2's or HTTP/3's)."""

    def send_response(self, stream_id: int, status: int, headers: Iterable[tuple[str, str]], end: bool) -> None:
        """Queue the response head; raises `StreamClosed` when the stream is gone."""

    def send_data(self, stream_id: int, data: bytes, end: bool) -> None:
        """Queue body bytes (as flow control allows); raises `StreamClosed` when the stream is gone."""


class StreamExchange(abc.ABC):
    """One request/response on a multiplexed stream (implements `Exchange`)."""

    replayable = False
    """Nothing is kept on HTTP/2 and HTTP/3 (`Exchange.replayable`)."""

    def allow_replay(self, path: str, st: os.stat_result) -> None:
        """Nothing to keep (`replayable` is False)."""
        return

    def allow_replay_while(self, source: ReplaySource, until: float) -> None:
        """Nothing to keep (`replayable` is False)."""
        return

    def __init__(self, stream_id: int, request: HttpRequest, http: HttpConfig,
                 extra_headers: list[tuple[str, str]], proto: StreamProtocol) -> None:
        self.proto = proto
        self.stream_id = stream_id
        self.request = request
        self.http = http
        self.extra_headers = extra_headers
        self.scope = trio.CancelScope()
        """Cancelled when the client resets the stream: the page's work stops with it."""
        self.status = 0
        self.bytes_sent = 0
        self.finished = False
        self.done = False
        self.complete = False
        self._body: collections.deque[tuple[bytes, int]] = collections.deque()
        self._body_seen = 0
        self._arrived: trio.Event | None = None
        self._head: tuple[int, list[tuple[str, str]]] | None = None
        self._head_only = request.method == "HEAD"
        self.request_trailers: list[tuple[str, str]] = []
        self.tunnel: StreamTunnel | None = None
        """The stream's bytes, once it carries a WebSocket (RFC 8441)."""

    @property
    def response_started(self) -> bool:
        return self.status != 0

    # -- what the protocol provides ------------------------------------------------

    def _queue_head(self, status: int, headers: list[tuple[str, str]], end: bool) -> None:
        try:
            self.proto.send_response(self.stream_id, status, headers, end)
        except StreamClosed:
            raise StreamGone() from None
        except InvalidResponseHead:
            # Nothing was queued: the response has not started, and the app answers 500.
            self.status = 0
            raise

    def _queue_data(self, data: bytes, end: bool) -> None:
        """Queue body bytes the protocol can take now, and wake the writer."""
        try:
            self.proto.send_data(self.stream_id, data, end)
        except StreamClosed:
            raise StreamGone() from None
        self.bytes_sent += len(data)
        self._wake()

    @abc.abstractmethod
    def _queue_end(self, trailers: list[tuple[str, str]]) -> None:
        """Queue the end of the stream (after the body): a HEADERS frame of `trailers` that ends it, or, with no
        trailers, an empty DATA frame that does."""

    @abc.abstractmethod
    async def _send(self, data: bytes, end: bool) -> None:
        """Send body bytes as the protocol's flow control allows."""

    @abc.abstractmethod
    def _wake(self) -> None:
        """Wake the connection's writer: there is something to send."""

    def _consumed(self, flow: int) -> None:
        """`flow` bytes of body were read by the page (flow-control credit, where there is any)."""
        return None  # HTTP/3 credits its flow control as data arrives (aioquic)

    @abc.abstractmethod
    def abort(self, error: bool) -> None:
        """Reset the stream: the app failed (`error`), or its task was cancelled."""

    # -- events from the connection ----------------------------------------------

    def body_arrived(self, data: bytes, flow: int) -> None:
        self._body.append((data, flow))
        if self._arrived is not None:
            self._arrived.set()

    def body_complete(self, trailers: tuple[tuple[str, str], ...] = ()) -> None:
        self.complete = True
        if trailers:
            self.request_trailers = list(trailers)
        if self._arrived is not None:
            self._arrived.set()

    def reset_by_peer(self) -> None:
        self.done = True
        self.scope.cancel()

    # -- Exchange ------------------------------------------------------------------

    async def receive(self) -> bytes:
        while not self._body:
            if self.complete:
                return b""
            self._arrived = trio.Event()
            with trio.move_on_after(self.http.body_timeout) as scope:
                await self._arrived.wait()
            self._arrived = None
            if scope.cancelled_caught:
                raise HttpError(408, "request body timed out")
        data, flow = self._body.popleft()
        self._consumed(flow)
        self._body_seen += len(data)
        if self._body_seen > self.http.max_body_size:
            raise HttpError(413, "request body too large")
        return data

    def _send_head(self, end: bool) -> None:
        if self._head is not None:
            status, headers = self._head
            self._head = None
            full = [("date", DATE.get()), ("server", SERVER_NAME), *self.extra_headers, *headers]
            self._queue_head(status, full, end)
            if end:
                self.finished = True
            self._wake()

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        # Held back until the body or the end, so small responses leave in one write.
        self.status = status
        self._head = (status, headers)

    async def send_body(self, data: bytes) -> None:
        if self.done:
            raise StreamGone()
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
                raise StreamGone()
            await self._send(data, end=False)
            offset += len(data)
            length -= len(data)

    async def finish(self, trailers: Sequence[tuple[str, str]] = ()) -> None:
        if self.finished:
            return
        if not self.response_started:
            self.status = 204
            self._head = (204, [])
        fields = trailer_fields(trailers) if trailers and not self._head_only else []
        if self._head is not None:
            if not fields:
                self._send_head(True)
                return
            self._send_head(False)
        if not self.done:
            self._queue_end(fields)
        self.finished = True
        self._wake()

    async def open_tunnel(self, headers: list[tuple[str, str]]) -> tuple[StreamTunnel, bytes]:
        """Accept an extended CONNECT (RFC 8441 §5): 200, and the stream's DATA from then on are the tunnel's."""
        if self.done:
            raise StreamGone()
        self.status = 200
        self._head = (200, headers)
        self._send_head(False)
        self.tunnel = StreamTunnel(self)
        return self.tunnel, b""

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.done:
            raise StreamGone()
        self.status = status
        self._head = (status, headers)
        if not body or self._head_only:
            self._send_head(True)
            return
        self._send_head(False)
        await self._send(body, end=True)


class StreamTunnel:
    """A stream's DATA frames as a byte stream, both ways (implements `dynlan.realtime.Tunnel`)."""

    def __init__(self, exchange: StreamExchange) -> None:
        self.exchange = exchange
        self.finisher: Callable[[int], Awaitable[None]] | None = None
        """Closes what runs over the tunnel when the page is over, with a WebSocket close code."""

    async def receive_some(self) -> bytes:
        ex = self.exchange
        while not ex._body:
            if ex.complete or ex.done:
                return b""
            ex._arrived = trio.Event()
            try:
                await ex._arrived.wait()
            finally:
                ex._arrived = None
        data, flow = ex._body.popleft()
        ex._consumed(flow)  # flow control paces the peer by what the page reads
        return data

    def receive_nowait(self) -> bytes | None:
        ex = self.exchange
        if not ex._body:
            return b"" if ex.complete or ex.done else None
        data, flow = ex._body.popleft()
        ex._consumed(flow)
        return data

    async def send_all(self, data: bytes) -> None:
        if self.exchange.done:
            raise StreamGone()
        await self.exchange._send(data, end=False)

    def send_nowait(self, data: bytes) -> int:
        return 0  # flow control and the connection's writer: `send_all`

    async def aclose(self) -> None:
        ex = self.exchange
        if not ex.finished and not ex.done:
            ex.finished = True
            try:
                ex._queue_end([])
            except StreamGone:
                return
            ex._wake()

    async def finish(self, code: int) -> None:
        if self.finisher is not None:
            await self.finisher(code)
        await self.aclose()


async def serve_stream(exchange: StreamExchange, app: App, access: AccessLog, protocol: str) -> None:
    """Run the app for one stream in the stream's cancel scope, answer what it gave up on, log it."""
    started = time.perf_counter()
    try:
        await _serve_stream(exchange, app, protocol)
    finally:
        # Also when the whole connection is being cancelled (its client went away): the line says
        # what was asked for and sent (499: no response).
        access.log(exchange.request, exchange.status or 499, exchange.bytes_sent, started)


async def _serve_stream(exchange: StreamExchange, app: App, protocol: str) -> None:
    request = exchange.request
    with exchange.scope:
        try:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > exchange.http.max_body_size:
                raise HttpError(413, "request body too large")
            await app.handle(exchange)
            if exchange.tunnel is not None:
                await exchange.tunnel.finish(1000)
            if not exchange.finished:
                await exchange.finish()
        except HttpError as exc:
            # The app had given up on the request (413 while reading the body, ...).
            if exchange.tunnel is not None:
                # A WebSocket page that failed: 1011 to the peer, then the stream ends.
                await exchange.tunnel.finish(1011)
            elif not exchange.response_started:
                body = f"{exc.status} {exc.message}\n".encode()
                await exchange.respond(exc.status, [("content-type", "text/plain; charset=utf-8"),
                                                    ("content-length", str(len(body)))], body)
            else:
                exchange.abort(error=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except trio.Cancelled:
            if exchange.tunnel is not None:
                # The server stops, or the stream was reset: 1001, going away (RFC 6455 §7.4.1), where it still can.
                with trio.CancelScope(shield=True):
                    await exchange.tunnel.finish(1001)
            raise
        except Exception:
            # Never let one stream take the connection (and the server) down.
            log.exception("request %s on %s stream %d failed", request.request_id, protocol, exchange.stream_id)
            exchange.abort(error=True)
    if exchange.scope.cancelled_caught and not exchange.finished:
        exchange.abort(error=False)
