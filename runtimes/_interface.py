"""The runtime interface every page language implements.

Lifecycle, as Caddy's modules provision/validate/cleanup:
`available()` (no side effects) -> `configure(cfg)` (strict) -> `await start(host)`
-> `begin(ctx)` per request (and, for a page that waits, the awaitable it returns) -> `await aclose()`;
`statistics()` any time.

Per site: `site_options(server, site, source, site_name)` is called once per site at start-up, with
the runtime's table from the server config and the one from the site's `dynlan.toml`; what it returns
is `PageContext.options` for that site's pages. A site's table may set only the keys in `site_keys`,
and only to values that tighten the server's policy: a site's `dynlan.toml` is not trusted.
`check_site_options()` does the part every runtime shares.

Optional: a runtime whose pages take CGI path info sets `path_info = True`
(PHP does); `/info.php/a/b` then runs `info.php` with `ctx.path_info == "/a/b"`.
Runtimes without the attribute keep answering only their pages' own paths.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dynlan.config import ConfigError

if TYPE_CHECKING:
    from dynlan.config import LimitsConfig
    from dynlan.host import Host, PageContext


@dataclass(frozen=True, slots=True)
class Availability:
    ok: bool
    version: str = ""
    reason: str = ""
    """Why the runtime cannot run (e.g. "lupa is not installed: pip install dynlan[lua]")."""

    def __str__(self) -> str:
        return "available" if self.ok else f"unavailable: {self.reason}"


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What `configure()` receives: the runtime's own table plus the server's defaults."""

    options: dict[str, Any]
    """The runtime's table from the config (`[lua]`, `[wren]`, ...); unknown keys are errors."""
    limits: LimitsConfig
    dev: bool


@runtime_checkable
class Runtime(Protocol):
    name: str
    """Short name, also the config table's name (`lua`)."""
    suffixes: tuple[str, ...]
    """Page file suffixes this runtime runs (`.lua`)."""
    site_keys: frozenset[str]
    """Keys of the runtime's table a site's `dynlan.toml` may set (empty: none); every other key is the
    server's. A key belongs here only if the runtime applies it per site (from `PageContext.options`)."""

    def available(self) -> Availability: ...

    def configure(self, cfg: RuntimeConfig) -> None:
        """Validate and take the server's configuration; raise `ConfigError` naming the bad key."""
        ...

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        """The options the site's pages run with: `server` (the server config's table) with `site` (the
        table of the site's `dynlan.toml`, named `source`; empty when it has none) on top.

        Raise `ConfigError` naming `source` and the key for a key outside `site_keys` and for a value
        that would loosen the server's policy. Called for every site at start-up, whether or not the
        runtime is available; no side effects.
        """
        ...

    async def start(self, host: Host) -> None: ...

    def begin(self, ctx: PageContext) -> Awaitable[None] | None:
        """Run the page `ctx.page` for one request, answering through `ctx`, up to where it first waits.

        None: the page ended here (or it raised). Otherwise, what runs the rest of it: the host awaits that
        within the request's wall-time budget. `begin` itself never waits (it is not a coroutine): a page
        that computes here is bounded by the runtime's own budgets. A runtime whose pages always wait
        returns its coroutine at once (`return self._run(ctx)`).
        """
        ...

    async def aclose(self) -> None: ...

    def statistics(self) -> dict[str, int | float]: ...


def check_site_options(
    runtime_name: str, site_keys: Collection[str], server: dict[str, Any], site: dict[str, Any], source: str,
    *, server_keys: Collection[str] = (),
) -> dict[str, Any]:
    """The part of `Runtime.site_options` every runtime shares: refuse keys a site may not set, merge.

    `server_keys` are the runtime's other keys (named as server settings in the error rather than as
    unknown). A key set in the server's table is a server setting too. Returns a new dict: the server's
    table with the site's keys on top; the runtime checks the values of its `site_keys` itself.
    """
    for key in site:
        if key in site_keys:
            continue
        if key in server_keys or key in server:
            raise ConfigError(f"{source}: [{runtime_name}] {key} is a server setting; set it in the server config")
        raise ConfigError(f"{source}: unknown key '{runtime_name}.{key}'")
    return {**server, **site}
