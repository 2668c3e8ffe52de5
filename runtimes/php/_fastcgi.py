"""A sans-I/O FastCGI client codec (responder role) and the CGI response-head parser.

FastCGI 1.0 specification: records (§3.3), name-value pairs (§3.4),
BEGIN_REQUEST (§5.1), PARAMS/STDIN (§5.2-5.3), STDOUT/STDERR (§5.3),
END_REQUEST (§5.5). CGI response heads: RFC 3875 §6.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT = 9, 10
RESPONDER = 1
KEEP_CONN = 1
MAX_CONTENT = 65535

_HEADER = struct.Struct(">BBHHBx")
_BEGIN_BODY = struct.Struct(">HB5x")
_END_BODY = struct.Struct(">IB3x")


class FastCGIError(Exception):
    """The application sent bytes that are not valid FastCGI."""


@dataclass(frozen=True, slots=True)
class Stdout:
    request_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Stderr:
    request_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class EndRequest:
    request_id: int
    app_status: int
    protocol_status: int


@dataclass(frozen=True, slots=True)
class ValuesResult:
    values: dict[bytes, bytes]


Event = Stdout | Stderr | EndRequest | ValuesResult


def record(kind: int, request_id: int, content: bytes) -> bytes:
    """One record, padded to a multiple of 8 bytes (§3.3 recommends alignment)."""
    if len(content) > MAX_CONTENT:
        raise ValueError("record content longer than 65535 bytes")
    padding = -len(content) % 8
    return _HEADER.pack(VERSION, kind, request_id, len(content), padding) + content + b"\0" * padding


@functools.lru_cache(maxsize=64)
def _fixed_record(kind: int, request_id: int, content: bytes = b"") -> bytes:
    """A record that is the same in every request (the empty ones that end streams; BEGIN_REQUEST)."""
    return record(kind, request_id, content)


def stream_records(kind: int, request_id: int, data: bytes) -> bytes:
    """A stream's data split into records; b"" gives the empty record that ends the stream."""
    if not data:
        return _fixed_record(kind, request_id)
    if len(data) <= MAX_CONTENT:
        return record(kind, request_id, data)
    return b"".join(record(kind, request_id, data[i : i + MAX_CONTENT]) for i in range(0, len(data), MAX_CONTENT))


