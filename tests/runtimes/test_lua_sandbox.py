"""Lua-specific checks: what a page must not reach, LuaJIT, and the runtime's statistics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

PROBES = {
    "io": "return io ~= nil",
    "os.execute": "return os.execute ~= nil",
    "os.exit": "return os.exit ~= nil",
    "os.remove": "return os.remove ~= nil",
    "os.getenv": "return os.getenv ~= nil",
    "debug": "return debug ~= nil",
    "package": "return package ~= nil",
    "dofile": "return dofile ~= nil",
    "loadfile": "return loadfile ~= nil",
    "string.dump": "return string.dump ~= nil",
    "python": "return python ~= nil",
    "binary chunk": 'return (pcall(load, "\\27Lua"))  and select(2, pcall(load, "\\27Lua")) ~= nil',
    "load mode b": 'return (pcall(load, "return 1", "x", "b"))',
    "collectgarbage stop": 'return (pcall(collectgarbage, "stop"))',
    "string metatable": 'return getmetatable("") ~= false',
    "shared string table": "return (pcall(function() string.extra = 1 end))",
    "rawset shared table": "return (pcall(rawset, string, 'extra', 1))",
    "setmetatable shared table": "return (pcall(setmetatable, math, {}))",
    "require outside": 'return (pcall(require, "../../etc/passwd"))',
    "require stdlib": 'return (pcall(require, "os"))',
    "python attributes": "return (pcall(function() return request.body.__globals__ end))",
}


@pytest.fixture(scope="module")
def probe_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("luaprobes")
    probe = "local probes = {\n"
    for name, code in PROBES.items():
        probe += f"  [{name!r}] = function() {code} end,\n"
    probe += "}\nlocal name = request.query.probe\nprint(tostring(probes[name]()))\n"
    (root / "probe.lua").write_text(probe.replace("'", '"'))
    (root / "hello.lua").write_text('print("hello from " .. _VERSION)\n')
    (root / "index.html").write_text("home")
    return root


@pytest.fixture(scope="module", params=["lua54", "luajit"])
def server(request: pytest.FixtureRequest, probe_site: Path) -> Iterator[RunningServer]:
    with run_dynlan(probe_site, config=f'[lua]\nengine = "{request.param}"\n') as s:
        yield s


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_denied(server: RunningServer, probe: str) -> None:
    r = httpx.get(server.url + "/probe", params={"probe": probe})
    assert r.status_code == 200, r.text
    assert r.text.strip() == "false", f"{probe}: {r.text}"


def test_engine_runs_pages(server: RunningServer) -> None:
    r = httpx.get(server.url + "/hello")
    assert r.status_code == 200 and r.text.startswith("hello from Lua 5.")


async def test_statistics_count_budget_hits(tmp_path: Path) -> None:
    import trio

    from dynlan.config import LimitsConfig
    from dynlan.host import Host, MemoryCache, PageContext, SiteFs, run_page
    from dynlan.http import Headers, HttpRequest
    from dynlan.runtimes import RuntimeConfig
    from dynlan.runtimes.lua._runtime import LuaRuntime

    (tmp_path / "ok.lua").write_text('print("ok")\n')
    (tmp_path / "loop.lua").write_text("while true do end\n")
    (tmp_path / "big.lua").write_text("local t = {} for i = 1, 1e9 do t[i] = i end\n")
    (tmp_path / "bad.lua").write_text('error("x")\n')

    class Exchange:
        def __init__(self, path: str) -> None:
            self.request = HttpRequest("GET", path, path, "", Headers(), "1.1", "http", "h", None, "t1")
            self.status = 0
            self.bytes_sent = 0

        @property
        def response_started(self) -> bool:
            return self.status != 0

        async def receive(self) -> bytes:
            return b""

        async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.status = status

    limits = LimitsConfig(wall_time=5.0, instructions=2_000_000, memory=8 * 1024 * 1024)
    runtime = LuaRuntime()
    runtime.configure(RuntimeConfig({}, limits, False))
    host = Host(cache=MemoryCache())
    await runtime.start(host)
    statuses = {}
    for page in ("ok", "loop", "big", "bad"):
        ex = Exchange("/" + page)
        ctx = PageContext(host=host, exchange=ex, page=str(tmp_path / f"{page}.lua"), page_name=f"{page}.lua",  # type: ignore[arg-type]
                          params={}, fs=SiteFs(str(tmp_path)), limits=limits, dev=False, max_body_size=100)
        await run_page(runtime, ctx)
        statuses[page] = ex.status
    stats = runtime.statistics()
    await runtime.aclose()
    assert statuses == {"ok": 200, "loop": 503, "big": 500, "bad": 500}
    assert stats["budget.instructions"] == 1 and stats["budget.memory"] == 1 and stats["errors"] == 1
    assert stats["requests"] == 4
    await trio.lowlevel.checkpoint()
