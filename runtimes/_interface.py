"""The runtime interface every page language implements.

Lifecycle, as Caddy's modules provision/validate/cleanup:
`available()` (no side effects) -> `configure(cfg)` (strict) -> `await start(host)`
-> `await handle(ctx)` per request -> `await aclose()`; `statistics()` any time.

Optional: a runtime whose pages take CGI path info sets `path_info = True`
(PHP does); `/info.php/a/b` then runs `info.php` with `ctx.path_info == "/a/b"`.
Runtimes without the attribute keep answering only their pages' own paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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

    def available(self) -> Availability: ...

    def configure(self, cfg: RuntimeConfig) -> None:
        """Validate and take the configuration; raise `ConfigError` naming the bad key."""
        ...

    async def start(self, host: Host) -> None: ...

    async def handle(self, ctx: PageContext) -> None:
        """Run the page `ctx.page` for one request, answering through `ctx`."""
        ...

    async def aclose(self) -> None: ...

    def statistics(self) -> dict[str, int | float]: ...
