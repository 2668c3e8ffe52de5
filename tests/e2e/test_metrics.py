"""`/metrics` on the admin listener: Prometheus text, summed over two workers, moving with real requests."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests._server import RunningServer, curl, free_port, run_dynlan, wait_port

TOKEN = "s3cret-admin-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}

PAGES = {
    "hello.lua": "print('hello ' .. (request.query.n or ''))\n",
    "fail.lua": "error('on purpose')\n",
    "spin.lua": "while true do end\n",
    "slow.lua": "sleep(tonumber(request.query.s or '1'))\nprint('finished')\n",
    "info.php": "<?php echo 'php hello';\n",
    "users/[id].lua": "print(request.params.id)\n",
    "a.txt": "static text\n",
}


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, str]]:
    root = tmp_path_factory.mktemp("metrics")
    for name, text in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    port = free_port()
    # The token is asked for on loopback too, once it is set.
    config = (f'[admin]\nlisten = "127.0.0.1:{port}"\ntoken = "{TOKEN}"\n'
              "[server]\ngrace_period = 0.5\n[limits]\nwall_time = 20.0\ninstructions = 5000000\n")
    with run_dynlan(root, "--workers", "2", config=config) as server:
        wait_port(port, server.proc)
        # A folder of pages is one site, named after the folder.
        yield server, f"http://127.0.0.1:{port}", root.name


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(base + "/metrics", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        assert family.name.startswith("dynlan_"), family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, **labels: str) -> float:
    key = (metric, tuple(sorted(labels.items())))
    return samples.get(key, 0.0)


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, **labels: str) -> float:
    """The sum of every sample of `metric` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == metric and set(labels.items()) <= set(ls))


def test_counters_move_with_requests_served_by_both_workers(admin: tuple[RunningServer, str, str]) -> None:
    server, base, site = admin
    before = scrape(base)
    count = 60
    for i in range(count):
        # A connection per request: SO_REUSEPORT spreads new connections over both workers.
        with httpx.Client(base_url=server.url) as c:
            r = c.get(f"/hello?n=metrics-probe-{i}")
            assert r.status_code == 200
            assert c.get("/a.txt").status_code == 200
            assert c.get("/users/7").text == "7\n"
    assert httpx.get(server.url + "/nothing-here").status_code == 404
    # HTTP/2 (h2c, prior knowledge) is its own protocol label.
    for _ in range(2):
        assert curl("--http2-prior-knowledge", server.url + "/hello?n=h2") == "hello h2\n"
    after = scrape(base)
    h2 = dict(site=site, route="/hello", runtime="lua", protocol="h2", status="2xx")
    assert value(after, "dynlan_requests_total", **h2) - value(before, "dynlan_requests_total", **h2) == 2
    page = dict(site=site, route="/hello", runtime="lua", protocol="http/1.1", status="2xx")
    assert value(after, "dynlan_requests_total", **page) - value(before, "dynlan_requests_total", **page) == count
    static = dict(site=site, route="static", runtime="static", protocol="http/1.1", status="2xx")
    assert value(after, "dynlan_requests_total", **static) - value(before, "dynlan_requests_total", **static) == count
    # A route with a parameter is one label value, not one per id.
    routed = dict(site=site, route="/users/[id]", runtime="lua", protocol="http/1.1", status="2xx")
    assert value(after, "dynlan_requests_total", **routed) - value(before, "dynlan_requests_total", **routed) == count
    assert total(after, "dynlan_requests_total", status="4xx") > total(before, "dynlan_requests_total", status="4xx")
    hist = dict(site=site, runtime="lua", protocol="http/1.1")
    assert (value(after, "dynlan_request_duration_seconds_count", **hist)
            - value(before, "dynlan_request_duration_seconds_count", **hist)) == 2 * count
    assert value(after, "dynlan_request_duration_seconds_bucket", le="+Inf", **hist) == \
        value(after, "dynlan_request_duration_seconds_count", **hist)
    assert value(after, "dynlan_request_duration_seconds_sum", **hist) > 0
    sent = value(after, "dynlan_response_bytes_total", site=site, protocol="http/1.1") - \
        value(before, "dynlan_response_bytes_total", site=site, protocol="http/1.1")
    assert sent >= count * (len("static text\n") + len("hello metrics-probe-0\n"))
    # Both workers answered some of them (each process's request ids have their own prefix), and both are counted.
    deadline = time.monotonic() + 30
    while server.log().count("metrics-probe-") < count and time.monotonic() < deadline:
        time.sleep(0.05)
    prefixes = {line.split()[-1][:6] for line in server.log().splitlines() if "metrics-probe-" in line}
    assert len(prefixes) == 2, prefixes
    assert value(after, "dynlan_workers", state="serving") == 2
    for process in ("supervisor", "worker-0", "worker-1"):
        assert value(after, "dynlan_process_resident_memory_bytes", process=process) > 10 * 1024 * 1024


