"""HTTP/2 (RFC 9113), sans-I/O: the `h2` library's state machine, our events, and abuse limits.

Bytes go in with the current time, events and bytes come out; nothing here
reads a clock or touches a socket. Besides what `h2` enforces (frame sizes,
header list size through HPACK, CONTINUATION backlog), this layer counts what
a well-behaved client does rarely and an attacker does in bulk, and ends the
connection with ENHANCE_YOUR_CALM (RFC 9113 §7) when a budget runs out:

- rapid reset (CVE-2023-44487): streams opened and reset by the client at once;
- control-frame floods (SETTINGS, PING, PRIORITY, unknown frame types): each
  makes the server queue an answer or do work for nothing;
- CONTINUATION floods (CVE-2024-27316): a header block still being received is
  capped in bytes (`h2` caps it at 64 frames, up to 1 MiB each with large frames);
- HPACK bombs: a decoded header list past four times `max_header_list_size`
  ends the connection; one past the limit itself gets 431 on its stream;
- streams beyond MAX_CONCURRENT_STREAMS are refused one by one (REFUSED_STREAM,
  RFC 9113 §5.1.2), and count against the reset budget, as do resets the server
  makes because of a client's bad frames (MadeYouReset, CVE-2025-8671);
- frames on closed streams: each DATA, HEADERS or CONTINUATION frame on a stream
  already closed makes `h2` answer RST_STREAM STREAM_CLOSED (RFC 9113 §5.1), so
  a client sending them in bulk would have the server write resets without end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
import hyperframe.frame

from dynlan.http._events import DataReceived, MessageComplete, RequestReceived, split_pseudo_headers
from dynlan.http._headers import check_status, response_fields
from dynlan.http._streams import CONNECTION_FIELDS as CONNECTION_FIELDS
from dynlan.http._streams import PREFACE as PREFACE
from dynlan.http._streams import ConnectionClosed as ConnectionClosed
from dynlan.http._streams import StreamClosed as StreamClosed
from dynlan.http._streams import StreamReset as StreamReset


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """A request refused before it reaches the app; the stream gets `status` and nothing else."""

    stream_id: int
    status: int
    reason: str
    method: str
    target: str


@dataclass(frozen=True, slots=True)
class WindowOpened:
    """Flow-control credit arrived (stream 0: the whole connection)."""

    stream_id: int


H2Event = (
    RequestReceived | RequestRejected | DataReceived | MessageComplete | StreamReset | WindowOpened | ConnectionClosed
)


MAX_WINDOW = 2**31 - 1
"""The largest flow-control window (RFC 9113 §6.9.1)."""
RECENTLY_CLOSED = 256
"""Streams ended in full whose send windows are kept, to answer a WINDOW_UPDATE past the maximum."""
_ON_STREAM = frozenset({0x0, 0x1, 0x9})
"""DATA, HEADERS and CONTINUATION: the frames `h2` answers with RST_STREAM when their stream is closed."""


class _WindowUpdates:
    """Frame boundaries in what the client sends, to find its WINDOW_UPDATE frames.

    h2 drops a WINDOW_UPDATE on a closed stream (RFC 9113 §6.9: it may be in flight, no
    error); but one that takes the window of a stream just ended past 2^31-1 is the
    client's FLOW_CONTROL_ERROR (§6.9.1) whether or not the response has gone out.
    """

    __slots__ = ("_preface", "_part", "_skip", "_update", "streams")

    def __init__(self) -> None:
        self._preface = len(PREFACE)
        self._part = b""
        self._skip = 0
        self._update = 0
        """The stream whose WINDOW_UPDATE payload is being read (0: none)."""
        self.streams: list[int] = []
        """The stream of every DATA, HEADERS and CONTINUATION frame begun in the last `feed`."""

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """(stream id, increment) of every WINDOW_UPDATE on a stream completed in `data`."""
        found: list[tuple[int, int]] = []
        self.streams = streams = []
        pos, end = 0, len(data)
        while pos < end:
            if self._preface or self._skip:
                n = min(self._preface or self._skip, end - pos)
                if self._preface:
                    self._preface -= n
                else:
                    self._skip -= n
                pos += n
                continue
            want = (4 if self._update else 9) - len(self._part)
            self._part += data[pos : pos + want]
            pos += min(want, end - pos)
            if self._update and len(self._part) == 4:
                found.append((self._update, int.from_bytes(self._part, "big") & MAX_WINDOW))
                self._update, self._part = 0, b""
            elif not self._update and len(self._part) == 9:
                head, self._part = self._part, b""
                length, stream_id = int.from_bytes(head[:3], "big"), int.from_bytes(head[5:], "big") & MAX_WINDOW
                if head[3] == 0x8 and length == 4 and stream_id:
                    self._update = stream_id
                else:
                    self._skip = length
                    if head[3] in _ON_STREAM:
                        streams.append(stream_id)
        return found


class _Budget:
    """A token bucket: `burst` events at once, refilled at `rate` per second."""

    __slots__ = ("burst", "rate", "tokens", "stamp")

    def __init__(self, burst: float, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.stamp = 0.0

    def spend(self, now: float, n: float = 1.0) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        return self.tokens >= 0


class H2Protocol:
    """The server side of one HTTP/2 connection."""

    def __init__(
        self,
        *,
        max_concurrent_streams: int = 100,
        initial_window_size: int = 65535,
        max_header_list_size: int = 65536,
        max_frame_size: int = 16384,
        connection_window: int = 16 * 1024 * 1024,
    ) -> None:
        # Outbound fields are checked (tokens, no control characters) and lower-cased by
        # `response_fields` in send_response, so h2 need not validate and normalise them again.
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_inbound_headers=True,
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )
        self._conn = h2.connection.H2Connection(config=config)
        self._conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list_size,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: max_frame_size,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                # RFC 8441 §3: extended CONNECT, for WebSockets over HTTP/2.
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            },
        )
        self._conn.max_inbound_frame_size = max_frame_size
        # HPACK bomb: decoding stops past this many bytes of header list (RFC 7541 §4.1 sizes).
        self._conn.decoder.max_header_list_size = 4 * max_header_list_size
        self._max_header_block = 4 * max_header_list_size
        self.max_header_list_size = max_header_list_size
        self.max_concurrent_streams = max_concurrent_streams
        self._active: set[int] = set()
        self._connection_window = connection_window
        self.closed = False
        self.going_away = False
        self.last_stream_id = 0
        self.queued = 0
        """Body bytes queued since the last `data_to_send()` (the writer's backlog)."""
        self._extra = b""
        # Budgets per connection; a browser stays far below them.
        self._resets = _Budget(burst=200, rate=50)
        self._control = _Budget(burst=500, rate=100)
        # A client's frames in flight when a stream closes (at most a stream window of DATA) cost a few each.
        self._late_frames = _Budget(burst=1000, rate=250)
        self._updates = _WindowUpdates()
        self._ended: dict[int, int] = {}
        """Send windows of the streams most recently ended in full (see `_WindowUpdates`)."""

    # -- set-up --------------------------------------------------------------------

    def initiate(self, upgrade_settings: bytes | None = None) -> None:
        """Our SETTINGS (and, after `Upgrade: h2c`, stream 1 half-closed by the client)."""
        if upgrade_settings is not None:
            self._conn.initiate_upgrade_connection(upgrade_settings)
            self.last_stream_id = 1
        else:
            self._conn.initiate_connection()
        # Our SETTINGS frame, with MAX_CONCURRENT_STREAMS, is queued. From now on `h2`
        # lets twice as many streams open: `_request` refuses the excess itself, stream
        # by stream, and `h2` still ends a connection that opens that many in one read.
        values = {h2.settings.SettingCodes(code): self._conn.local_settings[code] for code in self._conn.local_settings}
        values[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 2 * self.max_concurrent_streams
        self._conn.local_settings = h2.settings.Settings(client=False, initial_values=values)
        # Open the connection window well beyond 64 KiB: per-stream windows do the limiting.
        extra = self._connection_window - 65535
        if extra > 0:
            self._conn.increment_flow_control_window(extra)

    # -- input ---------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[H2Event]:
        if self.closed:
            return []
        updates = self._updates.feed(data)
        ended = [(sid, inc) for sid, inc in updates if sid in self._ended] if updates else []
        try:
            raw = self._conn.receive_data(data)
        except h2.exceptions.DenialOfServiceError as exc:
            return self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, f"header list too large: {exc}")
        except h2.exceptions.TooManyStreamsError:
            return self._close(h2.errors.ErrorCodes.PROTOCOL_ERROR, "too many streams")
        except h2.exceptions.FlowControlError as exc:
            return self._close(h2.errors.ErrorCodes.FLOW_CONTROL_ERROR, str(exc))
        except h2.exceptions.FrameTooLargeError as exc:
            return self._close(h2.errors.ErrorCodes.FRAME_SIZE_ERROR, str(exc))
        except h2.exceptions.ProtocolError as exc:
            return self._close(h2.errors.ErrorCodes.PROTOCOL_ERROR, str(exc))
        pending = getattr(self._conn.incoming_buffer, "_headers_buffer", None)
        if pending and sum(len(frame.data) for frame in pending) > self._max_header_block:
            # CONTINUATION flood (CVE-2024-27316): a header block that keeps growing.
            return self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "header block too large")
        out: list[H2Event] = []
        # END_STREAM arrives as its own StreamEnded event, after the request, data or
        # trailers it ended (which carry it too): one MessageComplete per stream.
        trailers: dict[int, tuple[tuple[str, str], ...]] = {}
        in_headers: set[int] = set()
        for event in raw:
            if isinstance(event, h2.events.RequestReceived):
                if event.priority_updated is not None:
                    # Priority carried in the HEADERS frame itself (browsers send it on
                    # every request) is no control frame: h2 reports it twice, skip it.
                    in_headers.add(id(event.priority_updated))
                request = self._request(event)
                if request is None:
                    if not self._resets.spend(now):
                        return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "too many refused streams")
                    continue
                out.append(request)
            elif isinstance(event, h2.events.DataReceived):
                if event.data:
                    out.append(_H2Data(event.stream_id, event.data, event.flow_controlled_length))
                elif event.flow_controlled_length:
                    self._ack(event.stream_id, event.flow_controlled_length)  # padding only
            elif isinstance(event, h2.events.StreamEnded):
                out.append(MessageComplete(event.stream_id, trailers.pop(event.stream_id, ())))
                self._note_ended(event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                # RFC 9113 §8.1: trailers end the stream; h2 refuses them otherwise.
                trailers[event.stream_id] = tuple(_decode(event.headers))
            elif isinstance(event, h2.events.StreamReset):
                # Rapid reset (CVE-2023-44487) when the client resets; MadeYouReset
                # (CVE-2025-8671) when its bad frames make h2 reset the stream for it.
                if not self._resets.spend(now):
                    return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "too many stream resets")
                out.append(StreamReset(event.stream_id, int(event.error_code or 0)))
            elif isinstance(event, h2.events.WindowUpdated):
                out.append(WindowOpened(event.stream_id))
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                if not self._control.spend(now):
                    return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "SETTINGS flood")
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                    out.append(WindowOpened(0))
            elif isinstance(event, h2.events.PingReceived | h2.events.PriorityUpdated | h2.events.UnknownFrameReceived):
                if id(event) not in in_headers and not self._control.spend(now):
                    return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "control frame flood")
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.closed = True
                out.append(ConnectionClosed(int(event.error_code or 0), "the client sent GOAWAY"))
        if self._updates.streams and not self._late_frames.spend(now, self._on_closed(self._updates.streams)):
            # The resets h2 queued for this read go unsent: the flood gets no answer past the budget.
            self._conn.clear_outbound_data_buffer()
            return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "too many frames on closed streams")
        for stream_id, increment in ended:
            window = self._ended.get(stream_id)
            if window is None:
                continue
            if window + increment <= MAX_WINDOW:
                self._ended[stream_id] = window + increment
                continue
            # RFC 9113 §6.9.1: RST_STREAM FLOW_CONTROL_ERROR, as h2 sends while the stream is open.
            # A reset the client's frames make the server send counts like one it sends itself.
            del self._ended[stream_id]
            if not self._resets.spend(now):
                return out + self._close(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "too many stream resets")
            frame = hyperframe.frame.RstStreamFrame(stream_id)
            frame.error_code = h2.errors.ErrorCodes.FLOW_CONTROL_ERROR
            self._extra += frame.serialize()
        return out

    def _on_closed(self, stream_ids: list[int]) -> int:
        """How many of these frames' streams are closed now: each frame after the close got a RST_STREAM.

        Frames a stream received before a reset in the same read count too (a few for a real client).
        """
        streams, highest = self._conn.streams, self._conn.highest_inbound_stream_id
        count = 0
        for stream_id in stream_ids:
            stream = streams.get(stream_id)
            # h2 forgets closed streams (they leave `streams`); ids at or below the highest were opened.
            if stream.closed if stream is not None else stream_id <= highest:
                count += 1
        return count

    def _note_ended(self, stream_id: int) -> None:
        """Keep the send window of a stream both sides have ended (see `_WindowUpdates`)."""
        stream = self._conn.streams.get(stream_id)
        if stream is None or not stream.closed or stream.closed_by not in _ENDED:
            return
        self._ended[stream_id] = stream.outbound_flow_control_window
        if len(self._ended) > RECENTLY_CLOSED:
            del self._ended[next(iter(self._ended))]

    def _request(self, event: h2.events.RequestReceived) -> RequestReceived | RequestRejected | None:
        """Our event for a request head; None when the stream was reset instead."""
        fields = split_pseudo_headers(event.headers or ())
        method, path, authority, headers, size = (
            fields.method, fields.path, fields.authority, fields.headers, fields.size)
        if self.going_away:
            # After our GOAWAY only streams it announced are served (RFC 9113 §6.8).
            self.reset(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return None
        active = self._active
        if len(active) >= self.max_concurrent_streams:
            active = self._active = {s for s in active if self.stream_open(s)}
            if len(active) >= self.max_concurrent_streams:
                # RFC 9113 §5.1.2: past our advertised limit; REFUSED_STREAM tells the
                # client the request was not processed and may be retried (§8.7).
                self.reset(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return None
        active.add(event.stream_id)
        self.last_stream_id = max(self.last_stream_id, event.stream_id)
        if size > self.max_header_list_size:
            # RFC 9113 §10.5.1: a header list over our limit may get 431 on its stream.
            return RequestRejected(event.stream_id, 431, "request header fields too large", method, path)
        if authority and not any(n == "host" for n, _ in headers):
            # RFC 9113 §8.3.1: :authority stands in for Host.
            headers.append(("host", authority))
        if method == "CONNECT":
            protocol = next((v for n, v in _decode(event.headers or ()) if n == ":protocol"), "")
            if protocol.lower() != "websocket" or not path:
                self.reset(event.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
                return None
            # RFC 8441 §4: an extended CONNECT opens a WebSocket on the stream. It reaches the app as the GET
            # that asks for one over HTTP/1.1: `upgrade` is a field no HTTP/2 client can send (RFC 9113 §8.2.2).
            method = "GET"
            headers.append(("upgrade", "websocket"))
        elif not path:
            self.reset(event.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return None
        return RequestReceived(event.stream_id, method, path, headers, "2")

    def _close(self, code: int, reason: str) -> list[H2Event]:
        if not self.closed:
            self.closed = True
            if self._conn.state_machine.state is h2.connection.ConnectionState.CLOSED:
                # h2 sent its GOAWAY already (for the error it raised).
                return [ConnectionClosed(int(code), reason)]
            try:
                self._conn.close_connection(error_code=code, last_stream_id=self.last_stream_id)
            except h2.exceptions.ProtocolError:
                pass
        return [ConnectionClosed(int(code), reason)]

    # -- flow control -----------------------------------------------------------------

    def _ack(self, stream_id: int, length: int) -> None:
        try:
            self._conn.acknowledge_received_data(length, stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass

    def consumed(self, stream_id: int, length: int) -> None:
        """The app read `length` flow-controlled bytes of a stream: the client may send more."""
        if length and not self.closed:
            self._ack(stream_id, length)

    def discarded(self, stream_id: int, length: int) -> None:
        """`length` flow-controlled bytes of a stream arrived that nobody will read (its
        response is complete): the connection's window is credited, the stream's is not,
        so such a stream draws at most one window from the client (RFC 9113 §6.9)."""
        if length and not self.closed:
            try:
                self._conn.increment_flow_control_window(length)
            except h2.exceptions.ProtocolError:
                pass

    def receive_window(self, stream_id: int) -> int | None:
        """Bytes of body the client may still send on a stream; None once the stream is closed."""
        stream = self._conn.streams.get(stream_id)
        if stream is None or stream.closed:
            return None
        return int(stream.inbound_flow_control_window)

    def send_window(self, stream_id: int) -> int | None:
        """Bytes of body that may be sent on a stream now; None once the stream is closed.

        The window may be below zero: a SETTINGS_INITIAL_WINDOW_SIZE that shrinks
        makes it so (RFC 9113 §6.9.2), and the sender waits as for zero.
        """
        try:
            window = self._conn.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            return None
        return min(window, self._conn.max_outbound_frame_size * 4)

    # -- output ---------------------------------------------------------------------

    def send_response(self, stream_id: int, status: int, headers: Iterable[tuple[str, str]], end: bool) -> None:
        """Queue a response head; `InvalidResponseHead` (nothing queued) when the status is not
        final or a field is malformed, `StreamClosed` when the stream is gone."""
        check_status(status)
        block = [(b":status", str(status).encode())]
        block += response_fields(headers, CONNECTION_FIELDS)
        try:
            self._conn.send_headers(stream_id, block, end_stream=end)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError, KeyError) as exc:
            raise StreamClosed(str(exc)) from None
        if end:
            self._note_ended(stream_id)

    def send_data(self, stream_id: int, data: bytes, end: bool) -> None:
        """Queue body bytes; the caller keeps within `send_window` (larger bodies go out in pieces)."""
        frame = self._conn.max_outbound_frame_size
        self.queued += len(data)
        try:
            if len(data) <= frame:
                self._conn.send_data(stream_id, data, end_stream=end)
            else:
                view = memoryview(data)
                for start in range(0, len(data), frame):
                    piece = view[start : start + frame]
                    self._conn.send_data(stream_id, piece.tobytes(), end_stream=end and start + frame >= len(data))
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError, KeyError) as exc:
            raise StreamClosed(str(exc)) from None
        if end:
            self._note_ended(stream_id)

    def send_trailers(self, stream_id: int, trailers: Iterable[tuple[str, str]]) -> None:
        """End the stream with a HEADERS frame of trailer fields (RFC 9113 §8.1), after the body's DATA."""
        block = response_fields(trailers, CONNECTION_FIELDS)
        try:
            self._conn.send_headers(stream_id, block, end_stream=True)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError, KeyError) as exc:
            raise StreamClosed(str(exc)) from None
        self._note_ended(stream_id)

    def end_stream(self, stream_id: int) -> None:
        try:
            self._conn.end_stream(stream_id)
        except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError, KeyError) as exc:
            raise StreamClosed(str(exc)) from None
        self._note_ended(stream_id)

    def reset(self, stream_id: int, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        try:
            self._conn.reset_stream(stream_id, error_code=code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass

    def stream_open(self, stream_id: int) -> bool:
        stream = self._conn.streams.get(stream_id)
        return stream is not None and not stream.closed

    def goaway(self) -> None:
        """GOAWAY with the last stream id we will answer (RFC 9113 §6.8): graceful shutdown.

        The frame is written here rather than through `h2`, whose connection
        state would then refuse the frames that finish the streams in flight.
        """
        if not self.closed and not self.going_away:
            self.going_away = True
            frame = hyperframe.frame.GoAwayFrame(0)
            frame.last_stream_id = self.last_stream_id
            frame.error_code = h2.errors.ErrorCodes.NO_ERROR
            self._extra += frame.serialize()

    def data_to_send(self) -> bytes:
        self.queued = 0
        data = self._conn.data_to_send()
        if self._extra:
            data, self._extra = data + self._extra, b""
        return data


@dataclass(frozen=True, slots=True)
class _H2Data(DataReceived):
    """Body bytes with their flow-controlled length (padding counts against the window)."""

    flow_length: int = 0


H2Data = _H2Data

_ENDED = (h2.stream.StreamClosedBy.SEND_END_STREAM, h2.stream.StreamClosedBy.RECV_END_STREAM)


def _decode(headers: Iterable[tuple[bytes | str, bytes | str]]) -> list[tuple[str, str]]:
    return [
        (n.decode("latin-1") if isinstance(n, bytes) else n, v.decode("latin-1") if isinstance(v, bytes) else v)
        for n, v in headers
    ]
