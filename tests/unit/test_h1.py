"""The HTTP/1.1 protocol core, without I/O: whole input, byte by byte, trailing data."""

from __future__ import annotations

import random

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


# -- leniencies that let two parsers disagree about a request (request smuggling) ------------

NEXT = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"

LENIENCIES = [
    # RFC 9112 §6.3: chunked not final; §7.1: chunked twice; §6.1: a coding we do not decode.
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400,
                 id="te-identity-chunked"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400,
                 id="te-gzip-chunked"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-custom, chunked\r\n\r\n0\r\n\r\n", 400,
                 id="te-unknown-chunked"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400, id="te-identity"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400,
                 id="te-chunked-not-last"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400,
                 id="te-chunked-twice"),
    pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\n", 400, id="te-two-fields"),
    pytest.param(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="te-on-http10"),
    # RFC 9112 §3: request-line = method SP request-target SP HTTP-version, one SP each.
    pytest.param(b"GET /\r\n\r\n", 400, id="http09-no-version"),
    pytest.param(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="double-space-after-method"),
    pytest.param(b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="double-space-after-target"),
    pytest.param(b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, id="trailing-space"),
    pytest.param(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="leading-space"),
    pytest.param(b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="tab"),
    pytest.param(b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, id="lower-case-version"),
    pytest.param(b"GET / HTTP/2\r\nHost: a\r\n\r\n", 400, id="version-without-minor"),
    pytest.param(b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, id="version-two-digit-minor"),
    # RFC 9110 §15.6.6: a well-formed version we do not speak on HTTP/1 is 505.
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http20"),
    pytest.param(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, id="http30"),
    pytest.param(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, id="http09-version"),
    pytest.param(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, id="http12"),
]


def outcome(H1Protocol: type, pieces: list[bytes]) -> list[object]:
    """Events until the first message ends, or the ProtocolError raised."""
    proto = H1Protocol()
    out: list[object] = []
    try:
        for piece in pieces:
            proto.receive_data(piece)
            out.extend(events_of(proto))
            if out and isinstance(out[-1], MessageComplete):
                break
    except ProtocolError as exc:
        out.append(exc)
    return out


def split_three_ways(data: bytes) -> dict[str, list[bytes]]:
    return {
        "whole": [data],
        "bytewise": [data[i : i + 1] for i in range(len(data))],
        "trailing": [data + NEXT],
    }


@pytest.mark.parametrize("way", ["whole", "bytewise", "trailing"])
@pytest.mark.parametrize(("data", "status"), LENIENCIES)
def test_leniencies_are_refused(H1Protocol: type, data: bytes, status: int, way: str) -> None:
    out = outcome(H1Protocol, split_three_ways(data)[way])
    assert not any(isinstance(e, RequestReceived) for e in out), out
    assert isinstance(out[-1], ProtocolError), out
    assert out[-1].status == status and out[-1].close


@pytest.mark.parametrize("way", ["whole", "bytewise", "trailing"])
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(POST_CHUNKED.replace(b"chunked", b"Chunked"), id="te-chunked-any-case"),
        pytest.param(b"GET / HTTP/1.0\r\n\r\n", id="http10"),
        pytest.param(b"GET http://a/x?y HTTP/1.1\r\nHost: a\r\n\r\n", id="absolute-form"),
        pytest.param(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", id="asterisk-form"),
    ],
)
def test_strict_requests_still_pass(H1Protocol: type, data: bytes, way: str) -> None:
    out = outcome(H1Protocol, split_three_ways(data)[way])
    assert isinstance(out[0], RequestReceived), out
    assert isinstance(out[-1], MessageComplete), out


def test_empty_line_before_request_line_is_ignored_by_llhttp() -> None:
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    for way, pieces in split_three_ways(b"\r\n" + GET).items():
        out = outcome(FastH1Protocol, pieces)
        assert isinstance(out[0], RequestReceived) and out[0].target == "/a/b?x=1", way


