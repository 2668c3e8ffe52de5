"""The app: the runtimes' lifecycle, and each request handed to its site's pipeline (`_pipeline.py`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from dynlan.app._pipeline import Pipeline
from dynlan.app._sites import Site, prepare_sites
from dynlan.config import CacheConfig, Config
from dynlan.host import CacheBackend, Host, MemoryCache, ResponseCache
from dynlan.host._redis import RedisLink
from dynlan.host._shared import SharedStore
from dynlan.http import Exchange
from dynlan.ratelimit import RateLimiter
from dynlan.runtimes import Registry, Runtime, RuntimeConfig
from dynlan.runtimes import registry as runtime_registry
from dynlan.sessions import MemorySessions, RedisSessions, SessionService

log = logging.getLogger("dynlan")


def make_cache(cfg: CacheConfig) -> CacheBackend:
    if cfg.backend == "redis":
        from dynlan.host._redis import RedisCache

        return RedisCache(cfg.url, cfg.prefix)
    return MemoryCache(cfg.max_bytes)


class App:
    def __init__(self, config: Config, sites: dict[str, Site], default: Site) -> None:
        self.config = config
        self.sites = sites
        self.default = default
        self.dev = config.dev

        self.runtimes: dict[str, Runtime] = {}
        self._registry: Registry | None = None
        self.host: Host | None = None
        self._broadcast: Callable[[dict[str, Any]], None] | None = None
        self.pipeline = Pipeline(self)
        self.limiter: RateLimiter | None = None
        """Counts requests of rules with a `rate_limit` (dynlan.ratelimit); set while the app runs."""
        self.shared: SharedStore | None = None
        """What the instance's worker processes share (dynlan.host._shared)."""
        self.redis: RedisLink | None = None
        """The Redis link of rate limits, sessions and purges, when the config names Redis for any of them."""

    def prepare(self, registry: Registry | None = None) -> None:
        """Configure the runtimes and build each site's page routes (errors are ConfigErrors)."""
        reg = registry if registry is not None else runtime_registry()
        for name in sorted(prepare_sites(self.config, self.sites, reg)):
            runtime = reg.get(name)
            assert runtime is not None
            availability = runtime.available()
            if not availability.ok:
                log.warning("runtime %s is %s; its pages answer 503", name, availability)
                continue
            runtime.configure(RuntimeConfig(dict(self.config.runtimes.get(name, {})), self.config.limits, self.dev))
            self.runtimes[name] = runtime
        self._registry = reg

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Runtimes and host services live as long as this context."""
        async with trio.open_nursery() as nursery:
            cfg = self.config.cache
            self.host = Host(cache=make_cache(cfg), dev=self.dev, nursery=nursery, broadcast_purge=self._broadcast_purge)
            if cfg.responses:
                self.host.responses = ResponseCache(
                    cfg.response_max_bytes, max_entry=cfg.response_max_entry, stale_if_error=cfg.stale_if_error,
                )
            await self._start_shared(nursery)
            started: list[Runtime] = []
            try:
                for runtime in self.runtimes.values():
                    await runtime.start(self.host)
                    started.append(runtime)
                self.pipeline.proxies.start_all()  # upstream groups and their health checks (docs/proxy.md)
                yield
            finally:
                with trio.CancelScope(shield=True):
                    for runtime in reversed(started):
                        try:
                            await runtime.aclose()
                        except Exception:
                            log.exception("runtime %s failed to close", runtime.name)
                    await self.host.cache.aclose()
                    if self.redis is not None:
                        await self.redis.aclose()
                    if self.shared is not None:
                        self.shared.close()
                nursery.cancel_scope.cancel()

    async def _start_shared(self, nursery: trio.Nursery) -> None:
        """What is shared with the instance's other workers and with other instances: rate-limit counters,
        sessions, purges (docs/deploy.md). A store's choice is read at start; a reload keeps it."""
        config = self.config
        assert self.host is not None
        uses_redis = "redis" in (config.cache.backend, config.ratelimit.store, config.sessions.store,
                                 config.cache.responses_backend)
        self.shared = SharedStore.for_process()
        if uses_redis:
            self.redis = RedisLink(config.cache.url, config.cache.prefix)
        self.limiter = RateLimiter.from_config(config.ratelimit, self.shared, self.redis)
        store = RedisSessions(self.redis) if config.sessions.store == "redis" and self.redis is not None \
            else MemorySessions(self.shared, config.sessions.site_max_bytes)
        self.host.sessions = SessionService(config.sessions, store)
        if self.redis is not None and self.host.responses is not None and config.cache.responses_backend == "redis":
            from dynlan.host._respcache import SharedResponses

            self.host.responses.shared = SharedResponses(self.redis, self.host.responses)
        if self.redis is not None:
            from dynlan.host._purges import PurgeChannel

            channel = PurgeChannel(self.redis, self.host.responses)
            self.host.publish_purge = channel.publish_nowait
            await nursery.start(channel.run)
        if config.cache.backend == "redis":
            from dynlan.realtime._channels import hub_for

            await hub_for(self.host).start_redis()

    # -- the server's other processes ----------------------------------------------------

    def set_broadcast(self, broadcast: Callable[[dict[str, Any]], None]) -> None:
        """How to reach the server's other processes (purges made by pages go to all of them)."""
        self._broadcast = broadcast

    def _broadcast_purge(self, message: dict[str, str]) -> None:
        if self._broadcast is not None:
            # `relayed`: the other workers make it without publishing it again to the other instances.
            self._broadcast({"op": "purge", "relayed": True, **message})

    def unavailable_reason(self, name: str) -> str:
        """Why a runtime's pages answer 503."""
        runtime = self._registry.get(name) if self._registry is not None else None
        return str(runtime.available()) if runtime is not None else "not installed"

    # -- requests ----------------------------------------------------------------------

    async def handle(self, exchange: Exchange) -> None:
        # Read once: a reload swaps `config`, `sites` and `default`, and this request ends on the ones it began with.
        config, sites, default = self.config, self.sites, self.default
        site = site_for(sites, default, exchange.request.host)
        await self.pipeline.handle(exchange, site, config.server.trusted_proxies)


def site_for(sites: dict[str, Site], default: Site, host: str) -> Site:
    """The site a `Host` names (the default one for an unknown or missing name)."""
    if not host:
        return default
    name = host.lower()
    # An IPv6 literal keeps its brackets ([::1]:8080); otherwise drop the port.
    name = name[: name.find("]") + 1] if name.startswith("[") else name.partition(":")[0]
    return sites.get(name, default)
