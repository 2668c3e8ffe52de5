"""`dynlan openapi PATH [--site NAME]`: print the OpenAPI 3.1 document of a site (docs/openapi.md)."""

from __future__ import annotations

import argparse
import json

from dynlan._cli import CliError
from dynlan._inspect_cmd import load
from dynlan.openapi import AnnotationError, document


def openapi_command(args: argparse.Namespace) -> int:
    loaded = load(args.path, args.config)
    if args.site is not None:
        site = loaded.sites.get(args.site)
        if site is None:
            raise CliError(f"no site named {args.site!r} (sites: {', '.join(sorted(loaded.sites))})")
    elif len(loaded.sites) == 1:
        site = next(iter(loaded.sites.values()))
    else:
        raise CliError(f"{args.path} holds several sites: name one with --site ({', '.join(sorted(loaded.sites))})")
    routes = site.router.routes() if site.router is not None else []
    try:
        doc = document(args.title or site.name, routes, args.api_version)
    except AnnotationError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(doc, indent=2, ensure_ascii=False), flush=True)
    return 0


__all__ = ["openapi_command"]
