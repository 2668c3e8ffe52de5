"""The host API as Python pages see it: `request`, `response`, `cache`, `fs`, `log`.

These wrap the request's `PageContext`; they are created per request and hold
no reference to anything a page could use to reach other requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dynlan.host import PageContext, SiteFs


class CaseInsensitive(Mapping[str, str]):
    """Request headers: `headers["User-Agent"]` and `headers["user-agent"]` are one field."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._items.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    def __init__(self, ctx: PageContext, asynchronous: bool) -> None:
        self._ctx = ctx
        self._async = asynchronous
        info = ctx.request_info()
        self.method: str = info["method"]
        self.path: str = info["path"]
        self.query_string: str = info["query_string"]
        self.http_version: str = info["http_version"]
        self.scheme: str = info["scheme"]
        self.host: str = info["host"]
        self.client: str = info["client"]
        self.client_port: int = info["client_port"]
        self.id: str = info["id"]
        self.query: dict[str, str] = ctx.query_first()
        self.query_all: dict[str, list[str]] = {k: list(v) for k, v in ctx.request.query.items()}
        self.headers = CaseInsensitive(ctx.request.headers.as_dict())
        self.params: dict[str, str] = dict(ctx.params)

    @property
    def cookies(self) -> dict[str, str]:
        return dict(self._ctx.cookies)

    def body(self) -> Any:
        """The request body: bytes in a `def handle`, awaitable in an `async def handle`."""
        if self._async:
            return self._ctx.read_body()
        body = self._ctx.body_nowait()
        return body if body is not None else b""

    def text(self) -> str:
        return (self._ctx.body_nowait() or b"").decode("utf-8", "replace")

    def form(self) -> dict[str, str]:
        return self._ctx.form()

    def json(self) -> Any:
        return self._ctx.json()


class Response:
    def __init__(self, ctx: PageContext) -> None:
        self._ctx = ctx
        self.headers = _ResponseHeaders(ctx)

    @property
    def status(self) -> int:
        return self._ctx.response.status

    @status.setter
    def status(self, value: int) -> None:
        self._ctx.response.set_status(value)

    def header(self, name: str, value: Any) -> None:
        self._ctx.response.set_header(name, value)

    def add_header(self, name: str, value: Any) -> None:
        self._ctx.response.add_header(name, value)

    def set_cookie(self, name: str, value: Any, **options: Any) -> None:
        self._ctx.response.set_cookie(name, value, options)

    def write(self, data: str | bytes) -> None:
        self._ctx.response.write(data)

    def redirect(self, location: str, status: int = 302) -> None:
        self._ctx.response.redirect(location, status)

    def json(self, value: Any, status: int | None = None) -> None:
        self._ctx.response.json(value, status)

    async def flush(self) -> None:
        await self._ctx.response.flush()

    def cache(self, ttl: float, vary: Any = None, tags: Any = None, query: Any = None,
              stale_if_error: float | None = None) -> None:
        """Keep this response in the response cache for `ttl` seconds."""
        self._ctx.cache_response(ttl, vary, tags, query, stale_if_error)


class _ResponseHeaders:
    def __init__(self, ctx: PageContext) -> None:
        self._ctx = ctx

    def __setitem__(self, name: str, value: Any) -> None:
        self._ctx.response.set_header(name, value)

    def __getitem__(self, name: str) -> str:
        value = self._ctx.response.headers.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self._ctx.response.headers.get(name, default)


class Cache:
    """`cache.get/set/delete/incr`; `aget/aset/adelete/aincr` await a remote backend."""

    def __init__(self, ctx: PageContext) -> None:
        self._backend = ctx.cache
        self._ctx = ctx

    def purge(self, path: str | None = None, tag: str | None = None) -> int:
        """Drop cached responses of this site by path (`/x`, `/blog/*`) or tag."""
        return self._ctx.purge(path, tag)

    def _call(self, op: str, *args: Any) -> Any:
        # The in-memory cache answers at once; a network backend blocks this
        # (synchronous) page until it answers: async pages should await a*().
        backend = self._backend
        suffix = "_nowait" if getattr(backend, "local", False) else "_blocking"
        method = getattr(backend, op + suffix, None)
        if method is None:
            raise RuntimeError(f"this cache backend cannot be used synchronously: use `await cache.a{op}(...)`")
        return method(*args)

    def get(self, key: str) -> Any:
        return self._call("get", key)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._call("set", key, value, ttl)

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", key))

    def incr(self, key: str, n: int | float = 1, ttl: float | None = None) -> int | float:
        result: int | float = self._call("incr", key, n, ttl)
        return result

    async def aget(self, key: str) -> Any:
        return await self._backend.get(key)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self._backend.set(key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return bool(await self._backend.delete(key))

    async def aincr(self, key: str, n: int | float = 1, ttl: float | None = None) -> int | float:
        result: int | float = await self._backend.incr(key, n, ttl)
        return result


class Fs:
    """`fs.read/exists/list/stat` over a site's files (the in-process runtime and the sandbox worker)."""

    def __init__(self, site_fs: SiteFs) -> None:
        self._fs = site_fs

    def read(self, path: str) -> str:
        return self._fs.read(path)

    def read_bytes(self, path: str) -> bytes:
        return self._fs.read_bytes(path)

    def exists(self, path: str) -> bool:
        return self._fs.exists(path)

    def list(self, path: str = ".") -> list[str]:
        return self._fs.list(path)

    def stat(self, path: str) -> dict[str, Any] | None:
        info = self._fs.stat(path)
        if info is None:
            return None
        return {"name": info.name, "size": info.size, "mtime": info.mtime, "is_dir": info.is_dir}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
