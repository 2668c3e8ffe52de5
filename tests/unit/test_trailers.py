"""Trailer sections at the protocol layer: a response's trailers framed by each core (HTTP/1.1 on llhttp and on
h11 after a chunked body and never after a Content-Length one, HTTP/2 and HTTP/3 as a last HEADERS frame), fields
a trailer section must not carry left out (RFC 9110 §6.5.1), and a request's trailers reported with its end.
Real clients read what the cores produce: h11's client for HTTP/1.1, h2's for HTTP/2, aioquic's for HTTP/3."""

from __future__ import annotations

from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h11
import pytest
from aioquic.h3.events import DataReceived as H3DataReceived
from aioquic.h3.events import HeadersReceived

from dynlan.http import H11Protocol, MessageComplete, RequestReceived
from dynlan.http._h1fast import FastH1Protocol
from dynlan.http._headers import trailer_fields
from tests.unit.test_response_framing import H3Pair, h2_pair

TRAILERS = [("X-Checksum", "abc"), ("content-length", "3"), ("host", "evil.test"), ("set-cookie", "s=1"),
            ("grpc-status", "0"), ("Proxy-Foo", "1"), (":status", "500")]
KEPT = [("x-checksum", "abc"), ("grpc-status", "0")]


def test_trailer_fields_leave_out_what_a_trailer_section_must_not_carry() -> None:
    assert [(n.lower(), v) for n, v in trailer_fields(TRAILERS)] == KEPT


def h1_response(core: type[H11Protocol | FastH1Protocol], request: bytes, head: list[tuple[str, str]],
                trailers: list[tuple[str, str]]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The bytes a core sends for a response with body b"abc", and the trailers h11's client reads in them."""
    proto = core()
    proto.receive_data(request)
    assert isinstance(proto.next_event(), RequestReceived)
    proto.next_event()
    out = proto.send_response(200, head) + proto.send_data(b"abc") + proto.send_end(trailers)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(out)
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert body == b"abc"
            return out, list(event.headers)
        elif event is h11.NEED_DATA:
            raise AssertionError(f"the response did not end: {out!r}")


@pytest.mark.parametrize("core", [H11Protocol, FastH1Protocol])
def test_h1_sends_trailers_after_a_chunked_body(core: type[H11Protocol | FastH1Protocol]) -> None:
    out, got = h1_response(core, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [("content-type", "text/plain")], TRAILERS)
    assert b"transfer-encoding: chunked" in out.lower()
    assert [(n.decode(), v.decode()) for n, v in got] == KEPT


@pytest.mark.parametrize("core", [H11Protocol, FastH1Protocol])
def test_h1_drops_trailers_when_the_body_has_a_length(core: type[H11Protocol | FastH1Protocol]) -> None:
    # RFC 9112 §7.1.2: only a chunked body has a trailer section.
    out, got = h1_response(core, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [("content-length", "3")], TRAILERS)
    assert got == [] and out.endswith(b"\r\n\r\nabc")


@pytest.mark.parametrize("core", [H11Protocol, FastH1Protocol])
def test_h1_request_trailers_come_with_the_end_of_the_body(core: type[H11Protocol | FastH1Protocol]) -> None:
    proto = core()
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
                       b"X-Sum: 9\r\n\r\n")
    events = []
    while not events or not isinstance(events[-1], MessageComplete):
        events.append(proto.next_event())
    assert isinstance(events[0], RequestReceived) and ("x-sum", "9") not in events[0].headers
    assert events[-1] == MessageComplete(1, (("x-sum", "9"),))


def test_h2_trailers_end_the_stream_after_the_data() -> None:
    server, client = h2_pair()
    server.send_response(1, 200, [("content-type", "text/plain")], end=False)
    server.send_data(1, b"abc", end=False)
    server.send_trailers(1, trailer_fields(TRAILERS))
    events = client.receive_data(server.data_to_send())
    kinds = [type(e) for e in events if not isinstance(e, h2.events.SettingsAcknowledged)]
    assert kinds == [h2.events.ResponseReceived, h2.events.DataReceived, h2.events.TrailersReceived,
                     h2.events.StreamEnded]
    trailers = next(e for e in events if isinstance(e, h2.events.TrailersReceived))
    assert trailers.headers == KEPT


class H3EventPair(H3Pair):
    """H3Pair that keeps every server-side event and every client-side HTTP/3 event."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.server_events: list[object] = []
        self.client_events: list[object] = []

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            self.now += 0.001
            for data, _ in self.quic.datagrams_to_send(self.now):
                moved = True
                proto, _new, _reply = self.router.route(data, self.CLIENT, self.now)
                if proto is not None:
                    self.server = proto
                    self.server_events += proto.receive_datagram(data, self.CLIENT, self.now)
            if self.server is not None:
                for data, _ in self.server.datagrams_to_send(self.now):
                    moved = True
                    self.quic.receive_datagram(data, self.SERVER, self.now)
            while (event := self.quic.next_event()) is not None:
                self.client_events += self.client.handle_event(event)
            if not moved:
                return


def test_h3_trailers_both_ways(tmp_path: Path) -> None:
    pair = H3EventPair(tmp_path)
    pair.pump()
    stream_id = pair.quic.get_next_available_stream_id()
    pair.client.send_headers(stream_id, [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"a"),
                                         (b":path", b"/a")])
    pair.client.send_data(stream_id, b"body", end_stream=False)
    pair.client.send_headers(stream_id, [(b"x-sum", b"4")], end_stream=True)
    pair.pump()
    ends = [e for e in pair.server_events if isinstance(e, MessageComplete)]
    assert ends == [MessageComplete(stream_id, (("x-sum", "4"),))]  # the request's end, with its trailers
    assert pair.server is not None
    pair.server.send_response(stream_id, 200, [("content-type", "text/plain")], end=False)
    pair.server.send_data(stream_id, b"abc", end=False)
    pair.server.send_trailers(stream_id, trailer_fields(TRAILERS))
    pair.pump()
    got = [e for e in pair.client_events if isinstance(e, HeadersReceived | H3DataReceived)]
    assert isinstance(got[0], HeadersReceived) and (b":status", b"200") in got[0].headers
    body = b"".join(e.data for e in got if isinstance(e, H3DataReceived))
    last = got[-1]
    assert body == b"abc" and isinstance(last, HeadersReceived) and last.stream_ended
    assert [(n.decode(), v.decode()) for n, v in last.headers] == KEPT
