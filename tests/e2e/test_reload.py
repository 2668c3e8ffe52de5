"""Reload without restart: SIGHUP and the `reload` control operation, on a real `dynlan serve`.

Every check waits for what it depends on (a reply of the control operation, or one "reloaded" log line per
worker), never for a fixed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.server._control import send_to_server
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

RELOADED = "reloaded the configuration (pid"
REFUSED = "reload refused"


def make_sites(root: Path) -> Path:
    """A folder of sites: a.test (Lua pages, a compressible stylesheet) and c.test."""
    a = root / "a.test"
    a.mkdir(parents=True)
    (a / "index.html").write_text("site a\n")
    (a / "hello.lua").write_text("print('hello from lua')\n")
    (a / "style.css").write_text("body { color: red }\n" * 200)
    (root / "c.test").mkdir()
    (root / "c.test" / "index.html").write_text("site c\n")
    return root


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Path]:
    yield make_sites(tmp_path / "sites")


def wait_serving(server: RunningServer, count: int, timeout: float = 60) -> list[int]:
    """The worker pids once `count` workers serve (each answers on its control socket once it does)."""
    deadline = time.monotonic() + timeout
    while True:
        replies = send_to_server(server.port, {"op": "stats"})
        if len(replies) >= count:
            return sorted(int(r["pid"]) for r in replies)
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} serving workers, have {replies}:\n{server.log()[-3000:]}")
        time.sleep(0.05)


def reload_by(server: RunningServer, how: str, workers: int, done: int) -> None:
    """Reload every worker with SIGHUP to the supervisor or with the control operation; wait until all did."""
    if how == "sighup":
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(RELOADED, done + workers)
        return
    replies = send_to_server(server.port, {"op": "reload"}, timeout=60)
    assert len(replies) == workers and all(r["ok"] for r in replies), replies


def get(server: RunningServer, path: str, host: str = "a.test", **headers: str) -> httpx.Response:
    # A new connection per request: with several workers, the kernel spreads them over all of them.
    return httpx.get(server.url + path, headers={"host": host, **headers}, timeout=30)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("how", ["sighup", "op"])
def test_reload_picks_up_site_config_rules_sites_languages_and_error_pages(sites: Path, how: str, workers: int) -> None:
    with run_dynlan(sites, "--workers", str(workers), "--no-access-log") as server:
        wait_serving(server, workers)
        for _ in range(2 * workers):
            assert get(server, "/style.css", **{"accept-encoding": "gzip"}).headers.get("content-encoding") == "gzip"
            assert get(server, "/", host="b.test").text == "site a\n"  # no such site yet: the default answers
            assert get(server, "/w").status_code != 200
            assert "custom" not in get(server, "/missing").text
            assert get(server, "/ping").status_code == 404
        a = sites / "a.test"
        (a / "dynlan.toml").write_text('[compression]\nenabled = false\n\n'
                                       '[[route]]\npath = "/ping"\nrespond = { status = 200, body = "pong" }\n')
        (sites / "b.test").mkdir()
        (sites / "b.test" / "index.html").write_text("site b\n")
        (a / "w.wren").write_text('System.print("hello from wren")\n')
        (a / "errors").mkdir()
        (a / "errors" / "404.html").write_text("<h1>custom not found</h1>\n")
        reload_by(server, how, workers, 0)
        for _ in range(4 * workers):
            r = get(server, "/style.css", **{"accept-encoding": "gzip"})
            assert r.status_code == 200 and "content-encoding" not in r.headers
            assert get(server, "/", host="b.test").text == "site b\n"
            assert get(server, "/", host="c.test").text == "site c\n"
            r = get(server, "/w")
            assert (r.status_code, r.text) == (200, "hello from wren\n")
            r = get(server, "/missing")
            assert r.status_code == 404 and r.text == "<h1>custom not found</h1>\n"
            assert get(server, "/hello").text == "hello from lua\n"
            r = get(server, "/ping")
            assert (r.status_code, r.text) == (200, "pong")
        assert server.proc.poll() is None


@pytest.mark.parametrize("how", ["sighup", "op"])
def test_a_bad_site_config_is_refused_and_the_running_one_kept(sites: Path, how: str) -> None:
    a = sites / "a.test"
    (a / "dynlan.toml").write_text("[compression]\nenabled = false\n")
    with run_dynlan(sites, "--workers", "2", "--no-access-log") as server:
        wait_serving(server, 2)
        (a / "dynlan.toml").write_text("[compression]\nenabled = true\n[static]\nlistin = true\n")
        (sites / "b.test").mkdir()
        (sites / "b.test" / "index.html").write_text("site b\n")
        if how == "sighup":
            server.proc.send_signal(signal.SIGHUP)
        else:
            replies = send_to_server(server.port, {"op": "reload"}, timeout=60)
            assert len(replies) == 2
            for reply in replies:
                assert reply["ok"] is False
                assert "dynlan.toml" in reply["error"] and "static.listin" in reply["error"]
        text = server.wait_log(REFUSED, 2)
        lines = [line for line in text.splitlines() if REFUSED in line]
        assert all("a.test/dynlan.toml" in line and "static.listin" in line for line in lines), lines
        assert "Traceback" not in text and RELOADED not in text
        for _ in range(8):
            # Still the running configuration: compression off, no site b.test.
            r = get(server, "/style.css", **{"accept-encoding": "gzip"})
            assert r.status_code == 200 and "content-encoding" not in r.headers
            assert get(server, "/", host="b.test").text == "site a\n"
        # Fixed, it reloads.
        (a / "dynlan.toml").write_text("[compression]\nenabled = true\n")
        reload_by(server, how, 2, 0)
        for _ in range(8):
            assert get(server, "/style.css", **{"accept-encoding": "gzip"}).headers["content-encoding"] == "gzip"
            assert get(server, "/", host="b.test").text == "site b\n"


def test_settings_that_need_a_restart_keep_their_value_and_say_so(sites: Path, tmp_path: Path) -> None:
    cfg = "[lua]\nthreads = 1\n[server]\nmax_connections = 100\n"
    with run_dynlan(sites, "--no-access-log", config=cfg) as server:
        wait_serving(server, 1)
        config_file = server.log_path.parent / "config.toml"
        config_file.write_text("[lua]\nthreads = 2\n[server]\nmax_connections = 50\nbacklog = 64\n"
                               "[cache]\nbackend = 'redis'\n")
        reply, = send_to_server(server.port, {"op": "reload"}, timeout=60)
        assert reply["ok"] is True, reply
        assert sorted(reply["restart_needed"]) == ["[lua]", "cache.backend", "server.backlog"]
        text = server.log()
        for key in ("[lua]", "cache.backend", "server.backlog"):
            assert f"reload: {key} changed; it needs a restart" in text
        assert get(server, "/hello").text == "hello from lua\n"
        # A value the server would refuse at start is refused by a reload too.
        config_file.write_text("[server]\nmax_connections = 0\n")
        reply, = send_to_server(server.port, {"op": "reload"}, timeout=60)
        assert reply["ok"] is False and "server.max_connections" in reply["error"]
        # A bad value in the table of a running runtime is refused, not only kept.
        config_file.write_text("[lua]\nthreads = 0\n")
        reply, = send_to_server(server.port, {"op": "reload"}, timeout=60)
        assert reply["ok"] is False and "lua.threads" in reply["error"]


def test_sighup_never_stops_the_server(sites: Path) -> None:
    with run_dynlan(sites, "--workers", "2", "--no-access-log") as server:
        workers = wait_serving(server, 2)
        # To a worker directly as well as to the supervisor: each reloads, none stops.
        for pid in workers:
            os.kill(pid, signal.SIGHUP)
        server.wait_log(RELOADED, 2)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(RELOADED, 4)
        assert server.worker_pids() == workers
        assert get(server, "/hello").text == "hello from lua\n"
        assert server.stop() == 0


def test_a_replaced_worker_starts_with_the_reloaded_files(sites: Path) -> None:
    with run_dynlan(sites, "--no-access-log") as server:
        worker, = wait_serving(server, 1)
        (sites / "b.test").mkdir()
        (sites / "b.test" / "index.html").write_text("site b\n")
        reload_by(server, "sighup", 1, 0)
        os.kill(worker, signal.SIGKILL)
        assert get(server, "/", host="b.test").text == "site b\n"
        assert server.worker_pid() != worker


def test_no_cached_response_outlives_a_reload(sites: Path) -> None:
    a = sites / "a.test"
    (a / "counted.lua").write_text('response.cache(600)\nresponse.write("run " .. cache.incr("runs", 1))\n')
    with run_dynlan(sites, "--no-access-log") as server:
        wait_serving(server, 1)
        assert get(server, "/counted").text == "run 1"
        assert get(server, "/counted").text == "run 1"  # from the response cache
        # The site now sets a header on every response: a cached one made before would lack it.
        (a / "dynlan.toml").write_text('[[route]]\npath = "/*"\nheaders = { set = { "x-reloaded" = "yes" } }\n')
        reply, = send_to_server(server.port, {"op": "reload"}, timeout=60)
        assert reply["ok"] is True and reply["purged"] == 1, reply
        r = get(server, "/counted")
        assert (r.text, r.headers.get("x-reloaded")) == ("run 2", "yes")


def _h2load_counts(out: str) -> dict[str, int]:
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                         r"(\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    assert requests and codes, out
    names = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    counts = dict(zip(names, map(int, requests.groups()), strict=True))
    counts.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups()), strict=True))
    return counts


def test_five_reloads_under_load_fail_no_request(sites: Path) -> None:
    a = sites / "a.test"
    configs = ["[compression]\nmin_size = 2048\n", "[compression]\nmin_size = 3072\n"]
    with run_dynlan(sites, "--workers", "2", "--no-access-log") as server:
        wait_serving(server, 2)
        # A page and a static file for a fixed time, over HTTP/1.1 keep-alive connections and over HTTP/2
        # (h2c) at once: the five reloads below happen while both run (checked at the end).
        urls = [f"{server.url}/hello", f"{server.url}/style.css"]
        common = ["-D", "10", "-H", "accept-encoding: gzip"]
        loads = {
            "http/1.1": subprocess.Popen(["h2load", "--h1", "-c", "8", *common, *urls],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            "h2c": subprocess.Popen(["h2load", "-c", "2", "-m", "8", *common, *urls],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
        }
        try:
            for i in range(5):
                (a / "dynlan.toml").write_text(configs[i % 2])
                (a / f"new{i}.lua").write_text(f"print('new {i}')\n")
                reload_by(server, "sighup", 2, 2 * i)
            reloads_done_while_loading = all(load.poll() is None for load in loads.values())
            outs = {name: load.communicate(timeout=120)[0] for name, load in loads.items()}
        finally:
            for load in loads.values():
                if load.poll() is None:
                    load.kill()
                    load.wait()
        assert reloads_done_while_loading, "the five reloads took longer than the load; nothing was measured"
        for name, out in outs.items():
            counts = _h2load_counts(out)
            print(f"{name} under five reloads: {counts}")
            assert counts["failed"] == 0 and counts["errored"] == 0 and counts["timeout"] == 0, out
            assert counts["3xx"] == counts["4xx"] == counts["5xx"] == 0, out
            assert counts["2xx"] == counts["done"] > 100, out
        assert "Traceback" not in server.log()
        assert get(server, "/new4").text == "new 4\n"


def test_certificates_renewed_in_place_are_served_after_a_reload(sites: Path, tmp_path: Path) -> None:
    import ssl

    from dynlan.server._tls import development_certificate

    first = development_certificate(tmp_path / "first")
    second = development_certificate(tmp_path / "second")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(Path(first[0]).read_bytes())
    key.write_bytes(Path(first[1]).read_bytes())

    def served() -> str:
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(
            ssl.get_server_certificate(("127.0.0.1", server.port), timeout=30)))

    def pem(path: str) -> str:
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(Path(path).read_text()))

    with run_dynlan(sites, "--no-access-log", "--tls-cert", str(cert), "--tls-key", str(key)) as server:
        wait_serving(server, 1)
        assert served() == pem(first[0])
        # Renewed under the same names, as certbot does.
        cert.write_bytes(Path(second[0]).read_bytes())
        key.write_bytes(Path(second[1]).read_bytes())
        reload_by(server, "sighup", 1, 0)
        assert served() == pem(second[0])
        # A certificate that does not go with its key is refused; the renewed one stays.
        cert.write_bytes(Path(first[0]).read_bytes())
        reply, = send_to_server(server.port, {"op": "reload"}, timeout=60)
        assert reply["ok"] is False and "server.crt" in reply["error"], reply
        assert served() == pem(second[0])
