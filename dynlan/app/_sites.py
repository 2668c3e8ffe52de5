"""Sites: one folder of pages, or a folder of such folders matched on `Host`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynlan.app._errors import ErrorPages
from dynlan.app._router import Router
from dynlan.app._rules import Rules
from dynlan.config import Config, ConfigError, SiteConfig, site_config
from dynlan.host._fs import SiteFs
from dynlan.runtimes import Registry

log = logging.getLogger("dynlan")

SITE_CONFIG_NAME = "dynlan.toml"


@dataclass(slots=True)
class Site:
    name: str
    root: str
    """Absolute, symlink-free path of the site folder."""
    config: SiteConfig
    config_file: str = ""
    """The site's `dynlan.toml` as named in errors (whether or not it exists)."""
    cache_namespace: str = ""
    """The page cache namespace of the site: its name, or the shared one the server config grants it
    (`[cache.share]`). Empty: the site's name."""
    router: Any = None
    """The site's page router (set once runtimes are known)."""
    runtime_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What each runtime's pages of this site run with (`PageContext.options`): the runtime's
    `site_options()` of the server's table and the site's (set by `App.prepare`)."""
    fs: SiteFs = field(init=False)
    errors: ErrorPages = field(init=False)
    """The site's `errors/` pages, read again when they change."""

    @property
    def rules(self) -> Rules:
        """The site's `[[route]]` rules, then the server's (compiled when its config was read)."""
        return self.config.rules

    def __post_init__(self) -> None:
        self.fs = SiteFs(self.root)
        self.errors = ErrorPages(self.root, self.config.static.symlinks)
        if not self.cache_namespace:
            self.cache_namespace = self.name


def _is_site_content(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith((".", "_")) and entry.is_file()


def _cache_namespaces(config: Config, sites: dict[str, Site]) -> dict[str, list[str]]:
    """`[cache.share]` checked against the sites there are: namespace -> the sites that use it."""
    for namespace, members in config.cache.share.items():
        for member in members:
            if member not in sites:
                raise ConfigError(f"cache.share.{namespace}: no site named '{member}' (have: {', '.join(sites)})")
        if namespace in sites:
            # A shared namespace named after a site would be that site's own namespace: the group's sites
            # would read and write that site's entries without the site being granted anything.
            raise ConfigError(f"cache.share.{namespace}: '{namespace}' is a site's own namespace; "
                              f"give the shared one another name")
    return config.cache.share


def discover_sites(path: Path, config: Config, runtime_names: frozenset[str] = frozenset()) -> tuple[dict[str, Site], Site]:
    """Sites under `path` and the default one.

    `path` is one site when it holds files (or a `dynlan.toml`); otherwise each
    sub-folder is a site named after the folder, matched on the `Host` header.
    """
    if not path.exists():
        raise ConfigError(f"{path}: no such folder")
    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder")
    root = path.resolve()
    with os.scandir(root) as it:
        entries = list(it)
    single = (root / SITE_CONFIG_NAME).is_file() or any(_is_site_content(e) for e in entries)
    folders = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith((".", "_")))
    sites: dict[str, Site] = {}
    # Files are named in errors as the operator named the folder (`sites/a.test/dynlan.toml`).
    if single or not folders:
        shown = path / SITE_CONFIG_NAME
        site = Site(root.name.lower(), str(root), site_config(config, shown, runtime_names), str(shown))
        sites[site.name] = site
    else:
        for name in folders:
            shown = path / name / SITE_CONFIG_NAME
            sites[name.lower()] = Site(
                name.lower(), str((root / name).resolve()), site_config(config, shown, runtime_names), str(shown)
            )
    for namespace, members in _cache_namespaces(config, sites).items():
        for member in members:
            sites[member].cache_namespace = namespace
    wanted = config.server.default_site.lower()
    if wanted:
        if wanted not in sites:
            raise ConfigError(f"server.default_site: no site named '{wanted}' (have: {', '.join(sites)})")
        default = sites[wanted]
    else:
        default = next(iter(sites.values()))
    return sites, default


def page_suffixes(registry: Registry) -> tuple[dict[str, str], frozenset[str]]:
    """Page suffix -> runtime name, and the suffixes whose pages take path info (as `App.prepare` builds them)."""
    suffixes: dict[str, str] = {}
    path_info: set[str] = set()
    for runtime in registry:
        for suffix in runtime.suffixes:
            if suffix in suffixes:
                raise ConfigError(f"suffix {suffix} claimed by runtimes '{suffixes[suffix]}' and '{runtime.name}'")
            suffixes[suffix] = runtime.name
        if getattr(runtime, "path_info", False):
            path_info.update(runtime.suffixes)
    return suffixes, frozenset(path_info)


def prepare_sites(
    config: Config, sites: dict[str, Site], registry: Registry, serving: dict[str, Site] | None = None,
) -> set[str]:
    """Give each site its page routes and its runtimes' options (what start-up does); the runtimes pages use.

    A site that is `serving` keeps the page it chose for a URL two pages answer (a conflict that appeared
    while serving is logged, not a reason to refuse the reload)."""
    suffixes, path_info = page_suffixes(registry)
    used: set[str] = set()
    for site in sites.values():
        old = (serving or {}).get(site.name)
        site.router = Router(site.root, suffixes, path_info, previous=old.router if old is not None else None)
        used |= site.router.runtimes_used
    for site in sites.values():
        for runtime in registry:
            site.runtime_options[runtime.name] = runtime.site_options(
                dict(config.runtimes.get(runtime.name, {})), dict(site.config.runtimes.get(runtime.name, {})),
                site.config_file, site.name,
            )
        for name in sorted(site.config.runtimes.keys() - site.runtime_options.keys()):
            log.warning("%s: [%s] is not applied: runtime %s failed to load", site.config_file, name, name)
    return used
