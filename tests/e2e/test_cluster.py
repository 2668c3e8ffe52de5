"""Two dynlan instances (separate processes and ports, as on two machines) sharing one real redis-server, with
dynlan's own proxy in front balancing round-robin: a PHP login and a Lua session survive requests alternating
between the instances, a purge made on one drops the cached response on both, a limit of N a minute holds across
both, and a restart of Redis in the middle is survived."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, free_port, run_dynlan

pytestmark = pytest.mark.e2e

LIMIT = 8

PAGES = {
    "count.lua": 'local n = (session.get("n") or 0) + 1\nsession.set("n", n)\nprint(n)\n',
    "login.php": ("<?php session_start(); session_regenerate_id(true); $_SESSION['user'] = $_GET['user'];\n"
                  "$_SESSION['visits'] = 0; echo 'welcome ', $_SESSION['user'];\n"),
    "visit.php": ("<?php session_start(); if (!isset($_SESSION['user'])) { http_response_code(403); echo 'who?'; exit; }\n"
                  "$_SESSION['visits']++; echo $_SESSION['user'], ' ', $_SESSION['visits'];\n"),
    # A response kept in the (Redis) response cache: a counter shows which run of the page made it.
    "news.lua": 'response.cache(300, {tags = {"news"}})\nprint("edition " .. cache.incr("editions", 1))\n',
    "publish.lua": 'print(cache.purge({tag = "news"}))\n',
    "slow.php": ("<?php session_start(); $n = $_SESSION['slow'] ?? 0; usleep(300000); $_SESSION['slow'] = $n + 1;\n"
                 "echo $_SESSION['slow'];\n"),
    "limited/ping.lua": 'print("pong")\n',
    "dynlan.toml": f'[[route]]\npath = "/limited/*"\nrate_limit = {{ requests = {LIMIT}, per = "1m" }}\n',
}


class Redis:
    """A redis-server that keeps its data on disk (append-only file), so a restart loses nothing."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make test installs it)"
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True,
                                 check=False)
            if out.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Cluster:
    def __init__(self, front: RunningServer, a: RunningServer, b: RunningServer, redis: Redis) -> None:
        self.front = front
        self.instances = {"a": a, "b": b}
        self.redis = redis

    def get(self, path: str, jar: httpx.Cookies | None = None, server: RunningServer | None = None) -> httpx.Response:
        # A new connection each time, like separate page views.
        with httpx.Client(base_url=(server or self.front).url, cookies=jar, timeout=20) as c:
            r = c.get(path)
            if jar is not None:
                jar.update(c.cookies)
        return r


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("cluster")
    site = base / "site"
    for name, text in PAGES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    (base / "redis").mkdir()
    redis = Redis(free_port(), base / "redis")
    redis.start()
    shared = (f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis.port}/0"\nresponses_backend = "redis"\n'
              f'[ratelimit]\nstore = "redis"\n[sessions]\nstore = "redis"\n'
              f'[server]\ntrusted_proxies = ["127.0.0.1"]\n')

    def instance(name: str) -> str:
        # Which instance answered, for the test to see the requests alternate.
        return shared + f'[[route]]\npath = "/*"\nheaders = {{ set = {{ "x-instance" = "{name}" }} }}\n'

    with contextlib.ExitStack() as stack:
        stack.callback(redis.stop)
        a = stack.enter_context(run_dynlan(site, "--no-access-log", config=instance("a")))
        b = stack.enter_context(run_dynlan(site, "--no-access-log", config=instance("b")))
        front_site = base / "front"
        front_site.mkdir()
        (front_site / "dynlan.toml").write_text(
            f'[[route]]\npath = "/*"\nproxy = {{ upstreams = ["{a.url}", "{b.url}"], policy = "round_robin" }}\n')
        front = stack.enter_context(run_dynlan(front_site, "--no-access-log",
                                               config='[outbound]\nallow = ["127.0.0.1:*"]\n'))
        yield Cluster(front, a, b, redis)


