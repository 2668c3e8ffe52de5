"""The exchange as a site's pipeline sees it: the site's body limit, and the rules' header edits.

Every answer of a request (a page's, a static file's, a 304, an error page,
a rule's own) leaves through `respond` or `send_head` of this one wrapper, on
HTTP/1.1, HTTP/2 and HTTP/3 alike, so header edits apply to all of them; and
every body byte a page reads comes through `receive`, the one place the body
limit is counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dynlan.http import Exchange, HttpError, HttpRequest, ReplaySource

if TYPE_CHECKING:
    from dynlan.realtime import Tunnel

HeaderEdit = Callable[[list[tuple[str, str]]], list[tuple[str, str]]]


class SiteExchange:
    """Implements `Exchange` over the server's exchange of one request."""

    __slots__ = ("_inner", "_received", "edit", "max_body_size", "request", "untouched")

    def __init__(self, inner: Exchange, max_body_size: int) -> None:
        self._inner = inner
        self.request: HttpRequest = inner.request
        self.max_body_size = max_body_size
        """The site's `[http] max_body_size`: more body than this is a 413 (RFC 9110 §15.5.14)."""
        self.edit: HeaderEdit | None = None
        """Applied to the head of whatever answers this request (the rules' `headers` edits)."""
        self.untouched = True
        """No rule of the site applies to the request (`Outcome.untouched`; set by the pipeline)."""
        self._received = 0

    def check_declared_body(self) -> None:
        """Refuse a body whose declared length is over the limit before anything reads it or runs."""
        declared = self.request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            raise HttpError(413, "request body too large", close=True)

    async def receive(self) -> bytes:
        data = await self._inner.receive()
        self._received += len(data)
        if self._received > self.max_body_size:
            # The rest of the body is unread: the connection cannot carry another request.
            raise HttpError(413, "request body too large", close=True)
        return data

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self._inner.send_head(status, headers if self.edit is None else self.edit(headers))

    async def send_body(self, data: bytes) -> None:
        await self._inner.send_body(data)

    async def send_file(self, fd: int, offset: int, length: int) -> None:
        # Every server exchange has send_file (sendfile(2) on plain HTTP/1.1); the static
        # handler falls back to reading for an exchange without it.
        await self._inner.send_file(fd, offset, length)  # type: ignore[attr-defined]

    async def finish(self, trailers: Sequence[tuple[str, str]] = ()) -> None:
        if not self._inner.response_started and self.edit is not None:
            await self._inner.send_head(204, self.edit([]))
        # Trailers pass as they are: the rules' edits are of the head, which is what caches and clients act on.
        await self._inner.finish(trailers)

    @property
    def replayable(self) -> bool:
        """`Exchange.replayable`, for a request no rule applies to: a rule may answer the same request otherwise
        (an address, a credential, a rate limit) or edit its answer."""
        return self.untouched and self._inner.replayable

    def allow_replay(self, path: str, st: os.stat_result) -> None:
        if self.untouched:
            self._inner.allow_replay(path, st)

    def allow_replay_while(self, source: ReplaySource, until: float) -> None:
        if self.untouched:
            self._inner.allow_replay_while(source, until)

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        await self._inner.respond(status, headers if self.edit is None else self.edit(headers), body)

    async def open_tunnel(self, headers: list[tuple[str, str]]) -> tuple[Tunnel, bytes]:
        return await self._inner.open_tunnel(headers if self.edit is None else self.edit(headers))

    @property
    def request_trailers(self) -> list[tuple[str, str]]:
        return self._inner.request_trailers

    @property
    def response_started(self) -> bool:
        return self._inner.response_started

    @property
    def bytes_sent(self) -> int:
        return self._inner.bytes_sent

    @property
    def status(self) -> int:
        return self._inner.status
