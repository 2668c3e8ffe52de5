"""The Redis cache backend with a real redis-server: shared by workers, and surviving a restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import free_port, run_dynlan

pytestmark = pytest.mark.e2e


class Redis:
    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make test installs it)"
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False)
            if out.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _site(root: Path) -> Path:
    root.mkdir()
    (root / "index.html").write_text("home")
    (root / "count.lua").write_text('print(cache.incr("hits", 1))\n')
    (root / "store.lua").write_text(
        'cache.set("doc", {title = "t", tags = {"a", "b"}, meta = {n = 3}}, 60)\n'
        'local d = cache.get("doc")\nprint(d.title, d.tags[2], d.meta.n)\n')
    (root / "count-py.py").write_text("def handle(request, response):\n    response.write(str(cache.incr('hits', 1)))\n")
    (root / "count-php.php").write_text("<?php echo dynlan_cache_incr('hits', 1);\n")
    (root / "safe.lua").write_text(
        'local ok, err = pcall(cache.get, "x")\nif ok then print("ok") else print("cache error: " .. tostring(err)) end\n')
    return root


def test_shared_by_workers_and_languages(redis_server: Redis, tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    config = f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis_server.port}/0"\n'
    with run_dynlan(site, "--workers", "2", config=config) as server:
        seen = []
        with httpx.Client(base_url=server.url) as c:
            for path in ["/count", "/count-py", "/count-php"] * 4:
                seen.append(int(float(c.get(path).text.strip())))
        # One counter for every worker process and every language.
        assert sorted(seen) == list(range(1, 13))
        assert httpx.get(server.url + "/store").text.split() == ["t", "b", "3"]


def test_redis_going_away_and_coming_back(redis_server: Redis, tmp_path: Path) -> None:
    site = _site(tmp_path / "site")
    config = f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis_server.port}/0"\n'
    with run_dynlan(site, "--dev", config=config) as server:
        assert httpx.get(server.url + "/count").text.strip() == "1"
        redis_server.stop()
        r = httpx.get(server.url + "/count", timeout=20)
        assert r.status_code == 500 and "cache backend unavailable" in r.text
        assert "cache error: " in httpx.get(server.url + "/safe", timeout=20).text
        assert httpx.get(server.url + "/").text == "home"  # the server keeps serving
        redis_server.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = httpx.get(server.url + "/count", timeout=20)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200 and r.text.strip() == "1"  # a fresh Redis: it reconnected


