"""One accepted WebSocket: `wsproto`'s frame protocol over a byte tunnel the server layer hands over.

The tunnel is the TCP stream after a 101 (HTTP/1.1), or the DATA frames of an
extended CONNECT stream (HTTP/2, RFC 8441). Pings are answered, and the close
handshake (RFC 6455 §5.5.1, §7) completed, by the host while the page waits in
`receive`; fragments are joined into one message, capped at `max_message` bytes
(RFC 6455 §10.4: a peer cannot make the server buffer without bound).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, cast

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

FINISHED, FAILED, GOING_AWAY = 1000, 1011, 1001
"""How a page's WebSocket ends: the page returned, failed, or was cut (the server stops, or the peer left)."""
RECEIVE_SIZE = 65536
UNYIELDED = 8
"""Messages answered at once (`receive_nowait`, `send_nowait`) before the page goes through the scheduler."""
_REASONS: dict[int, str] = {1011: "page failed", 1001: "server going away"}
CLOSE_WAIT = 5.0
"""Seconds the host waits for the peer's Close frame after sending its own (RFC 6455 §7.1.1)."""


class Tunnel(Protocol):
    """The bytes of an accepted WebSocket, in both directions (the server layer implements it per protocol)."""

    finisher: Callable[[int], Awaitable[None]] | None
    """Set by the host: closes the WebSocket with a close code when the page is over; the server layer calls it
    (`FINISHED`, `FAILED`, `GOING_AWAY`)."""

    async def receive_some(self) -> bytes:
        """The next bytes from the peer; b"" when it has closed its side (or is gone)."""
        ...

    async def send_all(self, data: bytes) -> None:
        """Send bytes to the peer (raises `trio.BrokenResourceError` when it is gone)."""
        ...

    def receive_nowait(self) -> bytes | None:
        """Bytes the peer sent that can be had at once; None when none can (b"": it has closed or is gone)."""
        ...

    def send_nowait(self, data: bytes) -> int:
        """Send what the socket takes at once; how much it took (raises `trio.BrokenResourceError`)."""
        ...

    async def aclose(self) -> None:
        """End our side: the connection (HTTP/1.1) or the stream (HTTP/2) closes."""
        ...


@dataclass(frozen=True, slots=True)
class Received:
    """A whole message from the peer: `str` for a text message, `bytes` for a binary one."""

    data: str | bytes


