"""An upstream group at run time: each upstream's pool and health, and the balancing policy choosing among them.

State per upstream: requests in flight (least_conn, random_two), failures in a row and an ejection deadline
(passive health: `eject.fails` failures take it out for `eject.seconds`), and the active checks' verdict
(`health`). The idle keep-alive connections are not the group's: they are in the worker's pools (`_pool.py`),
by origin, shared with the other groups that name the same upstream and with pages' HTTP calls to it; `keepalive`
bounds how many idle ones this group leaves there per upstream.

A group lives as long as its `ProxySpec` is in the running configuration: `keep()` runs in the app's host nursery
for that time (health checks), and ends when a reload drops or changes the proxy table, or on shutdown.
"""

from __future__ import annotations

import logging
import random
import time
import zlib
from collections.abc import Callable, Sequence

import trio

from dynlan.proxy._client import ConnectFailed, Http1Connection, open_connection, upstream_origin
from dynlan.proxy._codec import ResponseEnd, ResponseHead
from dynlan.proxy._config import ProxySpec, Upstream
from dynlan.proxy._pool import Pools

log = logging.getLogger("dynlan")

KEEP_WAKE = 5.0
"""How often a group without health checks wakes to see if it is still wanted."""


class UpstreamState:
    __slots__ = ("upstream", "origin", "in_flight", "fails", "ejected_until", "healthy", "check_fails", "sticky")

    def __init__(self, upstream: Upstream, sticky: str) -> None:
        self.upstream = upstream
        self.origin = upstream_origin(upstream)
        self.in_flight = 0
        self.fails = 0
        self.ejected_until = 0.0
        self.healthy = True
        self.check_fails = 0
        self.sticky = sticky

    def available(self, now: float) -> bool:
        return self.healthy and self.ejected_until <= now


