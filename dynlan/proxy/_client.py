"""One HTTP/1.1 connection to another server: a sans-I/O protocol engine, a trio stream for the bytes, and the
timeouts around each wait. Proxy routes and pages' HTTP calls (`dynlan/host/_http.py`) both speak through it, over
connections from the same pools (`_pool.py`).

The engine is the codec of `_codec.py` (llhttp, through httptools, for responses: the library the server parses
requests with). h11 was the first engine; measured on the bench's 4 KiB request, it cost about 80 µs of CPU per
exchange on its own, more than the rest of the proxy together, for framing that llhttp does in C.

On a plain TCP or Unix socket the bytes move with os.read/os.write on the socket's descriptor, a trio wait only
when the socket is not ready (as the server's own connections do); over TLS (pages' https calls) through the
trio.SSLStream.
"""

from __future__ import annotations

import ipaddress
import os
import select

import trio

from dynlan.proxy._codec import (
    LAST_CHUNK,
    BodyChunk,
    CodecError,
    ResponseEnd,
    ResponseEvent,
    ResponseParser,
    chunk,
    last_chunk,
    request_head,
)
from dynlan.proxy._config import Timeouts, Upstream, authority
from dynlan.proxy._pool import Origin
from dynlan.proxy._timer import ReadTimer

READ_SIZE = 65536


class UpstreamTimeout(Exception):
    """The upstream did not answer (or accept bytes) within the configured time."""


class UpstreamBroken(Exception):
    """The connection failed or the upstream broke the protocol."""


class Unsendable(UpstreamBroken):
    """The request itself cannot be written (a field that is not ISO-8859-1, or holds CR, LF or NUL): nothing
    was sent, and the connection is as good as before."""


