"""The host API as Python pages see it: `request`, `response`, `cache`, `fs`, `log`.

Every operation is a call of the one host-call table (`dynlan.host._calls`) by
name, through a `Port`: in-process `TablePort` calls the table for the
request's `PageContext`; in the process sandbox the worker's port sends the
call over its pipe and the host side calls the same table. So a Python page
reaches exactly what a Lua, Wren or PHP page reaches, checked the same way
(a call for a request that has ended is refused). The objects are made per
request and keep nothing of any other request.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

from dynlan.host import HostCallError, MustWait, call, call_nowait

if TYPE_CHECKING:
    from dynlan.host import PageContext
    from dynlan.runtimes.python._realtime import EventStream


class Port(Protocol):
    """How the page objects reach the host-call table."""

    def call(self, op: str, *args: Any) -> Any:
        """Answer `op` now (a synchronous page cannot wait)."""
        ...

    async def acall(self, op: str, *args: Any) -> Any:
        """Answer `op`, waiting on I/O where it has to (an `async def handle`)."""
        ...


def _cannot_wait(op: str) -> str:
    if op.startswith("cache_"):
        return f"this cache backend cannot be used synchronously: use `await cache.a{op[6:]}(...)` in an async handle"
    if op in ("body", "form", "json"):
        return "the request body has not been read yet: `await request.body()` first"
    if op == "http_request":
        return "http.request waits on the network: call it as `await http.request(...)` in an `async def handle`"
    return f"{op} has to wait here: call it from an `async def handle`"


class TablePort:
    """The table, in-process, for one request."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: PageContext) -> None:
        self._ctx = ctx

    def call(self, op: str, *args: Any) -> Any:
        try:
            return call_nowait(self._ctx, op, args)
        except MustWait:
            raise HostCallError(_cannot_wait(op)) from None

    async def acall(self, op: str, *args: Any) -> Any:
        return await call(self._ctx, op, args)


class LoopPort(TablePort):
    """The table for a synchronous page run in a thread (the site's cache is remote: it answers only by
    waiting). Each call is made on the event loop, where the table and the host's shared state live, and the
    page's thread waits for it; code run on the loop itself (the page's module body) calls the table directly.
    (`Response` keeps calling the table from the thread: what it changes is the request's own response, which
    nothing else touches while the page runs.)
    """

    __slots__ = ("_token", "_loop_thread")

    def __init__(self, ctx: PageContext) -> None:
        super().__init__(ctx)
        self._token = trio.lowlevel.current_trio_token()
        self._loop_thread = threading.get_ident()

    def call(self, op: str, *args: Any) -> Any:
        if threading.get_ident() == self._loop_thread:
            return super().call(op, *args)
        return trio.from_thread.run(call, self._ctx, op, args, trio_token=self._token)


