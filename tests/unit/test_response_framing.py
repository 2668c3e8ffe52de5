"""Response framing at the protocol layer: no core sends a head that breaks the message framing.

The page API refuses bad statuses and fields first; this is the second line. Each core
(HTTP/1.1 on llhttp and on h11, HTTP/2 on h2, HTTP/3 on aioquic) must refuse a 1xx as a
final status, a field name that is not a token and a value with a control character
(response splitting: RFC 9110 §5.5, §5.6.2, §15.2), with `InvalidResponseHead`, before it
sends or queues anything, so that the same exchange can still be answered 500. Real
clients read what the cores produce: h2's client for HTTP/2, aioquic's for HTTP/3.
"""

from __future__ import annotations

import io
import ssl
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
import trio
import trio.testing
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from dynlan.config import HttpConfig
from dynlan.http import Exchange, H11Protocol, RequestReceived
from dynlan.http._h1fast import FastH1Protocol
from dynlan.http._h2proto import H2Protocol
from dynlan.http._h3proto import H3Protocol, QuicRouter, QuicSettings, make_configuration
from dynlan.http._headers import FIELD_VALUES, InvalidResponseHead
from dynlan.server._access import AccessLog
from dynlan.server._h2connection import H2Connection
from dynlan.server._state import ServerState
from dynlan.server._tls import development_certificate

BAD_STATUSES = [100, 101, 103, 199, 0, 600, 999]

BAD_NAMES = [
    "x-a\r\nset-cookie",  # response splitting through the name
    "x-a\nx-b",
    "x a",
    "x-a:",
    "",
    "x-\x00",
    "caf\xe9",
    "(x)",
]

BAD_VALUES = [
    "a\r\nset-cookie: session=attacker",  # response splitting through the value
    "a\rb",
    "a\nb",
    "a\x00b",
    "a\x01b",
    "\x1b[31m",
    "a\x7fb",
    "a\u20acb",  # outside ISO-8859-1: no byte to send it as
    "a\u2028b",
]

GOOD_VALUES = ["a\tb", "caf\xe9", "", "x" * 300, "no-store, max-age=0"]

FRAMING_CASES = (
    [pytest.param(s, [("content-type", "text/plain")], id=f"status-{s}") for s in BAD_STATUSES]
    + [pytest.param(200, [(n, "1")], id=f"name-{n!r}") for n in BAD_NAMES]
    + [pytest.param(200, [("x-v", v)], id=f"value-{v!r}") for v in BAD_VALUES]
)

GET = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"


# -- HTTP/1.1 ---------------------------------------------------------------------------------


@pytest.fixture(params=[H11Protocol, FastH1Protocol], ids=["h11", "llhttp"])
def h1(request: pytest.FixtureRequest) -> H11Protocol | FastH1Protocol:
    proto: H11Protocol | FastH1Protocol = request.param()
    proto.receive_data(GET)
    assert isinstance(proto.next_event(), RequestReceived)
    proto.next_event()
    return proto


def answer_500(proto: H11Protocol | FastH1Protocol) -> bytes:
    out = proto.send_response(500, [("content-type", "text/plain"), ("content-length", "4")])
    out += proto.send_data(b"oops") + proto.send_end()
    return out


@pytest.mark.parametrize(("status", "headers"), FRAMING_CASES)
def test_h1_refuses_a_head_that_breaks_framing(h1: H11Protocol | FastH1Protocol, status: int,
                                                headers: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidResponseHead):
        h1.send_response(status, headers)
    # Nothing went out and no state changed: the same request gets a 500, and the
    # connection stays in step for the next one.
    assert h1.can_send_response and not h1.response_started
    out = answer_500(h1)
    assert out.startswith(b"HTTP/1.1 500 ")
    assert out.count(b"\r\n\r\n") == 1 and out.endswith(b"\r\n\r\noops")
    assert h1.start_next_cycle()


