"""Wren pages (`.wren`) on DynLan's own Wren VM: one VM per worker, fresh modules per request.

A page runs in a module of its own (`page#N`), with the host API
(`_prelude.wren`, module "dynlan") imported on an added first line; its top
level runs once per request. It is compiled once, while its file is unchanged
(a template, `VM.compile_template`), and each request runs a copy of it in its
fresh module (`VM.interpret_template`): its variables and functions. Site
modules it imports (`import "./_lib/x"`) are imported for the request too, under
a name of their own (`/site/_lib/x#N`): compiled from their source the first
time, and from a template made once that run has ended after that
(`Config.load_template`). The request's modules are removed when it ends, so nothing a request defines (a
variable, a class static, a fiber, a closure) is reachable from another request.
The prelude and core hold no mutable state a page can reach.

Host calls reach the one host-call table (`dynlan.host.call_nowait`) through
one foreign method (`Host.call_`; `Host.wait_` makes the same call as a wait at
once); this runtime only marshals values. A call that must wait on I/O (a
network cache, a flush, a sleep) hands the host the calling fiber, which the
prelude then suspends; the runtime awaits the answer on trio and resumes that
fiber with it, and meanwhile other requests use the VM.

Budgets: the VM's instruction budget (what is left of the request's, per run
of the page), its memory cap, the output budget, and wall time between runs.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import trio

from dynlan.host import (
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
)
from dynlan.http import HttpError
from dynlan.runtimes._interface import Availability, RuntimeConfig, check_site_options

log = logging.getLogger("dynlan.wren")

PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prelude.wren")
MAX_TEMPLATES = 4096
"""Pages kept compiled; past this, all are dropped and compiled again as they are asked for."""
IMPORT_LINE = "import \"dynlan\" for Request, Response, Cache, Session, Fs, Log, Json, Http, Template, Host, WebSocket, Channel, EventStream\n"
"""Added above every page: the host API without an import (line numbers are shifted back)."""
MAP_TAG = "\0map"
LIST_TAG = "\0list"
"""Put in front of a list whose first item is a tag, so that it stays a list."""
DEFAULT_SLICE = 250_000
"""Instructions a page runs before it lets other requests in (about a millisecond)."""
CALL_SIGNATURE = "call_(_,_,_,_,_)"
"""`Host.call_(op, a, b, c, fiber)`: the prelude's host call."""
WAIT_SIGNATURE = "wait_(_,_,_,_,_)"
"""`Host.wait_(op, a, b, c, fiber)`: the same call made as a wait at once, for one that would only find it must
wait (a WebSocket's next message, when nothing of the peer's was read behind the last one)."""
FIBER_SLOT = 5


def _plain(value: Any, handles: list[Any]) -> Any:
    """Wren data (maps as tagged lists) to Python data; handles of other objects are collected in `handles`."""
    if isinstance(value, str | bool | None):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, list):
        if value and value[0] == MAP_TAG:
            out: dict[str, Any] = {}
            for pair in value[1:]:
                if not isinstance(pair, list) or len(pair) != 2:
                    continue
                out[str(_key(pair[0]))] = _plain(pair[1], handles)
            return out
        return [_plain(v, handles) for v in value[1 if value and value[0] == LIST_TAG else 0:]]
    handles.append(value)
    return None


def _key(k: Any) -> Any:
    return int(k) if isinstance(k, float) and k.is_integer() else k


def _wren(value: Any) -> Any:
    """Python data to what crosses into Wren (maps as tagged lists, rebuilt by the prelude; bytes as text)."""
    if isinstance(value, str | bool | int | float | None):
        return value
    if isinstance(value, dict):
        return [MAP_TAG, *([str(k), _wren(v)] for k, v in value.items())]
    if isinstance(value, list | tuple):
        items = [_wren(v) for v in value]
        return [LIST_TAG, *items] if value and value[0] in (MAP_TAG, LIST_TAG) else items
    if isinstance(value, bytes | bytearray):
        # Wren strings are text to pages (`Request.body`): invalid UTF-8 is replaced, as `Fs.read` does.
        return bytes(value).decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True, slots=True)
class _Module:
    """A module of one request: the run it belongs to and the folder its relative imports start from."""

    run: int
    folder: str
    path: str | None = None
    """The site file of an imported module (None for the page's own module)."""


