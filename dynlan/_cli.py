"""The `dynlan` command line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from dynlan import __version__

if TYPE_CHECKING:
    import argparse

# argparse, logging and pathlib are imported where they are used: `dynlan wren FILE`
# starts a script without them (its start-up is most of a short script's time).


class CliError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(prog="dynlan", description="A scriptable web server: Lua, Wren, Python and PHP pages.")
    p.add_argument("--version", action="version", version=f"dynlan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="serve a site folder (or a folder of sites)")
    s.add_argument("path", metavar="PATH", help="a site folder, or a folder whose sub-folders are virtual hosts")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="TCP port (default 8080)")
    s.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    s.add_argument("--dev", action="store_true", help="development mode: tracebacks and source on error pages")
    s.add_argument("--config", type=Path, help="server config file (TOML)")
    s.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    s.add_argument("--admin", metavar="ADDR", help="serve /metrics, /healthz, /readyz and /admin on HOST:PORT")
    s.add_argument("--tls", choices=["self-signed"], help="serve HTTPS with a development certificate for localhost")
    s.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate chain")
    s.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    s.add_argument("--http3", action=argparse.BooleanOptionalAction, default=None,
                   help="serve HTTP/3 over QUIC on the same port number (needs TLS)")
    s.add_argument("--worker-process", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--worker-index", type=int, default=-1, help=argparse.SUPPRESS)
    s.add_argument("--listen-fds", default="", help=argparse.SUPPRESS)
    s.add_argument("--heartbeat-fd", type=int, default=-1, help=argparse.SUPPRESS)
    s.add_argument("--banner", action="store_true", help=argparse.SUPPRESS)

    sub.add_parser("runtimes", help="list page runtimes, their suffixes and availability")

    n = sub.add_parser("new", help="write a starter site (a page per language, _lib/, errors/) into a new folder")
    n.add_argument("path", metavar="PATH", help="a new or empty folder")

    c = sub.add_parser("cache", help="the response cache of a running server")
    csub = c.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    purge = csub.add_parser("purge", help="drop cached responses by path, tag, or all of them")
    purge.add_argument("paths", nargs="*", metavar="PATH", help="URL path; a trailing * matches a prefix (/blog/*)")
    purge.add_argument("--tag", action="append", default=[], help="drop responses with this tag (repeatable)")
    purge.add_argument("--all", action="store_true", help="drop every cached response")
    stats = csub.add_parser("stats", help="response cache statistics of each worker")
    for action in (purge, stats):
        action.add_argument("--port", type=int, default=8080, help="port of the running server (default 8080)")
        action.add_argument("--site", help="only this site (a site folder's name)")

    for name, text in (("routes", "print the route table of each site: its rules, then its pages"),
                       ("check", "check the server and site configs as serve would, without serving")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("path", metavar="PATH", help="a site folder, or a folder whose sub-folders are virtual hosts")
        cmd.add_argument("--config", type=Path, help="server config file (TOML)")

    o = sub.add_parser("openapi", help="print the OpenAPI 3.1 document of a site's pages (docs/openapi.md)")
    o.add_argument("path", metavar="PATH", help="a site folder, or a folder whose sub-folders are virtual hosts")
    o.add_argument("--site", help="the site to describe, when PATH holds several")
    o.add_argument("--config", type=Path, help="server config file (TOML)")
    o.add_argument("--title", help="the document's title (default: the site's name)")
    o.add_argument("--api-version", default="1.0.0", help="the document's info.version (default 1.0.0)")

    r = sub.add_parser("reload", help="make a running server re-read its server and site configs")
    r.add_argument("--port", type=int, default=8080, help="port of the running server (default 8080)")

    w = sub.add_parser("wren", help="run a Wren script")
    w.add_argument("file", metavar="FILE")
    return p


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if len(args_list) == 2 and args_list[0] == "wren" and not args_list[1].startswith("-"):
        return _wren(args_list[1])
    import logging

    parser = _parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "serve":
            from dynlan._serve_cmd import serve_command

            return serve_command(args, args_list)
        if args.command == "runtimes":
            from dynlan._serve_cmd import runtimes_command

            return runtimes_command()
        if args.command == "new":
            from dynlan._new_cmd import new_command

            return new_command(args)
        if args.command == "cache":
            from dynlan._cache_cmd import cache_command

            return cache_command(args)
        if args.command in ("routes", "check"):
            from dynlan._inspect_cmd import check_command, routes_command

            return routes_command(args) if args.command == "routes" else check_command(args)
        if args.command == "openapi":
            from dynlan._openapi_cmd import openapi_command

            return openapi_command(args)
        if args.command == "reload":
            from dynlan._reload_cmd import reload_command

            return reload_command(args)
        if args.command == "wren":
            return _wren(args.file)
    except CliError as exc:
        print(f"dynlan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2  # pragma: no cover


def _wren(path: str) -> int:
    """`dynlan wren FILE`: only the Wren VM and its runner are imported."""
    try:
        from dynlan.runtimes.wren._cli import main as wren_main
    except ImportError as exc:
        print(f"dynlan: error: the Wren runtime is not installed: {exc}", file=sys.stderr)
        return 2
    try:
        return int(wren_main([path]))
    except KeyboardInterrupt:
        return 130
