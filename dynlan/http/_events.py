"""Protocol events, the same for HTTP/1.1, HTTP/2 and HTTP/3.

Each protocol core (h11, h2, aioquic) turns bytes into these; the server layer
and the app never see a library's own event types.
"""

from __future__ import annotations

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
