"""HTTP/1.1 protocol core: h11 behind our own events. No I/O, no clock.

The server layer feeds received bytes in and writes the bytes this returns.
Keeping h11 behind this interface lets a faster parser replace it later
without touching the server or the app.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

import h11

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

_REASONS = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}

H1Event = RequestReceived | DataReceived | MessageComplete | ConnectionEnded | NeedData | Paused

# Methods we implement anywhere in the server (RFC 9110 §9). Anything else is
# answered 501 (RFC 9110 §15.6.2), before routing.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)


class H11Protocol:
    """One HTTP/1.1 server connection's protocol state on h11 (stream id is always 1)."""

    __slots__ = ("_conn", "_max_request_line", "_max_header_size", "_head_sent", "client_closed")

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
        expects = self._conn.they_are_waiting_for_100_continue
        if method not in KNOWN_METHODS:
            raise ProtocolError(501, f"method {method} not implemented")
        return RequestReceived(1, method, target, headers, event.http_version.decode(), expects)

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> ProtocolError:
        status = exc.error_status_hint
        if status == 431:
            pending, _ = self._conn.trailing_data
            first_line_end = pending.find(b"\n")
            if first_line_end < 0 or first_line_end > self._max_request_line:
                # The request line alone overflowed: the URI is what is too long.
                return ProtocolError(414, "request line too long")
            return ProtocolError(431, "request header fields too large")
        return ProtocolError(status if 400 <= status < 600 else 400, str(exc) or "bad request")

    # -- output --------------------------------------------------------------

    @property
    def expects_continue(self) -> bool:
        return bool(self._conn.they_are_waiting_for_100_continue)

    def send_continue(self) -> bytes:
        return self._conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")) or b""

    def send_response(self, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        """The response head. Header names and values must already be valid
        (the host checks what pages set: no CR, LF or NUL), so h11's per-header
        regex validation is skipped."""
        self._head_sent = True
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        reason = _REASONS.get(status, b"")
        event = h11.Response(status_code=status, headers=raw, reason=reason, http_version=b"1.1", _parsed=True)
        return self._conn.send(event) or b""

    def send_data(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._conn.send(h11.Data(data=data)) or b""

    def send_end(self, trailers: Iterable[tuple[str, str]] = ()) -> bytes:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in trailers]
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
