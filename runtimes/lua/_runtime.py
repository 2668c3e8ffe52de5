"""Lua pages through lupa: a shared VM, a fresh environment and coroutine per request.

Scheduling (see docs/lua.md): every request starts on the inline VM, in the
trio thread, as a coroutine; host calls that wait on I/O yield it back to trio.
A page still computing after `slice` seconds, and which has had no side effect
yet (no cache write, nothing sent), is stopped and run again from the start
on one of a few VMs that run on threads (lupa releases the GIL while Lua
runs), and the page is remembered as heavy so its next requests go straight
there. This keeps a hello page fast (no thread hop) while a spinning page
cannot stall the others for more than one slice.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import trio

from dynlan.config import ConfigError
from dynlan.host import BudgetExceeded, CacheError, FsError, Host, PageContext, PageError, parse_ttl
from dynlan.http import HttpError
from dynlan.runtimes._interface import Availability, RuntimeConfig, check_site_options
from dynlan.runtimes.lua._convert import ConversionError, from_lua, to_lua

log = logging.getLogger("dynlan.lua")

_SANDBOX = os.path.join(os.path.dirname(__file__), "_sandbox.lua")
_ENGINES = {"lua54": "lupa.lua54", "luajit": "lupa.luajit21"}
_LOCATION = re.compile(r"^([^\s:][^:]*):(\d+):")


@dataclass(slots=True)
class LuaOptions:
    engine: str = "lua54"
    """`lua54` (default) or `luajit`."""
    threads: int = 2
    """VMs on threads for pages that compute longer than one slice."""
    slice: float = 0.01
    """Seconds a page may compute in the trio thread before it moves to a thread VM."""


class _Preempted(Exception):
    """The page used its inline slice before any side effect: run it again on a thread VM."""


def _deny_attributes(obj: Any, name: Any, setting: bool) -> Any:
    # No Python object graph for pages: `f.__globals__` and friends are unreachable.
    raise AttributeError("Python attributes are not accessible from Lua")


class _VM:
    """One LuaRuntime with the sandbox loaded and a cache of compiled pages."""

    def __init__(self, module: Any, max_memory: int | None, threaded: bool) -> None:
        kwargs: dict[str, Any] = {
            "encoding": None,
            "register_eval": False,
            "register_builtins": False,
            "attribute_filter": _deny_attributes,
            "unpack_returned_tuples": True,
        }
        if max_memory is not None:
            kwargs["max_memory"] = max_memory
        self.module = module
        self.lua = module.LuaRuntime(**kwargs)
        self.threaded = threaded
        with open(_SANDBOX, "rb") as f:
            source = f.read()
        self.api = self.lua.execute(source, time.monotonic)
        self.new_env = self.api[b"new_env"]
        self.start = self.api[b"start"]
        self.compile_source = self.api[b"compile"]
        self.make_ci = self.api[b"make_ci"]
        self.chunks: dict[str, tuple[int, int, Any]] = {}

    def chunk(self, path: str, name: str) -> Any:
        """The compiled page or module, recompiled when its file changes."""
        try:
            st = os.stat(path)
        except OSError:
            raise PageError(f"{name}: file not found") from None
        cached = self.chunks.get(path)
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        with open(path, "rb") as f:
            source = f.read()
        result = self.compile_source(source, name.encode())
        fn, err = result if isinstance(result, tuple) else (result, None)
        if fn is None:
            message = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            file, line = _locate(message, name, path)
            raise PageError(f"syntax error: {message}", "", file, line)
        self.chunks[path] = (st.st_mtime_ns, st.st_size, fn)
        return fn


def _locate(message: str, name: str, path: str) -> tuple[str | None, int | None]:
    m = _LOCATION.match(message)
    if m and m.group(1) == name:
        return path, int(m.group(2))
    return None, None


class _Request:
    """The host side of one request's Lua environment (its dispatcher)."""

    def __init__(self, runtime: LuaRuntime, vm: _VM, ctx: PageContext, root: str) -> None:
        self.runtime = runtime
        self.vm = vm
        self.ctx = ctx
        self.root = root
        self.side_effects = False
        self.closed = False
        self.set_preemptible: Any = None

    def _effect(self) -> None:
        if not self.side_effects:
            self.side_effects = True
            if self.set_preemptible is not None:
                self.set_preemptible(False)

    def load_module(self, name: Any) -> tuple[Any, Any]:
        """`require(name)`: a module from the site's `_lib/` (or a `_`-folder path), compiled once."""
        if not isinstance(name, bytes):
            return None, b"module name must be a string"
        text = name.decode("utf-8", "replace")
        rel = text.replace(".", "/")
        candidates = [f"_lib/{rel}.lua"] if not rel.startswith("_") else []
        candidates.append(f"{rel}.lua")
        for candidate in candidates:
            try:
                real = self.ctx.fs.resolve(candidate)
            except FsError:
                return None, f"module '{text}' is outside the site".encode()
            if os.path.isfile(real):
                try:
                    return self.vm.chunk(real, os.path.relpath(real, self.root)), None
                except PageError as exc:
                    return None, str(exc).encode()
        return None, f"module '{text}' not found (looked in {', '.join(candidates)})".encode()

    def dispatch(self, op: bytes, a: Any = None, b: Any = None, c: Any = None) -> tuple[Any, Any]:
        if self.closed:
            return False, b"this request has ended"
        try:
            return True, self._dispatch(op, a, b, c)
        except _Yield:
            return b"yield", None
        except (FsError, CacheError, ConversionError, ValueError, RuntimeError, TypeError) as exc:
            return False, str(exc).encode()
        except BudgetExceeded:
            raise
        except HttpError as exc:
            return False, exc.message.encode()

    def _dispatch(self, op: bytes, a: Any, b: Any, c: Any) -> Any:
        ctx = self.ctx
        lua = self.vm.lua
        mod = self.vm.module
        if op == b"write":
            if a:
                ctx.response.write(a if isinstance(a, bytes) else str(a).encode())
                if ctx.response.wants_flush:
                    self._effect()
                    raise _Yield
            return None
        if op == b"req":
            return self._request_field(a)
        if op == b"status":
            ctx.response.set_status(a)
            return None
        if op == b"get_status":
            return ctx.response.status
        if op == b"set_header":
            ctx.response.set_header(_text(a), _text(b))
            return None
        if op == b"add_header":
            ctx.response.add_header(_text(a), _text(b))
            return None
        if op == b"get_header":
            return to_lua(lua, ctx.response.headers.get(_text(a)))
        if op == b"header_in":
            return to_lua(lua, ctx.request.headers.get(_text(a)))
        if op == b"set_cookie":
            opts = from_lua(mod, c) if c is not None else {}
            if not isinstance(opts, dict):
                raise ValueError("cookie options must be a table")
            ctx.response.set_cookie(_text(a), _text(b), opts)
            return None
        if op == b"redirect":
            ctx.response.redirect(_text(a), int(b) if b is not None else 302)
            return None
        if op == b"json_out":
            ctx.response.json(from_lua(mod, a), int(b) if b is not None else None)
            return None
        if op == b"json_encode":
            return json.dumps(from_lua(mod, a), separators=(",", ":"), ensure_ascii=False).encode()
        if op == b"json_decode":
            try:
                return to_lua(lua, json.loads(a))
            except ValueError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
        if op == b"form":
            return to_lua(lua, ctx.form())
        if op == b"json":
            return to_lua(lua, ctx.json())
        if op == b"cache_response":
            opts = from_lua(mod, b) if b is not None else {}
            if not isinstance(opts, dict):
                raise ValueError("response.cache options must be a table")
            unknown = set(opts) - {"vary", "tags", "query", "stale_if_error"}
            if unknown:
                raise ValueError(f"unknown response.cache option '{sorted(unknown)[0]}'")
            ctx.cache_response(a, opts.get("vary"), opts.get("tags"), opts.get("query"), opts.get("stale_if_error"))
            return None
        if op == b"cache_purge":
            what = from_lua(mod, a)
            if isinstance(what, dict):
                return ctx.purge(what.get("path"), what.get("tag"))
            return ctx.purge(path=_text(a))
        if op.startswith(b"cache_"):
            return self._cache_nowait(op, a, b, c)
        if op == b"fs_read":
            return ctx.fs.read_bytes(_text(a))
        if op == b"fs_exists":
            return ctx.fs.exists(_text(a))
        if op == b"fs_list":
            return to_lua(lua, ctx.fs.list(_text(a) if a is not None else "."))
        if op == b"fs_stat":
            info = ctx.fs.stat(_text(a))
            if info is None:
                return None
            return to_lua(lua, {"name": info.name, "size": info.size, "mtime": info.mtime, "is_dir": info.is_dir})
        if op == b"log":
            ctx.log.at(_text(a), _text(b))
            return None
        raise ValueError(f"unknown host call {op!r}")

    def _request_field(self, key: Any) -> Any:
        ctx = self.ctx
        lua = self.vm.lua
        if not isinstance(key, bytes):
            return None
        k = key.decode("utf-8", "replace")
        if k == "query":
            return to_lua(lua, ctx.query_first())
        if k == "query_all":
            return to_lua(lua, ctx.request.query)
        if k == "headers":
            return self.vm.make_ci(to_lua(lua, ctx.request.headers.as_dict()))
        if k == "params":
            return to_lua(lua, ctx.params)
        if k == "cookies":
            return to_lua(lua, ctx.cookies)
        info = ctx.request_info()
        if k in info:
            return to_lua(lua, info[k])
        return None

    def _cache_nowait(self, op: bytes, a: Any, b: Any, c: Any) -> Any:
        cache = self.ctx.cache
        if not getattr(cache, "local", False):
            if op != b"cache_get":
                self._effect()
            raise _Yield
        key = _text(a)
        if op == b"cache_get":
            return to_lua(self.vm.lua, cache.get_nowait(key))
        self._effect()
        if op == b"cache_set":
            cache.set_nowait(key, from_lua(self.vm.module, b), parse_ttl(c))
            return True
        if op == b"cache_delete":
            return cache.delete_nowait(key)
        if op == b"cache_incr":
            return cache.incr_nowait(key, _number(b, 1), parse_ttl(c))
        raise ValueError(f"unknown cache call {op!r}")

    async def host_io(self, op: bytes, args: tuple[Any, ...]) -> tuple[Any, Any]:
        """A host call that waits: run it on trio, return (ok, value) to resume the page with."""
        ctx = self.ctx
        try:
            if op == b"body":
                return True, await ctx.read_body()
            if op == b"flush":
                if args and args[0]:
                    ctx.response.write(args[0])
                self._effect()
                await ctx.response.flush()
                return True, None
            if op == b"write":
                # The buffer passed its threshold: send what is there.
                self._effect()
                await ctx.response.flush()
                return True, None
            if op == b"sleep":
                seconds = _number(args[0] if args else 0, 0)
                await trio.sleep(max(0.0, float(seconds)))
                return True, None
            if op.startswith(b"cache_") and op not in (b"cache_response", b"cache_purge"):
                return True, await self._cache_async(op, *args, *(None,) * (3 - len(args)))
            # Thread VMs send every host call here.
            result = self.dispatch(op, *args)
            return result
        except (CacheError, ConversionError, ValueError) as exc:
            return False, str(exc).encode()

    async def _cache_async(self, op: bytes, a: Any, b: Any, c: Any) -> Any:
        cache = self.ctx.cache
        key = _text(a)
        if op == b"cache_get":
            return to_lua(self.vm.lua, await cache.get(key))
        self._effect()
        if op == b"cache_set":
            await cache.set(key, from_lua(self.vm.module, b), parse_ttl(c))
            return True
        if op == b"cache_delete":
            return await cache.delete(key)
        if op == b"cache_incr":
            return await cache.incr(key, _number(b, 1), parse_ttl(c))
        raise ValueError(f"unknown cache call {op!r}")


