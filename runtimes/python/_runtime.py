"""Python pages in the server process: fresh module namespace and builtins per request, code compiled once.

In-process Python is trusted code: it shares the interpreter with the server,
so a synchronous page that computes forever cannot be interrupted (it is
reported and counted when it ends); `async def handle` pages are cancelled at
their wall-time budget like any trio task. Each request gets its own copy of
the builtins, so `__builtins__["x"] = ...` or a replaced builtin stays in that
request; modules (`import json`), `sys` and the interpreter stay shared, which
is why untrusted code belongs in the process sandbox (`[python] sandbox =
"process"`, see `_sandboxed.py` and `_worker.py`).
"""

from __future__ import annotations

import builtins
import contextvars
import inspect
import logging
import os
import sys
import time
import traceback
import types
from collections.abc import Awaitable
from typing import Any

import trio

from dynlan.config import ConfigError
from dynlan.host import Frame, Host, PageContext, PageError
from dynlan.runtimes._interface import Availability, RuntimeConfig
from dynlan.runtimes.python._api import (
    Cache,
    Fs,
    Http,
    Log,
    LoopPort,
    Request,
    Response,
    Session,
    TablePort,
    Template,
)
from dynlan.runtimes.python._realtime import Channels, WebSockets
from dynlan.runtimes.python._site_policy import SITE_KEYS, python_site_options

log = logging.getLogger("dynlan.python")


_NAMES_HTTP: dict[int, tuple[types.CodeType, bool]] = {}


def names_http(code: types.CodeType) -> bool:
    """The page's code (or a function in it) names `http`: it may make HTTP calls, which wait. Remembered per
    code object (by identity: hashing a code object hashes all of it)."""
    known = _NAMES_HTTP.get(id(code))
    if known is not None and known[0] is code:
        return known[1]
    if len(_NAMES_HTTP) >= 1024:
        _NAMES_HTTP.clear()
    found = _names(code)
    _NAMES_HTTP[id(code)] = (code, found)
    return found


def _sessions_answer_at_once(ctx: PageContext, code: types.CodeType) -> bool:
    """The page names no `session`, or its store answers at once (not Redis): then a synchronous page need not
    run in a thread for it."""
    sessions = ctx.host.sessions
    return sessions is None or sessions.local or not _mentions(code, "session")


def _mentions(code: types.CodeType, name: str) -> bool:
    return name in code.co_names or any(isinstance(c, types.CodeType) and _mentions(c, name) for c in code.co_consts)


def _names(code: types.CodeType) -> bool:
    return "http" in code.co_names or any(isinstance(c, types.CodeType) and _names(c) for c in code.co_consts)

_SITE_PACKAGE = "_lib"
# The current request's site-module table, per trio task (contextvars follow tasks).
_modules: contextvars.ContextVar[_ModuleLoader | None] = contextvars.ContextVar("dynlan_py_modules", default=None)