class ConnectFailed(Exception):
    """No connection could be opened (refused, unreachable, timed out): nothing was sent."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def upstream_origin(upstream: Upstream) -> Origin:
    """The pool key of a proxy upstream (an address in its canonical spelling, so that an upstream named by
    address and a page's call to that address share their connections)."""
    if upstream.unix_path:
        return ("unix", upstream.unix_path, 0, "")
    try:
        host = str(ipaddress.ip_address(upstream.host))
    except ValueError:
        host = upstream.host.lower()
    return ("http", host, upstream.port, "")


async def open_connection(upstream: Upstream, timeouts: Timeouts, allow: tuple[str, ...] | None = None,
                          ) -> Http1Connection:
    """A new connection to `upstream`; ConnectFailed when there is none within `timeouts.connect`. `allow`: the
    upstream is a site's (`ProxySpec.allow`): its name is resolved here, and the connection goes to the address
    found only when the server's list admits it (without a list, a public address only), as a page's call would."""
    stream: trio.SocketStream
    try:
        with trio.fail_after(timeouts.connect):
            if upstream.unix_path:
                stream = await trio.open_unix_socket(upstream.unix_path)
            elif allow is not None:
                address = await _granted_address(upstream, allow)
                stream = await trio.open_tcp_stream(address, upstream.port)
            else:
                stream = await trio.open_tcp_stream(upstream.host, upstream.port)
    except trio.TooSlowError:
        raise ConnectFailed(f"{upstream.url}: no connection within {timeouts.connect}s", timed_out=True) from None
    except OSError as exc:
        raise ConnectFailed(f"{upstream.url}: {exc.strerror or exc}", timed_out=False) from None
    return Http1Connection(stream, upstream_origin(upstream), timeouts)


async def _granted_address(upstream: Upstream, allow: tuple[str, ...]) -> str:
    """The address a site's upstream may be reached at (ConnectFailed when none may be)."""
    from dynlan.host._http import HttpCallError, policy, resolve  # noqa: PLC0415 - the host imports this module

    entries = policy(allow or (authority(upstream.host, upstream.port),))
    try:
        return str(await resolve(entries, upstream.host, upstream.port))
    except HttpCallError as exc:
        raise ConnectFailed(f"{upstream.url}: {exc}", timed_out=False) from None


class Http1Connection:
    """One client connection: `send_request`, then the body (`send_body`, `end_body`), then `next_event` until
    ResponseEnd; `reusable` once a whole exchange ended on a keep-alive connection.

    `timeouts` are those of whoever uses it now (a pooled connection serves proxy routes with their own and
    pages' calls, which their page's cancel scope bounds): each user sets them when it takes the connection.
    """

    __slots__ = ("stream", "origin", "timeouts", "idle_since", "reusable", "timer", "deadline", "expired", "_fd",
                 "_poll_fd", "_socket", "_poller", "_parser", "_chunked", "_sent_all", "_asked")

    def __init__(self, stream: trio.abc.Stream, origin: Origin, timeouts: Timeouts,
                 transport: trio.SocketStream | None = None) -> None:
        """`stream` is a trio.SocketStream, or a stream over `transport` (TLS over TCP)."""
        self.stream = stream
        self.origin = origin
        self.timeouts = timeouts
        self.idle_since = 0.0
        self.reusable = False
        self.timer: ReadTimer | None = None
        """The worker's read timer (`_timer.py`), set by whoever takes the connection; without a running one,
        each wait has a cancel scope of its own."""
        self.deadline = 0.0
        self.expired = False
        tcp = transport if transport is not None else stream
        assert isinstance(tcp, trio.SocketStream)
        self._socket = tcp.socket
        self._poll_fd = self._socket.fileno()
        # Raw reads and writes on the descriptor only when nothing sits between it and the messages.
        self._fd = self._poll_fd if transport is None else -1
        self._poller: select.poll | None = None
        self._parser: ResponseParser | None = None
        self._chunked = False
        self._sent_all = False
        self._asked = False
        """A request went since the last read of its answer."""

    # -- bytes ---------------------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        fd = self._fd
        if fd >= 0:
            # A request head or body chunk nearly always fits in the socket's buffer: written at once, with a
            # cancellation point, and none of send_all's machinery (as the server's own connections do).
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                sent = os.write(fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise UpstreamBroken(f"sending to the upstream failed: {exc}") from None
            if sent == len(data):
                return
            data = data[sent:]
        # The upstream is not reading as fast (or TLS): wait, within the timeout.
        with trio.CancelScope(deadline=trio.current_time() + self.timeouts.write) as scope:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise UpstreamBroken(f"sending to the upstream failed: {exc}") from None
        if scope.cancelled_caught:
            raise UpstreamTimeout(f"the upstream took no bytes for {self.timeouts.write}s")

    async def _receive(self) -> bytes:
        """The next bytes from the upstream (b"" at its end); UpstreamTimeout past `timeouts.read`."""
        fd = self._fd
        if fd >= 0:
            # A read first, even just after the request went: on loopback the upstream often answers while the
            # write that woke it returns (the kernel runs it on this CPU), and a read that finds the answer costs
            # far less than a wait in the event loop.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                return os.read(fd, READ_SIZE)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise UpstreamBroken(f"reading from the upstream failed: {exc}") from None
            return await self._wait_and_receive(fd)
        data: bytes | bytearray = b""
        with trio.CancelScope(deadline=trio.current_time() + self.timeouts.read) as scope:
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise UpstreamBroken(f"reading from the upstream failed: {exc}") from None
        if scope.cancelled_caught:
            raise UpstreamTimeout(f"no bytes from the upstream for {self.timeouts.read}s")
        return bytes(data)

    async def _wait_and_receive(self, fd: int) -> bytes:
        """Wait until `fd` is readable (within `timeouts.read`), then read it."""
        deadline = trio.current_time() + self.timeouts.read
        while True:
            timer = self.timer
            if timer is not None and timer.running:
                self.deadline = deadline
                timer.add(self)
                try:
                    await trio.lowlevel.wait_readable(fd)
                except trio.ClosedResourceError:
                    if self.expired:
                        raise UpstreamTimeout(f"no bytes from the upstream for {self.timeouts.read}s") from None
                    raise UpstreamBroken("the connection was closed") from None
                finally:
                    timer.discard(self)
            else:
                with trio.CancelScope(deadline=deadline) as scope:
                    await trio.lowlevel.wait_readable(fd)
                if scope.cancelled_caught:
                    raise UpstreamTimeout(f"no bytes from the upstream for {self.timeouts.read}s")
            try:
                return os.read(fd, READ_SIZE)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise UpstreamBroken(f"reading from the upstream failed: {exc}") from None

    def expire(self) -> None:
        """The read timer's call past the deadline: the wait ends (ClosedResourceError), and the connection is
        spent (its response may still come: it is never reused)."""
        self.expired = True
        trio.lowlevel.notify_closing(self._fd)

    def looks_alive(self) -> bool:
        """An idle connection the other side has not closed: nothing readable on it (a readable idle socket has
        its EOF, a TLS alert or bytes no request asked for, and cannot carry the next request)."""
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(self._poll_fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)

    def close(self) -> None:
        """Drop the connection now (no graceful close: it is idle or broken; under TLS too, which has no close
        of its own to wait for)."""
        self._socket.close()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream)

    # -- messages ------------------------------------------------------------------------------------------

    async def send_request(self, method: str, target: str, headers: list[tuple[str, str]], *, chunked: bool,
                           body: bool, upgrade: bool = False) -> None:
        """The request head (the whole request, without a body). `chunked`: the body goes chunked. `upgrade`:
        the request asks to switch protocols, and a 101 is its final response (then `upgraded()`)."""
        try:
            head = request_head(method, target, headers)
        except CodecError as exc:
            raise Unsendable(str(exc)) from None
        self._parser = ResponseParser(method == "HEAD", upgrade)
        self._chunked = chunked
        self.reusable = False
        self._sent_all = not body
        self._asked = True
        await self.send_raw(head)

    async def send_body(self, data: bytes) -> None:
        if data:
            await self.send_raw(chunk(data) if self._chunked else data)

    async def end_body(self, trailers: list[tuple[str, str]] | None = None) -> None:
        """The end of the request body; with a chunked body, `trailers` as its trailer section (a body with a
        Content-Length has none: they are dropped, RFC 9112 §7.1.2)."""
        self._sent_all = True
        if self._chunked:
            try:
                end = last_chunk(trailers) if trailers else LAST_CHUNK
            except CodecError as exc:
                raise UpstreamBroken(str(exc)) from None
            await self.send_raw(end)

    async def next_event(self) -> ResponseEvent:
        """The next response event; UpstreamTimeout past `timeouts.read` without a byte."""
        parser = self._parser
        assert parser is not None
        events = parser.events
        while not events:
            fd = self._fd
            if fd >= 0:
                await trio.lowlevel.checkpoint_if_cancelled()
                if self._asked:
                    # Just after the request went, the answer is not there yet: the other tasks run first
                    # (under load, it has come by the time they have), and only then a read, and a wait in
                    # the event loop (which costs its registrations with epoll) only if it still has not.
                    self._asked = False
                    await trio.lowlevel.cancel_shielded_checkpoint()
                try:
                    data = os.read(fd, READ_SIZE)
                except BlockingIOError:
                    data = await self._wait_and_receive(fd)
                except OSError as exc:
                    raise UpstreamBroken(f"reading from the upstream failed: {exc}") from None
            else:
                data = await self._receive()
            try:
                parser.feed(data)
            except CodecError as exc:
                raise UpstreamBroken(str(exc)) from None
        event = events.popleft()
        if isinstance(event, ResponseEnd):
            self.reusable = event.keep_alive and self._sent_all
        return event

    def upgraded(self) -> bytes | None:
        """After a 101 to an `upgrade` request: the bytes of the new protocol read with its head (the connection
        carries nothing else from then on, and is never pooled); else None."""
        parser = self._parser
        return parser.upgraded if parser is not None else None

    async def receive_raw(self) -> bytes:
        """The next bytes of a connection that switched protocols (b"" at its end); UpstreamTimeout past
        `timeouts.read` without a byte."""
        return await self._receive()

    def buffered_body(self) -> bytes | None:
        """After the head: the whole body when the rest of the response has already been read (a small one
        usually comes in the same read as its head), so it can be answered in one go; else None."""
        parser = self._parser
        assert parser is not None
        events = parser.events
        if not events or not isinstance(events[-1], ResponseEnd) or events[-1].trailers:
            return None  # not all here yet, or trailers to pass on after the body
        end = events.pop()
        assert isinstance(end, ResponseEnd)
        if len(events) == 1 and isinstance(events[0], BodyChunk):
            body = events[0].data  # the usual case: the body in one piece
        else:
            body = b"".join(event.data for event in events if isinstance(event, BodyChunk))
        events.clear()
        self.reusable = end.keep_alive and self._sent_all
        return body

