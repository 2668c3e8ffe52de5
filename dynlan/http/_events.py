"""Protocol events, the same for HTTP/1.1, HTTP/2 and HTTP/3.

Each protocol core (h11, h2, aioquic) turns bytes into these; the server layer
and the app never see a library's own event types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A request head: method, target as sent, lower-cased headers."""

    stream_id: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    http_version: str
    expects_continue: bool = False


@dataclass(frozen=True, slots=True)
class DataReceived:
    stream_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class MessageComplete:
    stream_id: int
    trailers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """The peer closed its side cleanly."""


@dataclass(frozen=True, slots=True)
class NeedData:
    """Nothing more can be parsed until more bytes arrive."""


@dataclass(frozen=True, slots=True)
class Paused:
    """A complete request is in flight; more input waits until it is answered."""


NEED_DATA = NeedData()
PAUSED = Paused()

Event = RequestReceived | DataReceived | MessageComplete | ConnectionEnded


@dataclass(frozen=True, slots=True)
class RequestFields:
    """A request head as HTTP/2 and HTTP/3 carry it: pseudo-header fields, then the others."""

    method: str
    path: str
    authority: str
    headers: list[tuple[str, str]]
    size: int
    """Header list size as RFC 9113 §6.5.2 counts it (names, values, 32 bytes each)."""


def split_pseudo_headers(fields: Iterable[tuple[bytes | str, bytes | str]]) -> RequestFields:
    """Take `:method`, `:path` and `:authority` out of a decoded field list (RFC 9113 §8.3, RFC 9114 §4.3)."""
    method = path = authority = ""
    headers: list[tuple[str, str]] = []
    size = 0
    for name, value in fields:
        n = name.decode("latin-1") if isinstance(name, bytes) else name
        v = value.decode("latin-1") if isinstance(value, bytes) else value
        size += len(n) + len(v) + 32
        if n.startswith(":"):
            if n == ":method":
                method = v
            elif n == ":path":
                path = v
            elif n == ":authority":
                authority = v
            continue
        headers.append((n, v))
    return RequestFields(method, path, authority, headers, size)
