"""What HTTP/2 and HTTP/3 connections share, without either protocol's library: the HTTP/2
preface (to tell h2c from HTTP/1.1), stream and connection endings, and the error a closed
stream raises. `import dynlan.server` needs no `h2` or `aioquic` (the `http2` and `http3` extras)."""

from __future__ import annotations

from dataclasses import dataclass

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface (RFC 9113 §3.4)."""

# Connection-specific fields must not appear in HTTP/2 or HTTP/3 (RFC 9113 §8.2.2, RFC 9114 §4.2).
CONNECTION_FIELDS = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The client cancelled a stream (RST_STREAM, RESET_STREAM); its work should stop."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over: the peer sent GOAWAY, or this side gave up on it."""

    error_code: int
    reason: str = ""


class StreamClosed(Exception):
    """A frame could not be sent: the stream or the whole connection is closed."""
