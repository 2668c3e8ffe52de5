"""The one host-call table every runtime calls through.

A page reaches the server only by naming an operation of this table with plain
Python arguments (str, bytes, numbers, booleans, None, lists, dicts); runtimes
marshal values to and from their language and never keep a dispatcher of their
own. Every call is checked against the request it belongs to: a call made for a
request that has ended is refused (a Lua finalizer, a leftover Wren fiber or a
PHP token of a finished request cannot act for whichever request runs now), and
everything a call can touch is that request's own (its response, its site's
files, its site's cache namespace).

`call_nowait` answers at once or raises `MustWait` naming the operation to
await with `call` (a remote cache, a flush, reading the body, a sleep): the
runtime suspends the page (a Lua coroutine, a Wren fiber) and resumes it with
the answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from dynlan.host._cache import CacheError
from dynlan.host._fs import FsError
from dynlan.host._http import http_request
from dynlan.host._values import CacheValueError, parse_ttl
from dynlan.observability import _tracing
from dynlan.realtime import _ops as realtime

if TYPE_CHECKING:
    from dynlan.host._context import PageContext

Args = tuple[Any, ...]


class HostCallError(Exception):
    """A host call failed in a way the page may see and catch (a path outside the site, a bad value)."""


class MustWait(Exception):
    """The call waits on I/O: await `call(ctx, op, args)` and resume the page with its answer."""

    def __init__(self, op: str, args: Args) -> None:
        super().__init__(op)
        self.op = op
        self.args = args  # set after Exception.__init__, which sets `args` to its own arguments (op,)


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    run: Callable[[PageContext, Args], Any] | None
    """Answers at once (None: the call always waits)."""
    arun: Callable[[PageContext, Args], Awaitable[Any]] | None = None
    """The waiting form (None: the call never waits)."""
    effect: bool = False
    """Changes something outside the page's own run (a cache write, bytes sent): a page that made such a
    call can no longer be started again from the top (the Lua runtime's preemption relies on it)."""
    cache: bool = False
    """Answers at once only when the cache backend is local."""
    traced: bool = False
    """Gets a span of its own under the page's when traces are on (the cache, files and sessions)."""


def _arg(args: Args, i: int, default: Any = None) -> Any:
    return args[i] if len(args) > i else default


def text(value: Any, what: str = "value") -> str:
    """A string argument (bytes from Lua are UTF-8; integral floats from Wren/JSON print as integers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None:
        raise ValueError(f"expected a string for {what}, got nil")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value: Any, default: int | float) -> int | float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _options(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list) and not value:
        return {}  # an empty Lua table or PHP array crosses as a list
    if not isinstance(value, dict):
        raise ValueError(f"{what} options must be a table with keys")
    return value


# -- request ---------------------------------------------------------------------------


def _req(ctx: PageContext, args: Args) -> Any:
    key = text(_arg(args, 0), "field")
    if key == "query":
        return ctx.query_first()
    if key == "query_all":
        return {k: list(v) for k, v in ctx.request.query.items()}
    if key == "headers":
        return ctx.request.headers.as_dict()
    if key == "params":
        return dict(ctx.params)
    if key == "cookies":
        return dict(ctx.cookies)
    return ctx.request_info().get(key)


def _header_in(ctx: PageContext, args: Args) -> Any:
    return ctx.request.headers.get(text(_arg(args, 0), "header name").lower())


def _body(ctx: PageContext, args: Args) -> bytes:
    body = ctx.body_nowait()
    if body is None:
        if ctx.has_body:
            raise MustWait("body", args)
        return b""
    return body


async def _abody(ctx: PageContext, args: Args) -> bytes:
    return await ctx.read_body()


def _needs_body(fn: Callable[[PageContext, Args], Any]) -> tuple[Callable[[PageContext, Args], Any],
                                                                    Callable[[PageContext, Args], Awaitable[Any]]]:
    """A call that reads the (already received) body: waits for it first when it has not been read."""

    def run(ctx: PageContext, args: Args) -> Any:
        if ctx.body_nowait() is None and ctx.has_body:
            raise MustWait(fn.__name__.lstrip("_"), args)
        return fn(ctx, args)

    async def arun(ctx: PageContext, args: Args) -> Any:
        await ctx.read_body()
        return fn(ctx, args)

    return run, arun


def _form(ctx: PageContext, args: Args) -> Any:
    return ctx.form()


def _json(ctx: PageContext, args: Args) -> Any:
    return ctx.json()


# -- response --------------------------------------------------------------------------


def _write(ctx: PageContext, args: Args) -> None:
    data = _arg(args, 0)
    if data is None or data == b"" or data == "":
        return None
    response = ctx.response
    response.write(data if isinstance(data, bytes | str) else text(data))
    if response.wants_flush:
        # Past the output buffer: send what is there before the page goes on.
        raise MustWait("flush", ())
    return None


async def _aflush(ctx: PageContext, args: Args) -> None:
    data = _arg(args, 0)
    if data:
        ctx.response.write(data if isinstance(data, bytes | str) else text(data))
    await ctx.response.flush()


def _status(ctx: PageContext, args: Args) -> None:
    ctx.response.set_status(_arg(args, 0))


def _get_status(ctx: PageContext, args: Args) -> int:
    return ctx.response.status


def _set_header(ctx: PageContext, args: Args) -> None:
    ctx.response.set_header(text(_arg(args, 0), "header name"), text(_arg(args, 1), "header value"))


def _add_header(ctx: PageContext, args: Args) -> None:
    ctx.response.add_header(text(_arg(args, 0), "header name"), text(_arg(args, 1), "header value"))


def _get_header(ctx: PageContext, args: Args) -> str | None:
    return ctx.response.headers.get(text(_arg(args, 0), "header name").lower())


def _set_cookie(ctx: PageContext, args: Args) -> None:
    ctx.response.set_cookie(text(_arg(args, 0), "cookie name"), text(_arg(args, 1), "cookie value"),
                            _options(_arg(args, 2), "cookie"))


def _redirect(ctx: PageContext, args: Args) -> None:
    ctx.response.redirect(text(_arg(args, 0), "location"), int(number(_arg(args, 1), 302)))


def _json_out(ctx: PageContext, args: Args) -> None:
    status = _arg(args, 1)
    ctx.response.json(_arg(args, 0), int(number(status, 200)) if status is not None else None)


def _json_encode(ctx: PageContext, args: Args) -> str:
    return json.dumps(_arg(args, 0), separators=(",", ":"), ensure_ascii=False)


def _json_decode(ctx: PageContext, args: Args) -> Any:
    try:
        return json.loads(text(_arg(args, 0), "JSON text"))
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


_RESPONSE_CACHE_OPTIONS = frozenset({"vary", "tags", "query", "stale_if_error"})


def _cache_response(ctx: PageContext, args: Args) -> None:
    opts = _options(_arg(args, 1), "response cache")
    unknown = set(opts) - _RESPONSE_CACHE_OPTIONS
    if unknown:
        raise ValueError(f"unknown response cache option '{sorted(unknown)[0]}'")
    ctx.cache_response(_arg(args, 0), opts.get("vary"), opts.get("tags"), opts.get("query"), opts.get("stale_if_error"))


def _cache_purge(ctx: PageContext, args: Args) -> int:
    what = _arg(args, 0)
    if isinstance(what, dict):
        return ctx.purge(what.get("path"), what.get("tag"))
    return ctx.purge(path=text(what, "path"))


# -- the page cache (the site's namespace) -----------------------------------------------


def _cache_get(ctx: PageContext, args: Args) -> Any:
    return ctx.cache.get_nowait(text(_arg(args, 0), "key"))


async def _acache_get(ctx: PageContext, args: Args) -> Any:
    return await ctx.cache.get(text(_arg(args, 0), "key"))


def _cache_set(ctx: PageContext, args: Args) -> bool:
    ctx.cache.set_nowait(text(_arg(args, 0), "key"), _arg(args, 1), parse_ttl(_arg(args, 2)))
    return True


async def _acache_set(ctx: PageContext, args: Args) -> bool:
    await ctx.cache.set(text(_arg(args, 0), "key"), _arg(args, 1), parse_ttl(_arg(args, 2)))
    return True


def _cache_delete(ctx: PageContext, args: Args) -> bool:
    return ctx.cache.delete_nowait(text(_arg(args, 0), "key"))


async def _acache_delete(ctx: PageContext, args: Args) -> bool:
    return await ctx.cache.delete(text(_arg(args, 0), "key"))


def _cache_incr(ctx: PageContext, args: Args) -> int | float:
    return ctx.cache.incr_nowait(text(_arg(args, 0), "key"), number(_arg(args, 1), 1), parse_ttl(_arg(args, 2)))


async def _acache_incr(ctx: PageContext, args: Args) -> int | float:
    return await ctx.cache.incr(text(_arg(args, 0), "key"), number(_arg(args, 1), 1), parse_ttl(_arg(args, 2)))


# -- the session (dynlan.sessions) -----------------------------------------------------------
# Answered at once when the store is the instance's own (or the session is loaded and only read); with Redis the
# first call waits for the session to load, and every change waits for its write.


def _session_key(args: Args) -> str:
    return text(_arg(args, 0), "session key")


def _session_get(ctx: PageContext, args: Args) -> Any:
    session = ctx.session
    if not session.ready:
        raise MustWait("session_get", args)
    session.load_nowait()
    return session.data.get(_session_key(args))


async def _asession_get(ctx: PageContext, args: Args) -> Any:
    session = ctx.session
    await session.load()
    return session.data.get(_session_key(args))


def _session_change(op: str) -> tuple[Callable[[PageContext, Args], Any], Callable[[PageContext, Args], Awaitable[Any]]]:
    """set (key, value; nil deletes the key), delete (key; none: the whole session), regenerate ()."""

    def change(ctx: PageContext, args: Args) -> list[tuple[str, str, bytes]]:
        key = _arg(args, 0)
        if op == "set" and _arg(args, 1) is None:
            return ctx.session.change("delete", _session_key(args))
        if op == "regenerate":
            return ctx.session.change(op, None)
        return ctx.session.change(op, None if key is None and op == "delete" else _session_key(args), _arg(args, 1))

    def run(ctx: PageContext, args: Args) -> bool:
        session = ctx.session
        if not session.service.local:
            raise MustWait("session_" + op, args)
        session.load_nowait()
        session.write_nowait(change(ctx, args))
        return True

    async def arun(ctx: PageContext, args: Args) -> bool:
        session = ctx.session
        await session.load()
        await session.write(change(ctx, args))
        return True

    return run, arun


_session_set, _asession_set = _session_change("set")
_session_delete, _asession_delete = _session_change("delete")
_session_regenerate, _asession_regenerate = _session_change("regenerate")


def _php_session(kind: str) -> tuple[Callable[[PageContext, Args], Any], Callable[[PageContext, Args], Awaitable[Any]]]:
    """PHP's save handler (runtimes/php/_prelude.php): read/exists/write/destroy/close by PHP's own session id.

    `read` takes the session's lock and `close` (or `destroy`) gives it back, as PHP's own file handler does with
    flock: a second request of the same session waits until the first has written, so neither's changes are lost.
    A lock outlives its request by at most the page's wall time (a php-cgi that died holding it).
    """
    from dynlan.sessions import SessionStoreError, php_data

    def ttl(ctx: PageContext) -> float:
        return ctx.limits.wall_time + 1.0

    def answer(ctx: PageContext, args: Args, raw: bytes | None) -> Any:
        if kind == "read":
            return raw.decode("utf-8", "surrogateescape") if raw is not None else ""
        return raw is not None

    def act_nowait(ctx: PageContext, args: Args) -> Any:
        session = ctx.session
        service = session.service
        key = session.php_key(_arg(args, 0))
        store = service.store
        try:
            if kind == "read":
                if not store.lock_nowait(key, session.token, ttl(ctx)):
                    raise MustWait("php_session_read", args)  # held by another request: wait for it
                return answer(ctx, args, store.load_nowait(key, service.max_age))
            if kind == "exists":
                return answer(ctx, args, store.load_nowait(key, service.max_age))
            if kind == "write":
                store.save_nowait(key, php_data(_arg(args, 1, "")), service.max_age)
            else:
                if kind == "destroy":
                    store.delete_nowait(key)
                store.unlock_nowait(key, session.token)
        except SessionStoreError as exc:
            service.failed(exc, ctx)
            return "" if kind == "read" else kind != "exists"
        return True

    async def act(ctx: PageContext, args: Args) -> Any:
        session = ctx.session
        service = session.service
        key = session.php_key(_arg(args, 0))
        store = service.store
        try:
            if kind == "read":
                delay = 0.005
                while not await store.lock(key, session.token, ttl(ctx)):
                    if ctx.closed:
                        raise RuntimeError("this request has ended")
                    await trio.sleep(delay)
                    delay = min(delay * 2, 0.1)
                return answer(ctx, args, await store.load(key, service.max_age))
            if kind == "exists":
                return answer(ctx, args, await store.load(key, service.max_age))
            if kind == "write":
                await store.save(key, php_data(_arg(args, 1, "")), service.max_age)
            else:
                if kind == "destroy":
                    await store.delete(key)
                await store.unlock(key, session.token)
        except SessionStoreError as exc:
            service.failed(exc, ctx)
            return "" if kind == "read" else kind != "exists"
        return True

    def run(ctx: PageContext, args: Args) -> Any:
        if not ctx.session.service.local:
            raise MustWait("php_session_" + kind, args)
        return act_nowait(ctx, args)

    return run, act


# -- files of the site -------------------------------------------------------------------


def _fs_read(ctx: PageContext, args: Args) -> str:
    return ctx.fs.read(text(_arg(args, 0), "path"))


def _fs_read_bytes(ctx: PageContext, args: Args) -> bytes:
    return ctx.fs.read_bytes(text(_arg(args, 0), "path"))


def _fs_exists(ctx: PageContext, args: Args) -> bool:
    return ctx.fs.exists(text(_arg(args, 0), "path"))


def _fs_list(ctx: PageContext, args: Args) -> list[str]:
    path = _arg(args, 0)
    return ctx.fs.list(text(path, "path") if path is not None else ".")


def _fs_stat(ctx: PageContext, args: Args) -> dict[str, Any] | None:
    info = ctx.fs.stat(text(_arg(args, 0), "path"))
    if info is None:
        return None
    return {"name": info.name, "size": info.size, "mtime": info.mtime, "is_dir": info.is_dir}


# -- the rest ----------------------------------------------------------------------------


def _log(ctx: PageContext, args: Args) -> None:
    ctx.log.at(text(_arg(args, 0, "info")), text(_arg(args, 1, "")))


def _dev_usage(ctx: PageContext, args: Args) -> None:
    """(budget, amount): what a runtime that measures its pages in the page's own process reports of its
    budget's use, for the dev error page (PHP's peak memory); nothing outside `--dev`."""
    budget = text(_arg(args, 0, ""))
    amount = number(_arg(args, 1), 0)
    if ctx.dev and budget == "memory" and amount >= 0:
        ctx.usage[budget] = int(amount)


def _template_render(ctx: PageContext, args: Args) -> str:
    # (name, values): a template of the site, rendered within the request's time and output budgets
    # (dynlan.templates). Imported here: dynlan.templates itself imports the host's budget errors.
    from dynlan.templates import TemplateError, render_for, values_of

    try:
        return render_for(ctx, text(_arg(args, 0), "template name"), values_of(_arg(args, 1)))
    except TemplateError as exc:
        raise HostCallError(str(exc)) from None


async def _asleep(ctx: PageContext, args: Args) -> None:
    seconds = float(number(_arg(args, 0), 0))
    await trio.sleep(max(0.0, seconds))


def _table(*rows: Operation) -> dict[str, Operation]:
    return {row.name: row for row in rows}


_form_run, _form_arun = _needs_body(_form)
_json_run, _json_arun = _needs_body(_json)

OPERATIONS: dict[str, Operation] = _table(
    Operation("req", _req),
    Operation("header_in", _header_in),
    Operation("body", _body, _abody),
    Operation("form", _form_run, _form_arun),
    Operation("json", _json_run, _json_arun),
    Operation("write", _write),
    Operation("flush", None, _aflush, effect=True),
    Operation("status", _status),
    Operation("get_status", _get_status),
    Operation("set_header", _set_header),
    Operation("add_header", _add_header),
    Operation("get_header", _get_header),
    Operation("set_cookie", _set_cookie),
    Operation("redirect", _redirect),
    Operation("json_out", _json_out),
    Operation("json_encode", _json_encode),
    Operation("json_decode", _json_decode),
    Operation("cache_response", _cache_response),
    Operation("cache_purge", _cache_purge, effect=True, traced=True),
    Operation("cache_get", _cache_get, _acache_get, cache=True, traced=True),
    Operation("cache_set", _cache_set, _acache_set, effect=True, cache=True, traced=True),
    Operation("cache_delete", _cache_delete, _acache_delete, effect=True, cache=True, traced=True),
    Operation("cache_incr", _cache_incr, _acache_incr, effect=True, cache=True, traced=True),
    Operation("session_get", _session_get, _asession_get, traced=True),
    Operation("session_set", _session_set, _asession_set, effect=True, traced=True),
    Operation("session_delete", _session_delete, _asession_delete, effect=True, traced=True),
    Operation("session_regenerate", _session_regenerate, _asession_regenerate, effect=True, traced=True),
    Operation("php_session_read", *_php_session("read"), traced=True),
    Operation("php_session_exists", *_php_session("exists"), traced=True),
    Operation("php_session_write", *_php_session("write"), effect=True, traced=True),
    Operation("php_session_destroy", *_php_session("destroy"), effect=True, traced=True),
    Operation("php_session_close", *_php_session("close"), effect=True, traced=True),
    Operation("fs_read", _fs_read, traced=True),
    Operation("fs_read_bytes", _fs_read_bytes, traced=True),
    Operation("fs_exists", _fs_exists, traced=True),
    Operation("fs_list", _fs_list, traced=True),
    Operation("fs_stat", _fs_stat, traced=True),
    Operation("log", _log),
    Operation("dev_usage", _dev_usage),
    Operation("sleep", None, _asleep),
    # (body, options): an HTTP request to a host the site's [outbound] allow list names (dynlan.host._http).
    Operation("http_request", None, http_request, effect=True),
    # (name, values) -> the rendered text (dynlan.templates).
    Operation("template_render", _template_render),
    # WebSockets, event streams and channels (dynlan.realtime, docs/websocket.md).
    Operation("ws_accept", None, realtime.ws_accept, effect=True),
    Operation("ws_receive", realtime.ws_receive_nowait, realtime.ws_receive, effect=True),
    Operation("ws_send", realtime.ws_send_nowait, realtime.ws_send, effect=True),
    Operation("ws_flush", None, realtime.ws_flush, effect=True),
    Operation("ws_close", None, realtime.ws_close, effect=True),
    Operation("ws_info", realtime.ws_info),
    Operation("channel_publish", realtime.channel_publish, effect=True),
    Operation("channel_subscribe", realtime.channel_subscribe),
    Operation("channel_unsubscribe", realtime.channel_unsubscribe),
    Operation("channel_receive", None, realtime.channel_receive, effect=True),
    Operation("sse_start", None, realtime.sse_start, effect=True),
    Operation("sse_send", None, realtime.sse_send, effect=True),
    Operation("sse_comment", None, realtime.sse_comment, effect=True),
)
"""Every operation a page can ask of the host, by name."""

_PAGE_ERRORS = (FsError, CacheError, CacheValueError, ValueError, TypeError, RuntimeError, KeyError, OverflowError)


def _operation(ctx: PageContext, op: str) -> Operation:
    if ctx.closed:
        # A finalizer, fiber or token left over from an earlier request acts for nobody.
        raise HostCallError("this request has ended")
    row = OPERATIONS.get(op)
    if row is None:
        raise HostCallError(f"unknown host call '{op}'")
    return row


def call_nowait(ctx: PageContext, op: str, args: Args = ()) -> Any:
    """Answer `op` for `ctx` at once, or raise `MustWait` (then `await call(ctx, e.op, e.args)`).

    Errors the page may see are `HostCallError`s; `BudgetExceeded` and `HttpError` (413 while reading the
    body) end the request and propagate.
    """
    row = _operation(ctx, op)
    if row.run is None or (row.cache and not ctx.cache.local):
        raise MustWait(op, args)
    if row.traced and (tracing := _tracing.current()) is not None:
        with tracing.host_span(ctx.request, op):
            return _run_nowait(ctx, row, args)
    return _run_nowait(ctx, row, args)


def _run_nowait(ctx: PageContext, row: Operation, args: Args) -> Any:
    assert row.run is not None
    try:
        return row.run(ctx, args)
    except _PAGE_ERRORS as exc:
        raise HostCallError(str(exc)) from None


async def call(ctx: PageContext, op: str, args: Args = ()) -> Any:
    """Answer `op` for `ctx`, waiting on I/O where it has to."""
    row = _operation(ctx, op)
    if row.traced and (tracing := _tracing.current()) is not None:
        with tracing.host_span(ctx.request, op):
            return await _run(ctx, op, row, args)
    return await _run(ctx, op, row, args)


async def _run(ctx: PageContext, op: str, row: Operation, args: Args) -> Any:
    try:
        if row.arun is not None and (row.run is None or not row.cache or not ctx.cache.local):
            return await row.arun(ctx, args)
        assert row.run is not None
        try:
            return row.run(ctx, args)
        except MustWait as wait:
            if wait.op == op and wait.args == args:
                raise
            return await call(ctx, wait.op, wait.args)
    except _PAGE_ERRORS as exc:
        raise HostCallError(str(exc)) from None


def is_effect(op: str) -> bool:
    row = OPERATIONS.get(op)
    return row is not None and row.effect


__all__ = ["OPERATIONS", "HostCallError", "MustWait", "Operation", "call", "call_nowait", "is_effect", "number", "text"]

