"""The FastCGI codec and CGI head parser: whole input, byte by byte, trailing data, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynlan.runtimes.php._fastcgi import (
    END_REQUEST,
    STDERR,
    STDOUT,
    CgiHeadParser,
    EndRequest,
    FastCGIConnection,
    FastCGIError,
    Stderr,
    Stdout,
    decode_pairs,
    encode_pairs,
    record,
)

RESPONSE = (
    record(STDOUT, 1, b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n")
    + record(STDERR, 1, b"PHP Notice: x")
    + record(STDOUT, 1, b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nbody")
    + record(STDOUT, 1, b"")
    + record(END_REQUEST, 1, b"\0\0\0\0\0\0\0\0")
)


def events(feeds: list[bytes]) -> list[object]:
    conn = FastCGIConnection()
    out: list[object] = []
    for data in feeds:
        conn.receive_data(data)
        while (event := conn.next_event()) is not None:
            out.append(event)
    return out


EXPECTED = [
    Stdout(1, b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n"),
    Stderr(1, b"PHP Notice: x"),
    Stdout(1, b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nbody"),
    EndRequest(1, 0, 0),
]


def test_whole() -> None:
    assert events([RESPONSE]) == EXPECTED


def test_byte_by_byte() -> None:
    assert events([RESPONSE[i : i + 1] for i in range(len(RESPONSE))]) == EXPECTED


def test_trailing_data_waits_for_its_record() -> None:
    conn = FastCGIConnection()
    conn.receive_data(RESPONSE + record(STDOUT, 2, b"next")[:5])
    got = []
    while (event := conn.next_event()) is not None:
        got.append(event)
    assert got == EXPECTED
    conn.receive_data(record(STDOUT, 2, b"next")[5:])
    assert conn.next_event() == Stdout(2, b"next")


def test_malformed_records() -> None:
    conn = FastCGIConnection()
    conn.receive_data(b"\x02" + b"\0" * 7)
    with pytest.raises(FastCGIError):
        conn.next_event()
    conn = FastCGIConnection()
    conn.receive_data(record(42, 1, b""))
    with pytest.raises(FastCGIError):
        conn.next_event()


def test_long_stdin_is_split_into_records() -> None:
    data = FastCGIConnection.stdin(1, b"x" * 200_000)
    assert data.count(b"\x01\x05\x00\x01") == 4  # 65535 * 3 + remainder


@given(st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=300)), max_size=20))
def test_name_value_pairs_round_trip(pairs: list[tuple[bytes, bytes]]) -> None:
    assert decode_pairs(encode_pairs(pairs)) == pairs


@given(st.lists(st.binary(max_size=70000), max_size=4), st.integers(min_value=1, max_value=65535))
def test_stdout_records_round_trip(chunks: list[bytes], request_id: int) -> None:
    data = b"".join(record(STDOUT, request_id, c[i : i + 65535]) for c in chunks for i in range(0, len(c), 65535) if c)
    got = events([data])
    assert b"".join(e.data for e in got if isinstance(e, Stdout)) == b"".join(chunks)


def test_truncated_pairs() -> None:
    with pytest.raises(FastCGIError):
        decode_pairs(b"\x05\x05abc")


@pytest.mark.parametrize("split", [None, 1])
def test_cgi_head(split: int | None) -> None:
    raw = b"Status: 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-A: b\r\n\r\nhello"
    parser = CgiHeadParser()
    body = b""
    pieces = [raw] if split is None else [raw[i : i + 1] for i in range(len(raw))]
    for piece in pieces:
        body += parser.feed(piece)
    assert parser.head is not None
    assert parser.head.status == 201
    assert [v for k, v in parser.head.headers if k == "set-cookie"] == ["a=1", "b=2"]
    assert body == b"hello"
    assert parser.feed(b" more") == b" more"


def test_location_without_status_is_a_redirect() -> None:
    parser = CgiHeadParser()
    parser.feed(b"Location: /elsewhere\n\n")
    assert parser.head is not None and parser.head.status == 302


def test_bad_cgi_heads() -> None:
    with pytest.raises(FastCGIError):
        CgiHeadParser().feed(b"no colon here\r\n\r\n")
    with pytest.raises(FastCGIError):
        CgiHeadParser().feed(b"Status: abc\r\n\r\n")