def test_sessions_follow_the_user_across_instances(cluster: Cluster) -> None:
    jar = httpx.Cookies()
    answers = [cluster.get("/count", jar) for _ in range(6)]
    assert [r.text.strip() for r in answers] == ["1", "2", "3", "4", "5", "6"]
    assert {r.headers["x-instance"] for r in answers} == {"a", "b"}
    php = httpx.Cookies()
    assert cluster.get("/login.php?user=erin", php).text == "welcome erin"
    visits = [cluster.get("/visit.php", php) for _ in range(4)]
    assert [r.text for r in visits] == [f"erin {n}" for n in range(1, 5)]
    assert {r.headers["x-instance"] for r in visits} == {"a", "b"}


def test_a_php_session_is_locked_across_instances(cluster: Cluster) -> None:
    php = httpx.Cookies()
    assert cluster.get("/login.php?user=gina", php).status_code == 200
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(cluster.get("/slow.php", php))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Requests of one session on both instances at once: each waits for the session's lock in Redis.
    assert sorted(r.text for r in results) == ["1", "2", "3", "4"]
    assert {r.headers["x-instance"] for r in results} == {"a", "b"}


def test_a_purge_on_one_instance_drops_the_entry_on_both(cluster: Cluster) -> None:
    a, b = cluster.instances["a"], cluster.instances["b"]
    first = cluster.get("/news", server=a)
    assert first.headers["x-cache"] == "MISS"
    again = cluster.get("/news", server=b)  # stored by a, found by b in Redis
    assert again.text == first.text and again.headers["x-cache"] == "HIT"
    assert cluster.get("/news", server=a).headers["x-cache"] == "HIT"
    assert cluster.get("/publish", server=a).text.strip() == "1"
    # Pub/sub is asynchronous: b drops its copy when the message arrives (milliseconds).
    deadline = time.monotonic() + 10
    while (fresh := cluster.get("/news", server=b)).text == first.text:
        assert time.monotonic() < deadline, "b still serves the purged response"
        time.sleep(0.05)
    assert fresh.headers["x-cache"] == "MISS"
    assert cluster.get("/news", server=a).text == fresh.text
    # `dynlan cache purge` on the command line of one machine reaches the other instance too.
    assert cluster.get("/news", server=b).headers["x-cache"] == "HIT"
    subprocess.run([sys.executable, "-m", "dynlan", "cache", "purge", "--tag", "news", "--port", str(a.port)],
                   check=True, capture_output=True, timeout=30)
    deadline = time.monotonic() + 10
    while (again := cluster.get("/news", server=b)).text == fresh.text:
        assert time.monotonic() < deadline, "b still serves the response purged on a's command line"
        time.sleep(0.05)
    assert again.headers["x-cache"] == "MISS"


def test_a_limit_holds_across_instances(cluster: Cluster) -> None:
    answers = [cluster.get("/limited/ping") for _ in range(LIMIT + 2)]
    assert [r.status_code for r in answers] == [200] * LIMIT + [429, 429]
    assert {r.headers["x-instance"] for r in answers[:LIMIT]} == {"a", "b"}
    assert answers[-1].headers["ratelimit-policy"] == f'"/limited/*";q={LIMIT};w=60'


def test_a_redis_restart_is_survived(cluster: Cluster) -> None:
    lua, php = httpx.Cookies(), httpx.Cookies()
    assert cluster.get("/count", lua).text.strip() == "1"
    assert cluster.get("/login.php?user=fred", php).status_code == 200
    cluster.redis.stop()
    # Sessions fail closed (the default): 503, saying why; static and other pages go on.
    down = cluster.get("/count", lua, server=cluster.instances["a"])
    assert down.status_code == 503 and "sessions are unavailable" in down.text
    assert "sessions are unavailable: Redis at redis://127.0.0.1" in cluster.instances["a"].log()
    cluster.redis.start()
    deadline = time.monotonic() + 20
    while (r := cluster.get("/count", lua)).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    # Reconnected, and the data kept by Redis across its restart: the same sessions go on, on both instances.
    counts = [r.text.strip()] + [cluster.get("/count", lua).text.strip() for _ in range(3)]
    assert counts == ["2", "3", "4", "5"]
    assert [cluster.get("/visit.php", php).text for _ in range(2)] == ["fred 1", "fred 2"]
