"""HTTP/3 (RFC 9114) over QUIC (RFC 9000), sans-I/O: aioquic's connections, our events and routing.

`QuicRouter` takes every datagram that reaches the UDP port and finds its
connection by destination connection id (RFC 9000 §5.2); a new connection is
made only for a well-formed Initial packet of a supported version, at least
1200 bytes long (RFC 9000 §14.1: an amplification limit an attacker cannot
dodge), and while the connection count is under its cap. With `retry` on, a
client must first echo a Retry token, proving it owns its address (§8.1.2).
Unknown ids, short or malformed datagrams are dropped without a reply.

`H3Protocol` wraps one `QuicConnection` and its `H3Connection`. Datagrams and
`now` go in; our request events and datagrams come out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pylsqpack
from aioquic.buffer import Buffer, encode_uint_var  # type: ignore[attr-defined]
from aioquic.h3.connection import H3_ALPN, ErrorCode, FrameType, H3Connection, Setting, encode_frame
from aioquic.h3.events import DataReceived as H3Data
from aioquic.h3.events import HeadersReceived
from aioquic.h3.exceptions import H3Error
from aioquic.quic import events as quic_events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_retry,
    encode_quic_version_negotiation,
    pull_quic_header,
)
from aioquic.quic.retry import QuicRetryTokenHandler

from dynlan.http._events import DataReceived, MessageComplete, RequestReceived, split_pseudo_headers
from dynlan.http._headers import check_status, response_fields
from dynlan.http._streams import CONNECTION_FIELDS, ConnectionClosed, StreamClosed, StreamReset

SMALLEST_INITIAL = 1200
Address = Any


@dataclass(frozen=True, slots=True)
class QuicSettings:
    max_table_capacity: int = 4096
    """QPACK dynamic table size the client may use towards us."""
    blocked_streams: int = 16
    """Streams that may wait on QPACK table updates."""
    idle_timeout: float = 30.0
    max_streams: int = 100


def make_configuration(cert: str, key: str, settings: QuicSettings) -> QuicConfiguration:
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, idle_timeout=settings.idle_timeout,
                               max_datagram_frame_size=None)
    config.load_cert_chain(cert, key)
    return config


H3Event = RequestReceived | DataReceived | MessageComplete | StreamReset | ConnectionClosed


class _H3(H3Connection):
    """An H3Connection whose QPACK limits come from our settings (announced in its SETTINGS)."""

    def __init__(self, quic: QuicConnection, settings: QuicSettings) -> None:
        self._limits = settings
        super().__init__(quic)
        self._max_table_capacity = settings.max_table_capacity
        self._blocked_streams = settings.blocked_streams
        self._decoder = pylsqpack.Decoder(settings.max_table_capacity, settings.blocked_streams)

    def _get_local_settings(self) -> dict[int, int]:
        local = super()._get_local_settings()
        local[Setting.QPACK_MAX_TABLE_CAPACITY] = self._limits.max_table_capacity
        local[Setting.QPACK_BLOCKED_STREAMS] = self._limits.blocked_streams
        return local


class H3Protocol:
    """The server side of one QUIC connection carrying HTTP/3."""

    def __init__(self, quic: QuicConnection, router: QuicRouter, settings: QuicSettings) -> None:
        self.quic = quic
        self.router = router
        self.settings = settings
        self.h3: H3Connection | None = None
        self.closed = False
        self.going_away = False
        self.last_stream_id = 0
        self._requests: set[int] = set()
        """Request streams whose head arrived and whose end has not: a HEADERS frame on one is its trailers."""
        self.cids: set[bytes] = set()
        self.owner: Any = None
        """The server layer's object for this connection."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> list[H3Event]:
        self.quic.receive_datagram(data, addr, now)
        return self._events()

    def handle_timer(self, now: float) -> list[H3Event]:
        self.quic.handle_timer(now)
        return self._events()

    def timer(self) -> float | None:
        return self.quic.get_timer()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self.quic.datagrams_to_send(now)

    def _events(self) -> list[H3Event]:
        out: list[H3Event] = []
        while (event := self.quic.next_event()) is not None:
            if isinstance(event, quic_events.ProtocolNegotiated):
                if event.alpn_protocol in H3_ALPN and self.h3 is None:
                    self.h3 = _H3(self.quic, self.settings)
            elif isinstance(event, quic_events.ConnectionIdIssued):
                self.cids.add(event.connection_id)
                self.router.connections[event.connection_id] = self
            elif isinstance(event, quic_events.ConnectionIdRetired):
                self.cids.discard(event.connection_id)
                self.router.connections.pop(event.connection_id, None)
            elif isinstance(event, quic_events.ConnectionTerminated):
                self.closed = True
                self.router.forget(self)
                out.append(ConnectionClosed(event.error_code, event.reason_phrase))
                continue
            elif isinstance(event, quic_events.StreamReset):
                self._requests.discard(event.stream_id)
                out.append(StreamReset(event.stream_id, event.error_code))
            if self.h3 is None:
                continue
            try:
                h3_events = self.h3.handle_event(event)
            except H3Error as exc:  # pragma: no cover - aioquic closes the connection itself
                self.quic.close(error_code=ErrorCode.H3_GENERAL_PROTOCOL_ERROR, reason_phrase=str(exc))
                continue
            for h3_event in h3_events:
                if isinstance(h3_event, HeadersReceived):
                    if h3_event.stream_id in self._requests:
                        # A second HEADERS on a request stream: its trailers (RFC 9114 §4.1), which end it.
                        if h3_event.stream_ended:
                            self._requests.discard(h3_event.stream_id)
                            out.append(MessageComplete(h3_event.stream_id, tuple(_trailers(h3_event.headers))))
                        continue
                    request = self._request(h3_event)
                    if request is not None:
                        out.append(request)
                        if h3_event.stream_ended:
                            out.append(MessageComplete(h3_event.stream_id))
                        else:
                            self._requests.add(h3_event.stream_id)
                elif isinstance(h3_event, H3Data):
                    if h3_event.data:
                        out.append(DataReceived(h3_event.stream_id, h3_event.data))
                    if h3_event.stream_ended:
                        self._requests.discard(h3_event.stream_id)
                        out.append(MessageComplete(h3_event.stream_id))
        return out

    def _request(self, event: HeadersReceived) -> RequestReceived | None:
        fields = split_pseudo_headers(event.headers)
        method, path, authority, headers = fields.method, fields.path, fields.authority, fields.headers
        if not path or not method:
            # Trailers, or a malformed request (RFC 9114 §4.1.2).
            return None
        if self.going_away:
            self.reset(event.stream_id, ErrorCode.H3_REQUEST_REJECTED)
            return None
        self.last_stream_id = max(self.last_stream_id, event.stream_id)
        if authority and not any(n == "host" for n, _ in headers):
            headers.append(("host", authority))
        return RequestReceived(event.stream_id, method, path, headers, "3")

    # -- output -------------------------------------------------------------------------

    def send_response(self, stream_id: int, status: int, headers: Iterable[tuple[str, str]], end: bool) -> None:
        """Queue a response head; `InvalidResponseHead` (nothing queued) when the status is not
        final or a field is malformed (RFC 9114 §4.2), `StreamClosed` when the stream is gone."""
        check_status(status)
        block = [(b":status", str(status).encode())]
        block += response_fields(headers, CONNECTION_FIELDS)
        if self.h3 is None:
            raise StreamClosed("HTTP/3 is not set up")
        try:
            self.h3.send_headers(stream_id, block, end_stream=end)
        except (H3Error, AssertionError, ValueError) as exc:
            raise StreamClosed(str(exc)) from None

    def send_trailers(self, stream_id: int, trailers: Iterable[tuple[str, str]]) -> None:
        """End the stream with a HEADERS frame of trailer fields (RFC 9114 §4.1), after the body's DATA."""
        if self.h3 is None:
            raise StreamClosed("HTTP/3 is not set up")
        block = response_fields(trailers, CONNECTION_FIELDS)
        try:
            self.h3.send_headers(stream_id, block, end_stream=True)
        except (H3Error, AssertionError, ValueError) as exc:
            raise StreamClosed(str(exc)) from None

    def send_data(self, stream_id: int, data: bytes, end: bool) -> None:
        if self.h3 is None:
            raise StreamClosed("HTTP/3 is not set up")
        try:
            self.h3.send_data(stream_id, data, end_stream=end)
        except (H3Error, AssertionError, ValueError) as exc:
            raise StreamClosed(str(exc)) from None

    def queued(self, stream_id: int) -> int:
        """Bytes of a stream's response not yet acknowledged by the client (for backpressure)."""
        stream = self.quic._streams.get(stream_id)
        if stream is None:
            return -1
        buffer = getattr(stream.sender, "_buffer", b"")
        return len(buffer)

    def drained(self) -> bool:
        """True when the client has acknowledged every byte sent on every stream."""
        return all(not getattr(stream.sender, "_buffer", b"") for stream in self.quic._streams.values())

    def reset(self, stream_id: int, code: int = ErrorCode.H3_REQUEST_CANCELLED) -> None:
        self._requests.discard(stream_id)
        try:
            self.quic.reset_stream(stream_id, code)
        except (AssertionError, ValueError):
            pass

    def goaway(self) -> None:
        """GOAWAY on the control stream (RFC 9114 §5.2): no new requests; those in flight finish."""
        if self.going_away or self.closed or self.h3 is None:
            return
        self.going_away = True
        control = getattr(self.h3, "_local_control_stream_id", None)
        if control is not None:
            next_id = self.last_stream_id + 4 if self.last_stream_id else 0
            self.quic.send_stream_data(control, encode_frame(FrameType.GOAWAY, encode_uint_var(next_id)))

    def close(self) -> None:
        if not self.closed:
            self.quic.close(error_code=ErrorCode.H3_NO_ERROR)


