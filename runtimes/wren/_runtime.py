"""Wren pages (`.wren`) on DynLan's own Wren VM: one VM per worker, a fresh module per request.

A page is compiled into a module of its own (`page#N`), with the host API
(`_prelude.wren`, module "dynlan") imported on an added first line; its top
level runs once per request and the module is removed afterwards, so nothing
a request defines is seen by the next. Host calls reach Python through one
foreign method. One that must wait on I/O (a network cache, a flush, a sleep)
suspends the page's fiber; the runtime awaits the answer on trio, then resumes
the fiber with it, and meanwhile other requests use the VM.

Budgets: the VM's instruction budget (what is left of the request's, per run
of the page), its memory cap, the output budget, and wall time between runs.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import trio

from dynlan.host import BudgetExceeded, CacheError, FsError, Host, PageContext, PageError, parse_ttl
from dynlan.http import HttpError
from dynlan.runtimes._interface import Availability, RuntimeConfig

log = logging.getLogger("dynlan.wren")

PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prelude.wren")
IMPORT_LINE = "import \"dynlan\" for Request, Response, Cache, Fs, Log, Json, Host\n"
"""Added above every page: the host API without an import (line numbers are shifted back)."""
MAP_TAG = "\0map"
LIST_TAG = "\0list"
"""Put in front of a list whose first item is a tag, so that it stays a list."""
DEFAULT_SLICE = 250_000
"""Instructions a page runs before it lets other requests in (about a millisecond)."""
IO_OPS = frozenset({"flush", "sleep", "cache_get", "cache_set", "cache_delete", "cache_incr"})


class _Wait(Exception):
    """The host call must wait: the page's fiber suspends."""


def _plain(value: Any) -> Any:
    """Wren data (maps as tagged lists) to Python data."""
    if isinstance(value, list):
        if value and value[0] == MAP_TAG:
            return {str(_key(k)): _plain(v) for k, v in value[1:]}
        return [_plain(v) for v in value[1 if value and value[0] == LIST_TAG else 0:]]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _key(k: Any) -> Any:
    return int(k) if isinstance(k, float) and k.is_integer() else k


def _wren(value: Any) -> Any:
    """Python data to what crosses into Wren (maps as tagged lists, rebuilt by the prelude)."""
    if isinstance(value, dict):
        return [MAP_TAG, *([str(k), _wren(v)] for k, v in value.items())]
    if isinstance(value, list | tuple):
        items = [_wren(v) for v in value]
        return [LIST_TAG, *items] if value and value[0] in (MAP_TAG, LIST_TAG) else items
    return value


@dataclass
class _Run:
    """One request's page run."""

    ctx: PageContext
    module: str
    directory: str
    instructions_left: int
    pending: tuple[str, Any, Any] | None = None
    fiber: Any = None
    """Handle of the fiber to go on with: paused at the end of a slice, or waiting on `pending`."""
    failure: BaseException | None = None
    errors: list[Any] = field(default_factory=list)


