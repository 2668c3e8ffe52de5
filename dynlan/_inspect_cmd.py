"""`dynlan routes` and `dynlan check`: what `dynlan serve` would serve, without listening or starting a runtime.

Both load a tree exactly as `serve` does before it listens: the server config
(`build_config`), every site's `dynlan.toml` and rules (`discover_sites`), the
TLS certificates, then `App.prepare` (the runtimes' options for each site and
every site's page routes, where two pages on one URL are an error). A problem
is the `ConfigError` `serve` would stop on, printed the same way and with the
same exit code (2).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dynlan._cli import CliError, _parser
from dynlan._serve_cmd import _runtime_names, build_config
from dynlan.app import App, Site, discover_sites
from dynlan.app._router import Route, Router
from dynlan.config import Config, ConfigError


@dataclass(frozen=True, slots=True)
class Loaded:
    """A tree as `serve` would run it, checked and routed."""

    config: Config
    sites: dict[str, Site]
    default: Site
    app: App


def load(path: str, config_file: Path | None) -> Loaded:
    """Load and check the sites under `path` as `dynlan serve PATH --config F` would; CliError on a problem."""
    # The arguments `serve` would get: its other options at their defaults, so only what the files say counts.
    args = _parser().parse_args(["serve", *(["--config", str(config_file)] if config_file else []), "--", path])
    config = build_config(args)
    try:
        sites, default = discover_sites(Path(path), config, _runtime_names())
        if config.tls.enabled:
            from dynlan.server._tls import make_server_context

            # Reads every certificate and key; a development certificate is made (and kept for `serve`) if asked.
            make_server_context(config.tls, config.http.http2)
        app = App(config, sites, default)
        app.prepare()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return Loaded(config, sites, default, app)


def _rules(site: Site) -> list[str]:
    rules = getattr(site, "rules", None)
    return list(rules.describe()) if rules is not None else []


def _routes(site: Site) -> list[Route]:
    router: Router | None = site.router
    return router.routes() if router is not None else []


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _table(rows: Sequence[Sequence[str]], indent: str) -> list[str]:
    """Rows as columns padded to their widest cell (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [indent + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in rows]


def describe_site(loaded: Loaded, site: Site) -> list[str]:
    """The route table of one site, as `dynlan routes` prints it."""
    router: Router | None = site.router
    default = " (default site)" if site is loaded.default and len(loaded.sites) > 1 else ""
    lines = [f"site {site.name}{default}: {site.root}"]
    rules = _rules(site)
    lines.append(f"  rules, in evaluation order ({len(rules)}):" if rules else "  rules: none")
    if rules:
        # `Rules.describe()` starts each line with the rule's path: a column of its own, numbered in order.
        rows = [(f"{n}.", *rule.split("  ", 1)) if "  " in rule else (f"{n}.", rule, "") for n, rule in
                enumerate(rules, 1)]
        lines += _table(rows, "    ")
    routes = _routes(site)
    if routes:
        lines.append(f"  pages ({len(routes)}):")
        rows = [("URL", "PAGE", "RUNTIME")]
        for route in routes:
            notes = []
            takes_path_info = router is not None and router.page_suffix(os.path.basename(route.file)) in router.path_info
            if takes_path_info and not route.dynamic:
                notes.append(f"also /{route.name}/*")
            if route.runtime not in loaded.app.runtimes:
                notes.append("runtime unavailable: answers 503")
            rows.append((route.url, route.name, route.runtime + (f"  ({'; '.join(notes)})" if notes else "")))
        lines += _table(rows, "    ")
    else:
        lines.append("  pages: none")
    lines.append(f"  static files from {site.root}")
    return lines


def routes_command(args: argparse.Namespace) -> int:
    loaded = load(args.path, args.config)
    blocks = [describe_site(loaded, site) for site in loaded.sites.values()]
    print("\n\n".join("\n".join(block) for block in blocks), flush=True)
    return 0


def check_command(args: argparse.Namespace) -> int:
    loaded = load(args.path, args.config)
    sites = loaded.sites.values()
    pages = sum(len(_routes(site)) for site in sites)
    # A server rule applies to every site but counts once (its line names the file it comes from).
    rules = len({rule for site in sites for rule in _rules(site)})
    print(f"ok: {_plural(len(sites), 'site')}, {_plural(pages, 'page')}, {_plural(rules, 'rule')}", flush=True)
    return 0