class WebSocket:
    """The host's side of one WebSocket (one per request at most)."""

    def __init__(self, tunnel: Tunnel, *, max_message: int, idle_timeout: float, initial: bytes = b"") -> None:
        self.tunnel = tunnel
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        self._conn = Connection(ConnectionType.SERVER)
        if initial:
            self._conn.receive_data(initial)
        self._events: deque[Event] = deque()
        """What the frame parser reported and the host has not acted on yet."""
        self._parts: list[str | bytes] = []
        self._size = 0
        self._too_big = False
        self._out = b""
        """Bytes of a message that the socket did not take at once (`send_nowait`)."""
        self._unyielded = 0
        self._read_failed = False
        self.close_code: int | None = None
        """The code the connection closed with (1006: it broke without a Close frame)."""
        self.close_reason = ""
        self.received = 0
        self.sent = 0
        self._ended = False

    @property
    def open(self) -> bool:
        """Messages may still be sent."""
        return self._conn.state is ConnectionState.OPEN and not self._ended

    # -- receiving -------------------------------------------------------------------

    def _peek(self) -> Event | None:
        """The next event of the frame parser, parsed one frame at a time: a Close is not taken (and the
        connection not yet closing) before the page has had the messages that came ahead of it."""
        events = self._events
        if not events:
            for event in self._conn.events():
                events.append(event)
                break
        return events[0] if events else None

    def _take(self) -> Received | None:
        """A whole message from what was read, without waiting; None when there is none yet, or when a control
        frame (ping, close) or an oversize message comes first: those are the waiting path's."""
        while True:
            peeked = self._peek()
            kind = type(peeked)
            if kind is not TextMessage and kind is not BytesMessage:
                return None  # (exact types: wsproto's events are final, and an ABC's isinstance costs a call)
            event = cast("TextMessage | BytesMessage", peeked)
            self._events.popleft()
            data = event.data
            self._size += len(data)
            if self._size > self.max_message:
                self._too_big = True
                return None
            if event.message_finished and not self._parts:
                self._size = 0
                self.received += 1
                return Received(bytes(data) if isinstance(data, bytearray) else data)
            self._parts.append(bytes(data) if isinstance(data, bytearray) else data)
            if event.message_finished:
                parts, self._parts, self._size = self._parts, [], 0
                joined: str | bytes = "".join(parts) if kind is TextMessage else b"".join(parts)  # type: ignore[arg-type]
                self.received += 1
                return Received(joined)

    def receive_nowait(self) -> Received | None:
        """A message that is already here (parsed, or readable from the socket at once); None: wait in `receive`.

        Every few answers the caller is sent to the waiting path anyway, which lets the other tasks run: a peer
        sending without pause cannot hold the event loop."""
        if self._ended or self._unyielded >= UNYIELDED or self._conn.state is not ConnectionState.OPEN:
            return None
        message = self._take()
        if message is None and not self._events and not self._too_big:
            data = self.tunnel.receive_nowait()
            if data:
                self._conn.receive_data(data)
                message = self._take()
            elif data is None:
                self._read_failed = True  # the waiting path need not try again before it waits
        if message is not None:
            self._unyielded += 1
        return message

    async def receive(self) -> Received | None:
        """The next whole message; None once the connection is closing or closed.

        Waiting is bounded by `idle_timeout` (then the host closes with 1001). Cancelling this wait loses
        nothing: bytes already read stay in the frame parser, fragments in `_parts`.
        """
        if self._unyielded:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
        while True:
            if self._too_big:
                # RFC 6455 §7.4.1: 1009, a message too big to process.
                await self.close(CloseReason.MESSAGE_TOO_BIG, f"message over {self.max_message} bytes")
                return None
            message = self._take()
            if message is not None:
                return message
            if self._events:
                await self._control(self._events.popleft())
                continue
            if self._ended or self._conn.state is not ConnectionState.OPEN:
                return None
            data = None if self._read_failed else self.tunnel.receive_nowait()
            self._read_failed = False
            if data is None:
                # Not there yet: the other tasks run first (under load, the peer's next message comes while
                # they do), and only then a wait in epoll, with its idle deadline.
                await trio.lowlevel.checkpoint()
                data = self.tunnel.receive_nowait()
            if data is None:
                with trio.move_on_after(self.idle_timeout) as idle:
                    data = await self._read()
                if idle.cancelled_caught:
                    await self.close(CloseReason.GOING_AWAY, "idle timeout")
                    return None
            if not data:
                self._broken()
                return None
            self._conn.receive_data(data)

    async def _read(self) -> bytes:
        try:
            return await self.tunnel.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def _broken(self) -> None:
        # RFC 6455 §7.1.5: closed without a Close frame: 1006.
        if self.close_code is None:
            self.close_code = CloseReason.ABNORMAL_CLOSURE
        self._ended = True

    async def _control(self, event: Event) -> None:
        if isinstance(event, Ping):
            await self._send(self._conn.send(event.response()))
        elif isinstance(event, CloseConnection):
            await self._closed_by_peer(event)

    async def _closed_by_peer(self, event: CloseConnection) -> None:
        code = int(event.code)
        if self._conn.state is ConnectionState.REMOTE_CLOSING:
            # The peer's Close: answered with the same code (RFC 6455 §5.5.1), then the connection ends.
            self.close_code, self.close_reason = code, event.reason or ""
            reply = CloseConnection(code) if code != CloseReason.NO_STATUS_RCVD else CloseConnection(CloseReason.NORMAL_CLOSURE)
            await self._send(self._conn.send(reply))
            await self._end()
        elif self._conn.state is ConnectionState.OPEN:
            # A frame the parser refused (bad opcode, unmasked, reserved bits, bad UTF-8 ...): its code (1002,
            # 1007), and the connection ends without waiting for the peer (RFC 6455 §7.1.7).
            self.close_code, self.close_reason = code, event.reason or ""
            await self._send(self._conn.send(CloseConnection(code, event.reason)))
            await self._end()
        else:
            # The answer to our own Close.
            await self._end()

    # -- sending ---------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        if not data or self._ended:
            return
        try:
            await self.tunnel.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._broken()

    def _frame(self, data: str | bytes) -> bytes:
        self.sent += 1
        return self._conn.send(TextMessage(data) if isinstance(data, str) else BytesMessage(data))

    def send_nowait(self, data: str | bytes) -> bool:
        """Send one message if the socket takes it at once; False when the rest must wait (`flush`). A closed
        connection takes nothing (True: there is nothing to wait for)."""
        if not self.open:
            return True
        if self._out or self._unyielded >= UNYIELDED:
            self._out += self._frame(data)
            return False
        frame = self._frame(data)
        try:
            sent = self.tunnel.send_nowait(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._broken()
            return True
        self._unyielded += 1
        if sent < len(frame):
            self._out = frame[sent:]
            return False
        return True

    async def flush(self) -> bool:
        """Send what `send_nowait` left; whether the connection is still open."""
        out, self._out = self._out, b""
        self._unyielded = 0
        if out:
            await self._send(out)
        else:
            await trio.lowlevel.checkpoint()
        return self.open

    async def send(self, data: str | bytes) -> bool:
        """Send one message (text for `str`); False when the connection is no longer open."""
        if not self.open:
            return False
        out, self._out = self._out + self._frame(data), b""
        self._unyielded = 0
        await self._send(out)
        return not self._ended

    async def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake and wait (briefly) for the peer's Close, then end the tunnel."""
        if self._ended:
            return
        if self._conn.state is ConnectionState.OPEN:
            self.close_code, self.close_reason = code, reason
            try:
                frame = self._conn.send(CloseConnection(code, reason or None))
            except LocalProtocolError:
                frame = b""
            out, self._out = self._out, b""
            await self._send(out + frame)
            with trio.move_on_after(CLOSE_WAIT):
                while not self._ended and self._closing():
                    data = await self._read()
                    if not data:
                        break
                    self._conn.receive_data(data)
                    for event in self._conn.events():
                        if isinstance(event, CloseConnection):
                            break
        await self._end()

    def _closing(self) -> bool:
        return self._conn.state is ConnectionState.LOCAL_CLOSING

    async def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 1):
            try:
                await self.tunnel.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    async def finish(self, code: int) -> None:
        """The page is over: close what it left open with `code` (RFC 6455 §7.4.1: 1000 when it returned, 1011
        when it failed, 1001 when the server is going away, which waits less for the peer's answer)."""
        if not self._ended:
            wait = 1.0 if code == CloseReason.GOING_AWAY else CLOSE_WAIT + 1
            with trio.CancelScope(shield=True, deadline=trio.current_time() + wait):
                await self.close(code, _REASONS.get(code, ""))

