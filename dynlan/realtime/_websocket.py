"""One accepted WebSocket: `websockets`' sans-I/O frame protocol over a byte tunnel the server layer hands over.

The tunnel is the TCP stream after a 101 (HTTP/1.1), or the DATA frames of an
extended CONNECT stream (HTTP/2, RFC 8441). Pings are answered, and the close
handshake (RFC 6455 §5.5.1, §7) completed, by the host while the page waits in
`receive`; fragments are joined into one message, capped at `max_message` bytes
(RFC 6455 §10.4: a peer cannot make the server buffer without bound). The
protocol parses every frame of what was read at once; the host hands the page
the messages in their order, and acts on a Close (or on a frame that ends the
connection) only once the page has had the messages that came ahead of it.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, cast

import trio
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import SEND_EOF, Side, State
from websockets.protocol import Protocol as FrameProtocol

FINISHED, FAILED, GOING_AWAY = 1000, 1011, 1001
"""How a page's WebSocket ends: the page returned, failed, or was cut (the server stops, or the peer left)."""
RECEIVE_SIZE = 65536
UNYIELDED = 8
"""Messages answered at once (`receive_nowait`, `send_nowait`) before the page goes through the scheduler."""
_REASONS: dict[int, str] = {1011: "page failed", 1001: "server going away"}
CLOSE_WAIT = 5.0
"""Seconds the host waits for the peer's Close frame after sending its own (RFC 6455 §7.1.1)."""

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_UTF8 = codecs.getincrementaldecoder("utf-8")


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


@dataclass(frozen=True, slots=True)
class _Ending:
    """How the connection ends once the page has had the messages ahead of it: the peer's Close, or a frame
    that fails the connection (RFC 6455 §7.1.7)."""

    code: int
    reason: str
    data: bytes
    """What goes to the peer before the tunnel ends (the answering Close)."""


def _close_frame(code: int, reason: str) -> bytes:
    # RFC 6455 §7.4.1: 1005 says a Close came without a code; it is never sent, and such a Close is answered 1000.
    if code == CloseCode.NO_STATUS_RCVD:
        code, reason = CloseCode.NORMAL_CLOSURE, ""
    return Frame(Opcode.CLOSE, Close(code, reason).serialize()).serialize(mask=False)


