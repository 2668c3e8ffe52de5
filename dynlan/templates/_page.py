"""Templates rendered for a request: its deadline, its output budget, its site, its values."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import trio

from dynlan.templates._engine import Templates

if TYPE_CHECKING:
    from dynlan.host._context import PageContext

TEMPLATES = Templates()
"""This process's template environments (one per site root)."""

MAX_VALUE_DEPTH = 64


def plain(value: Any, depth: int = 0) -> Any:
    """A copy of a structured value as a template sees it: maps with string keys, lists, and numbers where an
    integral float (Wren's and JSON's numbers) is an integer, so that `{{ n }}` prints `3`, not `3.0`."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if depth > MAX_VALUE_DEPTH:
        raise ValueError(f"template values nest deeper than {MAX_VALUE_DEPTH}")
    if kind is dict:
        return {k if type(k) is str else _key(k): plain(v, depth + 1) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v, depth + 1) for v in value]
    if kind is float:
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        return {_key(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _key(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def values_of(value: Any) -> dict[str, Any]:
    """A page's template values: a map (an empty Lua table or PHP array crosses as a list)."""
    if value is None or (isinstance(value, list) and not value):
        return {}
    if not isinstance(value, dict):
        raise ValueError("template values must be a table (map) of names to values")
    result: dict[str, Any] = plain(value)
    return result


def deadline_of(ctx: PageContext) -> float:
    """The request's deadline on time.monotonic(): what remains of its wall time (the whole of it when asked
    from outside the request's task)."""
    wall = ctx.limits.wall_time
    try:
        remaining = trio.current_effective_deadline() - trio.current_time()
    except RuntimeError:
        remaining = wall
    if math.isinf(remaining) or remaining > wall:
        remaining = wall
    return time.monotonic() + max(0.0, remaining)


def render_for(ctx: PageContext, name: str, values: dict[str, Any]) -> str:
    """`name` from the request's site, rendered within what remains of its time and output budgets."""
    output = max(0, ctx.limits.output_size - ctx.response.written)
    return TEMPLATES.render(ctx.fs.root, name, values, deadline=deadline_of(ctx), output=output, dev=ctx.dev)


def request_values(ctx: PageContext) -> dict[str, Any]:
    """`request` in a `.jinja` page: the host API's read-only parts (method, path, query, headers, params,
    cookies, and the scalar fields: host, scheme, client, http_version, id, query_string)."""
    info: dict[str, Any] = dict(ctx.request_info())
    info.update({
        "query": ctx.query_first(),
        "query_all": {k: list(v) for k, v in ctx.request.query.items()},
        "headers": ctx.request.headers.as_dict(),
        "params": dict(ctx.params),
        "cookies": dict(ctx.cookies),
    })
    return info


__all__ = ["TEMPLATES", "deadline_of", "plain", "render_for", "request_values", "values_of"]
