"""The sans-I/O parts of real-time pages: the WebSocket handshake, event-stream framing, and the HTTP/1.1 cores
holding what follows a handshake (whole, one byte at a time, with a pipelined request after it)."""

from __future__ import annotations

import pytest

from dynlan.http import Headers, HttpRequest, MessageComplete, RequestReceived, make_h1_protocol
from dynlan.http._events import Paused
from dynlan.realtime import (
    Offer,
    Refusal,
    accept_headers,
    format_comment,
    format_event,
    is_realtime,
    offer,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(headers: list[tuple[str, str]], method: str = "GET", version: str = "1.1") -> HttpRequest:
    return HttpRequest(method=method, target="/ws", path="/ws", query_string="", headers=Headers(headers),
                       http_version=version, scheme="http", host="x", client=None, request_id="r")


HANDSHAKE = [("upgrade", "websocket"), ("connection", "keep-alive, Upgrade"), ("sec-websocket-version", "13"),
             ("sec-websocket-key", KEY)]


def test_offer_and_accept_token() -> None:
    found = offer(request([*HANDSHAKE, ("sec-websocket-protocol", "chat, superchat")]))
    assert found == Offer(KEY, ("chat", "superchat"), False)
    # RFC 6455 §1.3's example.
    assert ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in accept_headers(found, None)
    assert ("sec-websocket-protocol", "chat") in accept_headers(found, "chat")


@pytest.mark.parametrize(("headers", "method", "status"), [
    ([("upgrade", "websocket"), ("connection", "upgrade"), ("sec-websocket-version", "8"), ("sec-websocket-key", KEY)], "GET", 426),
    ([("upgrade", "websocket"), ("connection", "upgrade"), ("sec-websocket-version", "13"), ("sec-websocket-key", "c2hvcnQ=")], "GET", 400),
    ([("upgrade", "websocket"), ("sec-websocket-version", "13"), ("sec-websocket-key", KEY)], "GET", 400),
    (HANDSHAKE, "POST", 400),
    ([*HANDSHAKE, ("sec-websocket-protocol", "bad protocol")], "GET", 400),
])
def test_bad_handshakes_are_refused_precisely(headers: list[tuple[str, str]], method: str, status: int) -> None:
    found = offer(request(headers, method))
    assert isinstance(found, Refusal) and found.status == status
    if status == 426:
        assert ("sec-websocket-version", "13") in found.headers


def test_http2_offer_has_no_key_and_plain_requests_none() -> None:
    assert offer(request([("upgrade", "websocket"), ("sec-websocket-version", "13")], version="2")) == Offer("", (), True)
    assert offer(request([])) is None
    assert is_realtime(request([("accept", "text/event-stream")])) and not is_realtime(request([]))


def test_event_framing() -> None:
    assert format_event(data="a\nb\r\nc\rd", event="tick", id=3, retry=1000) == (
        b"event: tick\nid: 3\nretry: 1000\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
    assert format_event(data="") == b"data: \n\n"
    assert format_comment() == b":\n\n" and format_comment("x\ny") == b": x\n: y\n\n"
    for bad in ({"event": "a\nevent: b", "data": "x"}, {"id": "1\r2"}, {"retry": -1}, {}):
        with pytest.raises(ValueError):
            format_event(**bad)  # type: ignore[arg-type]


FRAME = b"\x81\x85\x01\x02\x03\x04" + bytes(b ^ k for b, k in zip(b"hello", b"\x01\x02\x03\x04\x01", strict=True))
HEAD = (b"GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-version: 13\r\nsec-websocket-key: " + KEY.encode() + b"\r\n\r\n")


def _events(proto: object) -> list[object]:
    out = []
    while True:
        event = proto.next_event()  # type: ignore[attr-defined]
        if isinstance(event, RequestReceived | MessageComplete):
            out.append(event)
            continue
        return out


@pytest.mark.parametrize("parser", ["llhttp", "h11"])
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_bytes_after_a_handshake_are_held_for_the_websocket(parser: str, split: str) -> None:
    proto = make_h1_protocol(parser)
    data = HEAD + FRAME
    for piece in [data] if split == "whole" else [data[i : i + 1] for i in range(len(data))]:
        proto.receive_data(piece)
    events = _events(proto)
    assert isinstance(events[0], RequestReceived) and isinstance(events[1], MessageComplete)
    head, rest = proto.switch_protocols([("upgrade", "websocket"), ("connection", "Upgrade")])  # type: ignore[attr-defined]
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and head.endswith(b"\r\n\r\n")
    assert rest == FRAME


@pytest.mark.parametrize("parser", ["llhttp", "h11"])
def test_a_handshake_answered_as_http_leaves_the_next_request(parser: str) -> None:
    proto = make_h1_protocol(parser)
    proto.receive_data(HEAD + b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n")
    assert [type(e) for e in _events(proto)] == [RequestReceived, MessageComplete]
    proto.send_response(200, [("content-length", "0")])
    proto.send_end()
    assert proto.start_next_cycle()
    event = proto.next_event()
    assert isinstance(event, RequestReceived) and event.target == "/next"
    assert not isinstance(event, Paused)
