"""`dynlan reload`: asks every process of a running server to re-read its configuration.

The request goes through the control socket, as `dynlan cache purge` does;
each process re-reads the server and site configs, checks them and swaps them
in, or refuses and keeps the one it has. One line per process is printed; the
exit status is 0 when every process reloaded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dynlan.server._control import control_dir, send_to_server

# Reloading checks every site and prepares its runtimes: allow more than a cache purge's few milliseconds.
TIMEOUT = 60.0


def _details(reply: dict[str, Any]) -> str:
    """What else a process said, as `; sites: a.test, b.test; default: a.test` (empty lists left out)."""
    parts = []
    for key, value in reply.items():
        if key in ("ok", "pid", "error") or value in ([], None, ""):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"; {key.replace('_', ' ')}: {shown}")
    return "".join(parts)


def reload_command(args: argparse.Namespace) -> int:
    port: int = args.port
    try:
        replies = send_to_server(port, {"op": "reload"}, timeout=TIMEOUT)
    except (OSError, ValueError) as exc:
        print(f"dynlan: error: cannot reach the server on port {port}: {exc}", file=sys.stderr)
        return 1
    if not replies:
        print(f"dynlan: error: no running dynlan server found on port {port} (looked in {control_dir(port)})",
              file=sys.stderr)
        return 1
    failed = 0
    for reply in replies:
        who = f"process {reply['pid']}" if "pid" in reply else "a process"
        if reply.get("ok"):
            print(f"{who}: reloaded{_details(reply)}", flush=True)
        else:
            failed += 1
            error = reply.get("error", "the server refused the reload")
            print(f"dynlan: error: {who} kept its configuration: {error}", file=sys.stderr, flush=True)
    return 1 if failed else 0
