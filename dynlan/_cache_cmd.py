"""`dynlan cache purge|stats`: talks to a running server through its control socket."""

from __future__ import annotations

import argparse
from typing import Any

from dynlan._cli import CliError
from dynlan.server._control import control_dir, send_to_server


def _send(port: int, message: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        replies = send_to_server(port, message)
    except OSError as exc:
        raise CliError(f"cannot reach the server on port {port}: {exc}") from None
    if not replies:
        raise CliError(f"no running dynlan server found on port {port} (looked in {control_dir(port)})")
    for reply in replies:
        if not reply.get("ok"):
            raise CliError(str(reply.get("error", "the server refused the command")))
    return replies


def cache_command(args: argparse.Namespace) -> int:
    base: dict[str, Any] = {"site": args.site} if args.site else {}
    if args.cache_command == "stats":
        for reply in _send(args.port, {"op": "stats", **base}):
            stats = reply.get("responses") or {}
            shown = " ".join(f"{k}={v}" for k, v in stats.items()) or "response cache off"
            print(f"worker {reply.get('pid')}: {shown}")
        return 0
    if not (args.paths or args.tag or args.all):
        raise CliError("cache purge needs PATH, --tag TAG or --all")
    if args.all and (args.paths or args.tag):
        raise CliError("cache purge --all takes no PATH or --tag")
    for path in args.paths:
        if not path.startswith("/"):
            raise CliError(f"cache purge {path}: a path starts with '/'")
    messages = [{"op": "purge", **base, "path": p} for p in args.paths]
    messages += [{"op": "purge", **base, "tag": t} for t in args.tag]
    if args.all:
        messages.append({"op": "purge", **base, "all": True})
    total = 0
    workers = 0
    for message in messages:
        replies = _send(args.port, message)
        workers = max(workers, len(replies))
        total += sum(int(r.get("purged", 0)) for r in replies)
    print(f"purged {total} cached response{'s' if total != 1 else ''} in {workers} worker{'s' if workers != 1 else ''}")
    return 0