class QuicRouter:
    """Finds the connection of each datagram; makes connections for valid Initial packets."""

    def __init__(self, configuration: QuicConfiguration, settings: QuicSettings, *,
                 retry: bool = False, max_connections: int = 1000) -> None:
        self.configuration = configuration
        self.settings = settings
        self.connections: dict[bytes, H3Protocol] = {}
        self.count = 0
        self.max_connections = max_connections
        self._retry = QuicRetryTokenHandler() if retry else None
        self.dropped = 0

    def forget(self, proto: H3Protocol) -> None:
        removed = False
        for cid in list(proto.cids):
            if self.connections.pop(cid, None) is not None:
                removed = True
        proto.cids.clear()
        if removed:
            self.count -= 1

    def route(self, data: bytes, addr: Address, now: float) -> tuple[H3Protocol | None, bool, bytes | None]:
        """(connection, is it new, a datagram to answer with) for one received datagram."""
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=self.configuration.connection_id_length)
        except ValueError:
            self.dropped += 1
            return None, False, None
        known = self.connections.get(header.destination_cid)
        if known is not None:
            return known, False, None
        if header.version is not None and header.packet_type != QuicPacketType.VERSION_NEGOTIATION \
                and header.version not in self.configuration.supported_versions:
            reply = encode_quic_version_negotiation(source_cid=header.destination_cid,
                                                    destination_cid=header.source_cid,
                                                    supported_versions=self.configuration.supported_versions)
            return None, False, reply
        if header.packet_type != QuicPacketType.INITIAL or len(data) < SMALLEST_INITIAL:
            self.dropped += 1
            return None, False, None
        if self.count >= self.max_connections:
            self.dropped += 1
            return None, False, None
        original = header.destination_cid
        retry_source = None
        if self._retry is not None:
            assert header.version is not None  # an Initial packet has one
            if not header.token:
                source_cid = os.urandom(8)
                token = self._retry.create_token(address=addr, original_destination_connection_id=header.destination_cid,
                                                 retry_source_connection_id=source_cid, now=now)
                reply = encode_quic_retry(version=header.version, source_cid=source_cid,
                                          destination_cid=header.source_cid,
                                          original_destination_cid=header.destination_cid, retry_token=token)
                return None, False, reply
            try:
                original = self._retry.validate_token(address=addr, destination_cid=header.destination_cid,
                                                      token=header.token, now=now)
            except ValueError:
                self.dropped += 1
                return None, False, None
            retry_source = header.destination_cid
        quic = QuicConnection(configuration=self.configuration, original_destination_connection_id=original,
                              retry_source_connection_id=retry_source)
        proto = H3Protocol(quic, self, self.settings)
        self.count += 1
        for cid in (header.destination_cid, quic.host_cid):
            proto.cids.add(cid)
            self.connections[cid] = proto
        return proto, True, None


def _trailers(fields: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """A trailer section's fields as text; pseudo-fields have no place in it (RFC 9114 §4.3) and are left out."""
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in fields if not n.startswith(b":")]
