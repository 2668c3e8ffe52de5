"""A Wren page and the site modules it imports are compiled once while their files are unchanged: each request runs
a copy (a template's), fresh, and an edited file is compiled again for the next request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dynlan.config import LimitsConfig
from dynlan.host import Host, MemoryCache, PageContext, SiteFs, run_page
from dynlan.runtimes import RuntimeConfig
from runtimes.wren._runtime import WrenRuntime
from tests.runtimes._exchange import PageExchange

PAGE = 'import "util" for Util\nvar n = 0\nn = n + 1\nSystem.print("%(Util.greet) %(Util.greet) %(n)")\n'
UTIL = 'class Util {\n  static greet { "%(WORD) %(__count = (__count == null ? 1 : __count + 1))" }\n}\nvar WORD = "{word}"\n'


async def _ask(runtime: Any, host: Host, root: Path, limits: LimitsConfig) -> tuple[int, bytes]:
    exchange = PageExchange()
    ctx = PageContext(host=host, exchange=exchange, page=str(root / "page.wren"),  # type: ignore[arg-type]
                      page_name="page.wren", params={}, fs=SiteFs(str(root)), limits=limits, dev=False,
                      max_body_size=100)
    await run_page(runtime, ctx)
    return exchange.status, exchange.body


def _write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))  # a new version, whatever the clock's resolution


async def test_page_and_modules_compile_once_and_run_fresh_until_edited(tmp_path: Path) -> None:
    (tmp_path / "_lib").mkdir()
    _write(tmp_path / "page.wren", PAGE, 1_000_000)
    _write(tmp_path / "_lib" / "util.wren", UTIL.replace("{word}", "hi"), 1_000_000)
    limits = LimitsConfig()
    runtime = WrenRuntime()
    runtime.configure(RuntimeConfig({}, limits, False))
    host = Host(cache=MemoryCache())
    await runtime.start(host)
    try:
        for _ in range(4):
            assert await _ask(runtime, host, tmp_path, limits) == (200, b"hi 1 hi 2 1\n")
        # The module was compiled from its source for the first request only; the page once (a template).
        assert (runtime.stats["imports"], runtime.stats["imports.compiled"]) == (4, 1)
        assert len(runtime._templates) == 1 and len(runtime._module_templates) == 1
        _write(tmp_path / "_lib" / "util.wren", UTIL.replace("{word}", "hello"), 1_000_001)
        for _ in range(2):
            assert await _ask(runtime, host, tmp_path, limits) == (200, b"hello 1 hello 2 1\n")
        assert (runtime.stats["imports"], runtime.stats["imports.compiled"]) == (6, 2)
        _write(tmp_path / "page.wren", PAGE.replace("n + 1", "n + 2"), 1_000_001)
        assert await _ask(runtime, host, tmp_path, limits) == (200, b"hello 1 hello 2 2\n")
    finally:
        await runtime.aclose()
