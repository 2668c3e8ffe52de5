"""Sites: one folder of pages, or a folder of such folders matched on `Host`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynlan.config import Config, ConfigError, SiteConfig, site_config
from dynlan.host._fs import SiteFs

SITE_CONFIG_NAME = "dynlan.toml"


@dataclass(slots=True)
class Site:
    name: str
    root: str
    """Absolute, symlink-free path of the site folder."""
    config: SiteConfig
    router: Any = None
    """The site's page router (set once runtimes are known)."""
    error_pages: dict[int, bytes] = field(default_factory=dict)
    fs: SiteFs = field(init=False)

    def __post_init__(self) -> None:
        self.fs = SiteFs(self.root)

    def load_error_pages(self) -> None:
        folder = os.path.join(self.root, "errors")
        self.error_pages.clear()
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            stem, _, ext = name.partition(".")
            if ext == "html" and stem.isdigit() and len(stem) == 3:
                with open(os.path.join(folder, name), "rb") as f:
                    self.error_pages[int(stem)] = f.read()


def _is_site_content(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith((".", "_")) and entry.is_file()


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
    if single or not folders:
        site = Site(root.name.lower(), str(root), site_config(config, root / SITE_CONFIG_NAME, runtime_names))
        sites[site.name] = site
    else:
        for name in folders:
            sroot = root / name
            sites[name.lower()] = Site(
                name.lower(), str(sroot.resolve()), site_config(config, sroot / SITE_CONFIG_NAME, runtime_names)
            )
    for site in sites.values():
        site.load_error_pages()
    wanted = config.server.default_site.lower()
    if wanted:
        if wanted not in sites:
            raise ConfigError(f"server.default_site: no site named '{wanted}' (have: {', '.join(sites)})")
        default = sites[wanted]
    else:
        default = next(iter(sites.values()))
    return sites, default
