"""Live reload: re-read the server config and every site's `dynlan.toml`, validate them, swap them in.

A reload (SIGHUP, or `dynlan reload` over the control socket) builds a complete
new configuration beside the running one, with everything start-up checks: the
server config, each site's `dynlan.toml` and rules, its page routes, each
runtime's options (a runtime's server table through `configure()` on a fresh
instance, a site's through `site_options()`), and whatever the server itself
derives from the config (TLS certificates). Only when all of it holds are
runtimes that no site used before configured and started, and the new sites
and config assigned to the app in one step, with no checkpoint in between:
a request picks its site once, so requests in flight finish on the old one.

A bad config is refused as a whole: one log line names the file and key, the
reply says why, and the running configuration stays. Settings that cannot
change while the process serves (`RESTART_ONLY`) keep their running value,
each with a "needs a restart" line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from dynlan.app._sites import Site, prepare_sites
from dynlan.config import Config, ConfigError
from dynlan.runtimes import Registry, Runtime, RuntimeConfig

if TYPE_CHECKING:
    from dynlan.app._app import App

log = logging.getLogger("dynlan")

RESTART_ONLY: tuple[tuple[str, ...], ...] = (
    ("server", "host"), ("server", "port"), ("server", "workers"), ("server", "backlog"),
    ("server", "control_socket"),
    ("http", "http2"), ("http", "http3"), ("http", "h3_idle_timeout"), ("http", "h3_retry"),
    ("http", "qpack_max_table_capacity"), ("http", "qpack_blocked_streams"),
    ("tls", "self_signed"), ("tls", "redirect_port"),
    ("cache", "backend"), ("cache", "max_bytes"), ("cache", "url"), ("cache", "prefix"), ("cache", "responses"),
    ("cache", "response_max_bytes"), ("cache", "response_max_entry"), ("cache", "stale_if_error"),
    ("cache", "responses_backend"), ("ratelimit", "store"), ("ratelimit", "on_error"), ("sessions", "store"),
    ("sessions", "secret"), ("sessions", "cookie"), ("sessions", "max_age"), ("sessions", "on_error"),
    ("sessions", "site_max_bytes"),
    ("dev",),
)
"""Settings a serving process cannot change: the sockets it listens on and how (bound by the supervisor, ALPN
and QUIC set up once), its worker count, the host services made at start-up (the cache and the response cache, the stores of rate
limits and sessions),
and development mode (runtimes are configured with it). The rest of the server config, every site's
`dynlan.toml`, certificates (same TLS on/off), and the runtime tables of runtimes not yet running reload."""

LoadConfig = Callable[[], Config]
"""Reads the server config as `dynlan serve` does at start (its file, then the command line); ConfigError."""
Discover = Callable[[Config], tuple[dict[str, Site], Site]]
"""Finds the sites and reads their `dynlan.toml` with a server config; ConfigError."""
Preparer = Callable[[Config, Config], Callable[[], None]]
"""Checks a new config against the running one (old, new) beyond the app (the server's certificates); returns
what applies it at the swap, or raises ConfigError. Runs in a thread: no trio, no shared state changed."""


@dataclass(slots=True)
class Prepared:
    """A validated configuration, ready to be swapped in."""

    config: Config
    sites: dict[str, Site]
    default: Site
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    """Runtimes no site used before, configured, to start before the swap."""
    restart_needed: list[str] = field(default_factory=list)
    commits: list[Callable[[], None]] = field(default_factory=list)


def _get(config: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        config = getattr(config, name)
    return config


def _set(config: Any, path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        config = getattr(config, name)
    setattr(config, path[-1], value)


def keep_restart_settings(old: Config, new: Config, running: frozenset[str]) -> list[str]:
    """Give `new` the running value of every setting that needs a restart; the keys that differed.

    `running` names the runtimes started in this process: their server table is theirs until a restart.
    """
    changed: list[str] = []
    for path in RESTART_ONLY:
        if _get(old, path) != _get(new, path):
            changed.append(".".join(path))
            _set(new, path, _get(old, path))
    if old.tls.enabled != new.tls.enabled:
        # TLS on or off changes what the listeners speak: the whole section stays.
        changed.append("tls")
        new.tls = dataclasses.replace(old.tls)
    for name in sorted(running):
        if old.runtimes.get(name, {}) != new.runtimes.get(name, {}):
            changed.append(f"[{name}]")
            new.runtimes[name] = old.runtimes.get(name, {})
    return changed


def fresh_registry() -> Registry:
    """New runtime instances from the entry points: checked and configured without touching the running ones."""
    registry = Registry()
    registry.load_entry_points()
    return registry


class Reloader:
    """Reloads one serving process's configuration (`reload()`), one reload at a time."""

    def __init__(
        self, app: App, load_config: LoadConfig, discover: Discover, *,
        registry: Callable[[], Registry] = fresh_registry,
    ) -> None:
        self.app = app
        self._load_config = load_config
        self._discover = discover
        self._registry = registry
        self.preparers: list[Preparer] = []
        """Checks beyond the app (the server's own), run before anything is swapped."""
        self.swapped: list[Callable[[Config], None]] = []
        """Called with the new config right after the swap, in the same step."""
        self._lock = trio.Lock()
        self._started: list[Runtime] = []
        self.reloads = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Runtimes a reload starts live as long as this context (inside the app's `running()`)."""
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                for runtime in reversed(self._started):
                    try:
                        await runtime.aclose()
                    except Exception:
                        log.exception("runtime %s failed to close", runtime.name)
                self._started.clear()

    async def _close(self, *runtimes: Runtime) -> None:
        """Close runtimes a refused reload started: the running configuration never used them."""
        with trio.CancelScope(shield=True):
            for runtime in runtimes:
                self._started.remove(runtime)
                try:
                    await runtime.aclose()
                except Exception:
                    log.exception("runtime %s failed to close", runtime.name)

    def prepare(self, old: Config, running: frozenset[str]) -> Prepared:
        """Read and check everything (blocking file I/O: run it in a thread). Raises ConfigError."""
        config = self._load_config()
        registry = self._registry()
        for name in sorted(running):
            # A running runtime's changed table is checked as start-up would, then kept at its running value
            # (a runtime is configured once): a bad one is refused now rather than when a worker starts.
            runtime = registry.get(name)
            if runtime is not None and old.runtimes.get(name, {}) != config.runtimes.get(name, {}):
                runtime.configure(RuntimeConfig(dict(config.runtimes.get(name, {})), config.limits, config.dev))
        restart_needed = keep_restart_settings(old, config, running)
        sites, default = self._discover(config)
        used = prepare_sites(config, sites, registry, self.app.sites)
        prepared = Prepared(config, sites, default, restart_needed=restart_needed)
        for name in sorted(used - running):
            runtime = registry.get(name)
            if runtime is None:
                continue
            availability = runtime.available()
            if not availability.ok:
                log.warning("runtime %s is %s; its pages answer 503", name, availability)
                continue
            runtime.configure(RuntimeConfig(dict(config.runtimes.get(name, {})), config.limits, config.dev))
            prepared.runtimes[name] = runtime
        prepared.commits = [preparer(old, config) for preparer in self.preparers]
        return prepared

    async def reload(self) -> dict[str, Any]:
        """Re-read and swap in the configuration; the reply of the `reload` control operation."""
        async with self._lock:
            app = self.app
            old = app.config
            running = frozenset(app.runtimes)
            try:
                prepared = await trio.to_thread.run_sync(self.prepare, old, running)
            except (ConfigError, OSError) as exc:
                # One line, naming the file and the key (ConfigError) or the file that could not be read.
                log.error("reload refused, the running configuration stays: %s", exc)
                return {"ok": False, "pid": os.getpid(), "error": str(exc)}
            except Exception as exc:
                # A bug in a check must not take the serving process down with it.
                log.exception("reload refused, the running configuration stays: checking it failed")
                return {"ok": False, "pid": os.getpid(), "error": f"checking the configuration failed: {exc!r}"}
            host = app.host
            if prepared.runtimes and host is None:
                log.error("reload refused, the running configuration stays: the app is not running")
                return {"ok": False, "pid": os.getpid(), "error": "the app is not running"}
            started: dict[str, Runtime] = {}
            for name, runtime in prepared.runtimes.items():
                assert host is not None
                self._started.append(runtime)
                try:
                    await runtime.start(host)
                except Exception as exc:
                    await self._close(runtime, *reversed(started.values()))
                    log.error("reload refused, the running configuration stays: runtime %s failed to start: %s",
                              name, exc)
                    return {"ok": False, "pid": os.getpid(), "error": f"runtime {name} failed to start: {exc}"}
                started[name] = runtime
            # The swap: no checkpoint from here on, so no request sees half of it.
            app.runtimes = {**app.runtimes, **started}
            app.config, app.sites, app.default = prepared.config, prepared.sites, prepared.default
            app.pipeline.static.forget()  # cached resolutions followed the old sites' [static] settings
            app.pipeline.proxies.start_all()  # the new proxy tables' groups; the dropped ones' end
            for commit in prepared.commits:
                commit()
            for listener in self.swapped:
                listener(prepared.config)
            # A cached response was made under the old rules, headers and pages: none may outlive them.
            purged = host.responses.purge() if host is not None and host.responses is not None else 0
            self.reloads += 1
            for key in prepared.restart_needed:
                log.warning("reload: %s changed; it needs a restart and keeps its running value until then", key)
            names = ", ".join(prepared.sites)
            extra = f"; started {', '.join(started)}" if started else ""
            log.info("reloaded the configuration (pid %d): sites %s (default %s)%s", os.getpid(), names,
                     prepared.default.name, extra)
            return {"ok": True, "pid": os.getpid(), "sites": list(prepared.sites), "default": prepared.default.name,
                    "started": list(started), "restart_needed": prepared.restart_needed, "purged": purged}