class CodeCache:
    """Compiled code of pages and `_lib` modules, recompiled when a file changes."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[int, int, types.CodeType]] = {}
        self.compiled: list[str] = []
        """Files compiled since the list was last cleared (a sandboxed request tells its worker about them)."""

    def get(self, path: str, name: str) -> types.CodeType:
        st = os.stat(path)
        cached = self._code.get(path)
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        with open(path, "rb") as f:
            source = f.read()
        try:
            code = compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise PageError(f"syntax error in {name}: {exc.msg}", "".join(traceback.format_exception_only(exc)),
                            path, exc.lineno, kind=type(exc).__name__, headline=exc.msg or "") from None
        self._code[path] = (st.st_mtime_ns, st.st_size, code)
        self.compiled.append(path)
        return code


class _ModuleLoader:
    """`import _lib.util` / `from _lib import util` for one request: fresh modules from the site."""

    def __init__(self, root: str, codes: CodeCache, builtins_dict: dict[str, Any]) -> None:
        self.root = root
        self.codes = codes
        self.builtins = builtins_dict
        self.modules: dict[str, types.ModuleType] = {}
        self._vendored: dict[str, bool] = {}

    def has(self, top: str) -> bool:
        """Whether the site's `_lib/` holds a module or package named `top` (a vendored library)."""
        found = self._vendored.get(top)
        if found is None:
            base = os.path.join(self.root, _SITE_PACKAGE, top)
            found = self._vendored[top] = top.isidentifier() and (os.path.isdir(base) or os.path.isfile(base + ".py"))
        return found

    def module(self, dotted: str) -> types.ModuleType:
        existing = self.modules.get(dotted)
        if existing is not None:
            return existing
        parts = dotted.split(".")
        # `_lib.x` is `_lib/x.py`; a vendored library's `x.y` is `_lib/x/y.py`.
        base = os.path.join(self.root, *parts) if parts[0] == _SITE_PACKAGE else \
            os.path.join(self.root, _SITE_PACKAGE, *parts)
        real_base = os.path.realpath(base)
        if not (real_base == self.root or real_base.startswith(self.root + os.sep)):
            raise ImportError(f"module {dotted} is outside the site")
        mod = types.ModuleType(dotted)
        mod.__dict__["__builtins__"] = self.builtins
        mod.__package__ = dotted if os.path.isdir(base) else dotted.rpartition(".")[0]
        if os.path.isdir(base):
            mod.__path__ = [base]  # a package: submodules load on demand
            init = os.path.join(base, "__init__.py")
            self.modules[dotted] = mod
            if os.path.isfile(init):
                mod.__file__ = init
                exec(self.codes.get(init, os.path.relpath(init, self.root)), mod.__dict__)
            return mod
        path = base + ".py"
        if not os.path.isfile(path):
            raise ImportError(f"no module {dotted} in the site (looked for {os.path.relpath(path, self.root)})")
        mod.__file__ = path
        self.modules[dotted] = mod
        exec(self.codes.get(path, os.path.relpath(path, self.root)), mod.__dict__)
        return mod

    def import_(self, name: str, fromlist: Any) -> types.ModuleType:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            dotted = ".".join(parts[:i])
            mod = self.module(dotted)
            if i > 1:
                setattr(self.modules[".".join(parts[: i - 1])], parts[i - 1], mod)
        for item in fromlist or ():
            if item != "*" and not hasattr(self.modules[name], item):
                try:
                    setattr(self.modules[name], item, self.module(f"{name}.{item}"))
                except ImportError:
                    pass
        return self.modules[name] if fromlist else self.modules[parts[0]]


_import = builtins.__import__


def _page_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    loader = _modules.get()
    if loader is None:
        return _import(name, globals, locals, fromlist, level)
    if level > 0:
        # A relative import in a module of the site (`from ._writer import dumps` in a vendored library).
        package = globals.get("__package__") if isinstance(globals, dict) else None
        if isinstance(package, str) and package in loader.modules:
            parts = package.split(".")
            if level - 1 >= len(parts):
                raise ImportError("attempted relative import beyond the top-level package")
            base = ".".join(parts[: len(parts) - (level - 1)])
            return loader.import_(f"{base}.{name}" if name else base, fromlist)
        return _import(name, globals, locals, fromlist, level)
    top = name.partition(".")[0]
    if top == _SITE_PACKAGE or loader.has(top):
        return loader.import_(name, fromlist)
    return _import(name, globals, locals, fromlist, level)


_BUILTINS = dict(builtins.__dict__)
"""The builtins as they were when the runtime was loaded, before any page ran."""


def page_builtins() -> dict[str, Any]:
    """The builtins a page starts with (copy it per request: a page may change its own copy)."""
    out = dict(_BUILTINS)
    out["__import__"] = _page_import
    return out


