"""What a site's `[python]` table may set: a sandbox at least as strict as the server's.

In-process Python is trusted code (it shares the server's interpreter); the process sandbox is for
untrusted code. A server that sandboxes every site must not have a site's own `dynlan.toml` turn that
off: the site's file is written by the site.
"""

from __future__ import annotations

from typing import Any

from dynlan.config import ConfigError
from dynlan.runtimes._interface import check_site_options

SITE_KEYS = frozenset({"sandbox"})
SERVER_KEYS = ("workers", "cpu_seconds", "address_space", "max_processes", "connect_ports")
SANDBOXES = ("none", "process")
"""From the least strict to the most."""


def python_site_options(server: dict[str, Any], site: dict[str, Any], source: str) -> dict[str, Any]:
    """`PythonRuntime.site_options`: the server's `[python]`, with a stricter `sandbox` if the site asks."""
    merged = check_site_options("python", SITE_KEYS, server, site, source, server_keys=SERVER_KEYS)
    if "sandbox" not in site:
        return merged
    wanted, granted = site["sandbox"], server.get("sandbox", "none")
    if wanted not in SANDBOXES:
        raise ConfigError(f"{source}: [python] sandbox: must be 'none' or 'process', got {wanted!r}")
    if granted in SANDBOXES and SANDBOXES.index(wanted) < SANDBOXES.index(granted):
        raise ConfigError(f'{source}: [python] sandbox = "{wanted}" is less strict than the server\'s "{granted}"; '
                          f"a site can only tighten it")
    return merged