class Group:
    """The run-time side of one `ProxySpec`."""

    def __init__(self, spec: ProxySpec, pools: Pools | None = None) -> None:
        self.spec = spec
        self.pools = pools if pools is not None else Pools()
        """The worker's connection pools (a group made on its own has pools of its own)."""
        self.states = [UpstreamState(u, spec.sticky_id(u)) for u in spec.upstreams]
        self.by_sticky = {s.sticky: s for s in self.states}
        self._next = 0
        self._random = random.Random()
        self.closed = False
        self.started = False
        self.cancel_scope = trio.CancelScope()

    # -- choosing ------------------------------------------------------------------------------------------

    def choose(self, client: str, sticky: str | None, exclude: Sequence[UpstreamState] = ()) -> UpstreamState | None:
        """The upstream for a request by the policy, among those available and not in `exclude` (when none is
        available, among all not excluded: an upstream maybe back is better than a sure 502)."""
        states = self.states
        if len(states) == 1:
            # One upstream: every policy chooses it, out or not (an upstream maybe back beats a sure 502).
            return None if exclude else states[0]
        now = time.monotonic()
        candidates = [s for s in states if s not in exclude and s.available(now)]
        if not candidates:
            candidates = [s for s in self.states if s not in exclude]
            if not candidates:
                return None
        policy = self.spec.policy
        if policy == "cookie" and sticky is not None:
            named = self.by_sticky.get(sticky)
            if named is not None and named in candidates:
                return named
        if policy == "ip_hash":
            # A stable hash (not Python's per-process one), so every worker sends a client to the same upstream;
            # over the whole list first, so a client moves only when its own upstream is out.
            key = zlib.crc32(client.encode())
            preferred = self.states[key % len(self.states)]
            if preferred in candidates:
                return preferred
            return candidates[key % len(candidates)]
        if policy == "least_conn":
            low = min(s.in_flight for s in candidates)
            tied = [s for s in candidates if s.in_flight == low]
            self._next += 1
            return tied[self._next % len(tied)]
        if policy == "random_two" and len(candidates) > 1:
            # Power of two choices: two at random, the one with fewer requests in flight.
            a, b = self._random.sample(candidates, 2)
            return a if a.in_flight <= b.in_flight else b
        self._next += 1
        return candidates[self._next % len(candidates)]

    # -- outcomes ------------------------------------------------------------------------------------------

    def failed(self, state: UpstreamState, why: str) -> None:
        """A connect failure, timeout or broken connection: counts towards passive ejection."""
        state.fails += 1
        if state.fails >= self.spec.eject_fails:
            if state.ejected_until <= time.monotonic():
                log.warning("proxy: upstream %s ejected for %.1fs after %d failures (%s)", state.upstream.url,
                            self.spec.eject_seconds, state.fails, why)
            state.ejected_until = time.monotonic() + self.spec.eject_seconds

    def succeeded(self, state: UpstreamState) -> None:
        state.fails = 0

    # -- connections ---------------------------------------------------------------------------------------

    async def connection(self, state: UpstreamState) -> tuple[Http1Connection, bool]:
        """An idle pooled connection (this group's timeouts set on it), or a new one; (connection, reused)."""
        conn = self.pools.take(state.origin)
        if conn is not None:
            conn.timeouts = self.spec.timeouts
            return conn, True
        conn = await open_connection(state.upstream, self.spec.timeouts, self.spec.allow)
        conn.timer = self.pools.timer
        return conn, False

    def release(self, state: UpstreamState, conn: Http1Connection) -> None:
        """Back to the pool when it can carry another request; closed otherwise (and once the group is
        retired: its table's `keepalive` no longer applies)."""
        if self.closed:
            conn.close()
        else:
            self.pools.put(conn, self.spec.keepalive)

    # -- the group's own task ------------------------------------------------------------------------------

    async def keep(self, wanted: Callable[[], bool]) -> None:
        """Health checks while `wanted()`; the group is closed when it ends."""
        try:
            with self.cancel_scope:
                health = self.spec.health
                if health is None:
                    while wanted():
                        await trio.sleep(KEEP_WAKE)
                    return
                while wanted():
                    async with trio.open_nursery() as nursery:
                        for state in self.states:
                            nursery.start_soon(self._check, state)
                    await trio.sleep(health.interval)
        finally:
            self.close()

    def close(self) -> None:
        """Retire the group: its task ends; the pools' idle connections stay for whoever else uses them (the
        pools' own task closes those left idle)."""
        self.closed = True
        self.cancel_scope.cancel()

    async def _check(self, state: UpstreamState) -> None:
        health = self.spec.health
        assert health is not None
        ok = False
        why = ""
        try:
            with trio.fail_after(health.timeout):
                ok, why = await self._probe(state, health.path)
        except trio.TooSlowError:
            why = f"no answer within {health.timeout}s"
        url = state.upstream.url
        if ok:
            state.check_fails = 0
            if not state.healthy:
                log.warning("proxy: upstream %s is healthy again", url)
            state.healthy = True
            # A passing check also ends a passive ejection: the upstream answers again.
            state.ejected_until = 0.0
            state.fails = 0
            return
        state.check_fails += 1
        if state.healthy and state.check_fails >= health.fails:
            state.healthy = False
            log.warning("proxy: upstream %s is unhealthy after %d failed checks (%s)", url, state.check_fails, why)

    async def _probe(self, state: UpstreamState, path: str) -> tuple[bool, str]:
        try:
            conn = await open_connection(state.upstream, self.spec.timeouts, self.spec.allow)
        except ConnectFailed as exc:
            return False, str(exc)
        try:
            host = self.spec.host or state.upstream.default_host
            await conn.send_request("GET", path, [("host", host), ("user-agent", "dynlan-health"),
                                                  ("connection", "close")], chunked=False, body=False)
            status = 0
            while True:
                event = await conn.next_event()
                if isinstance(event, ResponseHead):
                    status = event.status
                elif isinstance(event, ResponseEnd):
                    break
            return 200 <= status < 400, f"status {status}"
        except Exception as exc:  # UpstreamBroken, UpstreamTimeout: a failed check, whatever broke
            return False, str(exc)
        finally:
            await conn.aclose()
