"""HTTP/1.1 protocol core: h11 behind our own events. No I/O, no clock.

The server layer feeds received bytes in and writes the bytes this returns.
Keeping h11 behind this interface lets a faster parser replace it later
without touching the server or the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus

import h11
from h11._writers import ChunkedWriter

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
from dynlan.http._headers import InvalidResponseHead, check_status, response_fields, trailer_fields

_REASONS = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}

H1Event = RequestReceived | DataReceived | MessageComplete | ConnectionEnded | NeedData | Paused

# Methods we implement anywhere in the server (RFC 9110 §9). Anything else is
# answered 501 (RFC 9110 §15.6.2), before routing.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF, with exactly
# one SP between the parts and HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive).
# The target is any run of visible characters (llhttp checks it further).
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\x00-\x20\x7f]+ HTTP/([0-9]\.[0-9])\r\n")

SUPPORTED_VERSIONS = frozenset({"1.0", "1.1"})


def request_line_error(line: bytes) -> tuple[int, str] | None:
    """(status, reason) when a request line (with its CRLF) must be refused, else None.

    Each leniency refused here is a way to make two HTTP parsers disagree about a
    request (smuggling past a front proxy): extra or trailing spaces, a tab, a line
    with no version (HTTP/0.9, which has no headers and so no framing), a bare LF.
    A well-formed version other than 1.0 and 1.1 (HTTP/2.0, HTTP/0.9, HTTP/1.2) is 505
    (RFC 9110 §15.6.6); no HTTP/1 minor version above 1 exists, so the SHOULD of RFC 9110
    §2.5 to read one as 1.1 is not taken.
    """
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        return 400, "malformed request line"
    if match.group(1).decode() not in SUPPORTED_VERSIONS:
        return 505, f"HTTP/{match.group(1).decode()} is not supported"
    return None


def transfer_coding_error(version: str, codings: list[str]) -> str | None:
    """Why a request's Transfer-Encoding field values are refused (always 400), else None.

    Only `chunked`, once, in one field, is accepted (names are case-insensitive, RFC 9112 §7).
    - HTTP/1.0 with Transfer-Encoding: RFC 9112 §6.1 says to treat the framing as faulty.
    - `chunked` not the final coding ("identity", "gzip", "chunked, gzip", an empty value):
      RFC 9112 §6.3 requires 400, as the body length cannot be known.
    - `chunked` more than once ("chunked, chunked", or in two fields): RFC 9112 §7.1 forbids it.
    - another coding before `chunked` ("identity, chunked", "gzip, chunked"): RFC 9112 §6.1
      suggests 501 for a coding the server does not understand. We answer 400 instead:
      "identity" is no transfer coding since RFC 7230, this server decodes none but chunked,
      and no common client sends one in a request, whereas smuggling probes do; answering
      it as malformed framing (and closing) is the same answer from both HTTP/1 cores.
    """
    if version != "1.1":
        return "Transfer-Encoding in an HTTP/1.0 request"
    if len(codings) != 1 or codings[0].strip().lower() != "chunked":
        return "Transfer-Encoding other than chunked"
    return None


class H11Protocol:
    """One HTTP/1.1 server connection's protocol state on h11 (stream id is always 1)."""

    __slots__ = ("_conn", "_max_request_line", "_max_header_size", "_head_sent", "client_closed")

    replays = False
    """Whether a whole response may go out as kept bytes around the core (`replayed`): not on h11, whose state
    machine must see every response it frames."""

    def __init__(self, *, max_header_size: int = 16384, max_request_line: int = 8190) -> None:
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_header_size)
        self._max_request_line = max_request_line
        self._max_header_size = max_header_size
        self._head_sent = False
        self.client_closed = False

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means the peer closed its side."""
        if not data:
            self.client_closed = True
        self._conn.receive_data(data)

    def next_event(self) -> H1Event:
        try:
            event = self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._protocol_error(exc) from None
        if event is h11.NEED_DATA:
            return NEED_DATA
        if event is h11.PAUSED:
            return PAUSED
        t = type(event)
        if t is h11.Data:
            return DataReceived(1, bytes(event.data))  # type: ignore[union-attr]
        if t is h11.Request:
            return self._request(event)  # type: ignore[arg-type]
        if t is h11.EndOfMessage:
            trailers = tuple(
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in event.headers  # type: ignore[union-attr]
            )
            return MessageComplete(1, trailers)
        if t is h11.ConnectionClosed:
            return ConnectionEnded()
        raise AssertionError(f"unexpected h11 event {event!r}")  # pragma: no cover

    def _request(self, event: h11.Request) -> RequestReceived:
        target = event.target.decode("latin-1")
        if len(target) > self._max_request_line:
            # RFC 9112 §3: a server that receives a request-target longer than it
            # wishes to parse answers 414.
            raise ProtocolError(414, "request target too long")
        method = event.method.decode("ascii")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        # h11 bounds only a head that is still arriving; a complete one that came
        # in a single read is measured here (RFC 6585 §5: 431).
        size = len(target) + sum(len(k) + len(v) + 4 for k, v in headers)
        if size > self._max_header_size:
            raise ProtocolError(431, "request header fields too large")
        version = event.http_version.decode()
        if version not in SUPPORTED_VERSIONS:
            # h11 takes any "HTTP/" DIGIT "." DIGIT (RFC 9110 §15.6.6: 505).
            raise ProtocolError(505, f"HTTP/{version} is not supported")
        if version == "1.0" and any(k == "transfer-encoding" for k, _ in headers):
            # h11 reads a chunked body on HTTP/1.0; see transfer_coding_error.
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        expects = self._conn.they_are_waiting_for_100_continue
        if method not in KNOWN_METHODS:
            raise ProtocolError(501, f"method {method} not implemented")
        return RequestReceived(1, method, target, headers, version, expects)

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> ProtocolError:
        status = exc.error_status_hint
        if status == 431:
            pending, _ = self._conn.trailing_data
            first_line_end = pending.find(b"\n")
            if first_line_end < 0 or first_line_end > self._max_request_line:
                # The request line alone overflowed: the URI is what is too long.
                return ProtocolError(414, "request line too long")
            return ProtocolError(431, "request header fields too large")
        if status == 501:
            # h11 answers 501 only for a Transfer-Encoding other than one `chunked`:
            # refused as malformed framing instead, as transfer_coding_error explains.
            return ProtocolError(400, "Transfer-Encoding other than chunked")
        return ProtocolError(status if 400 <= status < 600 else 400, str(exc) or "bad request")

    # -- output --------------------------------------------------------------

    @property
    def expects_continue(self) -> bool:
        return bool(self._conn.they_are_waiting_for_100_continue)

    def send_continue(self) -> bytes:
        return self._conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")) or b""

    def send_response(self, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        """The response head; `InvalidResponseHead` (nothing sent, no state changed) when
        the status is not final or a field would break the framing."""
        check_status(status)
        raw = response_fields(headers)
        reason = _REASONS.get(status, b"")
        try:
            # Fields are checked above, so h11's own per-field regexes are skipped; it
            # still checks Content-Length, before its connection state changes.
            event = h11.Response(status_code=status, headers=raw, reason=reason, http_version=b"1.1", _parsed=True)
        except h11.LocalProtocolError as exc:
            raise InvalidResponseHead(str(exc)) from None
        self._head_sent = True
        return self._conn.send(event) or b""

    def switch_protocols(self, headers: Iterable[tuple[str, str]]) -> tuple[bytes, bytes]:
        """The 101 head (RFC 9110 §15.2.2) for a request that asked to upgrade, and the bytes the client sent
        after it (h11 holds them from the end of such a request on)."""
        event = h11.InformationalResponse(status_code=101, headers=response_fields(headers), reason=b"Switching Protocols")
        head = self._conn.send(event) or b""
        self._head_sent = True
        return head, bytes(self._conn.trailing_data[0])

    def send_data(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._conn.send(h11.Data(data=data)) or b""

    def send_end(self, trailers: Iterable[tuple[str, str]] = ()) -> bytes:
        """The end of the response: the last chunk and `trailers` when the body went chunked; otherwise the
        body's length or the connection's end frames it, and there is no place for trailers (RFC 9112 §7.1.2)."""
        chunked = isinstance(getattr(self._conn, "_writer", None), ChunkedWriter)
        raw = response_fields(trailer_fields(trailers)) if chunked else []
        return self._conn.send(h11.EndOfMessage(headers=raw)) or b""

    @property
    def response_started(self) -> bool:
        return self._head_sent

    @property
    def can_send_response(self) -> bool:
        """True while no response head has gone out for the current request."""
        return self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    @property
    def their_request_complete(self) -> bool:
        return self._conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)

    @property
    def head_started(self) -> bool:
        """Bytes of a request head have arrived, but not the whole head."""
        return self._conn.their_state is h11.IDLE and bool(self._conn.trailing_data[0])

    @property
    def awaiting_request(self) -> bool:
        return self._conn.their_state is h11.IDLE and self._conn.our_state is h11.IDLE

    @property
    def keep_alive(self) -> bool:
        return self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE

    def start_next_cycle(self) -> bool:
        """Reset for the next request on this connection; False if it must close."""
        if not self.keep_alive:
            return False
        self._conn.start_next_cycle()
        self._head_sent = False
        return True

    def send_failed(self) -> None:
        self._conn.send_failed()

    def replayed(self) -> bool:
        return False


H1Protocol = H11Protocol


def make_h1_protocol(parser: str = "auto", *, max_header_size: int = 16384, max_request_line: int = 8190) -> H11Protocol:
    """The HTTP/1.1 core: llhttp (httptools) when installed and asked for, else h11."""
    if parser in ("auto", "llhttp"):
        try:
            from dynlan.http._h1fast import FastH1Protocol
        except ImportError:
            if parser == "llhttp":
                raise
        else:
            return FastH1Protocol(max_header_size=max_header_size, max_request_line=max_request_line)  # type: ignore[return-value]
    return H11Protocol(max_header_size=max_header_size, max_request_line=max_request_line)