class CaseInsensitive(Mapping[str, str]):
    """Request headers: `headers["User-Agent"]` and `headers["user-agent"]` are one field."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


REQUEST_FIELDS = ("method", "path", "query_string", "http_version", "scheme", "host", "client", "client_port", "id",
                  "query", "query_all", "params", "headers", "cookies")
"""What `request` exposes as attributes (each one `req` call of the table)."""
_LAZY_FIELDS = frozenset(REQUEST_FIELDS) - {"headers", "cookies"}


class Request:
    """`request`: fields are asked of the host on first use (a page that reads none costs no call)."""

    def __init__(self, port: Port, asynchronous: bool) -> None:
        self._port = port
        self._async = asynchronous

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field not read yet; the answer then stays on the instance.
        if name not in _LAZY_FIELDS:
            raise AttributeError(f"request has no field {name!r}")
        value = self._port.call("req", name)
        self.__dict__[name] = value
        return value

    @property
    def headers(self) -> CaseInsensitive:
        headers: CaseInsensitive | None = self.__dict__.get("_headers")
        if headers is None:
            headers = self.__dict__["_headers"] = CaseInsensitive(self._port.call("req", "headers"))
        return headers

    @property
    def cookies(self) -> dict[str, str]:
        cookies: dict[str, str] = self._port.call("req", "cookies")
        return cookies

    def body(self) -> Any:
        """The request body: bytes in a `def handle`, awaitable in an `async def handle`."""
        if self._async:
            return self._port.acall("body")
        return self._port.call("body")

    def text(self) -> str:
        body: bytes = self._port.call("body")
        return body.decode("utf-8", "replace")

    def form(self) -> dict[str, str]:
        form: dict[str, str] = self._port.call("form")
        return form

    def json(self) -> Any:
        return self._port.call("json")


WRITE_BATCH = 64 * 1024
"""Bytes of `response.write` kept in the page's `Response` before they go through the table's `write` (which
enforces the output budget): one call per batch instead of one per write of a page that writes in a loop."""


class Response:
    """`response` of an in-process page: each call is a call of the table for this request."""

    __slots__ = ("_ctx", "headers", "_chunks", "_batched")

    def __init__(self, ctx: PageContext) -> None:
        self._ctx = ctx
        self.headers = ResponseHeaders(ctx)
        self._chunks: list[bytes] = []
        self._batched = 0

    @property
    def status(self) -> int:
        status: int = call_nowait(self._ctx, "get_status")
        return status

    @status.setter
    def status(self, value: int) -> None:
        call_nowait(self._ctx, "status", (value,))

    def header(self, name: str, value: Any) -> None:
        call_nowait(self._ctx, "set_header", (name, value))

    def add_header(self, name: str, value: Any) -> None:
        call_nowait(self._ctx, "add_header", (name, value))

    def set_cookie(self, name: str, value: Any, **options: Any) -> None:
        call_nowait(self._ctx, "set_cookie", (name, value, options))

    def write(self, data: str | bytes) -> None:
        if isinstance(data, str):
            chunk = data.encode()
        elif isinstance(data, bytes):
            chunk = data
        else:
            self._write(data)  # the table says how a number or a bytearray is written
            return
        self._chunks.append(chunk)
        self._batched += len(chunk)
        if self._batched >= WRITE_BATCH:
            self.send_batch()

    def send_batch(self) -> None:
        """Write what the page wrote since the last batch, through the table (the runtime calls it at the end)."""
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._batched = 0
            self._write(data)

    def _write(self, data: Any) -> None:
        try:
            call_nowait(self._ctx, "write", (data,))
        except MustWait:
            # Past the output buffer: the bytes are written; a synchronous page cannot wait for the
            # flush, so the response goes on buffering (within the output budget) until the page ends.
            pass

    def redirect(self, location: str, status: int = 302) -> None:
        call_nowait(self._ctx, "redirect", (location, status))

    def json(self, value: Any, status: int | None = None) -> None:
        self.send_batch()
        call_nowait(self._ctx, "json_out", (value, status))

    async def flush(self) -> None:
        self.send_batch()
        await call(self._ctx, "flush", ())

    async def sse(self) -> EventStream:
        """The response becomes an event stream (docs/websocket.md): its head goes out now."""
        from dynlan.runtimes.python._realtime import start_event_stream

        self.send_batch()
        return await start_event_stream(TablePort(self._ctx))

    def cache(self, ttl: float, vary: Any = None, tags: Any = None, query: Any = None,
              stale_if_error: float | None = None) -> None:
        """Keep this response in the response cache for `ttl` seconds."""
        call_nowait(self._ctx, "cache_response", (ttl, cache_options(vary, tags, query, stale_if_error)))

    def render(self, name: str, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Write the site's template `name` rendered with `values` and `more` (docs/templates.md)."""
        self.write(call_nowait(self._ctx, "template_render", (name, template_values(values, more))))


def cache_options(vary: Any, tags: Any, query: Any, stale_if_error: Any) -> dict[str, Any]:
    """`response.cache(...)` keywords as the table's options (absent ones left out)."""
    options = {"vary": vary, "tags": tags, "query": query, "stale_if_error": stale_if_error}
    return {k: v for k, v in options.items() if v is not None}


class ResponseHeaders:
    __slots__ = ("_ctx",)

    def __init__(self, ctx: PageContext) -> None:
        self._ctx = ctx

    def __setitem__(self, name: str, value: Any) -> None:
        call_nowait(self._ctx, "set_header", (name, value))

    def __getitem__(self, name: str) -> str:
        value: str | None = call_nowait(self._ctx, "get_header", (name,))
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        value = call_nowait(self._ctx, "get_header", (name,))
        return default if value is None else value


class Cache:
    """`cache.get/set/delete/incr/purge`; `aget/aset/adelete/aincr` await a remote backend."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def get(self, key: str) -> Any:
        return self._port.call("cache_get", key)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._port.call("cache_set", key, value, ttl)

    def delete(self, key: str) -> bool:
        return bool(self._port.call("cache_delete", key))

    def incr(self, key: str, n: int | float = 1, ttl: float | None = None) -> int | float:
        result: int | float = self._port.call("cache_incr", key, n, ttl)
        return result

    def purge(self, path: str | None = None, tag: str | None = None) -> int:
        """Drop cached responses of this site by path (`/x`, `/blog/*`) or tag."""
        return int(self._port.call("cache_purge", {"path": path, "tag": tag}))

    async def aget(self, key: str) -> Any:
        return await self._port.acall("cache_get", key)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self._port.acall("cache_set", key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return bool(await self._port.acall("cache_delete", key))

    async def aincr(self, key: str, n: int | float = 1, ttl: float | None = None) -> int | float:
        result: int | float = await self._port.acall("cache_incr", key, n, ttl)
        return result


class Session:
    """`session.get/set/delete/regenerate`: the visitor's session, kept across requests under a signed cookie
    (docs/host-api.md); `aget/aset/adelete/aregenerate` await a Redis store."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def get(self, key: str, default: Any = None) -> Any:
        value = self._port.call("session_get", key)
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self._port.call("session_set", key, value)

    def delete(self, key: str | None = None) -> None:
        """Drop `key`, or the whole session (and its cookie) without one."""
        self._port.call("session_delete", key)

    def regenerate(self) -> None:
        """Move the session to a new id (on login: the old id, which someone may have planted, is dropped)."""
        self._port.call("session_regenerate")

    async def aget(self, key: str, default: Any = None) -> Any:
        value = await self._port.acall("session_get", key)
        return default if value is None else value

    async def aset(self, key: str, value: Any) -> None:
        await self._port.acall("session_set", key, value)

    async def adelete(self, key: str | None = None) -> None:
        await self._port.acall("session_delete", key)

    async def aregenerate(self) -> None:
        await self._port.acall("session_regenerate")


