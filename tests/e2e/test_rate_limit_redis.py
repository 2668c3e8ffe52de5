"""Rate limits and sessions in Redis when Redis goes away: `on_error = "closed"` refuses (503 for a limit, a
clear error for a session call, a 503 for a page that does not catch it), `on_error = "open"` lets requests
through with an empty session; both come back by themselves once Redis is back. Sessions in Redis answer pages in every language (the calls wait)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, free_port, run_dynlan
from tests.e2e.test_redis import Redis

pytestmark = pytest.mark.e2e

PAGES = {
    "count.lua": 'local n = (session.get("n") or 0) + 1\nsession.set("n", n)\nprint(n)\n',
    "countpy.py": ("def handle(request, response):\n"
                   "    n = session.get('n', 0) + 1\n    session.set('n', n)\n    response.write(str(n))\n"),
    "countasync.py": ("async def handle(request, response):\n"
                      "    n = await session.aget('n', 0) + 1\n    await session.aset('n', n)\n"
                      "    response.write(str(n))\n"),
    "countwren.wren": 'var n = Session.get("n")\nif (n == null) n = 0\nSession.set("n", n + 1)\nSystem.print(n + 1)\n',
    "countphp.php": "<?php $n = (dynlan_session_get('n') ?? 0) + 1; dynlan_session_set('n', $n); echo $n, \"\\n\";\n",
    "safe.lua": ('local ok, err = pcall(session.get, "n")\n'
                 'if ok then print("ok") else print("no session: " .. tostring(err)) end\n'),
    "limited/ping.txt": "pong\n",
    "dynlan.toml": '[[route]]\npath = "/limited/*"\nrate_limit = { requests = 3, per = "1h" }\n',
}


@dataclass
class Servers:
    redis: Redis
    closed: RunningServer
    open: RunningServer
    site: Path
    config: Callable[[str], str]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("outage")
    site = base / "site"
    for name, text in PAGES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    redis = Redis(free_port(), base)
    redis.start()

    def config(on_error: str) -> str:
        return (f'[cache]\nurl = "redis://127.0.0.1:{redis.port}/0"\nprefix = "{on_error}:"\n'
                f'[ratelimit]\nstore = "redis"\non_error = "{on_error}"\n'
                f'[sessions]\nstore = "redis"\non_error = "{on_error}"\n')

    with contextlib.ExitStack() as stack:
        stack.callback(redis.stop)
        closed = stack.enter_context(run_dynlan(site, "--no-access-log", config=config("closed")))
        opened = stack.enter_context(run_dynlan(site, "--no-access-log", config=config("open")))
        yield Servers(redis, closed, opened, site, config)


def _get(server: RunningServer, path: str, jar: httpx.Cookies | None = None) -> httpx.Response:
    with httpx.Client(base_url=server.url, cookies=jar, timeout=30) as c:
        r = c.get(path)
        if jar is not None:
            jar.update(c.cookies)
    return r


def test_sessions_in_redis_for_every_language(servers: Servers) -> None:
    jar = httpx.Cookies()
    paths = ["/count", "/countpy", "/countasync", "/countwren", "/countphp"] * 2
    assert [_get(servers.closed, p, jar).text.strip() for p in paths] == [str(n) for n in range(1, 11)]


def test_redis_away_fails_closed_or_open_and_comes_back(servers: Servers) -> None:
    closed, opened = servers.closed, servers.open
    jar_closed, jar_open = httpx.Cookies(), httpx.Cookies()
    for server, jar in ((closed, jar_closed), (opened, jar_open)):
        assert _get(server, "/count", jar).text.strip() == "1"
        assert _get(server, "/limited/ping.txt").headers["ratelimit"].endswith("r=2;t=1200")
    servers.redis.stop()

    # closed: the limit cannot be checked (503, saying so); a session call fails with a clear error.
    r = _get(closed, "/limited/ping.txt")
    assert r.status_code == 503 and "rate limits cannot be checked" in r.text and "Redis at redis://" in r.text
    for page in ("/count", "/countpy", "/countwren", "/countphp"):
        # The page is not at fault: 503, saying what is away, and nothing of where Redis is.
        r = _get(closed, page, jar_closed)
        assert r.status_code == 503 and "sessions are unavailable" in r.text and "redis://" not in r.text, page
    assert "sessions are unavailable: Redis at redis://" in closed.log()
    safe = _get(closed, "/safe", jar_closed).text
    assert safe.startswith("no session: ") and "sessions are unavailable: Redis at redis://" in safe
    # open: requests go through, unlimited; the session is empty and changes are not kept.
    r = _get(opened, "/limited/ping.txt")
    assert r.status_code == 200 and "ratelimit" not in r.headers
    assert [_get(opened, "/count", jar_open).text.strip() for _ in range(2)] == ["1", "1"]
    assert "sessions not kept" in opened.log() and "rate limits not enforced" in opened.log()
    # An instance started while Redis is away serves too (with no key to sign a session id, none is started).
    with run_dynlan(servers.site, "--no-access-log", config=servers.config("open")) as late:
        r = _get(late, "/count", httpx.Cookies())
        assert r.status_code == 200 and r.text.strip() == "1" and "set-cookie" not in r.headers

    servers.redis.start()  # an empty Redis: what was kept is gone, and both reconnect by themselves
    deadline = time.monotonic() + 20
    while (r := _get(closed, "/limited/ping.txt")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.headers["ratelimit"].endswith("r=2;t=1200")
    assert [_get(closed, "/count", jar_closed).text.strip() for _ in range(2)] == ["1", "2"]
    assert [_get(opened, "/limited/ping.txt").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [_get(opened, "/count", jar_open).text.strip() for _ in range(2)] == ["1", "2"]