def page_error(exc: BaseException, page: str, root: str) -> PageError:
    """A PageError whose detail is the traceback from the page's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root + os.sep)]
    detail = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    detail = detail.replace(root + os.sep, "")
    file, line = (frames[-1].filename, frames[-1].lineno) if frames else (page, None)
    shown = [Frame(f.filename, f.lineno or 0, f.name) for f in reversed(frames)]
    return PageError(f"{type(exc).__name__}: {exc}", detail, file, line, kind=type(exc).__name__,
                     frames=shown, headline=str(exc))


class _PageRun:
    """One in-process page run. As a context manager: what the page raises, as the host takes it (its own
    `PageError`, a budget or HTTP error as they are, anything else made a `PageError` with the page's frames)."""

    __slots__ = ("runtime", "ctx", "namespace", "services", "token", "started")

    def __init__(self, runtime: PythonRuntime, ctx: PageContext, namespace: dict[str, Any],
                 services: dict[str, Any], token: contextvars.Token[Any]) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.namespace = namespace
        """The page's globals (its module namespace)."""
        self.services = services
        """What the page was given in its globals (`cache`, `fs`, ...): they hold the request's context."""
        self.token = token
        """The page's module loader, set for its run (`_modules`)."""
        self.started = time.monotonic()

    def __enter__(self) -> _PageRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        from dynlan.host import BudgetExceeded
        from dynlan.http import HttpError

        if isinstance(exc, BudgetExceeded | HttpError):
            return
        self.runtime.stats["errors"] += 1
        if isinstance(exc, PageError):
            return
        raise page_error(exc, self.ctx.page, self.ctx.fs.root) from None

    def end(self) -> None:
        _modules.reset(self.token)
        # The services the page was given hold the request's context: taken out of its globals, the request's
        # objects go now, by reference counting. The page's globals and its functions refer to each other
        # too, and they hold the page's copy of the builtins: left to the cycle collector, a few thousand
        # requests' worth took it 14 ms to go through, while every request in flight waited. They are
        # emptied when nothing but them holds what the page made.
        namespace = self.namespace
        for name in self.services:
            namespace.pop(name, None)
        if _only_the_globals_hold(namespace):
            namespace.clear()
        ctx = self.ctx
        elapsed = time.monotonic() - self.started
        if elapsed > ctx.limits.wall_time:
            # Synchronous Python cannot be interrupted in-process: say so.
            self.runtime.stats["sync_overruns"] += 1
            log.warning("[%s] %s ran %.1f s, past its time budget of %g s (in-process Python cannot be "
                        "interrupted; use [python] sandbox = \"process\")",
                        ctx.request.request_id, ctx.page_name, elapsed, ctx.limits.wall_time)


_SHARED = (types.ModuleType, types.BuiltinFunctionType, str, bytes, int, float, complex, type(None))
"""Values of a page's globals that are not the page's own (modules, builtins) or hold nothing (`bool` is an
`int`)."""


def _only_the_globals_hold(namespace: dict[str, Any]) -> bool:
    """Whether nothing but the page's globals refers to what the page made there (its functions, classes,
    objects): then emptying them takes nothing from anyone. A function the page left hooked somewhere shared
    (in-process Python lets it: `builtins.open = spy`) is held there too, and keeps its globals, as it did."""
    for name in namespace:
        if name == "__builtins__":
            continue  # the page's own copy, made for its run
        value = namespace[name]
        # The globals' reference, `value`'s and getrefcount's argument: no other.
        if not isinstance(value, _SHARED) and sys.getrefcount(value) > 3:
            return False
    return True


class PythonRuntime:
    """The `.py` page runtime."""

    name = "python"
    suffixes = (".py",)

    def __init__(self) -> None:
        self.codes = CodeCache()
        self.builtins = page_builtins()
        self.host: Host | None = None
        self.dev = False
        self.sandbox_default = "none"
        self._sandboxed: Any = None
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "budget.time": 0, "budget.output": 0,
                                      "sync_overruns": 0, "sandboxed": 0}

    def available(self) -> Availability:
        return Availability(True, version=f"CPython {sys.version.split()[0]}")

    def configure(self, cfg: RuntimeConfig) -> None:
        self.dev = cfg.dev
        for key, value in cfg.options.items():
            if key == "sandbox":
                if value not in ("none", "process"):
                    raise ConfigError(f"python.sandbox: must be 'none' or 'process', got {value!r}")
                self.sandbox_default = value
            elif key == "cpu_seconds":
                if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                    raise ConfigError(f"python.cpu_seconds: expected a positive number of seconds, got {value!r}")
            elif key in ("workers", "address_space", "max_processes"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"python.{key}: expected a positive integer, got {value!r}")
                if key == "max_processes" and value < 3:
                    # The worker, the request's process and the one waiting for the next request.
                    raise ConfigError(f"python.max_processes: at least 3, got {value}")
            elif key == "connect_ports":
                if not isinstance(value, list) or not all(
                        isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in value):
                    raise ConfigError(f"python.connect_ports: expected a list of TCP ports (1 to 65535), got {value!r}")
            else:
                raise ConfigError(f"unknown key 'python.{key}'")
        self.options = dict(cfg.options)

    async def start(self, host: Host) -> None:
        self.host = host

    async def aclose(self) -> None:
        if self._sandboxed is not None:
            await self._sandboxed.aclose()
            self._sandboxed = None

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        if self._sandboxed is not None:
            out.update({f"sandbox.{k}": v for k, v in self._sandboxed.statistics().items()})
        return out

    def _validate_site_options(self, options: dict[str, Any]) -> str:
        mode = options.get("sandbox", self.sandbox_default)
        if mode not in ("none", "process"):
            raise PageError(f"python.sandbox: must be 'none' or 'process', got {mode!r}")
        return str(mode)

    def begin(self, ctx: PageContext) -> Awaitable[None] | None:
        """A synchronous page whose host calls answer at once (and with no body to read) runs here, whole; an
        `async def handle`, one that runs in a thread or reads a body, and the process sandbox go on in what
        this returns."""
        self.stats["requests"] += 1
        if self._validate_site_options(ctx.options) == "process":
            self.stats["sandboxed"] += 1
            sandboxed: Awaitable[None] = self._sandbox(ctx).handle(ctx)
            return sandboxed
        root = ctx.fs.root
        code = self.codes.get(ctx.page, ctx.page_name)
        self.codes.compiled.clear()
        # A copy per request: a page that sets or replaces a builtin (`__builtins__["print"] = spy`) changes
        # only its own request's, never another request's or another site's.
        page_builtins = self.builtins.copy()
        # With a remote cache, or HTTP calls, a synchronous page runs in a thread, so that a call can wait (on
        # the loop).
        port = TablePort(ctx) if ctx.cache.local and not names_http(code) and _sessions_answer_at_once(ctx, code) \
            else LoopPort(ctx)
        http = Http(port)
        services: dict[str, Any] = {
            "cache": Cache(port),
            "fs": Fs(port),
            "log": Log(port),
            "http": http,
            "template": Template(port),
            "session": Session(port),
            "websocket": WebSockets(port),
            "channel": Channels(port),
        }
        namespace: dict[str, Any] = {"__name__": "__page__", "__file__": ctx.page, "__builtins__": page_builtins,
                                     **services}
        run = _PageRun(self, ctx, namespace, services, _modules.set(_ModuleLoader(root, self.codes, page_builtins)))
        rest: Awaitable[None] | None = None
        try:
            with run:
                exec(code, namespace)
                handle = namespace.get("handle")
                if not callable(handle):
                    raise PageError(f"{ctx.page_name} defines no handle(request, response)", "", ctx.page, None)
                response = Response(ctx)
                if inspect.iscoroutinefunction(handle) or isinstance(port, LoopPort) or ctx.has_body:
                    rest = self._go_on(run, port, http, handle, response)
                else:
                    handle(Request(port, False), response)
                    response.send_batch()
                handle = None  # the page's globals may be emptied: nothing else holds its function
        finally:
            if rest is None:
                run.end()
        return rest

    async def _go_on(self, run: _PageRun, port: TablePort | LoopPort, http: Http, handle: Any,
                     response: Response) -> None:
        ctx = run.ctx
        try:
            with run:
                if inspect.iscoroutinefunction(handle):
                    http.asynchronous = True
                    await handle(Request(port, True), response)
                else:
                    if ctx.has_body:
                        await ctx.read_body()
                    if isinstance(port, LoopPort):
                        # (trio copies the context into the thread: the page's `_lib` imports still work.)
                        await trio.to_thread.run_sync(handle, Request(port, False), response)
                        # The thread cannot be cancelled: a wall time that ran out meanwhile ends the request here.
                        await trio.lowlevel.checkpoint()
                    else:
                        handle(Request(port, False), response)
                response.send_batch()
                handle = None  # the page's globals may be emptied: nothing else holds its function
        finally:
            run.end()

    def _sandbox(self, ctx: PageContext) -> Any:
        if self._sandboxed is None:
            from dynlan.runtimes.python._sandboxed import SandboxedPython

            assert self.host is not None
            self._sandboxed = SandboxedPython(self.host, self.options)
        return self._sandboxed

    site_keys: frozenset[str] = SITE_KEYS
    """A site's [python] table may set `sandbox`, never less strict than the server's."""

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        return python_site_options(server, site, source)

