"""The proxy groups of the running configuration, each with its task in the app's host nursery.

The app's `running()` makes a group for every `proxy` table (`start_all`) and starts its `keep()` task (health
checks, idle connections) in the host nursery, which `running()` owns: shutdown cancels it. A reload does the
same with the new rules: a `ProxySpec` equal to a running one keeps its group (pools, health and ejections carry
over); the others are closed, and their tasks end. Requests in flight on a retired group finish; their
connections are then closed. (A group is also made at the first request that needs it, should it be missing.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynlan.http import HttpError
from dynlan.proxy._config import ProxySpec
from dynlan.proxy._forward import forward
from dynlan.proxy._group import Group
from dynlan.proxy._pool import Pools

if TYPE_CHECKING:
    from dynlan.app._app import App
    from dynlan.app._exchange import SiteExchange
    from dynlan.realtime import Offer


class ProxyService:
    """The app's upstream groups (one per distinct `proxy` table of the running configuration)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.groups: dict[ProxySpec, Group] = {}
        self._config: Any = None
        self._live: frozenset[ProxySpec] = frozenset()
        self._by_id: dict[int, tuple[ProxySpec, Group]] = {}

    def live(self) -> frozenset[ProxySpec]:
        """The proxy tables of the running configuration (found again after a reload swapped it)."""
        config = self.app.config
        if config is not self._config:
            self._config = config
            sites = self.app.sites
            self._live = frozenset(spec for site in sites.values() for spec in site.rules.proxies())
            for spec, group in list(self.groups.items()):
                if spec not in self._live:
                    del self.groups[spec]
                    group.close()
        return self._live

    def group(self, spec: ProxySpec) -> Group:
        """The running group of `spec`, made and started on first use."""
        # By the rule's own table first: hashing a ProxySpec walks all its fields, on every request.
        known = self._by_id.get(id(spec))
        if known is not None and known[0] is spec and not known[1].closed and known[1].started:
            return known[1]
        group = self.groups.get(spec)
        if group is None or group.closed:
            self.live()
            group = self.groups[spec] = Group(spec, self.pools())
        if not group.started:
            host = self.app.host
            if host is not None and host.nursery is not None:
                group.started = True
                host.nursery.start_soon(group.keep, lambda: spec in self.live() and not group.closed)
        if len(self._by_id) > 1000:
            self._by_id.clear()  # tables of configurations long reloaded away
        self._by_id[id(spec)] = (spec, group)
        return group

    def pools(self) -> Pools:
        """The worker's connection pools, shared with pages' HTTP calls (kept in the host's services)."""
        host = self.app.host
        if host is None:
            return Pools()
        return Pools.of(host.extra, host.nursery)

    def start_all(self) -> None:
        """Make and start the group of every proxy table of the running configuration (at start and after a
        reload: health checks run before the first request); the others' tasks end."""
        self._config = None  # the configuration may just have been swapped
        for spec in self.live():
            self.group(spec)

    async def forward(self, ex: SiteExchange, spec: ProxySpec, target: str, peer: str, trusted_peer: bool,
                      websocket: Offer | None = None) -> None:
        """Forward the request on `ex` by `spec` (HttpError 502/504 before a response starts); `websocket`: the
        request's WebSocket handshake, passed through."""
        if self.app.host is None:
            raise HttpError(503, "the server is not running")
        await forward(self.group(spec), ex, target, peer, trusted_peer, websocket)

    def statistics(self) -> dict[str, Any]:
        return {
            ",".join(u.url for u in spec.upstreams): [
                {"url": s.upstream.url, "in_flight": s.in_flight, "healthy": s.healthy, "fails": s.fails,
                 "idle": len(group.pools.idle.get(s.origin, ()))} for s in group.states
            ]
            for spec, group in self.groups.items()
        }
