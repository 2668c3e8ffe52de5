"""What the app sees of one request, whatever protocol carried it.

`HttpRequest` is the parsed request head; `Exchange` is the per-request handle
the server layer implements for each protocol (h11, h2, aioquic), so the app
and the runtimes cannot tell HTTP/1.1 from HTTP/2 or HTTP/3 unless they ask.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl

from dynlan.http._headers import Headers

if TYPE_CHECKING:
    from dynlan.realtime import Tunnel


class ReplaySource(Protocol):
    """What a kept answer (`Exchange.allow_replay_while`) came from, other than a file: a response-cache entry."""

    def current(self) -> bool:
        """The kept answer is still what the full path would answer."""
        ...

    def hit(self) -> None:
        """A request was answered with the kept answer: counted as the full path counts its answer."""
        ...


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str
    path: str
    """Path as sent, still percent-encoded (static-file logic decodes it safely)."""
    query_string: str
    headers: Headers
    http_version: str
    scheme: str
    host: str
    client: tuple[str, int] | None
    request_id: str
    _query: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, parsed once on first use (values in order)."""
        if self._query is None:
            parsed: dict[str, list[str]] = {}
            for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                parsed.setdefault(k, []).append(v)
            self._query = parsed
        return self._query


def split_target(target: str) -> tuple[str, str, str | None]:
    """Split a request target into (path, query, authority).

    Handles origin-form `/p?q` and absolute-form `http://host/p?q` (RFC 9112
    §3.2.2: a server must accept absolute-form); `*` is returned as the path.
    """
    authority: str | None = None
    if not target.startswith("/") and "://" in target:
        scheme_end = target.index("://") + 3
        slash = target.find("/", scheme_end)
        if slash < 0:
            authority, target = target[scheme_end:], "/"
        else:
            authority, target = target[scheme_end:slash], target[slash:]
        q = target.find("?")
    else:
        q = target.find("?")
    if q >= 0:
        path, query = target[:q], target[q + 1 :]
    else:
        path, query = target, ""
    hash_at = path.find("#")
    if hash_at >= 0:
        path = path[:hash_at]
    return path, query, authority


class Exchange(Protocol):
    """One request/response exchange, implemented per protocol by the server layer."""

    request: HttpRequest

    async def receive(self) -> bytes:
        """The next chunk of the request body; b"" once it is complete.

        Raises HttpError(413) when the body passes the configured limit.
        """
        ...

    @property
    def request_trailers(self) -> list[tuple[str, str]]:
        """The request's trailer fields (lower-case names), once `receive` has returned b"": those after a
        chunked HTTP/1.1 body, or in the HEADERS that ended an HTTP/2 or HTTP/3 request. Never merged into
        the request's headers, which the page has already acted on."""
        ...

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None: ...

    async def send_body(self, data: bytes) -> None: ...

    async def finish(self, trailers: Sequence[tuple[str, str]] = ()) -> None:
        """End the response (and its body), with `trailers` as its trailer section where the protocol frames one:
        HTTP/2 and HTTP/3 always (a last HEADERS frame), HTTP/1.1 when the body goes chunked; a body sent with a
        Content-Length has no trailer section (RFC 9112 §7.1.2), and they are dropped. Fields that must not be
        trailers (`trailer_fields`) are dropped too."""
        ...

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Head, whole body and end in one go (the fast path for small responses)."""
        ...

    async def open_tunnel(self, headers: list[tuple[str, str]]) -> tuple[Tunnel, bytes]:
        """Accept a WebSocket handshake with `headers` (101 on HTTP/1.1, 200 on an HTTP/2 extended CONNECT):
        the request's connection or stream carries the tunnel's bytes from then on. Also returns the bytes the
        client sent after its request."""
        ...

    @property
    def replayable(self) -> bool:
        """Whether this request's answer could be kept and written again for the same request without the app
        (a plain HTTP/1.1 GET: `dynlan.server._replay`); False on HTTP/2 and HTTP/3, which keep nothing."""
        ...

    def allow_replay(self, path: str, st: os.stat_result) -> None:
        """Leave to keep this request's answer if it is a 200: the static file at `path`, as `st` (made before it
        was read) found it; nothing but the file and the request's plain fields decided it. Ignored where
        `replayable` is False."""
        ...

    def allow_replay_while(self, source: ReplaySource, until: float) -> None:
        """Leave to keep this request's answer if it is a 200, for as long as `source.current()` holds and no later
        than `until` (`time.monotonic()`); nothing but `source` and the request's plain fields decided it. Ignored
        where `replayable` is False."""
        ...

    @property
    def response_started(self) -> bool: ...

    @property
    def bytes_sent(self) -> int: ...

    @property
    def status(self) -> int: ...
