"""The proxy's HTTP/1.1 client codec: responses parsed whole, one byte at a time, and with data after them."""

from __future__ import annotations

import pytest

from dynlan.proxy._codec import (
    LAST_CHUNK,
    MAX_HEAD,
    BodyChunk,
    CodecError,
    ResponseEnd,
    ResponseHead,
    ResponseParser,
    chunk,
    last_chunk,
    request_head,
)


def parse(raw: bytes, *, head_only: bool = False, bytewise: bool = False, eof: bool = False
          ) -> tuple[ResponseHead, bytes, ResponseEnd | None]:
    parser = ResponseParser(head_only)
    pieces = [raw[i : i + 1] for i in range(len(raw))] if bytewise else [raw]
    for piece in pieces:
        parser.feed(piece)
    if eof:
        parser.feed(b"")
    events = list(parser.events)
    head = events[0]
    assert isinstance(head, ResponseHead)
    body = b"".join(e.data for e in events if isinstance(e, BodyChunk))
    end = events[-1] if isinstance(events[-1], ResponseEnd) else None
    assert all(not isinstance(e, ResponseEnd) for e in events[:-1])
    return head, body, end


@pytest.mark.parametrize("bytewise", [False, True])
def test_content_length(bytewise: bool) -> None:
    head, body, end = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", bytewise=bytewise)
    assert (head.status, head.headers, body, end) == (200, [(b"content-length", b"5"), (b"x-a", b"b")], b"hello",
                                                      ResponseEnd(True))


@pytest.mark.parametrize("bytewise", [False, True])
def test_chunked_with_trailers(bytewise: bool) -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"
    head, body, end = parse(raw, bytewise=bytewise)
    assert body == b"hello world" and end == ResponseEnd(True, ((b"x-sum", b"1"),))
    assert (b"x-sum", b"1") not in head.headers  # a trailer is not a field of the head, but comes with the end


def test_a_last_chunk_carries_trailers_and_never_a_broken_field() -> None:
    assert last_chunk([]) == LAST_CHUNK
    assert last_chunk([("x-sum", "1"), ("x-b", "two words")]) == b"0\r\nx-sum: 1\r\nx-b: two words\r\n\r\n"
    for bad in [("x-a", "1\r\n\r\nGET /smuggled HTTP/1.1"), ("x-a", "1\n"), ("x-a", "\x00"), ("x:a", "1"),
                ("x a", "1"), ("", "1"), ("x-a", "\u20ac")]:
        with pytest.raises(CodecError):
            last_chunk([bad])


def test_until_close() -> None:
    head, body, end = parse(b"HTTP/1.1 200 OK\r\n\r\npart one, part two", eof=True)
    assert body == b"part one, part two" and end == ResponseEnd(False)


def test_no_body_for_head_204_304_whatever_the_length_says() -> None:
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", head_only=True)[1:] == (b"", ResponseEnd(True))
    assert parse(b"HTTP/1.1 204 No Content\r\n\r\n")[1:] == (b"", ResponseEnd(True))
    assert parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n")[1:] == (b"", ResponseEnd(True))


@pytest.mark.parametrize("bytewise", [False, True])
def test_interim_responses_are_skipped(bytewise: bool) -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" \
          b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    head, body, end = parse(raw, bytewise=bytewise)
    assert (head.status, head.headers, body, end) == (201, [(b"content-length", b"2")], b"ok", ResponseEnd(True))


def test_not_kept_alive() -> None:
    assert parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[2] == ResponseEnd(False)
    assert parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")[2] == ResponseEnd(False)


def test_trailing_data_makes_the_connection_unusable() -> None:
    head, body, end = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n")
    assert body == b"ok" and end == ResponseEnd(False)


def test_broken_responses() -> None:
    with pytest.raises(CodecError, match="closed"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", eof=True)
    with pytest.raises(CodecError, match="closed"):
        ResponseParser(False).feed(b"")
    with pytest.raises(CodecError, match="bad response"):
        ResponseParser(False).feed(b"NOT HTTP\r\n\r\n")
    with pytest.raises(CodecError, match="bad response"):
        ResponseParser(False).feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    with pytest.raises(CodecError, match="head is over"):
        ResponseParser(False).feed(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n")


def test_request_head_and_chunks() -> None:
    assert request_head("GET", "/a?b=1", [("host", "x"), ("accept", "*/*")]) == \
        b"GET /a?b=1 HTTP/1.1\r\nhost: x\r\naccept: */*\r\n\r\n"
    assert chunk(b"hello") == b"5\r\nhello\r\n" and chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"
    # Request smuggling: nothing may end a line early or split the request line.
    for method, target, headers in [("GET", "/a", [("x", "1\r\nhost: evil")]), ("GET", "/a\r\nX: 1", []),
                                    ("GET", "/a b", []), ("GET", "/a", [("x", "a\nb")]), ("GET", "/a", [("x", "\0")]),
                                    ("GET", "/a", [("x\r\ny", "1")]), ("GET", "/a", [("x", "\u0100")])]:
        with pytest.raises(CodecError):
            request_head(method, target, headers)


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


@pytest.mark.parametrize("split", [len(SWITCH) - 3, len(SWITCH), len(SWITCH) + 1])
def test_a_101_ends_an_upgrade_request_and_keeps_the_new_protocols_bytes(split: int) -> None:
    raw = SWITCH + b"\x81\x02hi"
    parser = ResponseParser(False, upgrade=True)
    parser.feed(raw[:split])
    if not parser.done:
        parser.feed(raw[split:])
    events = list(parser.events)
    assert events == [ResponseHead(101, [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")]),
                      ResponseEnd(False)]
    # What came in the read that ended the head is the new protocol's (the reads after it are the caller's).
    assert parser.upgraded == (raw[len(SWITCH):] if split < len(SWITCH) else raw[len(SWITCH):split])


def test_a_101_to_a_request_that_did_not_ask_is_refused() -> None:
    with pytest.raises(CodecError, match="switched protocols"):
        ResponseParser(False).feed(SWITCH + b"\x81\x02hi")


def test_an_upgrade_request_may_get_an_ordinary_answer() -> None:
    parser = ResponseParser(False, upgrade=True)
    parser.feed(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    assert list(parser.events) == [ResponseHead(403, [(b"content-length", b"2")]), BodyChunk(b"no"),
                                   ResponseEnd(True)]
    assert parser.upgraded is None