class _Yield(Exception):
    """A host call that must wait: the page's coroutine yields to the driver."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None:
        raise ValueError("expected a string, got nil")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)




def _number(value: Any, default: int | float) -> int | float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return value


class LuaRuntime:
    """The `.lua` page runtime."""

    name = "lua"
    suffixes = (".lua",)

    def __init__(self) -> None:
        self.options = LuaOptions()
        self.limits: Any = None
        self.dev = False
        self.host: Host | None = None
        self._module: Any = None
        self._inline: _VM | None = None
        self._threaded: list[_VM] = []
        self._free: list[_VM] = []
        self._slots: trio.Semaphore | None = None
        self._heavy: set[str] = set()
        self.stats: dict[str, int] = {
            "requests": 0, "errors": 0, "preempted": 0, "threaded": 0,
            "budget.time": 0, "budget.instructions": 0, "budget.memory": 0, "budget.output": 0,
        }

    def available(self) -> Availability:
        import importlib.util

        if importlib.util.find_spec("lupa") is None:
            return Availability(False, reason="lupa is not installed: pip install 'dynlan[lua]'")
        try:
            from importlib.metadata import version

            v = version("lupa")
        except Exception:
            v = "?"
        return Availability(True, version=f"lupa {v}")

    def configure(self, cfg: RuntimeConfig) -> None:
        opts = LuaOptions()
        for key, value in cfg.options.items():
            if key == "engine":
                if value not in _ENGINES:
                    raise ConfigError(f"lua.engine: must be one of {', '.join(_ENGINES)}, got {value!r}")
                opts.engine = value
            elif key == "threads":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"lua.threads: expected a positive integer, got {value!r}")
                opts.threads = value
            elif key == "slice":
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(f"lua.slice: expected a positive number of seconds, got {value!r}")
                opts.slice = float(value)
            else:
                raise ConfigError(f"unknown key 'lua.{key}'")
        self.options = opts
        self.limits = cfg.limits
        self.dev = cfg.dev

    def _max_memory(self, per_request: int, inline: bool) -> int | None:
        if self.options.engine == "luajit":
            return None  # LuaJIT's allocator cannot be capped by lupa
        # The inline VM is shared by interleaved requests: the hook enforces the
        # per-request budget; this cap only stops a single huge allocation.
        return per_request * (4 if inline else 1) + 32 * 1024 * 1024

    async def start(self, host: Host) -> None:
        self.host = host
        self._module = importlib.import_module(_ENGINES[self.options.engine])
        memory = self.limits.memory if self.limits is not None else 64 * 1024 * 1024
        self._inline = _VM(self._module, self._max_memory(memory, True), threaded=False)
        self._threaded = [_VM(self._module, self._max_memory(memory, False), threaded=True) for _ in range(self.options.threads)]
        self._free = list(self._threaded)
        self._slots = trio.Semaphore(len(self._threaded))

    async def aclose(self) -> None:
        self._inline = None
        self._threaded.clear()
        self._free.clear()

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        out["heavy_pages"] = len(self._heavy)
        if self._inline is not None and self.options.engine != "luajit":
            out["inline_memory"] = self._inline.lua.get_memory_used()
        return out

    async def handle(self, ctx: PageContext) -> None:
        assert self._inline is not None and self._slots is not None
        self.stats["requests"] += 1
        try:
            if ctx.page not in self._heavy:
                try:
                    await self._run(self._inline, ctx, preemptible=True)
                    return
                except _Preempted:
                    self.stats["preempted"] += 1
                    self._heavy.add(ctx.page)
                    ctx.response = type(ctx.response)(ctx)
            async with self._slots:
                vm = self._free.pop()
                try:
                    self.stats["threaded"] += 1
                    started = time.monotonic()
                    await self._run(vm, ctx, preemptible=False)
                    if time.monotonic() - started < self.options.slice:
                        self._heavy.discard(ctx.page)
                finally:
                    self._free.append(vm)
        except BudgetExceeded as exc:
            self.stats[f"budget.{exc.kind}"] = self.stats.get(f"budget.{exc.kind}", 0) + 1
            raise
        except PageError:
            self.stats["errors"] += 1
            raise

    async def _run(self, vm: _VM, ctx: PageContext, *, preemptible: bool) -> None:
        root = ctx.fs.root
        chunk = vm.chunk(ctx.page, ctx.page_name)
        req = _Request(self, vm, ctx, root)
        limits = ctx.limits
        now = time.monotonic()
        env, state = vm.new_env(req.dispatch, vm.threaded, req.load_module)
        step, set_preemptible = vm.start(
            chunk, env, state, limits.instructions, limits.memory,
            now + limits.wall_time, now + self.options.slice if preemptible else None,
        )
        req.set_preemptible = set_preemptible
        args: tuple[Any, ...] = ()
        try:
            while True:
                if vm.threaded:
                    result = await trio.to_thread.run_sync(_resume, vm, step, args)
                else:
                    result = _resume(vm, step, args)
                kind = result[0]
                if kind == b"call":
                    op = result[1]
                    ok, value = await req.host_io(op, tuple(result[2:]))
                    args = (ok, value)
                    continue
                if kind == b"done":
                    body = result[1] if len(result) > 1 else b""
                    if body:
                        ctx.response.write(body)
                    return
                if kind == b"budget":
                    budget = result[1].decode()
                    message = result[2].decode("utf-8", "replace")
                    if budget == "preempt":
                        raise _Preempted
                    if budget == "time":
                        message = f"page ran past its time budget of {limits.wall_time:g} s"
                    raise BudgetExceeded(budget, message)
                if kind == b"fail":
                    message = _text(result[1]) if len(result) > 1 else "page failed"
                    trace = _text(result[2]) if len(result) > 2 and result[2] else ""
                    file, line = _locate(message, ctx.page_name, ctx.page)
                    if file is None:
                        file, line = _locate_in_trace(trace, ctx)
                    raise PageError(message, trace, file, line)
                raise PageError(f"unexpected result from the Lua VM: {kind!r}")
        finally:
            req.closed = True

    site_keys: frozenset[str] = frozenset()
    """A site's [lua] table may set nothing: the engine, its threads and the slice are the worker's."""

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        return check_site_options(self.name, self.site_keys, server, site, source,
                                  server_keys=("engine", "threads", "slice"))


def _resume(vm: _VM, step: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        result = step(*args)
    except vm.module.LuaMemoryError:
        return (b"budget", b"memory", b"page ran out of memory")
    except vm.module.LuaError as exc:
        return (b"fail", str(exc).encode(), b"")
    return result if isinstance(result, tuple) else (result,)


def _locate_in_trace(trace: str, ctx: PageContext) -> tuple[str | None, int | None]:
    for line in trace.splitlines():
        m = re.match(r"\s*([^\s:][^:]*):(\d+):", line)
        if m:
            path = os.path.join(ctx.fs.root, m.group(1))
            if os.path.isfile(path):
                return path, int(m.group(2))
    return None, None
