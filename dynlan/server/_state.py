"""Server-wide state the connection handlers share: shutdown and idle tracking."""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import os
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import trio


class ServerState:
    """Shutdown coordination: idle connections close at once, busy ones after their request, and requests
    still running when the grace period ends are cut short."""

    def __init__(self) -> None:
        self.shutting_down = False
        self.connections: set[Any] = set()
        """Open connections; each has `cancel_if_idle()`."""
        self.running: set[trio.CancelScope] = set()
        """The scope of each request the app is answering (`answering()`)."""
        self.active_connections = 0
        self.all_closed = trio.Event()
        self.all_closed.set()

    def begin_shutdown(self) -> None:
        self.shutting_down = True
        for conn in list(self.connections):
            conn.cancel_if_idle()

    def answering(self) -> _Answering:
        """Scope the app's work on one request: `end_grace()` cancels it (see `cancelled_caught`).

        A class, not a generator context manager: it runs once per request on every protocol.
        """
        return _Answering(self.running)

    def end_grace(self) -> int:
        """The grace period is over: stop every request still running; how many there were."""
        scopes = list(self.running)
        for scope in scopes:
            scope.cancel()
        return len(scopes)

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Scope a connection that speaks no HTTP yet (TLS handshake, first bytes).

        Nothing is in flight on it, so a shutdown cancels the scope at once, as it
        closes an idle keep-alive connection, instead of waiting out a timeout.
        """
        pending = _Opening()
        self.connections.add(pending)
        if self.shutting_down:
            pending.scope.cancel()
        try:
            with pending.scope:
                yield
        finally:
            self.connections.discard(pending)

    def connection_opened(self) -> None:
        self.active_connections += 1
        if self.all_closed.is_set():
            self.all_closed = trio.Event()

    def connection_closed(self) -> None:
        self.active_connections -= 1
        if self.active_connections == 0:
            self.all_closed.set()


class _Answering:
    """`with state.answering() as scope:` the request's cancel scope, in `running` while it is entered."""

    __slots__ = ("_running", "_scope")

    def __init__(self, running: set[trio.CancelScope]) -> None:
        self._running = running
        self._scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        scope = self._scope.__enter__()
        self._running.add(scope)
        return scope

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> bool:
        self._running.discard(self._scope)
        return self._scope.__exit__(exc_type, exc, tb)


class _Opening:
    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope = trio.CancelScope()

    def cancel_if_idle(self) -> None:
        self.scope.cancel()


class DateCache:
    """The `Date` header (RFC 9110 §6.6.1), formatted once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = email.utils.formatdate(now, usegmt=True)
        return self._value


DATE = DateCache()

_ID_PREFIX = os.urandom(3).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A short id, unique per process run, that ties log lines to a response."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):06x}"
