"""Lua pages through lupa: a shared VM, a fresh environment and coroutine per request.

Host calls go through the host-call table (`dynlan.host.call_nowait`/`call`);
this module only marshals values (Lua strings are bytes, tables become plain
data) and drives the page's coroutine.

Scheduling (see docs/lua.md): every request starts on the inline VM, in the
trio thread, as a coroutine; host calls that wait on I/O yield it back to trio.
A page still computing after `slice` seconds, and which has had no side effect
yet (no cache write, nothing sent: `is_effect` in the table), is stopped and
run again from the start on one of a few VMs that run on threads (lupa
releases the GIL while Lua runs), and the page is remembered as heavy so its
next requests go straight there. A page that has had a side effect cannot be
run again, so it may compute on the inline VM for a few slices between two
host calls; past that it fails, and its later requests start on a thread VM.
This keeps a hello page fast (no thread hop) while a spinning page cannot
stall the others for more than a few slices.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import trio

from dynlan.config import ConfigError
from dynlan.host import (
    OPERATIONS,
    BudgetExceeded,
    Frame,
    FsError,
    Host,
    HostCallError,
    MustWait,
    PageContext,
    PageError,
    call,
    call_nowait,
    is_effect,
)
from dynlan.runtimes._interface import Availability, RuntimeConfig, check_site_options
from dynlan.runtimes.lua._convert import ConversionError, from_lua, to_lua

log = logging.getLogger("dynlan.lua")

_HERE = os.path.dirname(__file__)
_ENGINES = {"lua54": "lupa.lua54", "luajit": "lupa.luajit21"}
_LOCATION = re.compile(r"^([^\s:][^:]*):(\d+):")
_OP_NAMES = {name.encode(): name for name in OPERATIONS}
_RAW_FIRST = frozenset({"write", "flush", "http_request", "ws_send"})
"""Operations whose first argument is bytes that go out as they are (the page's output, a request body)."""
_YIELD = (b"yield", None)
_EFFECTS = frozenset(name for name in OPERATIONS if is_effect(name))
MAX_SOURCE = 4 * 1024 * 1024
"""Bytes of a page or module's source: compiling runs in one C call no budget hook sees (about 15 ms a MiB)."""
_BLOCK_SLICES = 5
"""Slices an inline page that has had a side effect may compute between two host calls."""


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


def _seed() -> bytes:
    """Fresh bytes for a request's math.random generator."""
    return os.urandom(16)


def _run_file(lua: Any, name: str, *args: Any) -> Any:
    """Compile one of this package's Lua files (chunk name `=dynlan/<file>`) and run it with `args`."""
    with open(os.path.join(_HERE, name), "rb") as f:
        source = f.read()
    result = lua.globals()[b"load"](source, b"=dynlan/" + name.encode(), b"t")
    fn, err = result if isinstance(result, tuple) else (result, None)
    if fn is None:
        raise RuntimeError(f"{name}: {err!r}")
    return fn(*args)


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
        self.max_memory = max_memory
        self.lua = module.LuaRuntime(**kwargs)
        self.threaded = threaded
        is54 = self.lua.eval(b"_VERSION") == b"Lua 5.4"
        patterns = _run_file(self.lua, "_patterns.lua", is54)
        random54 = _run_file(self.lua, "_random54.lua") if is54 else None
        api = _run_file(self.lua, "_sandbox.lua", time.monotonic, _seed, patterns, random54)
        self.new_env = api[b"new_env"]
        self.start = api[b"start"]
        self.compile_source = api[b"compile"]
        self.forget = api[b"forget"]
        self.chunks: dict[str, tuple[int, int, Any, float]] = {}
        self.abandoned = False
        """A request left this VM while Lua still ran on it (a thread VM): it is never used again."""

    def chunk(self, path: str, name: str) -> Any:
        """The compiled page or module, recompiled when its file changes."""
        try:
            st = os.stat(path)
        except OSError:
            raise PageError(f"{name}: file not found") from None
        cached = self.chunks.get(path)
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        if st.st_size > MAX_SOURCE:
            raise PageError(f"{name}: source of {st.st_size} bytes is larger than the {MAX_SOURCE} bytes a page may have")
        with open(path, "rb") as f:
            source = f.read()
        fn, err, grown = self.compile_source(source, name.encode())
        if fn is None:
            message = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            file, line = _locate(message, name, path)
            raise PageError(f"syntax error: {message}", "", file, line, kind="Lua syntax error",
                            headline=_LOCATION.sub("", message, count=1).strip() if file else message,
                            frames=[Frame(name, line)] if line else ())
        if cached is not None:
            self.forget(cached[3])
        self.chunks[path] = (st.st_mtime_ns, st.st_size, fn, grown)
        return fn


def _locate(message: str, name: str, path: str) -> tuple[str | None, int | None]:
    m = _LOCATION.match(message)
    if m and m.group(1) == name:
        return path, int(m.group(2))
    return None, None


class _Request:
    """One request's side of its Lua environment: host calls from Lua, marshalled to the host-call table."""

    __slots__ = ("vm", "ctx", "root", "wait", "side_effects", "set_preemptible")

    def __init__(self, vm: _VM, ctx: PageContext, root: str) -> None:
        self.vm = vm
        self.ctx = ctx
        self.root = root
        self.wait: MustWait | None = None
        """The waiting call the page's coroutine yielded for (inline VM)."""
        self.side_effects = False
        self.set_preemptible: Any = None

    def _effect(self) -> None:
        # Past a cache write or bytes sent, running the page again from the top would repeat them.
        if not self.side_effects:
            self.side_effects = True
            if self.set_preemptible is not None:
                self.set_preemptible(False)

    def _args(self, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(args) == 1 and isinstance(args[0], bytes):
            return args if name in _RAW_FIRST else (args[0].decode("utf-8", "replace"),)
        if not args:
            return ()
        mod = self.vm.module
        if name in _RAW_FIRST and isinstance(args[0], bytes):
            if len(args) == 2:
                return args[0], from_lua(mod, args[1])  # a message and its kind (ws_send): no generator
            return (args[0], *(from_lua(mod, a) for a in args[1:]))
        return tuple(from_lua(mod, a) for a in args)

    def dispatch(self, op: bytes, *args: Any) -> tuple[Any, ...]:
        """A host call from the inline VM: (True, value), (False, message), (b"yield", None) when it waits
        (the page's coroutine then yields to `_run`), or (b"budget", kind, message)."""
        name = _OP_NAMES.get(op) or (op.decode("utf-8", "replace") if isinstance(op, bytes) else str(op))
        try:
            if name in _EFFECTS:
                self._effect()
            return True, to_lua(self.vm.lua, call_nowait(self.ctx, name, self._args(name, args)))
        except MustWait as wait:
            if is_effect(wait.op):
                self._effect()
            self.wait = wait
            return _YIELD
        except (HostCallError, ConversionError) as exc:
            return False, str(exc).encode()
        except BudgetExceeded as exc:
            return b"budget", exc.kind.encode(), str(exc).encode()

    async def host_io(self, op: bytes, args: tuple[Any, ...]) -> tuple[Any, Any]:
        """A host call that waits (or any call, from a thread VM): its (ok, value) to resume the page with.
        Budget and HTTP errors (413 while reading the body) end the request."""
        wait, self.wait = self.wait, None
        try:
            if wait is not None:
                value = await call(self.ctx, wait.op, wait.args)
            else:
                name = _OP_NAMES.get(op) or op.decode("utf-8", "replace")
                if name in _EFFECTS:
                    self._effect()
                value = await call(self.ctx, name, self._args(name, args))
            return True, to_lua(self.vm.lua, value)
        except (HostCallError, ConversionError) as exc:
            return False, str(exc).encode()

    def load_module(self, name: Any, path: Any, search_only: Any, sep: Any = b".", rep: Any = b"/") -> tuple[Any, Any]:
        """`require(name)` (the compiled module, compiled once, and its file) or `package.searchpath` (the file).

        `path` is the page's `package.path`: `?` in each of its `;`-separated templates becomes the name (its `sep`
        made `rep`). Every candidate is a path inside the site root, whatever the templates say: one that leads
        out of it (`../`, an absolute path, a link) is not looked at. A name starting with `_` is also looked up
        from the site root (`require("_shared.util")`: `_shared/util.lua`).
        """
        if self.ctx.closed:
            return None, b"this request has ended"
        if not all(isinstance(v, bytes) for v in (name, path, sep, rep)):
            return None, b"module name and path must be strings"
        text, template = name.decode("utf-8", "replace"), path.decode("utf-8", "replace")
        rel = text.replace(sep.decode("utf-8", "replace"), rep.decode("utf-8", "replace")) if sep else text
        candidates = [f"{rel}.lua"] if rel.startswith("_") and not search_only else []
        candidates += [t.replace("?", rel) for t in template.split(";") if t][:_MAX_TEMPLATES]
        for candidate in candidates:
            try:
                real = self.ctx.fs.resolve(candidate)
            except FsError:
                continue
            if os.path.isfile(real):
                shown = os.path.relpath(real, self.root)
                if search_only:
                    return shown.encode(), None
                try:
                    return self.vm.chunk(real, shown), shown.encode()
                except PageError as exc:
                    return None, str(exc).encode()
        tried = "".join(f"\n\tno file '{c}'" for c in candidates)
        return None, (f"module '{text}' not found:{tried}" if not search_only else tried).encode()


class _Run:
    """One page run on one VM: its request's side, its Lua state and the step that resumes it."""

    __slots__ = ("vm", "ctx", "req", "state", "step")

    def __init__(self, vm: _VM, ctx: PageContext, slice_: float, *, preemptible: bool) -> None:
        chunk = vm.chunk(ctx.page, ctx.page_name)
        self.vm = vm
        self.ctx = ctx
        self.req = req = _Request(vm, ctx, ctx.fs.root)
        limits = ctx.limits
        env, self.state = vm.new_env(req.dispatch, vm.threaded, req.load_module)
        self.step, req.set_preemptible = vm.start(
            chunk, env, self.state, limits.instructions, limits.memory, time.monotonic(), limits.wall_time,
            slice_ if preemptible else None, None if vm.threaded else slice_ * _BLOCK_SLICES,
        )

    def close(self) -> None:
        # set_preemptible holds the request's Lua state, which holds req.dispatch: a cycle through
        # Lua's registry that neither collector can see.
        self.req.set_preemptible = None


_START = (b"start",)
"""A run on a thread VM: its first step, on the thread too."""
_CALL = b"call"
_WRITE = b"write"


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
        self._pinned: set[str] = set()
        """Pages that computed too long on the inline VM after a side effect: they always start on a thread VM."""
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
        out["pinned_pages"] = len(self._pinned)
        if self._inline is not None and self.options.engine != "luajit":
            out["inline_memory"] = self._inline.lua.get_memory_used()
        return out

    def begin(self, ctx: PageContext) -> Awaitable[None] | None:
        """Run the page on the inline VM up to where it first waits, where most pages end. A page that waits
        goes on in what this returns; one that computes past its slice before any side effect starts again on
        a thread VM there, and so does, from the start, a page that did so before."""
        assert self._inline is not None
        self.stats["requests"] += 1
        if ctx.page in self._heavy or ctx.page in self._pinned:
            return self._on_thread(ctx)
        try:
            run = _Run(self._inline, ctx, self.options.slice, preemptible=True)
            try:
                pending = self._settle(run, _resume(run.vm, run.step, ()))
            except BaseException:
                run.close()
                raise
        except _Preempted:
            return self._preempted(ctx)
        except (BudgetExceeded, PageError) as exc:
            self._count(exc)
            raise
        if pending is None:
            run.close()
            return None
        return self._inline_rest(run, pending)

    async def _inline_rest(self, run: _Run, pending: tuple[Any, ...]) -> None:
        try:
            await self._drive(run, pending)
        except _Preempted:
            await self._preempted(run.ctx)
        except (BudgetExceeded, PageError) as exc:
            self._count(exc)
            raise

    def _preempted(self, ctx: PageContext) -> Awaitable[None]:
        """The page used its inline slice before any side effect: it runs again, from the top, on a thread VM."""
        self.stats["preempted"] += 1
        self._heavy.add(ctx.page)
        ctx.response = type(ctx.response)(ctx)
        return self._on_thread(ctx)

    async def _on_thread(self, ctx: PageContext) -> None:
        assert self._slots is not None
        async with self._slots:
            vm = self._free.pop()
            try:
                self.stats["threaded"] += 1
                started = time.monotonic()
                await self._drive(_Run(vm, ctx, self.options.slice, preemptible=False), _START)
                if time.monotonic() - started < self.options.slice:
                    self._heavy.discard(ctx.page)
            except (BudgetExceeded, PageError) as exc:
                self._count(exc)
                raise
            finally:
                if vm.abandoned:
                    # Still running on its thread until its own hook stops it: a fresh VM takes its place.
                    self.stats["abandoned"] = self.stats.get("abandoned", 0) + 1
                    self._threaded.remove(vm)
                    vm = _VM(self._module, vm.max_memory, threaded=True)
                    self._threaded.append(vm)
                self._free.append(vm)

    def _count(self, exc: BudgetExceeded | PageError) -> None:
        if isinstance(exc, BudgetExceeded):
            self.stats[f"budget.{exc.kind}"] = self.stats.get(f"budget.{exc.kind}", 0) + 1
        else:
            self.stats["errors"] += 1

    async def _drive(self, run: _Run, pending: tuple[Any, ...] | None) -> None:
        """Run the page from `pending` (what `_settle` said it waits for, or `_START`) to its end."""
        try:
            while pending is not None:
                if pending[0] == _WRITE:
                    await call(run.ctx, pending[1], pending[2])
                    return
                args = () if pending is _START else await run.req.host_io(pending[1], pending[2])
                if run.vm.threaded:
                    # A request that ends (its wall time, the client gone) while Lua is in a call no hook
                    # interrupts (the collector's pass over weak tables, say) leaves the VM to finish alone.
                    try:
                        result = await trio.to_thread.run_sync(_resume, run.vm, run.step, args, abandon_on_cancel=True)
                    except trio.Cancelled:
                        run.vm.abandoned = True
                        raise
                else:
                    result = _resume(run.vm, run.step, args)
                pending = self._settle(run, result)
        finally:
            run.close()

    def _settle(self, run: _Run, result: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """What a step of the page came to: None when it ended, else what it waits for (a host call whose
        answer resumes it, or the host's write of what it left in its buffer). Raises for a failed page,
        a budget it overran or its preemption."""
        ctx = run.ctx
        kind = result[0]
        if kind == b"call":
            return (_CALL, result[1], tuple(result[2:]))
        if kind == b"done":
            body = result[1] if len(result) > 1 else b""
            if body:
                # What the page left in its buffer goes out through the table like every write.
                try:
                    call_nowait(ctx, "write", (body,))
                except MustWait as wait:
                    return (_WRITE, wait.op, wait.args)
            return None
        limits = ctx.limits
        if kind == b"budget":
            self._measure(run.vm, ctx, run.state)
            budget = result[1].decode()
            message = result[2].decode("utf-8", "replace")
            if budget == "preempt":
                raise _Preempted
            if budget == "inline":
                self._pinned.add(ctx.page)
                raise BudgetExceeded("time", message)
            if budget == "time":
                message = f"page ran past its time budget of {limits.wall_time:g} s"
            raise BudgetExceeded(budget, message)
        if kind == b"fail":
            message = _text(result[1]) if len(result) > 1 else "page failed"
            trace = _text(result[2]) if len(result) > 2 and result[2] else ""
            file, line = _locate(message, ctx.page_name, ctx.page)
            if file is None:
                file, line = _locate_in_trace(trace, ctx)
            self._measure(run.vm, ctx, run.state)
            frames = _frames(trace)
            headline = message
            if frames and message.startswith(f"{frames[0].file}:{frames[0].line}: "):
                headline = message.split(": ", 1)[1]
            raise PageError(message, trace, file, line, kind="Lua error", frames=frames,
                            headline=headline)
        raise PageError(f"unexpected result from the Lua VM: {kind!r}")

    def _measure(self, vm: _VM, ctx: PageContext, state: Any) -> None:
        """What a failed request used, for `--dev`: instructions counted by the hook, memory above its start."""
        if not ctx.dev:
            return
        ctx.usage["instructions"] = int(state[b"count"] or 0)
        ctx.usage["output"] = ctx.response.written + int(state[b"size"] or 0)
        start = state[b"mem_start"]
        # The VM's memory now (KB) less what it held when the request began: what the request grew it by,
        # as the budget hook counts it (other requests' garbage aside).
        now = vm.lua.eval(b"collectgarbage('count')")
        if isinstance(start, (int, float)) and not isinstance(start, bool) and isinstance(now, (int, float)):
            ctx.usage["memory"] = max(0, int((now - start) * 1024))

    site_keys: frozenset[str] = frozenset()
    """A site's [lua] table may set nothing: the engine, its threads and the slice are the worker's."""

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        return check_site_options(self.name, self.site_keys, server, site, source,
                                  server_keys=("engine", "threads", "slice"))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _resume(vm: _VM, step: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        result = step(*args)
    except vm.module.LuaMemoryError:
        return (b"budget", b"memory", b"page ran out of memory")
    except vm.module.LuaError as exc:
        return (b"fail", str(exc).encode(), b"")
    return result if isinstance(result, tuple) else (result,)


_MAX_TEMPLATES = 16
"""Templates of a `package.path` looked at, at most (each costs a stat)."""

_TRACE_FRAME = re.compile(r"^\s+([^\s\[][^:]*):(\d+): in (.*)$")
_FUNCTION_NAME = re.compile(r"^(?:local|upvalue|method|field|function|global) '([^']+)'$")


def _frames(trace: str) -> list[Frame]:
    """The frames of a Lua traceback, innermost first. The sandbox's own (`dynlan/_sandbox.lua`, `[C]`) name
    no file of the site: the dev page leaves them out, as it does any file outside the site."""
    frames: list[Frame] = []
    for text in trace.splitlines():
        m = _TRACE_FRAME.match(text)
        if m is None or m.group(1).startswith("dynlan/"):
            continue
        where = m.group(3)
        name = _FUNCTION_NAME.match(where)
        if name:
            function = name.group(1)
        elif where == f"function <{m.group(1)}:1>" or where == "main chunk":
            function = "main chunk"  # a chunk's body is a function on its first line (see `compile` in the sandbox)
        else:
            function = "anonymous function" if where.startswith("function <") else where
        frames.append(Frame(m.group(1), int(m.group(2)), function))
    return frames


def _locate_in_trace(trace: str, ctx: PageContext) -> tuple[str | None, int | None]:
    for line in trace.splitlines():
        m = re.match(r"\s*([^\s:][^:]*):(\d+):", line)
        if m:
            path = os.path.join(ctx.fs.root, m.group(1))
            if os.path.isfile(path):
                return path, int(m.group(2))
    return None, None
