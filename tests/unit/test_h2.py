"""The sans-I/O HTTP/2 layer (`H2Protocol`), driven by the `h2` library as a client.

Requests are fed whole, one byte at a time, and followed by the next request's
bytes; the abuse limits are checked without any socket or clock (time is passed in).
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from dynlan.http import DataReceived, MessageComplete, RequestReceived
from dynlan.http._h2proto import (
    ConnectionClosed,
    H2Data,
    H2Event,
    H2Protocol,
    RequestRejected,
    StreamReset,
    WindowOpened,
)

GET = [(":method", "GET"), (":path", "/a?b=1"), (":scheme", "https"), (":authority", "example.com")]


def client(**settings: int) -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    if settings:
        conn.local_settings = h2.settings.Settings(
            client=True, initial_values={getattr(h2.settings.SettingCodes, k): v for k, v in settings.items()})
    conn.initiate_connection()
    return conn


def pair(**kwargs: int) -> tuple[H2Protocol, h2.connection.H2Connection, list[H2Event]]:
    """A server and a client that have exchanged prefaces and SETTINGS."""
    server = H2Protocol(**kwargs)
    server.initiate()
    c = client()
    events = server.receive_data(c.data_to_send(), 0.0)
    c.receive_data(server.data_to_send())
    events += server.receive_data(c.data_to_send(), 0.0)
    return server, c, events


def feed(server: H2Protocol, c: h2.connection.H2Connection, now: float = 0.0) -> list[H2Event]:
    return server.receive_data(c.data_to_send(), now)


def answer(server: H2Protocol, c: h2.connection.H2Connection) -> list[h2.events.Event]:
    return list(c.receive_data(server.data_to_send()))


def frames(data: bytes) -> list[Frame]:
    out: list[Frame] = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        out.append(frame)
        data = data[9 + length :]
    return out


def request_bytes() -> tuple[bytes, bytes]:
    """(preface + SETTINGS + a POST with a body and trailers, the next request on stream 3)."""
    c = client()
    c.send_headers(1, [(":method", "POST"), (":path", "/up"), (":scheme", "http"), (":authority", "x")])
    c.send_data(1, b"hello ")
    c.send_data(1, b"world")
    c.send_headers(1, [("x-checksum", "abc")], end_stream=True)
    first = c.data_to_send()
    c.send_headers(3, GET, end_stream=True)
    return first, c.data_to_send()


def summary(events: list[H2Event]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    body = b""
    for e in events:
        if isinstance(e, RequestReceived):
            out.append(("request", (e.stream_id, e.method, e.target, dict(e.headers).get("host"))))
        elif isinstance(e, DataReceived):
            body += e.data
        elif isinstance(e, MessageComplete):
            out.append(("complete", (e.stream_id, body, e.trailers)))
            body = b""
    return out


EXPECTED = [
    ("request", (1, "POST", "/up", "x")),
    ("complete", (1, b"hello world", (("x-checksum", "abc"),))),
    ("request", (3, "GET", "/a?b=1", "example.com")),
    ("complete", (3, b"", ())),
]


@pytest.mark.parametrize("how", ["whole", "bytewise", "with-trailing-request"])
def test_request_with_body_and_trailers(how: str) -> None:
    first, second = request_bytes()
    server = H2Protocol()
    server.initiate()
    events: list[H2Event] = []
    if how == "whole":
        events += server.receive_data(first, 0.0)
        events += server.receive_data(second, 0.0)
    elif how == "bytewise":
        for i in range(len(first + second)):
            events += server.receive_data((first + second)[i : i + 1], 0.0)
    else:
        events += server.receive_data(first + second, 0.0)
    assert summary(events) == EXPECTED


def test_response_drops_connection_specific_headers() -> None:
    # RFC 9113 §8.2.2: such fields make the response malformed; the client would reject it.
    server, c, _ = pair()
    c.send_headers(1, GET, end_stream=True)
    feed(server, c)
    server.send_response(1, 200, [("connection", "close"), ("transfer-encoding", "chunked"), ("keep-alive", "5"),
                                  ("upgrade", "h2c"), ("content-type", "text/plain")], end=False)
    server.send_data(1, b"ok", end=True)
    events = answer(server, c)
    (response,) = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert dict(response.headers) == {":status": "200", "content-type": "text/plain"}
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)


def test_body_is_credited_only_when_consumed() -> None:
    server, c, _ = pair(initial_window_size=1000)
    c.send_headers(1, [(":method", "POST"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
    c.send_data(1, b"x" * 1000)
    events = feed(server, c)
    (data,) = [e for e in events if isinstance(e, H2Data)]
    answer(server, c)
    assert c.local_flow_control_window(1) == 0  # nothing credited yet: the client must wait
    server.consumed(1, data.flow_length)
    answer(server, c)
    assert c.local_flow_control_window(1) > 0


def test_send_window_and_window_opened() -> None:
    server = H2Protocol()
    server.initiate()
    c = client(INITIAL_WINDOW_SIZE=10)
    c.send_headers(1, GET, end_stream=True)
    feed(server, c)
    assert server.send_window(1) == 10
    server.send_response(1, 200, [], end=False)
    server.send_data(1, b"0123456789", end=False)
    assert server.send_window(1) == 0
    answer(server, c)
    c.increment_flow_control_window(5, stream_id=1)
    assert WindowOpened(1) in feed(server, c)
    assert server.send_window(1) == 5


def test_streams_beyond_the_limit_are_refused_one_by_one() -> None:
    server, c, _ = pair(max_concurrent_streams=2)
    # The client ignores the SETTINGS it was sent: a third and fourth stream at once.
    c.remote_settings = h2.settings.Settings(client=False, initial_values={
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    for stream_id in (1, 3, 5, 7):
        c.send_headers(stream_id, GET, end_stream=True)
    events = feed(server, c)
    assert [e.stream_id for e in events if isinstance(e, RequestReceived)] == [1, 3]
    resets = {e.stream_id: e.error_code for e in answer(server, c) if isinstance(e, h2.events.StreamReset)}
    assert resets == {5: h2.errors.ErrorCodes.REFUSED_STREAM, 7: h2.errors.ErrorCodes.REFUSED_STREAM}
    # Once a stream is done, a new one is served again.
    server.send_response(1, 204, [], end=True)
    answer(server, c)
    c.send_headers(9, GET, end_stream=True)
    assert [e.stream_id for e in feed(server, c) if isinstance(e, RequestReceived)] == [9]


def test_too_large_header_list_gets_431_on_its_stream() -> None:
    server, c, _ = pair(max_header_list_size=1000)
    c.send_headers(1, [*GET, ("cookie", "c" * 2000)], end_stream=True)
    c.send_headers(3, GET, end_stream=True)
    events = feed(server, c)
    assert RequestRejected(1, 431, "request header fields too large", "GET", "/a?b=1") in events
    assert [e.stream_id for e in events if isinstance(e, RequestReceived)] == [3]


def test_hpack_bomb_ends_the_connection() -> None:
    # One 900-byte field indexed once, then referenced by one byte each: 100 bytes
    # on the wire decode to about 100 KiB.
    server, c, _ = pair(max_header_list_size=4096)
    big = ("x-bomb", "b" * 900)
    c.send_headers(1, [*GET, big], end_stream=True)
    feed(server, c)
    c.send_headers(3, [*GET] + [big] * 100, end_stream=True)
    events = feed(server, c)
    (closed,) = events
    assert isinstance(closed, ConnectionClosed) and closed.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert server.closed


def test_continuation_flood_is_cut_by_bytes() -> None:
    # CVE-2024-27316: a header block that never ends is refused long before
    # h2's own cap of 64 frames.
    server, c, _ = pair(max_header_list_size=4096)
    first = HeadersFrame(1)
    first.data = c.encoder.encode(GET)
    events = server.receive_data(first.serialize(), 0.0)
    for _ in range(5):
        frame = ContinuationFrame(1)
        frame.data = b"\x00" * 16000
        events += server.receive_data(frame.serialize(), 0.0)
        if server.closed:
            break
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    goaway = [f for f in frames(server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def test_rapid_reset_ends_the_connection() -> None:
    # CVE-2023-44487: streams opened and cancelled at once, in bulk.
    server, c, _ = pair()
    closed: list[ConnectionClosed] = []
    for i in range(400):
        c.send_headers(1 + 2 * i, GET, end_stream=True)
        c.reset_stream(1 + 2 * i)
        events = feed(server, c, now=0.001 * i)
        closed += [e for e in events if isinstance(e, ConnectionClosed)]
        assert all(isinstance(e, RequestReceived | MessageComplete | StreamReset | ConnectionClosed) for e in events)
        if closed:
            break
    assert closed and closed[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def test_resets_the_server_is_made_to_send_count_too() -> None:
    # MadeYouReset (CVE-2025-8671): DATA after END_STREAM makes h2 reset the stream
    # (STREAM_CLOSED) for the client; in bulk that is rapid reset by other means.
    server, c, _ = pair()
    c.remote_settings = h2.settings.Settings(client=False, initial_values={
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 10000})
    closed: list[ConnectionClosed] = []
    for i in range(400):
        c.send_headers(1 + 2 * i, GET, end_stream=True)
        late = DataFrame(1 + 2 * i)
        late.data = b"x"
        events = server.receive_data(c.data_to_send() + late.serialize(), 0.001 * i)
        closed += [e for e in events if isinstance(e, ConnectionClosed)]
        if closed:
            break
    assert closed and closed[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def test_resets_at_a_browser_pace_are_fine() -> None:
    server, c, _ = pair()
    for i in range(1000):
        c.send_headers(1 + 2 * i, GET, end_stream=True)
        c.reset_stream(1 + 2 * i)
        events = feed(server, c, now=0.1 * i)  # ten a second, for 100 seconds
        assert not any(isinstance(e, ConnectionClosed) for e in events)


def test_priority_inside_headers_is_not_a_control_frame() -> None:
    # Browsers put priority in every HEADERS frame: a thousand requests in a
    # second must not look like a PRIORITY flood.
    server, c, _ = pair()
    for i in range(1000):
        c.send_headers(1 + 2 * i, GET, end_stream=True, priority_weight=200, priority_depends_on=0)
        events = feed(server, c, now=0.001 * i)
        assert [e.stream_id for e in events if isinstance(e, RequestReceived)] == [1 + 2 * i]
        server.send_response(1 + 2 * i, 204, [], end=True)
        answer(server, c)
    assert not server.closed


@pytest.mark.parametrize("kind", ["ping", "settings", "priority"])
def test_control_frame_flood(kind: str) -> None:
    server, c, _ = pair()
    data = b""
    for i in range(2000):
        if kind == "ping":
            frame: Frame = PingFrame(0)
            frame.opaque_data = i.to_bytes(8, "big")
        elif kind == "priority":
            frame = PriorityFrame(1 + 2 * i)  # for idle streams: work for nothing
            frame.depends_on, frame.stream_weight = 0, 16
        else:
            frame = SettingsFrame(0)
            frame.settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100}
        data += frame.serialize()
    events = server.receive_data(data, 0.0)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def test_ping_is_answered() -> None:
    server, c, _ = pair()
    c.ping(b"12345678")
    feed(server, c)
    acks = [e for e in answer(server, c) if isinstance(e, h2.events.PingAckReceived)]
    assert acks and acks[0].ping_data == b"12345678"


def test_goaway_announces_the_last_stream_and_refuses_new_ones() -> None:
    server, c, _ = pair()
    c.send_headers(1, GET, end_stream=True)
    c.send_headers(3, GET, end_stream=True)
    feed(server, c)
    server.goaway()
    (goaway,) = [f for f in frames(server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert (goaway.last_stream_id, goaway.error_code) == (3, 0)
    # Streams in flight still finish after the GOAWAY.
    server.send_response(3, 200, [], end=True)
    assert any(isinstance(f, HeadersFrame) and f.stream_id == 3 for f in frames(server.data_to_send()))
    c.send_headers(5, GET, end_stream=True)
    assert not [e for e in feed(server, c) if isinstance(e, RequestReceived)]


def test_upgrade_makes_the_request_stream_1() -> None:
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings = c.initiate_upgrade_connection()
    assert settings is not None
    server = H2Protocol()
    server.initiate(settings)
    assert server.last_stream_id == 1 and server.stream_open(1)
    server.send_response(1, 200, [("content-length", "0")], end=True)
    events = c.receive_data(server.data_to_send())
    assert any(isinstance(e, h2.events.ResponseReceived) and e.stream_id == 1 for e in events)


def test_a_discarded_body_credits_the_connection_but_not_the_stream() -> None:
    server, c, _ = pair(initial_window_size=1000)
    c.send_headers(1, [(":method", "POST"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
    c.send_data(1, b"x" * 600)
    (data,) = [e for e in feed(server, c) if isinstance(e, H2Data)]
    connection_window = c.outbound_flow_control_window
    server.discarded(1, data.flow_length)
    answer(server, c)
    assert server.receive_window(1) == 400  # the client may send one window, no more
    assert c.local_flow_control_window(1) == 400
    assert c.outbound_flow_control_window == connection_window + 600
    server.reset(1)
    assert server.receive_window(1) is None


@pytest.mark.parametrize("how", ["whole", "bytewise"])
def test_window_update_past_the_maximum_on_an_ended_stream_is_reset(how: str) -> None:
    # RFC 9113 §6.9.1: the stream's window would pass 2^31-1; h2 drops WINDOW_UPDATE once a stream is
    # closed, so the server answers it itself.
    server, c, _ = pair()
    c.send_headers(1, GET, end_stream=True)
    c.send_headers(3, GET, end_stream=True)
    feed(server, c)
    for stream_id in (1, 3):
        server.send_response(stream_id, 200, [], end=False)
        server.send_data(stream_id, b"done", end=True)
    answer(server, c)
    # Stream 1's window stays below the maximum (no error); stream 3's passes it.
    data = window_update(1, 1000) + window_update(3, 2**31 - 1) + window_update(3, 2**31 - 1)
    if how == "whole":
        events = server.receive_data(data, 0.0)
    else:
        events = [e for i in range(len(data)) for e in server.receive_data(data[i : i + 1], 0.0)]
    assert not any(isinstance(e, ConnectionClosed) for e in events)
    resets = [f for f in frames(server.data_to_send()) if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [(3, h2.errors.ErrorCodes.FLOW_CONTROL_ERROR)]


def window_update(stream_id: int, increment: int) -> bytes:
    frame = WindowUpdateFrame(stream_id)
    frame.window_increment = increment
    return bytes(frame.serialize())
