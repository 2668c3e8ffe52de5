"""A request's objects go when its page ends, by reference counting: none of them is left to the cycle
collector, whose passes over every request's leftovers took milliseconds each and held up every request in
flight (the response and its context referred to each other; a Python page's globals held the services
that hold the context, and its functions and globals, which hold its copy of the builtins, refer to each
other)."""

from __future__ import annotations

import gc
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
                # Nor anything of the page's own run (a Python page's globals and functions).
                assert gc.collect() == 0, f"the {language} page's run left garbage for the cycle collector"
            finally:
                gc.enable()
    finally:
        await runtime.aclose()
