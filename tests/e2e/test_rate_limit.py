"""Rate limits of site rules, end to end: 429 with Retry-After and the RateLimit fields through the site's error
pages, buckets by address, header, cookie and route, one count for every worker process of an instance, errors in
a rate_limit table named at start and on reload, and the per-address connection cap."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, free_port, run_dynlan

pytestmark = pytest.mark.e2e

SITE_TOML = """
rate_limit = { requests = 50, per = "1m", name = "site" }

[[route]]
path = "/api/*"
rate_limit = { requests = 4, per = "1m", name = "api" }

[[route]]
path = "/keyed/*"
rate_limit = { requests = 2, per = "1h", key = "header:X-Api-Key" }

[[route]]
path = "/cookied/*"
rate_limit = { requests = 2, per = "1h", key = "cookie:sid" }

[[route]]
path = "/global.txt"
rate_limit = { requests = 3, per = "1h", key = "route" }

[[route]]
path = "/trickle.txt"
rate_limit = { requests = 2, per = "1s", burst = 1 }
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ratelimit") / "site"
    for rel, text in {
        "dynlan.toml": SITE_TOML,
        "errors/429.html": "<h1>slow down, please</h1>\n",
        "api/hello.lua": "print('hello')\n",
        "keyed/x.txt": "x\n",
        "cookied/x.txt": "x\n",
        "global.txt": "g\n",
        "trickle.txt": "t\n",
        "index.html": "home\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    config = "[server]\nmax_connections_per_client = 3\n[http]\nheader_timeout = 20.0\n"
    with run_dynlan(site, "--workers", "2", "--no-access-log", config=config) as s:
        yield s


def test_limit_holds_across_workers_with_its_fields(server: RunningServer) -> None:
    seen: list[httpx.Response] = []
    for _ in range(6):
        # A new connection each time: SO_REUSEPORT spreads them over both workers.
        with httpx.Client(base_url=server.url, timeout=30) as c:
            seen.append(c.get("/api/hello"))
    assert [r.status_code for r in seen] == [200, 200, 200, 200, 429, 429]
    ok = seen[0]
    assert ok.text == "hello\n"
    # The tightest limit's fields (api: 3 left, not the site's 49).
    assert ok.headers["ratelimit"] == '"api";r=3;t=15'
    assert ok.headers["ratelimit-policy"] == '"api";q=4;w=60'
    refused = seen[4]
    # One request every 15 s: the next comes in 15 s (RFC 6585 §4 Retry-After), through the site's error page.
    assert 14 <= int(refused.headers["retry-after"]) <= 15
    assert refused.headers["ratelimit"].startswith('"api";r=0;t=')
    assert refused.headers["ratelimit-policy"] == '"api";q=4;w=60'
    assert "slow down, please" in refused.text
    # Other paths of the site have their own (site-wide) budget.
    assert httpx.get(server.url + "/", timeout=30).headers["ratelimit"].startswith('"site";r=')


def test_buckets_by_header_cookie_and_route(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        a = [c.get("/keyed/x.txt", headers={"x-api-key": "alice"}).status_code for _ in range(3)]
        b = [c.get("/keyed/x.txt", headers={"x-api-key": "bob"}).status_code for _ in range(2)]
        assert (a, b) == ([200, 200, 429], [200, 200])
        one = [c.get("/cookied/x.txt", headers={"cookie": "sid=one"}).status_code for _ in range(3)]
        two = c.get("/cookied/x.txt", headers={"cookie": "other=1; sid=two"}).status_code
        assert (one, two) == ([200, 200, 429], 200)
    # `route`: every client's requests count together.
    statuses = []
    for _ in range(4):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            statuses.append(c.get("/global.txt", headers={"x-forwarded-for": "203.0.113.9"}).status_code)
    assert statuses == [200, 200, 200, 429]


def test_refused_requests_do_not_count_and_the_rate_refills(server: RunningServer) -> None:
    # Two a second, one at a time: a client that keeps asking gets in again once the interval has passed.
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/trickle.txt").status_code == 200
        r = c.get("/trickle.txt")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        deadline = time.monotonic() + 5
        while (r := c.get("/trickle.txt")).status_code == 429:
            assert time.monotonic() < deadline
        assert r.status_code == 200


def test_connection_cap_per_address(server: RunningServer) -> None:
    # Three idle connections per address and worker: with two workers, at most 6 stay open; more are closed at once.
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
    try:
        # Those past the cap are closed as soon as a worker accepts them; the others wait for a request.
        closed: set[socket.socket] = set()
        deadline = time.monotonic() + 20.0
        while (left := deadline - time.monotonic()) > 0 and len(closed) < 5:
            readable, _, _ = select.select([s for s in held if s not in closed], [], [], min(left, 1.0))
            if not readable and len(closed) >= 2:
                break  # a second without another close: the rest are held open
            for sock in readable:
                try:
                    data = sock.recv(1)
                except ConnectionResetError:
                    data = b""
                assert data == b""
                closed.add(sock)
        assert 2 <= len(closed) <= 5
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, the address gets connections again.
    deadline = time.monotonic() + 10
    while True:
        try:
            if httpx.get(server.url + "/", timeout=30).status_code == 200:
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline


def _serve_error(site: Path, config: str) -> str:
    cfg = site.parent / "bad.toml"
    cfg.write_text(config)
    out = subprocess.run([sys.executable, "-m", "dynlan", "serve", str(site), "--port", str(free_port()),
                          "--config", str(cfg)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode != 0
    return out.stderr


def test_config_errors_are_named_at_start(site: Path) -> None:
    # (Every key's checks: tests/unit/test_gcra.py.)
    error = _serve_error(site, '[[route]]\npath = "/x/*"\nrate_limit = { requests = 5, per = "fortnight" }\n')
    assert "route[0].rate_limit.per: 'fortnight' is not a duration" in error


def test_server_store_choice_is_checked(site: Path) -> None:
    assert "ratelimit.store: must be one of memory, redis" in _serve_error(site, '[ratelimit]\nstore = "disk"\n')


def test_config_error_named_on_reload_and_the_old_rules_stay(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("home\n")
    toml = root / "dynlan.toml"
    toml.write_text('[[route]]\npath = "/*"\nrate_limit = { requests = 2, per = "1h" }\n')
    with run_dynlan(root, "--no-access-log") as server:
        toml.write_text('[[route]]\npath = "/*"\nrate_limit = { requests = 2, per = "1h", burst = -1 }\n')
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "route[0].rate_limit.burst" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert [c.get("/").status_code for _ in range(3)] == [200, 200, 429]
