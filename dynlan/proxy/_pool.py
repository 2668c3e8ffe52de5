"""The worker's idle keep-alive connections to other servers, one pool per origin, shared by every user.

Proxy routes and pages' HTTP calls (`dynlan/host/_http.py`) take connections from the same pools: a proxied
request and a page's call to one upstream reuse one connection, as nginx's upstream keepalive and OpenResty's
cosocket pool share theirs. The pool is keyed by where the bytes go, never by who asks:

    ("http", "127.0.0.1", 9001, "")             plain TCP, by address (a proxy upstream named by address, a page's
                                                call after its allow list admitted the address it resolved to)
    ("http", "backend.internal", 9001, "")      a proxy upstream named by host name (resolved at each connect)
    ("https", "203.0.113.7", 443, "api.example.com")   TLS: reused only for the name it was verified for
    ("unix", "/run/app.sock", 0, "")            a Unix socket upstream

Sharing is safe across sites because nothing of a request stays on a connection that goes back to the pool: a
connection is pooled only after both messages ended whole (`reusable`), and what a page may write on it is
checked first (its fields cannot hold CR or LF, nor set the framing; dynlan/host/_http.py), so one user cannot
leave bytes on it for the next. Who may reach an origin is the users' check, made before they take from it.

LIFO per origin (the most recently used connection is the least likely to have been closed by the other side's
idle timeout). A connection idle for `CHECK_AFTER` seconds or more is checked before use (one poll: a readable
idle socket has its EOF, or bytes nobody asked for); one used more recently is not, since no server closes a
kept-alive connection that soon after answering on it without saying so, and a close racing the reuse is
covered by the users' retry of an idempotent request. Connections idle longer than `IDLE_SECONDS` are closed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import trio

from dynlan.proxy._timer import ReadTimer

if TYPE_CHECKING:
    from dynlan.proxy._client import Http1Connection

Origin = tuple[str, str, int, str]
"""(scheme, address or name, port, TLS server name): see the module's docstring."""

IDLE_SECONDS = 30.0
"""An idle pooled connection older than this is closed (most servers close theirs after 60-75 s; closing ours
first avoids sending a request on a connection the other side is closing at that moment)."""
CHECK_AFTER = 1.0
"""An idle connection this old or older is polled before reuse (the shortest keep-alive timeouts servers use by
default are 2 to 5 seconds)."""
IDLE_TOTAL = 1024
"""Idle connections kept in all; past it, the oldest go."""
KEEP_WAKE = 5.0
"""How often the pool's task drops connections idle for longer than IDLE_SECONDS."""
EXTRA_KEY = "upstream_pools"
"""Where the worker's pools live in the host's services (`Host.extra`)."""


class Pools:
    """Idle connections by origin."""

    __slots__ = ("idle", "count", "closed", "started", "timer")

    def __init__(self) -> None:
        self.timer = ReadTimer()
        """The read timeouts of the connections taken from these pools (its task runs beside the pools')."""
        self.idle: dict[Origin, list[Http1Connection]] = {}
        self.count = 0
        self.closed = False
        self.started = False

    @staticmethod
    def of(extra: dict[str, Any], nursery: trio.Nursery | None = None) -> Pools:
        """The worker's pools, kept in the host's services (made on first use; with the host's nursery, its
        task prunes them while the server runs and closes them when it stops)."""
        pools = extra.get(EXTRA_KEY)
        if not isinstance(pools, Pools):
            pools = extra[EXTRA_KEY] = Pools()
        if not pools.started and nursery is not None:
            pools.started = True
            nursery.start_soon(pools.keep)
            nursery.start_soon(pools.timer.run)
        return pools

    def take(self, origin: Origin) -> Http1Connection | None:
        """An idle connection to `origin` that can carry a request, or None."""
        idle = self.idle.get(origin)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self.count -= 1
            age = now - conn.idle_since
            if age < CHECK_AFTER or (age < IDLE_SECONDS and conn.looks_alive()):
                return conn
            conn.close()
        return None

    def put(self, conn: Http1Connection, limit: int) -> None:
        """Back to the pool when it can carry another request and its origin has fewer than `limit` idle
        connections; closed otherwise."""
        if self.closed or not conn.reusable:
            conn.close()
            return
        idle = self.idle.get(conn.origin)
        if idle is None:
            idle = self.idle[conn.origin] = []
        if len(idle) >= limit:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)
        self.count += 1
        if self.count > IDLE_TOTAL:
            self.drop_idle(older_than=0.0, keep=IDLE_TOTAL // 2)

    def drop_idle(self, older_than: float, keep: int | None = None) -> None:
        """Close the connections idle since before `older_than` (monotonic); with `keep`, also all but the `keep`
        most recently used."""
        everyone = sorted((c for conns in self.idle.values() for c in conns), key=lambda c: c.idle_since)
        cut = len(everyone) - keep if keep is not None else 0
        dropped = {id(c) for i, c in enumerate(everyone) if i < cut or c.idle_since < older_than}
        if not dropped:
            return
        for origin in list(self.idle):
            kept = []
            for conn in self.idle[origin]:
                if id(conn) in dropped:
                    conn.close()
                else:
                    kept.append(conn)
            if kept:
                self.idle[origin] = kept
            else:
                del self.idle[origin]
        self.count = sum(len(conns) for conns in self.idle.values())

    async def keep(self) -> None:
        """Drop old idle connections every KEEP_WAKE seconds while the server runs; close them all at its end."""
        try:
            while True:
                await trio.sleep(KEEP_WAKE)
                self.drop_idle(time.monotonic() - IDLE_SECONDS)
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()
        self.count = 0

    def statistics(self) -> dict[str, int]:
        return {"idle": self.count, "origins": len(self.idle)}