class WebSocket:
    """The host's side of one WebSocket (one per request at most)."""

    def __init__(self, tunnel: Tunnel, *, max_message: int, idle_timeout: float, initial: bytes = b"") -> None:
        self.tunnel = tunnel
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        # Opened by the server layer's handshake; `max_size` refuses a message from the length in its frame's
        # header, before its payload is read (1009).
        self._proto = FrameProtocol(Side.SERVER, state=State.OPEN, max_size=max_message)
        self._frames: deque[Frame] = deque()
        """Data frames the protocol parsed and the page has not had yet."""
        self._fragments = bytearray()
        """The payload so far of a fragmented message: one buffer, so that a peer sending many small fragments
        costs the host their bytes and no more."""
        self._checker: codecs.IncrementalDecoder | None = None
        """Set while a fragmented text message comes in: each fragment is checked as it arrives."""
        self._ending: _Ending | None = None
        """The end the protocol reached (or a text that is not UTF-8), behind the frames in `_frames`."""
        self._out = b""
        """Bytes to send that the socket did not take at once (`send_nowait`), and the protocol's answers to pings."""
        self._unyielded = 0
        self._read_failed = False
        self._open = True
        self.close_code: int | None = None
        """The code the connection closed with (1006: it broke without a Close frame); a plain `int`, as pages get it."""
        self.close_reason = ""
        self.received = 0
        self.sent = 0
        self._ended = False
        if initial:
            self._ingest(initial)

    @property
    def open(self) -> bool:
        """Messages may still be sent."""
        return self._open and not self._ended

    @property
    def queued(self) -> bool:
        """Frames of the peer already read and parsed wait behind the message just taken (a peer that sends several
        at once): the next `receive_nowait` may well find one."""
        return bool(self._frames)

    # -- receiving -------------------------------------------------------------------

    def _ingest(self, data: bytes) -> None:
        """Feed what was read to the protocol: its data frames wait for the page, its answers to pings go out with
        the next write; an end it reached waits behind the frames."""
        proto = self._proto
        proto.receive_data(data)
        frames = self._frames
        # Data frames only: pings were answered by the protocol, pongs need nothing, a Close is the protocol's state
        # (and an open protocol has no handshake events).
        for frame in cast("list[Frame]", proto.events_received()):
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                frames.append(frame)
        writes = proto.data_to_send()
        if writes:
            if proto.state is State.OPEN:
                self._out += b"".join(writes)
            elif self._ending is None:
                self._ending = self._protocol_ending(writes)

    def _protocol_ending(self, writes: list[bytes]) -> _Ending:
        """The end the protocol reached while parsing, and what answers it (its `writes` end with `SEND_EOF`: a
        server ends the connection once a Close went both ways, or when it fails it)."""
        proto = self._proto
        peer, failure = proto.close_rcvd, proto.parser_exc
        if isinstance(failure, PayloadTooBig):
            # RFC 6455 §7.4.1: 1009, a message too big to process.
            reason = f"message over {self.max_message} bytes"
            return _Ending(CloseCode.MESSAGE_TOO_BIG, reason, _close_frame(CloseCode.MESSAGE_TOO_BIG, reason))
        if peer is not None:
            # The peer's Close: answered with its code (RFC 6455 §5.5.1). One that came between the fragments of a
            # message (control frames may, §5.4) is a Close too: the protocol would fail it with 1002.
            data = b"".join(writes) if failure is None else _close_frame(peer.code, peer.reason)
            return _Ending(peer.code, peer.reason, data)
        # A frame the protocol refused (bad opcode, unmasked, reserved bits, a control frame too long or
        # fragmented, a bad Close ...): its code (1002, 1007), without waiting for the peer (RFC 6455 §7.1.7).
        sent = proto.close_sent
        code, reason = (sent.code, sent.reason) if sent is not None else (CloseCode.PROTOCOL_ERROR, "")
        return _Ending(code, reason, _close_frame(code, reason))

    def _take(self) -> Received | None:
        """A whole message from what was read, without waiting; None when there is none yet."""
        frames = self._frames
        while frames:
            frame = frames.popleft()
            opcode = frame.opcode
            try:
                if opcode is _CONT:
                    self._fragments += frame.data
                    if self._checker is not None:
                        self._checker.decode(frame.data, frame.fin)
                    if not frame.fin:
                        continue
                    message = self._joined()
                elif not frame.fin:
                    self._fragments = bytearray(frame.data)
                    self._checker = _UTF8() if opcode is _TEXT else None
                    if self._checker is not None:
                        self._checker.decode(frame.data)
                    continue
                elif opcode is _TEXT:
                    message = Received(str(frame.data, "utf-8"))
                else:
                    message = Received(bytes(frame.data))
            except UnicodeDecodeError:
                # RFC 6455 §8.1: text that is not UTF-8 fails the connection with 1007. Fragments are checked as
                # they come: a message that cannot be text is refused at its first bad fragment.
                reason = "text message is not UTF-8"
                self._ending = _Ending(CloseCode.INVALID_DATA, reason, _close_frame(CloseCode.INVALID_DATA, reason))
                frames.clear()
                self._fragments, self._checker = bytearray(), None
                return None
            self.received += 1
            return message
        return None

    def _joined(self) -> Received:
        data, self._fragments = self._fragments, bytearray()
        if self._checker is None:
            return Received(bytes(data))
        self._checker = None
        return Received(str(data, "utf-8"))  # (checked fragment by fragment: it decodes)

    def receive_nowait(self) -> Received | None:
        """A message that is already here (parsed, or readable from the socket at once); None: wait in `receive`.

        Every few answers the caller is sent to the waiting path anyway, which lets the other tasks run: a peer
        sending without pause cannot hold the event loop. So is a caller when pongs wait to go out (`receive`
        sends them)."""
        if self._ended or not self._open or self._unyielded >= UNYIELDED or self._out:
            return None
        message = self._take()
        if message is None and self._ending is None:
            data = self.tunnel.receive_nowait()
            if data:
                self._ingest(data)
                if self._out:
                    return None
                message = self._take()
            elif data is None:
                self._read_failed = True  # the waiting path need not try again before it waits
        if message is not None:
            self._unyielded += 1
        return message

    async def receive(self) -> Received | None:
        """The next whole message; None once the connection is closing or closed.

        Waiting is bounded by `idle_timeout` (then the host closes with 1001). Cancelling this wait loses
        nothing: bytes already read stay in the protocol, frames in `_frames`, fragments in `_fragments`.
        """
        if self._unyielded:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()
        while True:
            if self._out:
                out, self._out = self._out, b""
                await self._send(out)
            message = self._take()
            if message is not None:
                return message
            ending = self._ending
            if ending is not None:
                await self._end_with(ending)
                return None
            if self._ended or not self._open:
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
                    await self.close(CloseCode.GOING_AWAY, "idle timeout")
                    return None
            if not data:
                self._broken()
                return None
            self._ingest(data)

    async def _read(self) -> bytes:
        try:
            return await self.tunnel.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def _broken(self) -> None:
        # RFC 6455 §7.1.5: closed without a Close frame: 1006.
        if self.close_code is None:
            self.close_code = int(CloseCode.ABNORMAL_CLOSURE)
        self._ended = True

    async def _end_with(self, ending: _Ending) -> None:
        """The page has had every message ahead of the end: the answer goes out, then the connection ends."""
        self._ending = None
        self._open = False
        self.close_code, self.close_reason = int(ending.code), ending.reason
        out, self._out = self._out, b""
        await self._send(out + ending.data)
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
        # Framed here, not by the protocol: a page may answer the messages that came ahead of the peer's Close,
        # which the protocol has already parsed (and so taken as closing the connection).
        self.sent += 1
        if isinstance(data, str):
            return Frame(_TEXT, data.encode()).serialize(mask=False)
        return Frame(_BINARY, data).serialize(mask=False)

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

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake and wait (briefly) for the peer's Close, then end the tunnel."""
        if self._ended:
            return
        if self._open:
            self._open = False
            self.close_code, self.close_reason = int(code), reason
            proto = self._proto
            ending, self._ending = self._ending, None
            try:
                if ending is None:
                    # The protocol is open: from this Close on, it takes the peer's as the answer.
                    proto.send_close(code, reason)
                    frame = b"".join(proto.data_to_send())
                else:
                    # The peer's Close is already here, behind messages the page has not had: this one answers it.
                    frame = _close_frame(code, reason)
            except ProtocolError:
                frame = b""
            out, self._out = self._out, b""
            await self._send(out + frame)
            if ending is None:
                with trio.move_on_after(CLOSE_WAIT):
                    while not self._ended:
                        data = await self._read()
                        if not data:
                            break
                        proto.receive_data(data)
                        proto.events_received()  # (messages behind our Close: the page is done with them)
                        if SEND_EOF in proto.data_to_send():
                            break  # the peer's Close came (or a frame that fails the connection)
        await self._end()

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
            wait = 1.0 if code == CloseCode.GOING_AWAY else CLOSE_WAIT + 1
            with trio.CancelScope(shield=True, deadline=trio.current_time() + wait):
                await self.close(code, _REASONS.get(code, ""))
