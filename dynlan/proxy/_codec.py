"""HTTP/1.1 client side, sans-I/O: request heads and bodies to bytes, response bytes to events (llhttp).

The server already parses requests with llhttp through httptools (`dynlan/http/_h1fast.py`); the proxy parses
responses with the same library's response parser, and writes requests itself (a request head is a few lines
whose every part is checked here). No I/O and no clock: `_client.py` moves the bytes.

Framing of responses (RFC 9112 §6.3) is llhttp's: Content-Length, chunked (its trailer section comes with the
response's end, for the client's exchange to send on), or until the connection closes; no body for a HEAD request, a 1xx, 204 or 304.
1xx interim responses are skipped. One parser per response, so a response that breaks off can never leave a
half-read one behind for the next request on the connection.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import httptools

MAX_HEAD = 64 * 1024
"""A response head larger than this (fields and values together) is refused."""


class CodecError(Exception):
    """The upstream broke HTTP/1.1 (or a request could not be written safely)."""


# Events are made for every proxied response: plain slotted classes (a frozen dataclass's __init__ sets each field
# through object.__setattr__, several times slower); nothing changes them once made.


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: list[tuple[bytes, bytes]]
    """Names lower-case, as received otherwise."""


@dataclass(slots=True)
class BodyChunk:
    data: bytes


@dataclass(slots=True)
class ResponseEnd:
    keep_alive: bool
    """The connection can carry another request (HTTP/1.1 keep-alive, and no bytes after the response)."""
    trailers: tuple[tuple[bytes, bytes], ...] = ()
    """The fields after a chunked body (names lower-case), as received."""


ResponseEvent = ResponseHead | BodyChunk | ResponseEnd


class _Stop(Exception):
    """Raised from a parser callback: stop reading this feed here."""


def request_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """The request line and fields (RFC 9112 §3, §5). CodecError when a part holds CR, LF or NUL: a field could
    otherwise end early and smuggle a second request to the upstream."""
    lines = [method, " ", target, " HTTP/1.1\r\n"]
    for name, value in headers:
        lines += (name, ": ", value, "\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    breaks = len(headers) + 2
    if text.count("\n") != breaks or text.count("\r") != breaks or "\x00" in text or " " in target \
            or " " in method:
        raise CodecError("a request field holds CR, LF or NUL")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise CodecError("a request field is not ISO-8859-1") from None


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def last_chunk(trailers: list[tuple[str, str]]) -> bytes:
    """The last chunk of a chunked body with its trailer section (RFC 9112 §7.1.2); CodecError as `request_head`."""
    if not trailers:
        return LAST_CHUNK
    text = "".join(f"{name}: {value}\r\n" for name, value in trailers)
    if text.count("\n") != len(trailers) or text.count("\r") != len(trailers) or "\x00" in text \
            or any(":" in name or " " in name or not name for name, _ in trailers):
        raise CodecError("a trailer field holds CR, LF or NUL")
    try:
        return b"0\r\n" + text.encode("latin-1") + b"\r\n"
    except UnicodeEncodeError:
        raise CodecError("a trailer field is not ISO-8859-1") from None


class ResponseParser:
    """The response to one request: `feed()` bytes (b"" at the connection's end), take `events`."""

    __slots__ = ("_parser", "_head_only", "_fields", "_size", "_status", "events", "_head_done", "_done",
                 "_until_close", "_upgrade", "upgraded")

    # Callbacks httptools looks up when it makes a parser and this class has no use for: declared empty, so that
    # the lookup finds them rather than raising AttributeError three times per response.
    on_status: ClassVar[None] = None
    on_chunk_header: ClassVar[None] = None
    on_chunk_complete: ClassVar[None] = None

    def __init__(self, head_only: bool, upgrade: bool = False) -> None:
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        """Dropped at the response's end: it holds this object's callbacks, and the cycle would otherwise wait for
        the cyclic garbage collector (one per proxied response, on the hot path)."""
        self._head_only = head_only
        self._fields: list[tuple[bytes, bytes]] = []
        """The fields of the head being read, then those of the trailer section (names lower-cased)."""
        self._size = 0
        self._status = 0
        self._head_done = False
        self._done = False
        self._until_close = False
        self._upgrade = upgrade
        """The request asked to switch protocols (a WebSocket): a 101 is its final response."""
        self.upgraded: bytes | None = None
        """After a 101 to such a request: the bytes that came after its head (the new protocol's)."""
        self.events: deque[ResponseEvent] = deque()

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> None:
        """Parse `data`; CodecError on a malformed or truncated response."""
        if self._done:
            return
        if not data:
            if self._head_done and self._until_close:
                # RFC 9112 §6.3 (8): a body with neither length nor chunking ends with the connection.
                self._finish(False)
                return
            raise CodecError("the upstream closed the connection before the end of its response")
        parser = self._parser
        assert parser is not None
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # httptools wraps what a callback raised; the callback's own exception is the context.
            if isinstance(exc.__context__, _Stop):
                return
            if isinstance(exc.__context__, CodecError):
                raise exc.__context__ from None
            raise CodecError(f"bad response: {exc}") from None
        except httptools.HttpParserUpgrade as exc:
            if not (self._upgrade and self._status == 101):
                raise CodecError("the upstream switched protocols") from None
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self.upgraded = data[offset:]
        except httptools.HttpParserError as exc:
            raise CodecError(f"bad response: {exc}") from None

    def _finish(self, keep_alive: bool) -> None:
        self._done = True
        self._parser = None
        trailers = tuple(self._fields) if self._head_done else ()
        self.events.append(ResponseEnd(keep_alive, trailers))

    # -- llhttp callbacks ----------------------------------------------------------------------------------
    # A callback per field is the costly part of a parse (a call from C into Python for each): it only counts
    # and keeps the field; the head's end does the rest in one pass.

    def on_message_begin(self) -> None:
        if self._done:
            # Bytes after the response no request asked for: this connection is not reused.
            end = self.events[-1]
            assert isinstance(end, ResponseEnd)
            self.events[-1] = ResponseEnd(False, end.trailers)
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        self._size += len(name) + len(value)
        if self._size > MAX_HEAD:
            raise CodecError(f"the response head is over {MAX_HEAD} bytes (its trailers counted with it)")
        self._fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200 and not (status == 101 and self._upgrade):
            # An interim response (100 Continue, 103 Early Hints): the final one follows.
            self._fields = []
            self._size = 0
            return
        self._status = status
        self._head_done = True
        headers = self._fields
        self._fields = []  # from here on, the trailer section's
        self.events.append(ResponseHead(status, headers))
        if status == 101:
            return  # llhttp ends the message and reports the switch with where the new protocol's bytes begin
        if self._head_only or status == 204 or status == 304:
            # RFC 9110 §9.3.2, §15.3.5, §15.4.5: whatever Content-Length says, no body follows.
            self._finish(parser.should_keep_alive())
            raise _Stop
        for name, _ in headers:
            if name == b"content-length" or name == b"transfer-encoding":
                return
        self._until_close = True

    def on_body(self, body: bytes) -> None:
        if self._head_done:
            self.events.append(BodyChunk(body))

    def on_message_complete(self) -> None:
        if not self._head_done:
            return  # the end of an interim response
        parser = self._parser
        assert parser is not None
        # After a 101 the connection is the new protocol's: never another request on it.
        self._finish(parser.should_keep_alive() and not self._until_close and self._status != 101)
