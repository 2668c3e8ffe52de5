"""A request's objects go when its page ends, by reference counting: none of them is left to the cycle
collector, whose passes over every request's leftovers took milliseconds each and held up every request in
flight (the response and its context referred to each other; a Python page's globals held the services
that hold the context, and its functions and globals, which hold its copy of the builtins, refer to each
other)."""

from __future__ import annotations

import gc
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

from dynlan.config import LimitsConfig
from dynlan.host import Host, MemoryCache, PageContext, SiteFs, run_page
from dynlan.runtimes import RuntimeConfig
from runtimes.lua._runtime import LuaRuntime
from runtimes.python._runtime import PythonRuntime
from runtimes.wren._runtime import WrenRuntime
from tests.runtimes._exchange import PageExchange

PAGES = {
    "lua": ("hello.lua", LuaRuntime, 'local n = 0\nfor i = 1, 3 do n = n + i end\nprint("hello " .. n)\n'),
    "wren": ("hello.wren", WrenRuntime, 'var n = 0\nfor (i in 1..3) n = n + i\nSystem.print("hello %(n)")\n'),
    "python": ("hello.py", PythonRuntime, 'def total():\n    return sum(range(1, 4))\n\n\n'
                                          'def handle(request, response):\n'
                                          '    response.write(f"hello {total()}\\n")\n'),
}


def _of_the_run(obj: object, page: str) -> bool:
    """An object a page's run makes: the page's functions, a namespace holding them, the host's and runtimes'."""
    if isinstance(obj, types.FunctionType):
        return obj.__code__.co_filename == page
    if isinstance(obj, dict):
        return any(isinstance(v, types.FunctionType) and v.__code__.co_filename == page for v in obj.values())
    return type(obj).__module__.split(".")[0] in ("dynlan", "runtimes", "sandboxes")


def _garbage_of_the_run(page: str) -> list[str]:
    """What the cycle collector finds now that a page's run made (the names of their types)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return sorted({type(obj).__name__ for obj in gc.garbage if _of_the_run(obj, page)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("language", PAGES)
async def test_a_request_s_objects_go_when_its_page_ends(tmp_path: Path, language: str) -> None:
    name, kind, source = PAGES[language]
    (tmp_path / name).write_text(source)
    limits = LimitsConfig()
    runtime: Any = kind()
    runtime.configure(RuntimeConfig({}, limits, False))
    host = Host(cache=MemoryCache())
    await runtime.start(host)
    try:
        for _ in range(2):  # the first run compiles the page
            exchange = PageExchange("/hello")
            ctx = PageContext(host=host, exchange=exchange, page=str(tmp_path / name),  # type: ignore[arg-type]
                              page_name=name, params={}, fs=SiteFs(str(tmp_path)), limits=limits, dev=False,
                              max_body_size=100)
            gc.collect()
            gc.disable()
            try:
                await run_page(runtime, ctx)
                assert (exchange.status, exchange.body) == (200, b"hello 6\n")
                left = weakref.ref(ctx), weakref.ref(exchange)  # the exchange holds the request
                del ctx, exchange
                if language == "lua":
                    # The Lua VM holds the page's state (and through it the host calls' dispatcher) until its
                    # own collector runs, as it does while pages allocate: that is Lua's, not Python's.
                    runtime._inline.lua.execute(b"collectgarbage()")
                assert [ref() for ref in left] == [None, None], (
                    f"the {language} page's request outlived it: {[type(ref()).__name__ for ref in left]}")
                # Nor anything of the page's own run (a Python page's globals and functions). Only the run's own
                # objects count: another thread of this process may leave garbage of its own meanwhile.
                left_over = _garbage_of_the_run(str(tmp_path / name))
                assert not left_over, f"the {language} page's run left garbage for the cycle collector: {left_over}"
            finally:
                gc.enable()
    finally:
        await runtime.aclose()
