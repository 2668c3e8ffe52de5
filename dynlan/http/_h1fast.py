"""HTTP/1.1 protocol core on llhttp (through httptools). No I/O, no clock.

The same interface and events as the h11-based `H11Protocol`, for the hot
path: llhttp parses in C, and responses are framed here directly. llhttp is
strict by default (no lenient flags): conflicting Content-Length and
Transfer-Encoding, bad chunk sizes and obsolete line folding are rejected,
which is what prevents request smuggling (RFC 9112 §6.3, §11.2).

llhttp is not strict everywhere: it takes several spaces between the parts of
the request line, a request line without a version (HTTP/0.9), HTTP/2.0 as an
HTTP/1 version, and codings before `chunked` in Transfer-Encoding. A front
proxy that reads such a request otherwise would disagree with us about where
it ends. So each request line is cut out of the stream and checked here before
llhttp sees it, and Transfer-Encoding is checked when the head is complete.
To know where each request line starts, input is fed to llhttp in pieces that
end wherever a message can end: after the request line, at every CRLF CRLF
while a head or a chunked body is being read (both always end with one), and
after exactly Content-Length bytes of a body. A message that begins anywhere
else (the pieces and llhttp disagree) is refused rather than left unchecked.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus

import httptools

from dynlan.http._errors import ProtocolError
from dynlan.http._events import (
    NEED_DATA,
    PAUSED,
    ConnectionEnded,
    DataReceived,
    MessageComplete,
    NeedData,
    Paused,
    RequestReceived,
)
from dynlan.http._h1 import KNOWN_METHODS, request_line_error, transfer_coding_error
from dynlan.http._headers import (
    FIELD_NAMES,
    FIELD_VALUES,
    InvalidResponseHead,
    check_field_value,
    check_status,
    field_name,
    response_fields,
    trailer_fields,
)

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_NO_BODY_STATUS = frozenset({204, 304})

# How the next bytes of input are fed to llhttp (see the module docstring).
_LINE = 0
"""A request line is expected: it is collected, checked, then fed whole."""
_SPLIT = 1
"""A head or a chunked body: pieces end at every CRLF CRLF."""
_LENGTH = 2
"""A Content-Length body: pieces end after `_body_left` bytes."""

_COMPLETE = MessageComplete(1, ())
"""The end of a message without trailers (nearly every one): one event for all, as events are frozen."""

_PLAIN_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\x00-\x20\x7f]+ HTTP/1\.[01]\r\n").fullmatch
"""The request lines almost every request has (the fast path of `request_line_error`)."""

_LINE_SLACK = 64
"""Bytes of a request line besides its target (method, spaces, version), before 414."""

Event = RequestReceived | DataReceived | MessageComplete | ConnectionEnded | NeedData | Paused


class _Stop(Exception):
    """Raised from a parser callback to stop parsing with `ProtocolError` set."""


class _BodyOnly:
    """Callbacks for a parser that reads only the body of a request whose head was already taken.

    llhttp stops at the end of the head of a request that asks for a protocol upgrade
    (or CONNECT) and leaves the rest to the caller. We never switch protocols on such a
    request, so its body is still its body (RFC 9110 §7.8): a second parser is given a
    stand-in head with the same framing, then the real body bytes. Without this, the body
    would be parsed as the next request (smuggling a request past a front proxy).
    """

    def __init__(self, owner: FastH1Protocol) -> None:
        self.owner = owner
        self.begun = False

    def on_message_begin(self) -> None:
        if self.begun:
            # A second message on the body parser: it and the pieces disagree.
            self.owner._error = ProtocolError(400, "malformed request body")
            raise _Stop
        self.begun = True

    def on_body(self, body: bytes) -> None:
        self.owner.on_body(body)

    def on_message_complete(self) -> None:
        self.owner.on_message_complete()
        self.owner._fresh_parser = True


class FastH1Protocol:
    """One HTTP/1.1 server connection's protocol state, parsed by llhttp."""

    replays = True
    """Whole responses may go out as kept bytes (`replayed`, `dynlan.server._replay`)."""

    def __init__(self, *, max_header_size: int = 16384, max_request_line: int = 8190) -> None:
        self._max_header_size = max_header_size
        self._max_request_line = max_request_line
        self._parser = httptools.HttpRequestParser(self)
        # Events per message, in order: index 0 is the request being answered;
        # later ones are pipelined and wait (PAUSED) until start_next_cycle().
        self._messages: deque[deque[Event]] = deque()
        self._complete: deque[bool] = deque()
        self._keep_alive_req: deque[bool] = deque()
        self._error: ProtocolError | None = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._head_size = 0
        self._in_head = False
        self._pending_head = 0
        self._http_version = "1.1"
        self.client_closed = False
        # Where the input stands (see the module docstring).
        self._mode = _LINE
        self._line = bytearray()
        self._tail = b""
        self._body_left = 0
        self._body_chunked = False
        self._line_checked = False
        self._fresh_parser = False
        self._held: bytearray | None = None
        """Bytes after a WebSocket handshake, kept raw until the app answers it (`switch_protocols`)."""
        self._reset_response()

    def _reset_response(self) -> None:
        self._head_sent = False
        self._ended = False
        self._chunked = False
        self._remaining: int | None = None
        self._no_body = False
        self._close_after = False
        self._continue_pending = False
        self._method = ""

    # -- llhttp callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._line_checked:
            # A message starting where no checked request line was fed: never parsed unchecked.
            self._error = ProtocolError(400, "malformed request line")
            raise _Stop
        self._line_checked = False
        self._messages.append(deque())
        self._complete.append(False)
        self._keep_alive_req.append(True)
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._max_request_line:
            # RFC 9112 §3: a request-target longer than we parse is 414.
            self._error = ProtocolError(414, "request target too long")
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self._max_header_size:
            self._error = ProtocolError(431, "request header fields too large")
            raise _Stop
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._pending_head = 0
        parser = self._parser
        method = parser.get_method().decode("ascii", "replace")
        version = parser.get_http_version()
        if method not in KNOWN_METHODS:
            self._error = ProtocolError(501, f"method {method} not implemented")
            raise _Stop
        headers = self._headers
        hosts = 0
        expects = False
        codings: list[str] | None = None
        length = "0"
        for k, v in headers:
            if k == "host":
                hosts += 1
            elif k == "content-length":
                length = v  # llhttp has refused a bad or repeated one
            elif k == "transfer-encoding":
                if codings is None:
                    codings = []
                codings.append(v)
            elif k == "expect":
                expects = expects or v.strip().lower() == "100-continue"
        if hosts != 1 and (hosts or version == "1.1"):
            # RFC 9112 §3.2: a 1.1 request without Host, or any with several, is a 400.
            self._error = ProtocolError(400, "missing Host header" if not hosts else "more than one Host header")
            raise _Stop
        if codings is not None:
            problem = transfer_coding_error(version, codings)
            if problem is not None:
                self._error = ProtocolError(400, problem)
                raise _Stop
            self._body_chunked = True
            self._body_left = 0
        else:
            self._body_chunked = False
            self._body_left = int(length)
            if self._body_left:
                self._mode = _LENGTH
        self._keep_alive_req[-1] = bool(parser.should_keep_alive())
        target = self._url.decode("latin-1")
        expects = expects and version == "1.1"
        self._messages[-1].append(RequestReceived(1, method, target, headers, version, expects))
        # Fields after a chunked body (trailers) are reported with its end, never added to
        # the request's head after the page has read it (a trailer "host" would look like one).
        self._headers = []

    def on_body(self, body: bytes) -> None:
        self._messages[-1].append(DataReceived(1, bytes(body)))

    def on_message_complete(self) -> None:
        self._messages[-1].append(MessageComplete(1, tuple(self._headers)) if self._headers else _COMPLETE)
        self._complete[-1] = True
        self._mode = _LINE

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            self.client_closed = True
            return
        if self._held is not None:
            self._held += data
            return
        pos = 0
        end = len(data)
        piece: bytes | memoryview
        while pos < end and self._error is None:
            if self._held is not None:
                self._held += data[pos:]
                return
            mode = self._mode
            if mode == _LINE:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self._line += data[pos:]
                    if len(self._line) > self._max_request_line + _LINE_SLACK:
                        self._error = ProtocolError(414, "request line too long")
                    return
                if self._line:
                    # The line began in an earlier read: check it whole, feed it alone.
                    self._line += data[pos : nl + 1]
                    piece = bytes(self._line)
                    self._line.clear()
                    pos = nl + 1
                    if piece != b"\r\n" and not self._line_ok(piece, 0, len(piece)):
                        return
                elif nl == pos + 1 and data[pos] == 13:
                    pos = nl + 1
                    continue  # RFC 9112 §2.2: an empty line before a request line is ignored
                else:
                    if not self._line_ok(data, pos, nl + 1):
                        return
                    # Fed together with the rest of the head when it is here (one llhttp
                    # call); the line's own CRLF may begin the CRLF CRLF that ends it.
                    stop = data.find(b"\r\n\r\n", nl - 1)
                    stop = end if stop < 0 else stop + 4
                    piece = data if pos == 0 and stop == end else data[pos:stop]
                    pos = stop
                if piece == b"\r\n":
                    continue
                self._mode = _SPLIT
                self._tail = piece[-3:]
                self._line_checked = True
            elif mode == _SPLIT:
                # Up to the next end of CRLF CRLF, which may straddle two reads.
                tail = self._tail
                stop = (tail + data[pos : pos + 3]).find(b"\r\n\r\n")
                if stop >= 0:
                    stop = pos + stop + 4 - len(tail)
                else:
                    stop = data.find(b"\r\n\r\n", pos)
                    stop = end if stop < 0 else stop + 4
                piece = data[pos:stop]
                self._tail = piece[-3:] if len(piece) >= 3 else (tail + piece)[-3:]
                pos = stop
            else:
                stop = min(end, pos + self._body_left)
                # A body slice is not copied (llhttp copies what it hands to on_body).
                piece = data if pos == 0 and stop == end else memoryview(data)[pos:stop]
                self._body_left -= stop - pos
                pos = stop
            pos -= self._feed(piece, mode)

    def _line_ok(self, data: bytes, start: int, stop: int) -> bool:
        """Whether `data[start:stop]` is a request line we take; if not, the error is set."""
        if _PLAIN_REQUEST_LINE(data, start, stop) is not None:
            return True
        problem = request_line_error(data[start:stop])
        if problem is None:
            return True
        self._error = ProtocolError(*problem)
        return False

    def _feed(self, piece: bytes | memoryview, mode: int) -> int:
        """Feed one piece to llhttp; the number of its bytes to read again (after an upgrade)."""
        try:
            self._parser.feed_data(piece)
        except httptools.HttpParserUpgrade as exc:
            # An Upgrade we do not take (RFC 9110 §7.8 lets a server ignore it), or CONNECT:
            # the head is complete; its body, if any, follows; then the next request.
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(piece)
            self._upgrade_ignored()
            if self._asks_websocket():
                # What follows may be WebSocket frames (RFC 6455 §4.1: a client may send them right after its
                # handshake): held raw until the app accepts (`switch_protocols`) or answers otherwise.
                self._held = bytearray()
            return len(piece) - offset
        except _Stop:
            return 0
        except httptools.HttpParserCallbackError:
            if self._error is None:
                self._error = ProtocolError(400, "malformed request")
            return 0
        except httptools.HttpParserInvalidMethodError:
            # The line was checked: a method token llhttp does not know (RFC 9110 §15.6.2).
            if mode == _LINE:
                self._error = ProtocolError(501, "method not implemented")
            else:
                self._error = ProtocolError(400, "malformed request")
            return 0
        except httptools.HttpParserError as exc:
            self._error = ProtocolError(400, f"malformed request: {exc}")
            return 0
        if self._fresh_parser:
            self._fresh_parser = False
            self._parser = httptools.HttpRequestParser(self)
        if self._in_head:
            # A head still arriving: bound it as a whole, since llhttp buffers a
            # partial header line without reporting it (slow header floods).
            self._pending_head += len(piece)
            if self._pending_head > self._max_header_size:
                self._error = ProtocolError(431, "request header fields too large")
        return 0

    def _asks_websocket(self) -> bool:
        """The request whose head just ended is a body-less WebSocket handshake."""
        if self._body_chunked or self._body_left or not self._messages:
            return False
        head = next((e for e in self._messages[-1] if type(e) is RequestReceived), None)
        return head is not None and any(
            k == "upgrade" and "websocket" in v.lower() for k, v in head.headers)

    def switch_protocols(self, headers: Iterable[tuple[str, str]]) -> tuple[bytes, bytes]:
        """The 101 head (RFC 9110 §15.2.2) and the bytes the client sent after its request: the connection
        is no longer HTTP's."""
        head = b"HTTP/1.1 101 Switching Protocols\r\n"
        head += b"".join(n + b": " + v + b"\r\n" for n, v in response_fields(headers)) + b"\r\n"
        self._head_sent = self._ended = self._close_after = True
        held, self._held = self._held, None
        return head, bytes(held or b"")

    def _upgrade_ignored(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._mode = _LINE
        if not self._body_chunked and not self._body_left:
            return
        # llhttp reported the message complete at the end of its head: take that back,
        # and read the body with a parser of its own.
        self._messages[-1].pop()
        self._complete[-1] = False
        body = httptools.HttpRequestParser(_BodyOnly(self))
        if self._body_chunked:
            body.feed_data(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
            self._mode = _SPLIT
            self._tail = b""
        else:
            body.feed_data(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % self._body_left)
            self._mode = _LENGTH
        self._parser = body

    def next_event(self) -> Event:
        if self._messages:
            current = self._messages[0]
            if current:
                event = current.popleft()
                if type(event) is RequestReceived:
                    self._http_version = event.http_version
                    self._method = event.method
                    self._continue_pending = event.expects_continue
                return event
            if self._complete[0]:
                return PAUSED
        if self._error is not None:
            raise self._error
        if self.client_closed:
            return ConnectionEnded()
        return NEED_DATA

    # -- output --------------------------------------------------------------

    @property
    def expects_continue(self) -> bool:
        return self._continue_pending

    def send_continue(self) -> bytes:
        self._continue_pending = False
        return b"HTTP/1.1 100 Continue\r\n\r\n"

    def send_response(self, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        """The response head; `InvalidResponseHead` (nothing sent, no state changed) when
        the status is not final or a field would break the framing."""
        check_status(status)
        length: int | None = None
        close = not self._request_keep_alive()
        has_connection = False
        names = FIELD_NAMES
        values = FIELD_VALUES
        lines: list[str] = []
        for name, value in headers:
            n = names.get(name) or field_name(name)
            if value not in values:
                check_field_value(name, value)
            if n == "content-length":
                if not (value.isascii() and value.isdigit()):
                    raise InvalidResponseHead(f"content-length {value!r} is not a number of bytes")
                length = int(value)
                continue
            if n == "connection":
                has_connection = True
                if "close" in value.lower():
                    close = True
            elif n == "transfer-encoding":
                continue  # framing is ours to decide
            lines.append(f"{name}: {value}\r\n")
        self._head_sent = True
        self._continue_pending = False
        self._no_body = self._method == "HEAD" or status in _NO_BODY_STATUS
        if status in _NO_BODY_STATUS:
            length = None
        if length is not None:
            lines.append(f"content-length: {length}\r\n")
            self._remaining = length
        elif not self._no_body:
            if self._request_version_11():
                lines.append("transfer-encoding: chunked\r\n")
                self._chunked = True
            else:
                close = True  # HTTP/1.0: the body ends when the connection does
        if close:
            self._close_after = True
            if not has_connection:
                lines.append("connection: close\r\n")
        elif self._http_version == "1.0":
            # An HTTP/1.0 client keeps the connection only when told so.
            lines.append("connection: keep-alive\r\n")
        lines.append("\r\n")
        status_line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()
        return status_line + "".join(lines).encode("latin-1")

    def replayed(self) -> bool:
        """A whole keep-alive response, framed by its content-length, is written as kept bytes
        (`dynlan.server._replay`); False (nothing changed) when the request does not keep the connection."""
        if not self._request_keep_alive() or self._head_sent:
            return False
        self._head_sent = True
        self._continue_pending = False
        self._remaining = 0
        self._ended = True
        return True

    def _request_keep_alive(self) -> bool:
        return bool(self._keep_alive_req and self._keep_alive_req[0])

    def _request_version_11(self) -> bool:
        return self._http_version == "1.1"

    def send_data(self, data: bytes) -> bytes:
        if not data or self._no_body:
            return b""
        if self._chunked:
            return b"%x\r\n%b\r\n" % (len(data), data)
        if self._remaining is not None:
            if len(data) > self._remaining:
                raise RuntimeError("response body longer than its Content-Length")
            self._remaining -= len(data)
        return data

    def can_send_raw(self) -> bool:
        """True when the body goes out as is (fixed length): sendfile may write it directly."""
        return not self._chunked and not self._no_body and self._remaining is not None

    def account_raw(self, length: int) -> None:
        """Bytes of body written directly to the socket (sendfile)."""
        if self._remaining is None or length > self._remaining:
            raise RuntimeError("response body longer than its Content-Length")
        self._remaining -= length

    def send_end(self, trailers: Iterable[tuple[str, str]] = ()) -> bytes:
        tail = b""
        if self._chunked and trailers:
            # RFC 9112 §7.1.2: a body framed by its length has no trailer section; trailers go with chunked only.
            tail = b"".join(n + b": " + v + b"\r\n" for n, v in response_fields(trailer_fields(trailers)))
        self._ended = True
        if self._remaining and not self._no_body:
            # The body came out short: the framing is broken, so the connection must end.
            self._close_after = True
        if self._chunked:
            return b"0\r\n" + tail + b"\r\n"
        return b""

    @property
    def response_started(self) -> bool:
        return self._head_sent

    @property
    def can_send_response(self) -> bool:
        return not self._head_sent

    @property
    def their_request_complete(self) -> bool:
        return bool(self._complete and self._complete[0])

    @property
    def head_started(self) -> bool:
        """Bytes of a request head have arrived, but not the whole head."""
        return bool(self._line) or self._in_head

    @property
    def keep_alive(self) -> bool:
        return self._ended and not self._close_after and self.their_request_complete

    def start_next_cycle(self) -> bool:
        """Reset for the next request on this connection; False if it must close."""
        if not self.keep_alive:
            return False
        self._messages.popleft()
        self._complete.popleft()
        self._keep_alive_req.popleft()
        self._reset_response()
        held, self._held = self._held, None
        if held:
            # A WebSocket handshake answered with a plain response: what followed it is HTTP again.
            self.receive_data(bytes(held))
        return True