def test_errors_budgets_and_php_pool(admin: tuple[RunningServer, str, str]) -> None:
    server, base, _ = admin
    before = scrape(base)
    assert httpx.get(server.url + "/fail", timeout=30).status_code == 500
    assert httpx.get(server.url + "/spin", timeout=60).status_code in (500, 503)
    assert httpx.get(server.url + "/info", timeout=30).text == "php hello"
    after = scrape(base)
    assert total(after, "dynlan_requests_total", status="5xx") - total(before, "dynlan_requests_total", status="5xx") >= 2
    assert value(after, "dynlan_budget_overruns_total", kind="instructions") - \
        value(before, "dynlan_budget_overruns_total", kind="instructions") == 1
    assert value(after, "dynlan_host_events_total", event="page.errors") >= 1
    # The php-cgi pool's counters, which only `statistics()` kept before.
    assert value(after, "dynlan_pool_processes", runtime="php", state="idle") + \
        value(after, "dynlan_pool_processes", runtime="php", state="busy") >= 1
    assert value(after, "dynlan_pool_events_total", runtime="php", event="started") >= 1
    assert value(after, "dynlan_runtime_statistic", runtime="php", name="requests") >= 1
    assert value(after, "dynlan_runtime_statistic", runtime="lua", name="requests") >= 1


def test_pages_in_flight_and_connections(admin: tuple[RunningServer, str, str]) -> None:
    server, base, site = admin
    done = threading.Event()

    def slow() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            c.get("/slow?s=30")
        done.set()

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        samples = scrape(base)
        if value(samples, "dynlan_pages_in_flight", site=site, runtime="lua") >= 1:
            break
        assert time.monotonic() < deadline, "the slow page never showed as in flight"
    assert value(samples, "dynlan_connections", protocol="http/1.1") >= 1
    assert not done.is_set()


def test_a_token_is_required(admin: tuple[RunningServer, str, str]) -> None:
    _, base, _ = admin
    for path in ("/metrics", "/healthz", "/readyz", "/admin", "/admin/events"):
        r = httpx.get(base + path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(base + "/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(base + "/admin/purge", headers={"x-dynlan-admin": "1"}).status_code == 401
    assert httpx.get(base + "/healthz", headers=AUTH).status_code == 200
    # A browser brings the token once in the address; a cookie for this listener carries it from then on.
    assert httpx.get(base + "/admin?token=wrong").status_code == 401
    with httpx.Client(base_url=base) as browser:
        r = browser.get(f"/admin?token={TOKEN}")
        assert r.status_code == 303 and r.headers["location"] == "/admin"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = browser.get("/admin")
        assert page.status_code == 200 and "<canvas" in page.text
        assert browser.get("/metrics").status_code == 200


def test_off_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    out = subprocess.run([sys.executable, "-m", "dynlan", "serve", str(tmp_path), "--port", str(free_port()),
                          "--admin", f"0.0.0.0:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not a loopback address: set admin.token" in out.stderr
