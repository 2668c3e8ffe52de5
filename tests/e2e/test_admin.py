"""The admin listener's health checks, live events, actions, and its dashboard in headless Chromium."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests._server import RunningServer, free_port, run_dynlan, wait_port
from tests.e2e.test_redis import Redis


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory, redis: Redis) -> Iterator[tuple[RunningServer, str]]:
    root = tmp_path_factory.mktemp("admin")
    (root / "hello.lua").write_text("print('hello')\n")
    (root / "slow.lua").write_text("sleep(tonumber(request.query.s or '1'))\nprint('finished')\n")
    (root / "cached.lua").write_text("response.cache(3600)\nprint(os.time())\n")
    (root / "a.txt").write_text("a\n")
    port = free_port()
    # The page cache on Redis: /readyz follows it.
    config = (f'[admin]\nlisten = "127.0.0.1:{port}"\n[server]\ngrace_period = 0.5\n'
              f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis.port}/0"\n')
    with run_dynlan(root, "--workers", "2", "--no-access-log", config=config) as server:
        wait_port(port, server.proc)
        yield server, f"http://127.0.0.1:{port}"


def ready(base: str) -> httpx.Response:
    return httpx.get(base + "/readyz", timeout=30)


def wait_ready(base: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = ready(base)
        if r.status_code == 200:
            body: dict[str, Any] = r.json()
            return body
        assert time.monotonic() < deadline, r.text


def test_health_while_a_worker_is_killed_and_replaced(admin: tuple[RunningServer, str]) -> None:
    server, base = admin
    first = wait_ready(base)
    assert first["ready"] and len(first["workers"]) == 2
    pids = {w["pid"] for w in first["workers"]}
    assert pids == set(server.worker_pids())
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    # At once: that worker no longer answers, so the server is not ready; alive it still is.
    r = ready(base)
    assert r.status_code == 503, r.text
    body = r.json()
    assert not body["ready"]
    assert any(w["problems"] for w in body["workers"])
    assert httpx.get(base + "/healthz", timeout=30).status_code == 200
    # Once the supervisor's replacement serves, ready again, with a new pid in the killed one's place.
    again = wait_ready(base)
    now = {w["pid"] for w in again["workers"]}
    assert victim not in now and len(now) == 2 and pids - {victim} <= now
    metrics = httpx.get(base + "/metrics", timeout=30).text
    assert "dynlan_worker_restarts_total 1.0" in metrics
    assert 'dynlan_workers{state="serving"} 2.0' in metrics


def test_events_stream_history_then_a_sample_a_second(admin: tuple[RunningServer, str]) -> None:
    server, base = admin
    for _ in range(5):
        httpx.get(server.url + "/hello")
    events: list[tuple[str, Any]] = []
    with httpx.stream("GET", base + "/admin/events", timeout=30) as r:
        assert r.headers["content-type"] == "text/event-stream"
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if sum(1 for n, _ in events if n == "sample") >= 3:
                    break
    assert events[0][0] == "history"
    assert set(events[0][1]) == {"seconds", "minutes"}
    samples = [data for n, data in events if n == "sample"]
    times = [s["sample"]["t"] for s in samples]
    assert times == sorted(times)
    last = samples[-1]
    assert {"sites", "runtimes", "inflight", "workers", "pools", "minute"} <= set(last)
    assert len(last["workers"]) == 2
    assert last["runtimes"]["lua"]["requests"] >= 5


def test_purge_and_reload_from_the_admin_listener(admin: tuple[RunningServer, str]) -> None:
    server, base = admin
    wait_ready(base)
    with httpx.Client(base_url=server.url) as c:
        first = c.get("/cached").text
        assert c.get("/cached").headers.get("x-cache") == "HIT"
    # Without the header a cross-site form could not send, nothing happens.
    assert httpx.post(base + "/admin/purge", timeout=30).status_code == 403
    assert httpx.get(base + "/admin/purge", timeout=30).status_code == 405
    r = httpx.post(base + "/admin/purge", headers={"x-dynlan-admin": "1"}, timeout=30)
    assert r.status_code == 200 and r.json()["ok"]
    assert sum(w["purged"] for w in r.json()["workers"]) >= 1
    r = httpx.post(base + "/admin/reload", headers={"x-dynlan-admin": "1"}, timeout=60)
    assert r.status_code == 200, r.text
    assert [w["ok"] for w in r.json()["workers"]] == [True, True]
    assert first  # the page answered before the purge


class Browser:
    """Headless Chromium driven over the DevTools protocol (CDP) on a websocket."""

    def __init__(self, url: str) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        assert binary is not None, "chromium is not installed (apt-get install chromium)"
        self.profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--no-first-run", "--disable-extensions",
             "--window-size=1280,1400", f"--user-data-dir={self.profile}", "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().count("\n") >= 1):
            assert self.proc.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.05)
        port = int(active.read_text().split()[0])
        while True:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            assert time.monotonic() < deadline, targets
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=30))
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self._id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"{expression} stayed false"
            time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def test_dashboard_in_chromium(admin: tuple[RunningServer, str], tmp_path: Path) -> None:
    server, base = admin
    wait_ready(base)
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not stop.is_set():
                c.get("/hello")
                c.get("/a.txt")

    def slow() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            c.get("/slow?s=20")

    threads = [threading.Thread(target=load, daemon=True), threading.Thread(target=slow, daemon=True)]
    for t in threads:
        t.start()
    browser = Browser(base + "/admin")
    try:
        # Three samples drawn, with requests in them, and the slow page listed with its budget.
        browser.wait_for("Number(document.body.dataset.samples || 0) >= 3")
        series = browser.wait_for(
            "(() => { const s = JSON.parse(document.getElementById('c-rps').dataset.series);"
            " return s.rps.slice(-3).every(v => v > 0) && s; })()")
        assert len(series["rps"]) >= 3
        latency = json.loads(browser.evaluate("document.getElementById('c-latency').dataset.series"))
        assert set(latency) == {"p50", "p99"}
        assert latency["p99"][-1] >= latency["p50"][-1] > 0
        status = json.loads(browser.evaluate("document.getElementById('c-status').dataset.series"))
        assert status["2xx"][-1] > 0
        row = browser.wait_for("(() => { const r = [...document.querySelectorAll('#t-inflight tbody tr')]"
                               ".find(tr => tr.textContent.includes('slow.lua')); return r && r.textContent; })()")
        assert "of 10 s" in row and "lua" in row
        sites = browser.evaluate("document.querySelector('#t-sites tbody').textContent")
        assert server.url and "admin" in sites
        runtimes = browser.evaluate("[...document.querySelectorAll('#t-runtimes tbody td:first-child')]"
                                    ".map(td => td.textContent)")
        assert {"lua", "static"} <= set(runtimes)
        assert browser.evaluate("document.querySelectorAll('#t-workers tbody tr').length") == 2
        # The day chart has this minute as its last point.
        browser.evaluate("document.getElementById('r-day').click()")
        assert browser.wait_for("Number(document.getElementById('c-rps').dataset.points) >= 1")
        browser.evaluate("document.getElementById('r-hour').click()")
        shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
        assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 10_000
        (tmp_path / "dashboard.png").write_bytes(shot)
        if os.environ.get("DYNLAN_SCREENSHOTS"):
            shutil.copy(tmp_path / "dashboard.png", os.environ["DYNLAN_SCREENSHOTS"])
        # The purge button reaches every worker.
        browser.evaluate("document.getElementById('purge').click()")
        message = browser.wait_for("(() => { const t = document.getElementById('msg').textContent;"
                                   " return t.startsWith('purge: ') && t; })()")
        assert message.startswith("purge: done"), message
    finally:
        stop.set()
        browser.close()
        threads[0].join(60)  # the slow page's client ends with the server
    # No asset comes from anywhere else: the page names no other origin.
    page = httpx.get(base + "/admin", timeout=30).text
    assert "http://" not in page and "https://" not in page and "src=" not in page


def test_readyz_follows_redis(admin: tuple[RunningServer, str], redis: Redis) -> None:
    _, base = admin
    wait_ready(base)
    redis.stop()
    try:
        r = ready(base)
        assert r.status_code == 503
        assert any("redis unreachable" in p for w in r.json()["workers"] for p in w["problems"]), r.text
        assert httpx.get(base + "/healthz", timeout=30).status_code == 200
    finally:
        redis.start()
    wait_ready(base)