def _length(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    if n > 0x7FFFFFFF:
        raise ValueError("name or value too long")
    return struct.pack(">I", n | 0x80000000)


def encode_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Name-value pairs (§3.4): 1-byte lengths below 128, else 4 bytes with the high bit set."""
    out = bytearray()
    for name, value in pairs:
        n, v = len(name), len(value)
        if n < 128 and v < 128:
            # Nearly every CGI variable: two length bytes, appended without a bytes object per length.
            out.append(n)
            out.append(v)
        else:
            out += _length(n)
            out += _length(v)
        out += name
        out += value
    return bytes(out)


def decode_pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    i = 0

    def length() -> int:
        nonlocal i
        if i >= len(data):
            raise FastCGIError("truncated name-value pair")
        if data[i] < 128:
            i += 1
            return data[i - 1]
        if i + 4 > len(data):
            raise FastCGIError("truncated name-value length")
        n: int = struct.unpack_from(">I", data, i)[0] & 0x7FFFFFFF
        i += 4
        return n

    while i < len(data):
        name_len = length()
        value_len = length()
        if i + name_len + value_len > len(data):
            raise FastCGIError("truncated name-value pair")
        pairs.append((data[i : i + name_len], data[i + name_len : i + name_len + value_len]))
        i += name_len + value_len
    return pairs


class FastCGIConnection:
    """The client side of one FastCGI connection: bytes in, events out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @staticmethod
    def begin_request(request_id: int, keep_conn: bool = False) -> bytes:
        return _fixed_record(BEGIN_REQUEST, request_id, _BEGIN_BODY.pack(RESPONDER, KEEP_CONN if keep_conn else 0))

    @staticmethod
    def request(request_id: int, params: bytes, body: bytes, keep_conn: bool = False) -> bytes:
        """A whole request in one piece: BEGIN_REQUEST, params already encoded with `encode_pairs` and their
        end, the whole body and its end."""
        return b"".join((FastCGIConnection.begin_request(request_id, keep_conn),
                         stream_records(PARAMS, request_id, params) if params else b"",
                         _fixed_record(PARAMS, request_id),
                         stream_records(STDIN, request_id, body) if body else b"",
                         _fixed_record(STDIN, request_id)))

    @staticmethod
    def params(request_id: int, pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
        """All params, then the empty PARAMS record that ends them."""
        return FastCGIConnection.params_data(request_id, encode_pairs(pairs))

    @staticmethod
    def params_data(request_id: int, data: bytes) -> bytes:
        """Params already encoded with `encode_pairs` (pieces of it may be joined), then the end record."""
        return stream_records(PARAMS, request_id, data) + _fixed_record(PARAMS, request_id)

    @staticmethod
    def stdin(request_id: int, data: bytes) -> bytes:
        """Body bytes; call with b"" once to end the body."""
        return stream_records(STDIN, request_id, data)

    @staticmethod
    def abort(request_id: int) -> bytes:
        return record(ABORT_REQUEST, request_id, b"")

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next complete event, or None until more bytes arrive."""
        while True:
            if len(self._buffer) < 8:
                return None
            version, kind, request_id, length, padding = _HEADER.unpack_from(self._buffer)
            if version != VERSION:
                raise FastCGIError(f"unsupported FastCGI version {version}")
            total = 8 + length + padding
            if len(self._buffer) < total:
                return None
            content = bytes(self._buffer[8 : 8 + length])
            del self._buffer[:total]
            if kind == STDOUT:
                if content:
                    return Stdout(request_id, content)
                continue  # end of the stdout stream
            if kind == STDERR:
                if content:
                    return Stderr(request_id, content)
                continue
            if kind == END_REQUEST:
                if len(content) < 8:
                    raise FastCGIError("short END_REQUEST body")
                app_status, protocol_status = _END_BODY.unpack_from(content)
                return EndRequest(request_id, app_status, protocol_status)
            if kind == GET_VALUES_RESULT:
                return ValuesResult(dict(decode_pairs(content)))
            raise FastCGIError(f"unexpected record type {kind}")


@dataclass(frozen=True, slots=True)
class CgiHead:
    status: int
    headers: list[tuple[str, str]]


class CgiHeadParser:
    """The head a CGI program writes before its body (RFC 3875 §6.2), parsed incrementally."""

    MAX_HEAD = 64 * 1024

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.head: CgiHead | None = None

    def feed(self, data: bytes) -> bytes:
        """Feed stdout bytes; returns body bytes once the head is complete."""
        if self.head is not None:
            return data
        self._buffer += data
        end, sep = self._buffer.find(b"\r\n\r\n"), 4
        lf = self._buffer.find(b"\n\n")
        if lf >= 0 and (end < 0 or lf < end):
            end, sep = lf, 2
        if end < 0:
            if len(self._buffer) > self.MAX_HEAD:
                raise FastCGIError("CGI response head too large")
            return b""
        raw, body = bytes(self._buffer[:end]), bytes(self._buffer[end + sep :])
        self._buffer.clear()
        self.head = self._parse(raw)
        return body

    @staticmethod
    def _parse(raw: bytes) -> CgiHead:
        status = 200
        headers: list[tuple[str, str]] = []
        location = False
        for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
            if not line.strip():
                continue
            name, sep, value = line.partition(b":")
            if not sep:
                raise FastCGIError(f"malformed CGI header line {line[:80]!r}")
            key = name.strip().decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            if key == "status":
                code = text.split(" ", 1)[0]
                if not code.isdigit() or not 100 <= int(code) <= 599:
                    raise FastCGIError(f"bad CGI Status {text!r}")
                status = int(code)
                continue
            if key == "location":
                location = True
            headers.append((key, text))
        if location and status == 200:
            status = 302  # RFC 3875 §6.2.3: a client redirect without Status
        return CgiHead(status, headers)