class Fs:
    """`fs.read/read_bytes/exists/list/stat` over the site's files."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def read(self, path: str) -> str:
        text: str = self._port.call("fs_read", path)
        return text

    def read_bytes(self, path: str) -> bytes:
        data: bytes = self._port.call("fs_read_bytes", path)
        return data

    def exists(self, path: str) -> bool:
        return bool(self._port.call("fs_exists", path))

    def list(self, path: str = ".") -> list[str]:
        names: list[str] = self._port.call("fs_list", path)
        return names

    def stat(self, path: str) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self._port.call("fs_stat", path)
        return info


class HttpResponse:
    """What `http.request` answers: `status`, `headers` (case-insensitive), `body` (bytes), `url` (the last one
    asked for, after redirects); `text()` and `json()` decode the body."""

    __slots__ = ("status", "headers", "body", "url")

    def __init__(self, answer: dict[str, Any]) -> None:
        self.status: int = answer["status"]
        self.headers = CaseInsensitive(answer["headers"])
        self.body = base64.b64decode(answer["body"])
        self.url: str = answer["url"]

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.url}>"


class Http:
    """`http.request(method, url, headers=None, body=None, timeout=None, redirects=0)`: an HTTP call to a host
    the site's `[outbound] allow` list names. In an `async def handle` it is awaited (as `request.body()`);
    `arequest` is the awaitable form anywhere. Bodies cross as base64, so that bytes pass every port as they are
    (the process sandbox's frames and PHP's bridge carry JSON)."""

    __slots__ = ("_port", "asynchronous")

    def __init__(self, port: Port) -> None:
        self._port = port
        self.asynchronous = False
        """Set by the runtime when the page's handle is `async def`."""

    @staticmethod
    def _args(method: str, url: str, headers: Mapping[str, Any] | None, body: str | bytes | None,
              timeout: float | None, redirects: int) -> tuple[Any, ...]:
        data = body.encode() if isinstance(body, str) else body
        options = {"method": method, "url": url, "headers": dict(headers or {}), "timeout": timeout,
                   "redirects": redirects, "base64": True}
        return (base64.b64encode(data).decode("ascii") if data is not None else None,
                {k: v for k, v in options.items() if v is not None})

    def request(self, method: str, url: str, headers: Mapping[str, Any] | None = None,
                body: str | bytes | None = None, timeout: float | None = None, redirects: int = 0) -> Any:
        args = self._args(method, url, headers, body, timeout, redirects)
        if self.asynchronous:
            return self._arequest(args)
        return HttpResponse(self._port.call("http_request", *args))

    async def arequest(self, method: str, url: str, headers: Mapping[str, Any] | None = None,
                       body: str | bytes | None = None, timeout: float | None = None,
                       redirects: int = 0) -> HttpResponse:
        return await self._arequest(self._args(method, url, headers, body, timeout, redirects))

    async def _arequest(self, args: tuple[Any, ...]) -> HttpResponse:
        return HttpResponse(await self._port.acall("http_request", *args))


def template_values(values: Mapping[str, Any] | None, more: Mapping[str, Any]) -> dict[str, Any]:
    """`render(name, {...}, key=value)`: the map and the keywords, the keywords last."""
    merged = dict(values or {})
    merged.update(more)
    return merged


class Template:
    """`template.render(name, values=None, **more)`: the site's template `name` (`"_tpl/list.html"`) rendered
    with the values, as text (docs/templates.md). Values cross as structured values; HTML is escaped."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def render(self, name: str, values: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        text: str = self._port.call("template_render", name, template_values(values, more))
        return text


class Log:
    """`log.debug/info/warn/error`: a line in the server log tagged with the request id and page."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def debug(self, message: Any) -> None:
        self._port.call("log", "debug", str(message))

    def info(self, message: Any) -> None:
        self._port.call("log", "info", str(message))

    def warn(self, message: Any) -> None:
        self._port.call("log", "warn", str(message))

    warning = warn

    def error(self, message: Any) -> None:
        self._port.call("log", "error", str(message))


__all__ = ["REQUEST_FIELDS", "Cache", "CaseInsensitive", "Fs", "Http", "HttpResponse", "Log", "LoopPort", "Port", "Request", "Response",
           "Session", "TablePort", "Template", "cache_options", "template_values"]
