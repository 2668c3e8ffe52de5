"""The HTTP/1.1 protocol core, without I/O: whole input, byte by byte, trailing data."""

from __future__ import annotations

import pytest

from dynlan.http import (
    ConnectionEnded,
    DataReceived,
    H11Protocol,
    MessageComplete,
    NeedData,
    Paused,
    ProtocolError,
    RequestReceived,
    split_target,
)
from dynlan.http._h1fast import FastH1Protocol

GET = b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing: 1\r\nX-Thing: 2\r\n\r\n"
POST_CHUNKED = (
    b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)


IMPLEMENTATIONS = [H11Protocol, FastH1Protocol]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["h11", "llhttp"])
def H1Protocol(request: pytest.FixtureRequest) -> type:
    return request.param  # type: ignore[no-any-return]


def events_of(proto: object) -> list[object]:
    out = []
    while True:
        ev = proto.next_event()
        if isinstance(ev, NeedData | Paused):
            return out
        out.append(ev)
        if isinstance(ev, MessageComplete | ConnectionEnded):
            return out


def feed_whole(H1Protocol: type, data: bytes) -> list[object]:
    proto = H1Protocol()
    proto.receive_data(data)
    return events_of(proto)


def feed_bytewise(H1Protocol: type, data: bytes) -> list[object]:
    proto = H1Protocol()
    out: list[object] = []
    for i in range(len(data)):
        proto.receive_data(data[i : i + 1])
        out.extend(events_of(proto))
        if out and isinstance(out[-1], MessageComplete):
            break
    return out


def body_of(events: list[object]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, DataReceived))


@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_get_request(H1Protocol: type, feed: object) -> None:
    events = feed(H1Protocol, GET)  # type: ignore[operator]
    req = events[0]
    assert isinstance(req, RequestReceived)
    assert req.method == "GET" and req.target == "/a/b?x=1" and req.http_version == "1.1"
    assert ("host", "example.com") in req.headers
    assert [v for k, v in req.headers if k == "x-thing"] == ["1", "2"]
    assert isinstance(events[-1], MessageComplete)


@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_chunked_body(H1Protocol: type, feed: object) -> None:
    events = feed(H1Protocol, POST_CHUNKED)  # type: ignore[operator]
    assert body_of(events) == b"hello world"
    assert isinstance(events[-1], MessageComplete)


def test_trailing_data_is_the_next_request(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(GET + b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n")
    first = events_of(proto)
    assert first[0].target == "/a/b?x=1"  # type: ignore[attr-defined]
    # The second request waits until the first is answered.
    assert isinstance(proto.next_event(), Paused)
    proto.send_response(200, [("content-length", "0")])
    proto.send_end()
    assert proto.start_next_cycle()
    second = events_of(proto)
    assert second[0].target == "/second"  # type: ignore[attr-defined]


def test_response_bytes(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(GET)
    events_of(proto)
    head = proto.send_response(200, [("content-type", "text/plain")])
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in head.lower()
    assert proto.send_data(b"abc") == b"3\r\nabc\r\n"
    assert proto.send_end() == b"0\r\n\r\n"
    assert proto.keep_alive


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host (RFC 9112 §3.2)
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 20000, 414),
    ],
)
def test_bad_requests_carry_their_status(H1Protocol: type, data: bytes, status: int) -> None:
    proto = H1Protocol(max_header_size=16384, max_request_line=8190)
    proto.receive_data(data)
    with pytest.raises(ProtocolError) as info:
        events_of(proto)
    assert info.value.status == status


def test_expect_continue_is_reported(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    req = proto.next_event()
    assert isinstance(req, RequestReceived) and req.expects_continue
    assert proto.send_continue().startswith(b"HTTP/1.1 100 ")
    proto.receive_data(b"abc")
    assert body_of(events_of(proto)) == b"abc"


def test_http10_closes_after_response(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    events_of(proto)
    proto.send_response(200, [("content-length", "2")])
    proto.send_data(b"ok")
    proto.send_end()
    assert not proto.start_next_cycle()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/a?b=c", ("/a", "b=c", None)),
        ("/a", ("/a", "", None)),
        ("http://example.com/x/y?q=1", ("/x/y", "q=1", "example.com")),
        ("http://example.com", ("/", "", "example.com")),
        ("*", ("*", "", None)),
        ("/a#frag", ("/a", "", None)),
    ],
)
def test_split_target(target: str, expected: tuple[str, str, str | None]) -> None:
    assert split_target(target) == expected


def test_smuggling_attempts_are_rejected(H1Protocol: type) -> None:
    for data in (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    ):
        proto = H1Protocol()
        proto.receive_data(data)
        with pytest.raises(ProtocolError) as info:
            events_of(proto)
        assert info.value.status == 400, data


def test_whole_pipeline_in_one_read(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(b"".join(f"GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode() for i in range(5)))
    for i in range(5):
        events = events_of(proto)
        assert events[0].target == f"/{i}"  # type: ignore[attr-defined]
        proto.send_response(200, [("content-length", "1")])
        proto.send_data(b"x")
        proto.send_end()
        assert proto.start_next_cycle()
    assert isinstance(proto.next_event(), NeedData)


def test_content_length_with_transfer_encoding_never_uses_the_length(H1Protocol: type) -> None:
    # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; rejecting is also allowed.
    proto = H1Protocol()
    proto.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    try:
        events = events_of(proto)
    except ProtocolError as exc:
        assert exc.status == 400
        return
    assert body_of(events) == b"" and isinstance(events[-1], MessageComplete)


def test_obsolete_line_folding_is_rejected_or_unfolded(H1Protocol: type) -> None:
    # RFC 9112 §5.2: a server either rejects obs-fold with 400 or replaces it with spaces.
    proto = H1Protocol()
    proto.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n")
    try:
        events = events_of(proto)
    except ProtocolError as exc:
        assert exc.status == 400
        return
    assert ("x", "a b") in events[0].headers  # type: ignore[attr-defined]


def test_fixed_length_response_head(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(GET)
    events_of(proto)
    head = proto.send_response(200, [("content-type", "text/plain"), ("content-length", "3")])
    lines = head.lower().split(b"\r\n")
    assert lines.count(b"content-length: 3") == 1
    assert not any(line.startswith(b"transfer-encoding") for line in lines)
    assert head.endswith(b"\r\n\r\n")
    assert proto.send_data(b"abc") == b"abc"
    assert proto.send_end() == b""
    assert proto.start_next_cycle()