def test_leniency_after_a_good_request_in_the_same_read(H1Protocol: type) -> None:
    # The bad request line is the second message of one read: found where it starts.
    for bad, status in ((b"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n", 400), (b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505)):
        proto = H1Protocol()
        proto.receive_data(POST_CHUNKED + bad)
        assert body_of(events_of(proto)) == b"hello world"
        proto.send_response(200, [("content-length", "0")])
        proto.send_end()
        assert proto.start_next_cycle()
        with pytest.raises(ProtocolError) as info:
            events_of(proto)
        assert info.value.status == status


def _pipeline() -> tuple[bytes, list[tuple[object, ...]]]:
    """Requests whose bodies hold CRLF CRLF and request-like lines, and what a strict parser reports."""
    smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    parts = [
        (b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", []),
        (b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab\r\n\r\ncd\r\n", [b"ab\r\n\r\ncd\r\n"]),
        (b"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nx\r\n\r\n\r\n\r\n0\r\n\r\n",
         [b"x\r\n\r\n\r\n"]),
        (b"POST /4 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;e=1\r\n\r\n\r\n\r\n0\r\nX-T: 1\r\n\r\n",
         [b"\r\n\r\n"]),
        # An Upgrade we ignore (RFC 9110 §7.8): the body is the body, never a second request.
        (b"POST /5 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: %d\r\n\r\n"
         % len(smuggled) + smuggled, [smuggled]),
        (b"POST /6 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled), [smuggled]),
        (b"GET /7 HTTP/1.0\r\n\r\n", []),
    ]
    stream = b"".join(p for p, _ in parts)
    expected: list[tuple[object, ...]] = []
    for i, (_, bodies) in enumerate(parts, 1):
        expected.append(("request", f"/{i}"))
        expected.extend(("data", b) for b in bodies)
        expected.append(("end",))
    return stream, expected


def _serve_all(H1Protocol: type, pieces: list[bytes]) -> list[tuple[object, ...]]:
    proto = H1Protocol()
    out: list[tuple[object, ...]] = []
    queue = list(pieces)
    for _ in range(10 * len(pieces) + 100):
        event = proto.next_event()
        if isinstance(event, NeedData):
            if not queue:
                return out
            proto.receive_data(queue.pop(0))
        elif isinstance(event, RequestReceived):
            out.append(("request", event.target))
        elif isinstance(event, DataReceived):
            if out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + event.data)  # type: ignore[operator]
            else:
                out.append(("data", event.data))
        elif isinstance(event, MessageComplete):
            out.append(("end",))
            proto.send_response(200, [("content-length", "0")])
            proto.send_end()
            if not proto.start_next_cycle():
                return out
    raise AssertionError("did not finish")


def test_pipelined_bodies_keep_their_boundaries_however_the_input_is_cut(H1Protocol: type) -> None:
    stream, expected = _pipeline()
    assert _serve_all(H1Protocol, [stream]) == expected
    assert _serve_all(H1Protocol, [stream[i : i + 1] for i in range(len(stream))]) == expected
    rng = random.Random(15)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 25)))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert _serve_all(H1Protocol, pieces) == expected, cuts


def test_trailers_end_the_message_and_stay_out_of_the_head(H1Protocol: type) -> None:
    proto = H1Protocol()
    proto.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"1\r\nx\r\n0\r\nX-T: 1\r\nHost: evil\r\n\r\n")
    events = events_of(proto)
    request = events[0]
    assert isinstance(request, RequestReceived) and request.headers == [("host", "a"), ("transfer-encoding", "chunked")]
    assert events[-1] == MessageComplete(1, (("x-t", "1"), ("host", "evil")))


def test_head_started_byte_by_byte(H1Protocol: type) -> None:
    # The server bounds a begun head by header_timeout, an idle connection by keepalive_timeout.
    request = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    proto = H1Protocol()
    assert not proto.head_started
    head_end = request.index(b"\r\n\r\n") + 4
    for i in range(len(request)):
        proto.receive_data(request[i : i + 1])
        events_of(proto)
        assert proto.head_started == (i + 1 < head_end), i
    assert proto.their_request_complete
    # The next request's first bytes, read with this one (pipelining), begin a head.
    proto.receive_data(b"GET / HT")
    proto.send_response(200, [("content-length", "0")])
    proto.send_end()
    assert proto.start_next_cycle()
    assert events_of(proto) == [] and proto.head_started
