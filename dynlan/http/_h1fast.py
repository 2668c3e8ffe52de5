"""HTTP/1.1 protocol core on llhttp (through httptools). No I/O, no clock.

The same interface and events as the h11-based `H11Protocol`, for the hot
path: llhttp parses in C, and responses are framed here directly. llhttp is
strict by default (no lenient flags): conflicting Content-Length and
Transfer-Encoding, bad chunk sizes and obsolete line folding are rejected,
which is what prevents request smuggling (RFC 9112 §6.3, §11.2).
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
from dynlan.http._h1 import KNOWN_METHODS

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_LOOKS_LIKE_REQUEST_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d\r?$")
_NO_BODY_STATUS = frozenset({204, 304})

Event = RequestReceived | DataReceived | MessageComplete | ConnectionEnded | NeedData | Paused


class _Stop(Exception):
    """Raised from a parser callback to stop parsing with `ProtocolError` set."""


class FastH1Protocol:
    """One HTTP/1.1 server connection's protocol state, parsed by llhttp."""

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
        if version == "1.1" and not any(k == "host" for k, _ in headers):
            # RFC 9112 §3.2: a 1.1 request without Host is a 400.
            self._error = ProtocolError(400, "missing Host header")
            raise _Stop
        if sum(1 for k, _ in headers if k == "host") > 1:
            self._error = ProtocolError(400, "more than one Host header")
            raise _Stop
        expects = version == "1.1" and any(
            k == "expect" and v.strip().lower() == "100-continue" for k, v in headers
        )
        self._keep_alive_req[-1] = bool(parser.should_keep_alive())
        target = self._url.decode("latin-1")
        self._messages[-1].append(RequestReceived(1, method, target, headers, version, expects))

    def on_body(self, body: bytes) -> None:
        self._messages[-1].append(DataReceived(1, bytes(body)))

    def on_message_complete(self) -> None:
        self._messages[-1].append(MessageComplete(1))
        self._complete[-1] = True

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            self.client_closed = True
            return
        if self._error is not None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # An Upgrade we do not take (RFC 9110 §7.8 lets a server ignore it):
            # the request was complete; what follows is parsed afresh.
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._parser = httptools.HttpRequestParser(self)
            rest = data[offset:]
            if rest:
                self.receive_data(rest)
            return
        except _Stop:
            pass
        except httptools.HttpParserCallbackError:
            if self._error is None:
                self._error = ProtocolError(400, "malformed request")
        except httptools.HttpParserInvalidMethodError:
            first_line = data.split(b"\n", 1)[0]
            status = 501 if _LOOKS_LIKE_REQUEST_LINE.match(first_line) else 400
            self._error = ProtocolError(status, "method not implemented" if status == 501 else "malformed request line")
        except httptools.HttpParserError as exc:
            self._error = ProtocolError(400, f"malformed request: {exc}")
        if self._error is None and self._in_head:
            # A head still arriving: bound it as a whole, since llhttp buffers a
            # partial header line without reporting it (slow header floods).
            self._pending_head += len(data)
            if self._pending_head > self._max_header_size:
                self._error = ProtocolError(431, "request header fields too large")

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
        """The response head. Names and values must already be valid (no CR, LF, NUL)."""
        self._head_sent = True
        self._continue_pending = False
        lines = [_STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode()]
        length: int | None = None
        close = not self._request_keep_alive()
        for name, value in headers:
            if name == "content-length":
                length = int(value)
                continue
            if name == "connection" and "close" in value.lower():
                close = True
            elif name == "transfer-encoding":
                continue  # framing is ours to decide
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        self._no_body = self._method == "HEAD" or status in _NO_BODY_STATUS or status < 200
        if status in _NO_BODY_STATUS or status < 200:
            length = None
        if length is not None:
            lines.append(b"content-length: %d\r\n" % length)
            self._remaining = length
        elif not self._no_body:
            if self._request_version_11():
                lines.append(b"transfer-encoding: chunked\r\n")
                self._chunked = True
            else:
                close = True  # HTTP/1.0: the body ends when the connection does
        if close:
            self._close_after = True
            if not any(name == "connection" for name, _ in headers):
                lines.append(b"connection: close\r\n")
        elif self._http_version == "1.0":
            # An HTTP/1.0 client keeps the connection only when told so.
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

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
        self._ended = True
        if self._remaining and not self._no_body:
            # The body came out short: the framing is broken, so the connection must end.
            self._close_after = True
        if self._chunked:
            tail = "".join(f"{k}: {v}\r\n" for k, v in trailers).encode("latin-1")
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
        return True