class WrenRuntime:
    name = "wren"
    suffixes = (".wren",)

    def __init__(self) -> None:
        self.limits: Any = None
        self.dev = False
        self.slice = DEFAULT_SLICE
        self.vm: Any = None
        self.host: Host | None = None
        self._current: _Run | None = None
        self._ids = itertools.count(1)
        self._modules: dict[str, str] = {}
        """Module name -> folder its relative imports start from."""
        self._site_modules: dict[str, float] = {}
        """Loaded site modules -> the mtime they were compiled at."""
        self._sources: dict[str, tuple[float, int, str]] = {}
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "suspends": 0, "slices": 0}

    # -- lifecycle ----------------------------------------------------------------

    def available(self) -> Availability:
        try:
            from dynlan.runtimes.wren import _binding
        except ImportError as exc:
            return Availability(False, reason=f"the Wren VM extension is not built: {exc}")
        v = int(_binding.VERSION)
        return Availability(True, version=f"wren {v // 1000000}.{v // 1000 % 1000}.{v % 1000} (dynlan VM)")

    def configure(self, cfg: RuntimeConfig) -> None:
        self.limits = cfg.limits
        self.dev = cfg.dev
        options = dict(cfg.options)
        slice_ = options.pop("slice", DEFAULT_SLICE)
        from dynlan.config import ConfigError

        if options:
            raise ConfigError(f"unknown key 'wren.{sorted(options)[0]}'")
        if isinstance(slice_, bool) or not isinstance(slice_, int) or slice_ < 1000:
            raise ConfigError("wren.slice must be an integer of at least 1000 (instructions)")
        self.slice = slice_

    async def start(self, host: Host) -> None:
        from dynlan.runtimes.wren._binding import VM, Config

        self.host = host
        memory = self.limits.memory if self.limits is not None else 64 * 1024 * 1024
        self.vm = VM(Config(
            write=self._write, error=self._error, resolve_module=self._resolve, load_module=self._load,
            foreign_methods={("dynlan", "Host", True, "call_(_,_,_)"): self._call},
            # The heap is the worker's: the cap leaves room for the shared part besides one page's budget.
            max_heap_size=memory + 32 * 1024 * 1024, enable_optional_modules=True,
        ))
        with open(PRELUDE, encoding="utf-8") as f:
            self._prelude = f.read()
        self._transfer_call = self.vm.make_call_handle("transfer(_)")
        self._waiting_call = self.vm.make_call_handle("waiting")
        self.vm.set_slice(self.slice)
        self._host_class: Any = None

    async def aclose(self) -> None:
        if self.vm is not None:
            if self._host_class is not None:
                self._host_class.release()
            self._transfer_call.release()
            self._waiting_call.release()
            self.vm.close()
            self.vm = None

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        if self.vm is not None:
            s = self.vm.statistics()
            out.update(heap_bytes=s.heap_bytes, gc_runs=s.gc_runs, instructions=s.instructions, modules=s.modules)
        return out

    # -- VM callbacks ---------------------------------------------------------------

    def _write(self, text: str) -> None:
        run = self._current
        if run is None or run.failure is not None:
            return
        try:
            run.ctx.response.write(text)
        except BudgetExceeded as exc:
            run.failure = exc

    def _error(self, report: Any) -> None:
        if self._current is not None:
            self._current.errors.append(report)

    def _resolve(self, importer: str, name: str) -> str | None:
        if name == "dynlan" or name in ("meta", "random"):
            return name
        run = self._current
        base = self._modules.get(importer)
        if run is None or base is None or not (name.startswith("./") or name.startswith("../")):
            return None
        path = os.path.normpath(os.path.join(base, name))
        try:
            # Only inside the site root (symlinks included), and never a page's private file.
            real = run.ctx.fs.resolve(os.path.relpath(path + ".wren", run.ctx.fs.root))
        except FsError:
            return None
        return real[: -len(".wren")]

    def _load(self, name: str) -> str | None:
        if name == "dynlan":
            return self._prelude
        path = name + ".wren"
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            self._site_modules[name] = os.stat(path).st_mtime
        except OSError:
            return None
        self._modules[name] = os.path.dirname(path)
        return source

    def _call(self, vm: Any) -> None:
        run = self._current
        op, a, b = vm.get_slot(1), vm.get_slot(2), vm.get_slot(3)
        try:
            if run is None:
                raise RuntimeError("no request is running")
            result = self._dispatch(run, str(op), _plain(a), _plain(b))
        except _Wait:
            assert run is not None
            run.pending = (str(op), _plain(a), _plain(b))
            return  # slot 0 still holds the Host class: the prelude suspends
        except BudgetExceeded as exc:
            if run is not None:
                run.failure = exc
            self._abort(vm, str(exc))
            return
        except (FsError, CacheError, ValueError, TypeError, RuntimeError, KeyError, HttpError) as exc:
            self._abort(vm, exc.message if isinstance(exc, HttpError) else str(exc))
            return
        vm.set_slot(0, _wren(result))

    @staticmethod
    def _abort(vm: Any, message: str) -> None:
        vm.set_slot_string(0, message)
        vm.abort_fiber(0)

    def _dispatch(self, run: _Run, op: str, a: Any, b: Any) -> Any:
        ctx = run.ctx
        response = ctx.response
        if op == "req":
            return self._request_field(ctx, str(a))
        if op == "write":
            response.write(str(a))
            return None
        if op == "status":
            response.set_status(a)
            return None
        if op == "get_status":
            return response.status
        if op == "set_header":
            response.set_header(str(a), str(b))
            return None
        if op == "add_header":
            response.add_header(str(a), str(b))
            return None
        if op == "set_cookie":
            response.set_cookie(str(a[0]), str(a[1]), b if isinstance(b, dict) else {})
            return None
        if op == "redirect":
            response.redirect(str(a), int(b))
            return None
        if op == "json_out":
            response.json(a, int(b) if b is not None else None)
            return None
        if op == "json_encode":
            return json.dumps(a, separators=(",", ":"), ensure_ascii=False)
        if op == "json_decode":
            try:
                return json.loads(str(a))
            except ValueError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
        if op == "body":
            return (ctx.body_nowait() or b"").decode("utf-8", "replace")
        if op == "form":
            return ctx.form()
        if op == "json":
            return ctx.json()
        if op == "fs_read":
            return ctx.fs.read(str(a))
        if op == "fs_exists":
            return ctx.fs.exists(str(a))
        if op == "fs_list":
            return ctx.fs.list(str(a) if a is not None else ".")
        if op == "fs_stat":
            info = ctx.fs.stat(str(a))
            return None if info is None else {"name": info.name, "size": info.size, "mtime": info.mtime,
                                              "is_dir": info.is_dir}
        if op == "log":
            ctx.log.at(str(a), str(b))
            return None
        if op == "cache_response":
            opts = b if isinstance(b, dict) else {}
            unknown = set(opts) - {"vary", "tags", "query", "stale_if_error"}
            if unknown:
                raise ValueError(f"unknown Response.cache option '{sorted(unknown)[0]}'")
            ctx.cache_response(a, opts.get("vary"), opts.get("tags"), opts.get("query"), opts.get("stale_if_error"))
            return None
        if op == "cache_purge":
            if isinstance(a, dict):
                return ctx.purge(a.get("path"), a.get("tag"))
            return ctx.purge(path=str(a))
        if op in IO_OPS:
            cache = ctx.cache
            if op.startswith("cache_") and getattr(cache, "local", False):
                return self._cache_nowait(cache, op, a, b)
            raise _Wait()
        raise ValueError(f"unknown host call '{op}'")

    @staticmethod
    def _cache_nowait(cache: Any, op: str, a: Any, b: Any) -> Any:
        if op == "cache_get":
            return cache.get_nowait(str(a))
        if op == "cache_set":
            cache.set_nowait(str(a[0]), a[1], parse_ttl(b))
            return True
        if op == "cache_delete":
            return cache.delete_nowait(str(a))
        return cache.incr_nowait(str(a), b if b is not None else 1)

    async def _io(self, run: _Run, op: str, a: Any, b: Any) -> Any:
        ctx = run.ctx
        if op == "flush":
            await ctx.response.flush()
            return None
        if op == "sleep":
            await trio.sleep(max(0.0, float(a or 0)))
            return None
        cache = ctx.cache
        if op == "cache_get":
            return await cache.get(str(a))
        if op == "cache_set":
            await cache.set(str(a[0]), a[1], parse_ttl(b))
            return True
        if op == "cache_delete":
            return await cache.delete(str(a))
        return await cache.incr(str(a), b if b is not None else 1)

    @staticmethod
    def _request_field(ctx: PageContext, key: str) -> Any:
        if key == "query":
            return ctx.query_first()
        if key == "headers":
            return ctx.request.headers.as_dict()
        if key == "params":
            return dict(ctx.params)
        if key == "cookies":
            return dict(ctx.cookies)
        return ctx.request_info().get(key)

    # -- a request ---------------------------------------------------------------------

    def _source(self, path: str) -> str:
        st = os.stat(path)
        cached = self._sources.get(path)
        if cached is not None and cached[0] == st.st_mtime and cached[1] == st.st_size:
            return cached[2]
        with open(path, encoding="utf-8", errors="replace") as f:
            source = IMPORT_LINE + f.read()
        self._sources[path] = (st.st_mtime, st.st_size, source)
        return source

    def _forget_changed_modules(self) -> None:
        """Site modules are compiled once, and again when their file changes."""
        for name, mtime in list(self._site_modules.items()):
            try:
                changed = os.stat(name + ".wren").st_mtime != mtime
            except OSError:
                changed = True
            if changed:
                self.vm.remove_module(name)
                del self._site_modules[name]

    async def handle(self, ctx: PageContext) -> None:
        self.stats["requests"] += 1
        if ctx.has_body and not ctx.body_read:
            await ctx.read_body()
        source = self._source(ctx.page)
        module = f"page#{next(self._ids)}"
        run = _Run(ctx, module, os.path.dirname(ctx.page), ctx.limits.instructions)
        self._modules[module] = run.directory
        try:
            # No lock around the VM: a step never awaits, so no other task runs in the middle of one.
            self._forget_changed_modules()
            self._step(run, functools.partial(self._interpret, module, source))
            while run.fiber is not None:
                go: Any
                if run.pending is None:
                    # The slice ran out: let the other requests in, then go on.
                    self.stats["slices"] += 1
                    await trio.sleep(0)
                    go = functools.partial(self.vm.resume, run.fiber)
                else:
                    op, a, b = run.pending
                    run.pending = None
                    self.stats["suspends"] += 1
                    try:
                        answer: list[Any] = [True, _wren(await self._io(run, op, a, b))]
                    except (CacheError, ValueError, TypeError) as exc:
                        answer = [False, str(exc)]
                    go = functools.partial(self._transfer, run.fiber, answer)
                self._step(run, go)
            self._finish(run)
        finally:
            if run.fiber is not None:
                run.fiber.release()
            self._modules.pop(module, None)
            if self.vm is not None:
                self.vm.remove_module(module)

    def _transfer(self, fiber: Any, answer: list[Any]) -> Any:
        """Hands a host call's answer to the page's suspended fiber."""
        vm = self.vm
        vm.ensure_slots(2)
        vm.set_slot_handle(0, fiber)
        vm.set_slot(1, answer)
        return vm.call(self._transfer_call)

    def _interpret(self, module: str, source: str) -> Any:
        return self.vm.interpret(module, source)

    def _step(self, run: _Run, go: Any) -> None:
        """Run the page until it ends, fails, suspends for I/O or pauses at the end of a slice.

        `run.fiber` is then the fiber to go on with (None once the page is over).
        """
        from dynlan.runtimes.wren._binding import InterpretResult

        vm = self.vm
        self._current = run
        vm.set_instruction_budget(max(0, run.instructions_left))
        try:
            result = go()
            fiber = None
            if run.failure is not None:
                pass  # e.g. past the output budget: the page goes no further
            elif result == InterpretResult.PAUSED:
                fiber = vm.get_slot_handle(0)
            elif result == InterpretResult.SUCCESS and run.pending is not None:
                fiber = self._waiting_fiber()
            if fiber is None:
                run.pending = None
        finally:
            self._current = None
            run.instructions_left = vm.instruction_budget or 0
            vm.set_instruction_budget(None)
            vm.errors.clear()  # kept in `run.errors` by the error callback
        if run.fiber is not None:
            run.fiber.release()
        run.fiber = fiber

    def _waiting_fiber(self) -> Any:
        """The fiber the prelude suspended for a host call (read before any other page runs)."""
        vm = self.vm
        if self._host_class is None:
            # The prelude is loaded by the first page that runs; its Host class lives as long as the VM.
            vm.ensure_slots(1)
            vm.get_variable("dynlan", "Host", 0)
            self._host_class = vm.get_slot_handle(0)
        vm.ensure_slots(1)
        vm.set_slot_handle(0, self._host_class)
        if vm.call(self._waiting_call) != 0:
            raise RuntimeError("the Wren prelude lost the waiting fiber")
        return vm.get_slot_handle(0)

    def _finish(self, run: _Run) -> None:
        if run.failure is not None:
            raise run.failure
        if not run.errors:
            return
        self.stats["errors"] += 1
        from dynlan.runtimes.wren._binding import ErrorType

        ctx = run.ctx
        page_module = run.module
        first = run.errors[0]
        message = first.message
        if "Instruction budget exhausted." in message:
            raise BudgetExceeded("instructions", f"page ran past its instruction budget of {ctx.limits.instructions}")
        if "Out of memory." in message:
            raise BudgetExceeded("memory", f"page used more than its memory budget of {ctx.limits.memory} bytes")
        lines: list[str] = []
        where: tuple[str | None, int | None] = (None, None)
        for report in run.errors:
            module = report.module or ""
            if module == page_module:
                file, line = ctx.page, report.line - 1
            elif module.startswith("/"):
                file, line = module + ".wren", report.line
            else:
                file, line = None, report.line
            shown = os.path.relpath(file, ctx.fs.root) if file else (module or "core")
            if report.type == ErrorType.STACK_TRACE:
                lines.append(f"  [{shown} line {line}] in {report.message}")
            elif report.type == ErrorType.COMPILE:
                lines.append(f"[{shown} line {line}] {report.message}")
            else:
                lines.append(report.message)
            if where == (None, None) and file is not None and report.type != ErrorType.RUNTIME:
                where = (file, line)
        if first.type == ErrorType.COMPILE:
            count = sum(report.type == ErrorType.COMPILE for report in run.errors)
            summary = f"Wren compile error: {lines[0]}" + (f" (and {count - 1} more, listed below)" if count > 1 else "")
        else:
            summary = f"Wren runtime error: {message}"
        raise PageError(summary, "\n".join(lines), where[0], where[1])
