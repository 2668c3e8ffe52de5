"""The sandboxed Python worker: runs pages sent by the host, one at a time.

Messages are length-prefixed JSON on stdin/stdout (never pickle: the host
must not deserialize objects a page could forge). Page output to stdout is
redirected to stderr so it cannot corrupt the protocol.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import traceback
from typing import Any, BinaryIO

from dynlan.host._context import _cookie_header
from dynlan.host._fs import SiteFs
from dynlan.runtimes.python._api import CaseInsensitive, Fs
from dynlan.runtimes.python._runtime import (
    CodeCache,
    PageError,
    _ModuleLoader,
    _modules,
    page_builtins,
)

_LEN = struct.Struct(">I")


class Budget(Exception):
    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class Channel:
    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self.rfile = rfile
        self.wfile = wfile

    def read(self) -> dict[str, Any] | None:
        head = self.rfile.read(4)
        if len(head) < 4:
            return None
        (size,) = _LEN.unpack(head)
        data = self.rfile.read(size)
        message: dict[str, Any] = json.loads(data)
        return message

    def write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        self.wfile.write(_LEN.pack(len(data)) + data)
        self.wfile.flush()

    def call(self, op: str, *args: Any) -> Any:
        self.write({"t": "call", "op": op, "args": list(args)})
        reply = self.read()
        if reply is None:
            raise SystemExit(0)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error", "host call failed"))
        return reply.get("value")


class Request:
    def __init__(self, info: dict[str, Any], asynchronous: bool) -> None:
        self._info = info
        self._async = asynchronous
        for key in ("method", "path", "query_string", "http_version", "scheme", "host", "client", "client_port", "id"):
            setattr(self, key, info[key])
        self.query: dict[str, str] = info["query"]
        self.query_all: dict[str, list[str]] = info["query_all"]
        self.headers = CaseInsensitive(info["headers"])
        self.params: dict[str, str] = info["params"]
        self.cookies: dict[str, str] = info["cookies"]
        self._body: bytes = info["body"].encode("latin-1")

    def body(self) -> Any:
        if self._async:
            async def read() -> bytes:
                return self._body
            return read()
        return self._body

    def text(self) -> str:
        return self._body.decode("utf-8", "replace")

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        if "application/x-www-form-urlencoded" not in self.headers.get("content-type", ""):
            return {}
        out: dict[str, str] = {}
        for k, v in parse_qsl(self.text(), keep_blank_values=True):
            out.setdefault(k, v)
        return out

    def json(self) -> Any:
        return json.loads(self._body) if self._body else None


class Response:
    def __init__(self, channel: Channel, output_limit: int) -> None:
        self._channel = channel
        self._limit = output_limit
        self.status = 200
        self._headers: list[list[str]] = [["content-type", "text/html; charset=utf-8"]]
        self._chunks: list[bytes] = []
        self._written = 0
        self._streaming = False
        self.headers = _Headers(self)

    def _check(self, name: str, value: str) -> None:
        if self._streaming:
            raise RuntimeError("headers cannot change after the response started")
        if not name or any(c in name for c in "\r\n:\0 ") or any(c in value for c in "\r\n\0"):
            raise ValueError(f"invalid header {name!r}")

    def header(self, name: str, value: Any) -> None:
        value = str(value)
        self._check(name, value)
        self._headers = [h for h in self._headers if h[0] != name.lower()] + [[name.lower(), value]]

    def add_header(self, name: str, value: Any) -> None:
        value = str(value)
        self._check(name, value)
        self._headers.append([name.lower(), value])

    def set_cookie(self, name: str, value: Any, **options: Any) -> None:
        self.add_header("set-cookie", _cookie_header(name, str(value), options))

    def write(self, data: str | bytes) -> None:
        chunk = data.encode() if isinstance(data, str) else bytes(data)
        self._written += len(chunk)
        if self._written > self._limit:
            raise Budget("output", f"page wrote more than its output budget of {self._limit} bytes")
        self._chunks.append(chunk)

    def redirect(self, location: str, status: int = 302) -> None:
        self.status = status
        self.header("location", location)

    def json(self, value: Any, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        self.header("content-type", "application/json")
        self.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def take(self) -> str:
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body.decode("latin-1")

    def cache(self, ttl: float, vary: Any = None, tags: Any = None, query: Any = None,
              stale_if_error: float | None = None) -> None:
        self._channel.call("cache_response", ttl, vary, tags, query, stale_if_error)

    async def flush(self) -> None:
        self._channel.write({"t": "flush", "status": self.status, "headers": self._headers, "body": self.take()})
        self._streaming = True


class _Headers:
    def __init__(self, response: Response) -> None:
        self._r = response

    def __setitem__(self, name: str, value: Any) -> None:
        self._r.header(name, value)

    def __getitem__(self, name: str) -> str:
        for k, v in reversed(self._r._headers):
            if k == name.lower():
                return v
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


class Cache:
    def __init__(self, channel: Channel) -> None:
        self._c = channel

    def get(self, key: str) -> Any:
        return self._c.call("cache_get", key)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self._c.call("cache_set", key, value, ttl)

    def delete(self, key: str) -> bool:
        return bool(self._c.call("cache_delete", key))

    def incr(self, key: str, n: int | float = 1, ttl: float | None = None) -> Any:
        return self._c.call("cache_incr", key, n, ttl)

    def purge(self, path: str | None = None, tag: str | None = None) -> int:
        return int(self._c.call("cache_purge", path, tag))

    async def aget(self, key: str) -> Any:
        return self.get(key)

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def aincr(self, key: str, n: int | float = 1, ttl: float | None = None) -> Any:
        return self.incr(key, n, ttl)


class Log:
    def __init__(self, channel: Channel) -> None:
        self._c = channel

    def _log(self, level: str, message: Any) -> None:
        self._c.write({"t": "log", "level": level, "message": str(message)})

    def debug(self, m: Any) -> None:
        self._log("debug", m)

    def info(self, m: Any) -> None:
        self._log("info", m)

    def warn(self, m: Any) -> None:
        self._log("warn", m)

    warning = warn

    def error(self, m: Any) -> None:
        self._log("error", m)


def _limit_memory(budget: int) -> None:
    """Cap the address space at what the interpreter uses now plus the page budget."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                current = int(line.split()[1]) * 1024
                break
        else:  # pragma: no cover
            return
    limit = current + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run(channel: Channel, codes: CodeCache, builtins_dict: dict[str, Any], message: dict[str, Any]) -> None:
    import inspect

    import trio

    root, page, name = message["root"], message["page"], message["name"]
    info = message["request"]
    namespace: dict[str, Any] = {"__name__": "__page__", "__file__": page, "__builtins__": builtins_dict,
                                 "cache": Cache(channel), "fs": Fs(SiteFs(root)), "log": Log(channel)}
    response = Response(channel, message["output_limit"])
    token = _modules.set(_ModuleLoader(root, codes, builtins_dict))
    try:
        exec(codes.get(page, name), namespace)
        handle = namespace.get("handle")
        if not callable(handle):
            raise PageError(f"{name} defines no handle(request, response)", "", page, None)
        if inspect.iscoroutinefunction(handle):
            trio.run(handle, Request(info, True), response)
        else:
            handle(Request(info, False), response)
    except Budget as exc:
        channel.write({"t": "budget", "kind": exc.kind, "message": str(exc)})
        return
    except MemoryError:
        channel.write({"t": "budget", "kind": "memory", "message": "page used more than its memory budget"})
        return
    except PageError as exc:
        channel.write({"t": "error", "message": str(exc), "detail": exc.detail, "file": exc.file, "line": exc.line})
        return
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root + os.sep)]
        detail = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
        file, line = (frames[-1].filename, frames[-1].lineno) if frames else (page, None)
        channel.write({"t": "error", "message": f"{type(exc).__name__}: {exc}", "detail": detail.replace(root + os.sep, ""),
                       "file": file, "line": line})
        return
    finally:
        _modules.reset(token)
    channel.write({"t": "done", "status": response.status, "headers": response._headers, "body": response.take()})


def main() -> int:
    # The protocol owns the real stdout; `print` in a page goes to stderr.
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel = Channel(sys.stdin.buffer, proto_out)
    memory = int(os.environ.get("DYNLAN_MEMORY_BUDGET", "0"))
    codes = CodeCache()
    builtins_dict = page_builtins()
    import trio  # noqa: F401  (imported before the memory cap, for async pages)

    if memory:
        _limit_memory(memory)
    channel.write({"t": "ready", "pid": os.getpid()})
    while True:
        message = channel.read()
        if message is None:
            return 0
        if message.get("t") == "run":
            run(channel, codes, builtins_dict, message)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["main"]