@pytest.mark.parametrize("value", ["-1", "1_0", "+5", "abc", "\u0663"])
def test_h1_refuses_a_content_length_that_is_not_a_number(h1: H11Protocol | FastH1Protocol, value: str) -> None:
    with pytest.raises(InvalidResponseHead):
        h1.send_response(200, [("content-length", value)])
    assert answer_500(h1).startswith(b"HTTP/1.1 500 ")


@pytest.mark.parametrize("value", GOOD_VALUES)
def test_h1_sends_valid_values_as_latin1(h1: H11Protocol | FastH1Protocol, value: str) -> None:
    head = h1.send_response(200, [("x-v", value), ("content-length", "0")])
    assert b"\r\nx-v: " + value.encode("latin-1") + b"\r\n" in head


def test_checked_values_are_remembered_but_never_cookies(h1: H11Protocol | FastH1Protocol) -> None:
    h1.send_response(200, [("x-remembered", "v-15-a"), ("Set-Cookie", "session=s3cr3t-15"), ("content-length", "0")])
    assert "v-15-a" in FIELD_VALUES and "session=s3cr3t-15" not in FIELD_VALUES


def test_h1_refuses_a_bad_trailer(h1: H11Protocol | FastH1Protocol) -> None:
    h1.send_response(200, [("content-type", "text/plain")])  # chunked: trailers are possible
    h1.send_data(b"abc")
    with pytest.raises(InvalidResponseHead):
        h1.send_end([("x-t", "a\r\n\r\nHTTP/1.1 200 OK")])


# -- HTTP/2 -----------------------------------------------------------------------------------


def h2_pair() -> tuple[H2Protocol, h2.connection.H2Connection]:
    server = H2Protocol()
    server.initiate()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="latin-1"))
    client.initiate_connection()
    server.receive_data(client.data_to_send(), 0.0)
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send(), 0.0)
    client.send_headers(1, [(":method", "GET"), (":path", "/a"), (":scheme", "http"), (":authority", "a")],
                        end_stream=True)
    events = server.receive_data(client.data_to_send(), 0.0)
    assert any(isinstance(e, RequestReceived) for e in events)
    return server, client


@pytest.mark.parametrize(("status", "headers"), FRAMING_CASES)
def test_h2_refuses_a_head_that_breaks_framing(status: int, headers: list[tuple[str, str]]) -> None:
    server, client = h2_pair()
    with pytest.raises(InvalidResponseHead):
        server.send_response(1, status, headers, end=True)
    assert not [e for e in client.receive_data(server.data_to_send()) if isinstance(e, h2.events.ResponseReceived)]
    server.send_response(1, 500, [("content-length", "0")], end=True)
    # h2's client validates what it receives (RFC 9113 §8.2): it takes this one.
    got = [e for e in client.receive_data(server.data_to_send()) if isinstance(e, h2.events.ResponseReceived)]
    assert dict(got[0].headers)[":status"] == "500"


@pytest.mark.parametrize("value", ["-1", "1_0", "+5", "abc"])
def test_h2_refuses_a_content_length_that_is_not_a_number(value: str) -> None:
    server, client = h2_pair()
    with pytest.raises(InvalidResponseHead):
        server.send_response(1, 200, [("content-length", value)], end=True)


def test_h2_sends_names_lower_case_and_leaves_out_connection_fields() -> None:
    # RFC 9113 §8.2.1 (upper case makes the message malformed), §8.2.2 (connection-specific fields).
    server, client = h2_pair()
    server.send_response(1, 200, [("X-Upper", "1"), ("connection", "close"), ("x-v", "a\tb")], end=True)
    got = [e for e in client.receive_data(server.data_to_send()) if isinstance(e, h2.events.ResponseReceived)]
    assert got[0].headers == [(":status", "200"), ("x-upper", "1"), ("x-v", "a\tb")]


class BadHeadApp:
    """Answers like dynlan's app does: when the head is refused, 500 on the same exchange."""

    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self.refused: list[bool] = []

    async def handle(self, exchange: Exchange) -> None:
        try:
            if exchange.request.path == "/streamed":
                await exchange.send_head(self.status, self.headers)
                await exchange.send_body(b"page output")
                await exchange.finish()
            else:
                await exchange.respond(self.status, self.headers, b"page output")
        except InvalidResponseHead:
            self.refused.append(not exchange.response_started)
            await exchange.respond(500, [("content-length", "5")], b"error")