@dataclass
class _Run:
    """One request's page run."""

    ctx: PageContext
    number: int
    module: str
    directory: str
    instructions_left: int
    source: str
    """The page's source, with the prelude's import line."""
    fiber: Any = None
    """Handle of the fiber to go on with: paused at the end of a slice, or waiting on `waiting`."""
    paused: bool = False
    """`fiber` paused at the end of a slice (resume it), rather than suspended for a host call."""
    waiting: tuple[str, tuple[Any, ...]] | None = None
    """The host call to await before `waiter` goes on."""
    waiter: Any = None
    """Handle of the fiber that made the waiting call (the prelude passes `Fiber.current`)."""
    flush_due: bool = False
    """`System.print` filled the output buffer: send it before the page goes on."""
    failure: BaseException | None = None
    errors: list[Any] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    """Every module name of this run (its page, the site modules it imported): removed when it ends."""
    heap_start: int = 0
    """The VM's heap when the page started (`--dev` only): what it grew by is the page's memory on the error page."""


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
        self._modules: dict[str, _Module] = {}
        """The modules of the runs in flight, by name."""
        self._sources: dict[tuple[str, str], tuple[float, int, str]] = {}
        self._templates: dict[str, tuple[str, Any]] = {}
        """Each page's compiled source (`VM.compile_template`), with the source it was compiled from."""
        self._module_templates: dict[str, tuple[str, Any]] = {}
        """Site modules' templates, by file, with the source each was made from (None: it does not compile)."""
        self._wanted: dict[str, str] = {}
        """Site modules imported from their source (no template of that source yet): made once the run ends."""
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "suspends": 0, "slices": 0, "imports": 0,
                                      "imports.compiled": 0}

    # -- lifecycle ----------------------------------------------------------------

    def available(self) -> Availability:
        try:
            from wrenpy import _binding
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
        from wrenpy._binding import VM, Config

        self.host = host
        memory = self.limits.memory if self.limits is not None else 64 * 1024 * 1024
        self.vm = VM(Config(
            write=self._write, error=self._error, resolve_module=self._resolve, load_module=self._load,
            load_template=self._load_template,
            foreign_methods={("dynlan", "Host", True, CALL_SIGNATURE): self._call,
                             ("dynlan", "Host", True, WAIT_SIGNATURE): self._wait},
            # The heap is the worker's: the cap leaves room for the shared part besides one page's budget.
            max_heap_size=memory + 32 * 1024 * 1024, enable_optional_modules=True,
            # A page lists the variables of its own module only: not the prelude's, core's or another
            # module's (another request's page, another site's module).
            meta_own_module_only=True,
        ))
        with open(PRELUDE, encoding="utf-8") as f:
            self._prelude = f.read()
        self._transfer_call = self.vm.make_call_handle("transfer(_)")
        self.vm.set_slice(self.slice)

    async def aclose(self) -> None:
        if self.vm is not None:
            self._forget_templates()
            self._transfer_call.release()
            self.vm.close()
            self.vm = None

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        if self.vm is not None:
            s = self.vm.statistics()
            out.update(heap_bytes=s.heap_bytes, gc_runs=s.gc_runs, instructions=s.instructions, modules=s.modules)
        return out

    # -- VM callbacks (each runs inside a step, for `self._current`) ------------------

    def _write(self, text: str) -> None:
        """`System.print`: the running request's response, through the host-call table."""
        run = self._current
        if run is None or run.failure is not None:
            return
        try:
            call_nowait(run.ctx, "write", (text,))
        except MustWait:
            run.flush_due = True  # a print cannot suspend its fiber: sent before the page goes on
        except (BudgetExceeded, HostCallError) as exc:
            run.failure = exc

    def _error(self, report: Any) -> None:
        if self._current is not None:
            self._current.errors.append(report)

    def _resolve(self, importer: str, name: str) -> str | None:
        """The module an import names: the prelude, a built-in one, or a site file for this request only.

        A relative name resolves from the importing module's folder and a bare one (`util`) in the site's
        `_lib/`, both only inside the running request's site root; any other (`page#3`, an absolute path,
        another site's module) resolves to nothing: each request gets its own instance
        of a site module (`<path>#<run>`), so a module variable cannot carry a fiber or a closure from one
        request to the next.
        """
        if name == "dynlan" or name in ("meta", "random"):
            return name
        run = self._current
        owner = self._modules.get(importer)
        if run is None or owner is None or owner.run != run.number:
            return None
        if name.startswith(("./", "../")):
            path = os.path.normpath(os.path.join(owner.folder, name))
        elif name and not name.startswith("/") and "#" not in name:
            # A bare name is a module of the site's `_lib/` (`import "util" for Util`), from a page in any folder.
            path = os.path.normpath(os.path.join(run.ctx.fs.root, "_lib", name))
        else:
            return None
        try:
            # Only inside the site root (symlinks included).
            real = run.ctx.fs.resolve(os.path.relpath(path + ".wren", run.ctx.fs.root))
        except FsError:
            return None
        module = f"{real[: -len('.wren')]}#{run.number}"
        if module not in self._modules and os.path.isfile(real):
            # Only files that exist are kept for the run: names a page makes up (a loop over `./a1`, `./a2`,
            # ... through import or Meta) would otherwise grow this table outside the VM's memory cap.
            self._modules[module] = _Module(run.number, os.path.dirname(real), real)
            run.modules.append(module)
        return module

    def _load(self, name: str) -> str | None:
        if name == "dynlan":
            return self._prelude
        found = self._site_module(name)
        if found is None:
            return None
        self.stats["imports"] += 1
        self.stats["imports.compiled"] += 1
        return found[1]

    def _site_module(self, name: str) -> tuple[str, str] | None:
        """The file and source of a site module the running request imports (None for any other name)."""
        run = self._current
        module = self._modules.get(name)
        if run is None or module is None or module.run != run.number or module.path is None:
            return None
        try:
            return module.path, self._source(module.path, "")
        except OSError:
            return None

    def _load_template(self, name: str) -> Any:
        """The template of a site module this run imports, if one was made from its file as it is now."""
        found = self._site_module(name)
        if found is None:
            return None
        path, source = found
        template = self._module_templates.get(path)
        if template is not None and template[0] is source:
            if template[1] is not None:
                self.stats["imports"] += 1
            return template[1]
        self._wanted[path] = source
        return None

    def _make_module_templates(self) -> None:
        """Templates of the site modules imported from their source: made between runs (never in one)."""
        wanted, self._wanted = self._wanted, {}
        for path, source in wanted.items():
            old = self._module_templates.get(path)
            if old is None or old[0] is not source:
                # Under a name no import resolves to; a module that does not compile is kept as such (None): its
                # errors were the run's, reported when it was imported from its source.
                self._keep_template(self._module_templates, path, source,
                                    self.vm.compile_template(f"{path}#template", source))

    def _call(self, vm: Any) -> None:
        """`Host.call_(op, a, b, c, fiber)`: one host call, answered through the host-call table."""
        self._host_call(vm, at_once=True)

    def _wait(self, vm: Any) -> None:
        """`Host.wait_(op, a, b, c, fiber)`: one host call, answered once the fiber has suspended."""
        self._host_call(vm, at_once=False)

    def _host_call(self, vm: Any, at_once: bool) -> None:
        run = self._current
        if run is None:
            self._abort(vm, "no request is running")
            return
        handles: list[Any] = []
        op = vm.get_slot(1)
        args = (_plain(vm.get_slot(2), handles), _plain(vm.get_slot(3), handles), _plain(vm.get_slot(4), handles))
        if handles or not isinstance(op, str):
            for handle in handles:
                handle.release()
            self._abort(vm, "host calls take strings, numbers, booleans, null, lists and maps")
            return
        if not at_once:
            self._hold(vm, run, op, args)
            return
        try:
            result = call_nowait(run.ctx, op, args)
        except MustWait as wait:
            self._hold(vm, run, wait.op, wait.args)
            return
        except HostCallError as exc:
            self._abort(vm, str(exc))
            return
        except BudgetExceeded as exc:
            run.failure = exc
            self._abort(vm, str(exc))
            return
        except HttpError as exc:
            run.failure = exc  # 413 while reading the body: the request's answer
            self._abort(vm, exc.message)
            return
        vm.set_slot(0, _wren(result))

    def _hold(self, vm: Any, run: _Run, op: str, args: tuple[Any, ...]) -> None:
        """The call waits: the runtime answers it once the calling fiber has suspended (slot 0 still holds the
        Host class, which tells the prelude to suspend)."""
        if run.waiting is not None:
            # Only a page calling Host.call_ or Host.wait_ itself, without suspending, gets here.
            self._abort(vm, "a host call is already waiting")
            return
        run.waiting = (op, args)
        run.waiter = vm.get_slot_handle(FIBER_SLOT)

    @staticmethod
    def _abort(vm: Any, message: str) -> None:
        vm.set_slot_string(0, message)
        vm.abort_fiber(0)

    # -- a request ---------------------------------------------------------------------

    def _source(self, path: str, header: str = IMPORT_LINE) -> str:
        """A page's (or, with no header, a site module's) source, read again when the file changes."""
        st = os.stat(path)
        key = (path, header)  # a page can also be imported as a module, without the header
        cached = self._sources.get(key)
        if cached is not None and cached[0] == st.st_mtime and cached[1] == st.st_size:
            return cached[2]
        with open(path, encoding="utf-8", errors="replace") as f:
            source = header + f.read()
        self._sources[key] = (st.st_mtime, st.st_size, source)
        return source

    def begin(self, ctx: PageContext) -> Awaitable[None] | None:
        """Run the page up to where it first waits (for a host call, or after a slice), where most pages end;
        the rest goes on in what this returns. A page with a body to read waits for it first."""
        if ctx.has_body and not ctx.body_read:
            return self._after_body(ctx)
        run = self._open(ctx)
        try:
            # No lock around the VM: a step never awaits, so no other task runs in the middle of one.
            self._step(run, functools.partial(self._interpret, run.module, run.ctx.page, run.source))
            if run.fiber is None:
                self._finish(run)
        except BaseException:
            self._end(run)
            raise
        if run.fiber is not None:
            return self._go_on(run)
        self._end(run)
        return None

    async def _after_body(self, ctx: PageContext) -> None:
        await ctx.read_body()
        rest = self.begin(ctx)
        if rest is not None:
            await rest

    def _open(self, ctx: PageContext) -> _Run:
        self.stats["requests"] += 1
        source = self._source(ctx.page)
        number = next(self._ids)
        run = _Run(ctx, number, f"page#{number}", os.path.dirname(ctx.page), ctx.limits.instructions, source)
        if ctx.dev and self.vm is not None:
            run.heap_start = self.vm.statistics().heap_bytes
        self._modules[run.module] = _Module(number, run.directory)
        run.modules.append(run.module)
        return run

    async def _go_on(self, run: _Run) -> None:
        """The page from where its first step stopped (`run.fiber`) to its end."""
        ctx = run.ctx
        try:
            while run.fiber is not None:
                if run.flush_due:
                    run.flush_due = False
                    await call(ctx, "flush")
                go: Any
                if run.paused:
                    # The slice ran out: let the other requests in, then go on.
                    self.stats["slices"] += 1
                    await trio.sleep(0)
                    go = functools.partial(self.vm.resume, run.fiber)
                else:
                    assert run.waiting is not None
                    op, args = run.waiting
                    run.waiting = None
                    self.stats["suspends"] += 1
                    try:
                        answer: list[Any] = [True, _wren(await call(ctx, op, args))]
                    except HostCallError as exc:
                        answer = [False, str(exc)]
                    if ctx.realtime is not None and ctx.realtime.take_renewal():
                        # A WebSocket message came in: instructions are budgeted per message (docs/websocket.md).
                        run.instructions_left = ctx.limits.instructions
                    go = functools.partial(self._transfer, run.fiber, answer)
                self._step(run, go)
            self._finish(run)
        finally:
            self._end(run)

    def _end(self, run: _Run) -> None:
        """Forget everything of the run: its fiber handles and its modules (page and site modules)."""
        for handle in (run.fiber, run.waiter):
            if handle is not None:
                handle.release()
        run.fiber = run.waiter = None
        for name in run.modules:
            self._modules.pop(name, None)
            if self.vm is not None:
                self.vm.remove_module(name)
        if self._wanted and self.vm is not None:
            self._make_module_templates()

    def _transfer(self, fiber: Any, answer: list[Any]) -> Any:
        """Hands a host call's answer to the fiber that waits for it."""
        vm = self.vm
        vm.ensure_slots(2)
        vm.set_slot_handle(0, fiber)
        vm.set_slot(1, answer)
        return vm.call(self._transfer_call)

    def _interpret(self, module: str, page: str, source: str) -> Any:
        """Run the page's source in `module`: compiled when first run and when its source changed, else copied."""
        from wrenpy._binding import InterpretResult

        vm = self.vm
        template = self._templates.get(page)
        if template is None or template[0] is not source:
            handle = vm.compile_template(module, source)
            if handle is None:
                return InterpretResult.COMPILE_ERROR  # reported under `module`, as interpreting it reports them
            self._keep_template(self._templates, page, source, handle)
        else:
            handle = template[1]
        return vm.interpret_template(module, handle)

    def _keep_template(self, templates: dict[str, tuple[str, Any]], key: str, source: str, handle: Any) -> None:
        """Keep `handle` as `key`'s template, made from `source`, in place of the one it had (released); past
        MAX_TEMPLATES, all are dropped first."""
        old = templates.get(key)
        if old is not None:
            if old[1] is not None:
                old[1].release()
        elif len(templates) >= MAX_TEMPLATES:
            self._forget_templates()
        templates[key] = (source, handle)

    def _forget_templates(self) -> None:
        for _, handle in (*self._templates.values(), *self._module_templates.values()):
            if handle is not None:
                handle.release()
        self._templates.clear()
        self._module_templates.clear()

    def _step(self, run: _Run, go: Any) -> None:
        """Run the page until it ends, fails, suspends for I/O or pauses at the end of a slice.

        `run.fiber` is then the fiber to go on with (None once the page is over): paused (`run.paused`),
        or the one that made the host call in `run.waiting`.
        """
        from wrenpy._binding import InterpretResult

        vm = self.vm
        self._current = run
        vm.set_instruction_budget(max(0, run.instructions_left))
        try:
            result = go()
        finally:
            self._current = None
            run.instructions_left = vm.instruction_budget or 0
            vm.set_instruction_budget(None)
            vm.errors.clear()  # kept in `run.errors` by the error callback
        if run.fiber is not None:
            run.fiber.release()
        run.fiber, run.paused = None, False
        if run.failure is not None:
            return  # e.g. past the output budget: the page goes no further
        if result == InterpretResult.PAUSED:
            # A pause can fall between a waiting call and the prelude's Fiber.suspend(): the waiting call is
            # kept, and answered once the resumed fiber has suspended.
            run.fiber, run.paused = vm.get_slot_handle(0), True
        elif result == InterpretResult.SUCCESS and run.waiting is not None:
            run.fiber, run.waiter = run.waiter, None

    def _finish(self, run: _Run) -> None:
        if run.ctx.dev and (run.failure is not None or run.errors):
            # For the dev error page: what the request ran of its budget (per message, for a WebSocket's).
            run.ctx.usage["instructions"] = max(0, run.ctx.limits.instructions - run.instructions_left)
            if self.vm is not None:
                # The VM is shared (as Lua's is): the growth of its heap while the page ran, an estimate.
                run.ctx.usage["memory"] = max(0, self.vm.statistics().heap_bytes - run.heap_start)
        if run.failure is not None:
            raise run.failure
        if not run.errors:
            return
        self.stats["errors"] += 1
        from wrenpy._binding import ErrorType

        ctx = run.ctx
        page_module = run.module
        first = run.errors[0]
        message = first.message
        if "Instruction budget exhausted." in message:
            raise BudgetExceeded("instructions", f"page ran past its instruction budget of {ctx.limits.instructions}")
        if "Out of memory." in message:
            raise BudgetExceeded("memory", f"page used more than its memory budget of {ctx.limits.memory} bytes")
        lines: list[str] = []
        frames: list[Frame] = []
        where: tuple[str | None, int | None] = (None, None)
        for report in run.errors:
            module = report.module or ""
            if module == page_module:
                file, line = ctx.page, report.line - 1
            elif module.startswith("/"):
                file, line = module.rpartition("#")[0] + ".wren", report.line
            else:
                file, line = None, report.line
            shown = os.path.relpath(file, ctx.fs.root) if file else (module or "core")
            if report.type == ErrorType.STACK_TRACE:
                lines.append(f"  [{shown} line {line}] in {report.message}")
                if file is not None:
                    frames.append(Frame(file, line, report.message))
            elif report.type == ErrorType.COMPILE:
                lines.append(f"[{shown} line {line}] {report.message}")
                if file is not None:
                    frames.append(Frame(file, line, message=report.message))
            else:
                lines.append(report.message)
            if where == (None, None) and file is not None and report.type != ErrorType.RUNTIME:
                where = (file, line)
        if first.type == ErrorType.COMPILE:
            count = sum(report.type == ErrorType.COMPILE for report in run.errors)
            more = f" (and {count - 1} more, listed below)" if count > 1 else ""
            summary, kind = f"Wren compile error: {lines[0]}{more}", "Wren compile error"
            headline = f"{message} (and {count - 1} more)" if count > 1 else message
        else:
            summary, kind, headline = f"Wren runtime error: {message}", "Wren runtime error", message
        raise PageError(summary, "\n".join(lines), where[0], where[1], kind=kind, frames=frames, headline=headline)

    site_keys: frozenset[str] = frozenset()
    """A site's [wren] table may set nothing: the slice is the worker's (one VM for every site)."""

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        return check_site_options(self.name, self.site_keys, server, site, source, server_keys=("slice",))