@pytest.mark.parametrize("path", ["/whole", "/streamed"])
@pytest.mark.parametrize(("status", "headers"), [(101, []), (200, [("x-v", "a\r\nset-cookie: s=1")])])
async def test_h2_exchange_can_still_answer_500(path: str, status: int, headers: list[tuple[str, str]]) -> None:
    app = BadHeadApp(status, headers)
    client_stream, server_stream = trio.testing.memory_stream_pair()
    conn = H2Connection(server_stream, app, HttpConfig(), ServerState(), AccessLog(io.StringIO()), ("127.0.0.1", 1))
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="latin-1"))
    client.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "a")],
                        end_stream=True)
    status_seen: list[str] = []
    body = b""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client_stream.send_all(client.data_to_send())
        with trio.fail_after(10):
            ended = False
            while not ended:
                data = await client_stream.receive_some(65536)
                assert data, "connection closed"
                for event in client.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status_seen.append(dict(event.headers)[":status"])
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                    elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                        ended = True
                await client_stream.send_all(client.data_to_send())
        nursery.cancel_scope.cancel()
    assert app.refused == [True]
    assert status_seen == ["500"] and body == b"error"


# -- HTTP/3 -----------------------------------------------------------------------------------


class H3Pair:
    """aioquic's client and our router and H3Protocol, exchanging datagrams in memory."""

    CLIENT = ("127.0.0.1", 40000)
    SERVER = ("127.0.0.1", 4433)

    def __init__(self, folder: Path) -> None:
        cert, key = development_certificate(folder)
        settings = QuicSettings()
        self.router = QuicRouter(make_configuration(cert, key, settings), settings)
        config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE)
        self.quic = QuicConnection(configuration=config)
        self.now = 1.0
        self.quic.connect(self.SERVER, now=self.now)
        self.client = H3Connection(self.quic)
        self.server: H3Protocol | None = None
        self.requests: list[RequestReceived] = []
        self.responses: list[HeadersReceived] = []

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            self.now += 0.001
            for data, _ in self.quic.datagrams_to_send(self.now):
                moved = True
                proto, _new, _reply = self.router.route(data, self.CLIENT, self.now)
                if proto is not None:
                    self.server = proto
                    for event in proto.receive_datagram(data, self.CLIENT, self.now):
                        if isinstance(event, RequestReceived):
                            self.requests.append(event)
            if self.server is not None:
                for data, _ in self.server.datagrams_to_send(self.now):
                    moved = True
                    self.quic.receive_datagram(data, self.SERVER, self.now)
            while (event := self.quic.next_event()) is not None:
                for h3_event in self.client.handle_event(event):
                    if isinstance(h3_event, HeadersReceived):
                        self.responses.append(h3_event)
            if not moved:
                return


@pytest.mark.parametrize(("status", "headers"), FRAMING_CASES)
def test_h3_refuses_a_head_that_breaks_framing(tmp_path: Path, status: int, headers: list[tuple[str, str]]) -> None:
    pair = H3Pair(tmp_path)
    pair.pump()
    stream_id = pair.quic.get_next_available_stream_id()
    pair.client.send_headers(stream_id, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a"),
                                         (b":path", b"/a")], end_stream=True)
    pair.pump()
    assert [r.stream_id for r in pair.requests] == [stream_id]
    assert pair.server is not None
    with pytest.raises(InvalidResponseHead):
        pair.server.send_response(stream_id, status, headers, end=True)
    pair.pump()
    assert pair.responses == []
    pair.server.send_response(stream_id, 500, [("X-Upper", "1"), ("content-length", "0")], end=True)
    pair.pump()
    assert [dict(r.headers)[b":status"] for r in pair.responses] == [b"500"]
    assert (b"x-upper", b"1") in pair.responses[0].headers
