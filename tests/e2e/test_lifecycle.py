"""The `dynlan` command: start-up errors, virtual hosts, graceful shutdown, workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._server import free_port, run_dynlan, wait_port

pytestmark = pytest.mark.e2e


def dynlan(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dynlan", *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    p = dynlan("serve", str(tmp_path / "nope"))
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "no such folder" in p.stderr
    assert "Traceback" not in p.stderr


def test_port_in_use_is_one_line_and_exit_2(site: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = dynlan("serve", str(site), "--port", str(port))
    assert p.returncode == 2 and "already in use" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nprot = 1\n", "unknown key 'server.prot'"),
        ("[http]\nheader_timeout = 'soon'\n", "http.header_timeout"),
        ("[lua]\nthreds = 2\n", "lua.threds"),
        ("not toml at all [", "invalid TOML"),
        ("[server]\nmax_connections = 0\n", "server.max_connections: must be at least 1"),
        ("[server]\ngrace_period = -1.0\n", "server.grace_period: must be 0 or more"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(site: Path, tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    p = dynlan("serve", str(site), "--port", str(free_port()), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[wren]\nslice = 10\n", "wren.slice must be an integer of at least 1000"),
        ("[wren]\nslices = 5000\n", "unknown key 'wren.slices'"),
    ],
)
def test_bad_wren_config_is_one_line_and_exit_2(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "hello.wren").write_text('System.print("hi")')
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    p = dynlan("serve", str(tmp_path / "site"), "--port", str(free_port()), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr


def test_bad_site_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("x")
    (tmp_path / "dynlan.toml").write_text("[static]\nlistin = true\n")
    p = dynlan("serve", str(tmp_path), "--port", str(free_port()))
    assert p.returncode == 2 and "dynlan.toml" in p.stderr and "static.listin" in p.stderr


def test_two_pages_on_one_url_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "hello.lua").write_text("print(1)")
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "[id].lua").write_text("print(1)")
    (tmp_path / "users" / "[name].lua").write_text("print(2)")
    p = dynlan("serve", str(tmp_path), "--port", str(free_port()))
    assert p.returncode == 2
    assert "[id].lua" in p.stderr and "[name].lua" in p.stderr


def test_virtual_hosts(tmp_path: Path) -> None:
    for name in ("alpha.test", "beta.test"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(f"site {name}\n")
    with run_dynlan(tmp_path) as server:
        assert httpx.get(server.url + "/", headers={"Host": "beta.test"}).text == "site beta.test\n"
        assert httpx.get(server.url + "/", headers={"Host": "alpha.test:8080"}).text == "site alpha.test\n"
        # Unknown hosts get the default (first) site.
        assert httpx.get(server.url + "/", headers={"Host": "other"}).text == "site alpha.test\n"
    cfg = "[server]\ndefault_site = 'beta.test'\n"
    with run_dynlan(tmp_path, config=cfg) as server:
        assert httpx.get(server.url + "/", headers={"Host": "other"}).text == "site beta.test\n"


def test_prints_the_url(site: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dynlan", "serve", str(site), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    with proc.stdout:
        try:
            line = proc.stdout.readline()
            assert f"http://127.0.0.1:{port}/" in line
        finally:
            proc.terminate()
            assert proc.wait(10) == 0


def test_graceful_shutdown_finishes_in_flight_request(site: Path) -> None:
    with run_dynlan(site, config="[server]\ngrace_period = 10.0\n") as server:
        result: dict[str, object] = {}

        def slow_request() -> None:
            try:
                r = httpx.get(server.url + "/slow?s=3", timeout=30)
                result["status"], result["body"] = r.status_code, r.text
            except Exception as exc:  # recorded and asserted below
                result["error"] = exc

        # An idle keep-alive connection that must be closed on shutdown.
        idle = socket.create_connection(("127.0.0.1", server.port))
        idle.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.recv(65536)
        t = threading.Thread(target=slow_request)
        t.start()
        server.wait_pages_running()
        server.proc.send_signal(signal.SIGTERM)
        assert t.is_alive(), "the request was over before the signal: nothing was in flight"
        idle.settimeout(5)
        assert idle.recv(65536) == b""  # closed without waiting for the grace period
        idle.close()
        t.join(30)
        assert result.get("status") == 200, result
        assert result["body"] == "finished\n"
        assert server.proc.wait(10) == 0
        # Not accepting any more.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_second_signal_exits_at_once(site: Path) -> None:
    with run_dynlan(site, config="[server]\ngrace_period = 30.0\n") as server:
        def doomed_request() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(server.url + "/slow?s=20", timeout=30)

        t = threading.Thread(target=doomed_request, daemon=True)
        t.start()
        server.wait_pages_running()
        server.proc.send_signal(signal.SIGINT)
        # The first signal has been taken: the supervisor passed it on, and the worker began its grace period.
        server.wait_log("shutting down: finishing in-flight requests")
        started = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(20)
        # Not after the page (20 s) or the grace period (30 s).
        assert time.monotonic() - started < 10


def test_new_connections_are_refused_at_once_during_the_grace_period(site: Path) -> None:
    with run_dynlan(site, "--no-access-log", config="[server]\ngrace_period = 10.0\n") as server:
        result: dict[str, object] = {}

        def slow_request() -> None:
            try:
                r = httpx.get(server.url + "/slow?s=3", timeout=30)
                result["status"], result["body"] = r.status_code, r.text
            except Exception as exc:  # recorded and asserted below
                result["error"] = exc

        t = threading.Thread(target=slow_request)
        t.start()
        server.wait_pages_running()
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:
            # Until the shutdown has begun: a connection made before is still taken and served.
            started = time.monotonic()
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=20).close()
            except (ConnectionRefusedError, ConnectionResetError):
                # Refused; or reset, when the connection was in the backlog as the listener closed.
                refused_in = time.monotonic() - started
                break
            assert time.monotonic() < deadline, "connections were never refused"
        assert t.is_alive(), "refused only once the request in flight was over"
        # At once: not after the client's own timeout (20 s here), as when nobody accepts from the backlog.
        assert refused_in < 5.0
        t.join(30)
        assert result.get("status") == 200 and result["body"] == "finished\n", (result, server.log())
        assert server.proc.wait(20) == 0


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_a_request_running_past_the_grace_period_gets_503(site: Path, http2: bool) -> None:
    with run_dynlan(site, "--no-access-log", config="[server]\ngrace_period = 1.0\n") as server:
        result: dict[str, object] = {}

        def doomed_request() -> None:
            # curl: httpx (httpcore) fails a stream in flight when a graceful GOAWAY comes, which RFC 9113
            # §6.8 lets the server finish.
            out = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                                  "--http2-prior-knowledge" if http2 else "--http1.1", server.url + "/slow?s=8"],
                                 capture_output=True, text=True, check=False)
            result["out"], result["err"] = out.stdout, out.stderr

        t = threading.Thread(target=doomed_request)
        t.start()
        server.wait_pages_running()
        stopped = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        t.join(30)
        answered_in = time.monotonic() - stopped
        assert result.get("out") == ("503 2" if http2 else "503 1.1"), result
        # The page would have run 8 s: it was cut short at the end of the 1 s grace period.
        assert answered_in < 7
        assert server.proc.wait(20) == 0
        assert "grace period over: 1 request still running" in server.log()


def test_a_request_running_past_the_grace_period_gets_503_over_http3(tmp_path: Path) -> None:
    import asyncio

    from aioquic.asyncio.client import connect

    from dynlan.server._tls import development_certificate
    from tests._h3client import H3Client, client_configuration

    cert = development_certificate(tmp_path / "tls")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "slow.lua").write_text("sleep(8)\nprint('finished')\n")
    with run_dynlan(tmp_path / "site", "--no-access-log", "--tls-cert", cert[0], "--tls-key", cert[1], "--http3",
                    config="[server]\ngrace_period = 1.0\n") as server:

        async def scenario() -> tuple[int, float]:
            async with connect("127.0.0.1", server.port, configuration=client_configuration(cert[0]),
                               create_protocol=H3Client) as client:
                assert isinstance(client, H3Client)
                slow = asyncio.ensure_future(client.request("GET", "localhost", "/slow"))
                await asyncio.to_thread(server.wait_pages_running)
                stopped = time.monotonic()
                server.proc.terminate()
                r = await slow
                return r.status, time.monotonic() - stopped

        status, answered_in = asyncio.run(asyncio.wait_for(scenario(), 30))
        assert status == 503 and answered_in < 7
        assert server.proc.wait(20) == 0


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
def test_a_response_started_before_the_grace_period_ended_is_broken_off(tmp_path: Path, http2: bool) -> None:
    # Never ended as if it were complete: the client must see that it is not.
    (tmp_path / "stream.lua").write_text("response.write('part\\n')\nresponse.flush()\nsleep(8)\nprint('end')\n")
    with run_dynlan(tmp_path, "--no-access-log", config="[server]\ngrace_period = 1.0\n") as server:
        result: dict[str, object] = {}

        def doomed_request() -> None:
            out = subprocess.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge" if http2 else "--http1.1",
                                  server.url + "/stream"], capture_output=True, text=True, check=False)
            result["code"], result["out"], result["err"] = out.returncode, out.stdout, out.stderr

        t = threading.Thread(target=doomed_request)
        t.start()
        server.wait_pages_running()
        server.proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert result.get("out") == "part\n", result
        # curl 18: a partial transfer (HTTP/1.1: the chunked body never ended; HTTP/2: the stream was reset).
        assert result["code"] in (18, 92), result
        assert server.proc.wait(20) == 0


def test_a_worker_stopped_alone_is_replaced_and_connections_wait_for_it(site: Path) -> None:
    # Stopped on its own, a worker is replaced by the supervisor in its slot: it keeps its sockets listening
    # through its shutdown, so what connects meanwhile waits in the backlog for the replacement.
    with run_dynlan(site, "--no-access-log", config="[server]\ngrace_period = 10.0\n") as server:
        worker = server.worker_pid()
        assert httpx.get(server.url + "/robots.txt", timeout=30).status_code == 200
        os.kill(worker, signal.SIGTERM)
        for _ in range(5):
            assert httpx.get(server.url + "/robots.txt", timeout=30).status_code == 200
        assert server.worker_pid() != worker
        assert server.proc.poll() is None


def _worker_pids(supervisor_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def test_workers_share_the_port_and_are_restarted(site: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dynlan", "serve", str(site), "--port", str(port), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, proc)
        deadline = time.monotonic() + 20
        while len(_worker_pids(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        for _ in range(20):
            assert httpx.get(f"http://127.0.0.1:{port}/robots.txt").status_code == 200
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = _worker_pids(proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.1)
        assert len(_worker_pids(proc.pid)) == 2 and workers[0] not in _worker_pids(proc.pid)
        for _ in range(20):
            assert httpx.get(f"http://127.0.0.1:{port}/robots.txt").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_connection_cap_queues_instead_of_dropping(site: Path) -> None:
    with run_dynlan(site, config="[server]\nmax_connections = 2\n[http]\nkeepalive_timeout = 30.0\n") as server:
        held = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(s)  # both stay open, idle: the server is at its cap
        waiting = socket.create_connection(("127.0.0.1", server.port))
        waiting.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(1.0)
        with pytest.raises(TimeoutError):
            waiting.recv(65536)  # accepted by the kernel, not yet by the server
        held.pop().close()
        waiting.settimeout(5)
        assert waiting.recv(65536).startswith(b"HTTP/1.1 200")  # served once a slot freed
        waiting.close()
        for s in held:
            s.close()


def test_out_of_file_descriptors_the_server_waits_and_serves_again(site: Path) -> None:
    """accept() failing with EMFILE is a spell to wait out (the connections in the backlog are taken once
    descriptors free up), not the end of the server."""
    with run_dynlan(site, max_files=100) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(150)]
        deadline = time.monotonic() + 30
        while "cannot accept connections" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert "Too many open files" in server.log()
        waiting = held.pop()
        for s in held:
            s.close()
        waiting.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(20)
        assert waiting.recv(65536).startswith(b"HTTP/1.1 200")  # taken from the backlog once files were free
        waiting.close()
        assert httpx.get(server.url + "/robots.txt", timeout=20).status_code == 200
        assert "accepting connections again" in server.log()
        assert server.stop() == 0


def test_ctrl_c_in_a_terminal_stops_gracefully(site: Path) -> None:
    # A terminal's Ctrl-C signals the whole foreground process group. Workers have a group of their own, so
    # they are stopped once, by the supervisor, and finish what they serve.
    with run_dynlan(site, "--workers", "2", config="[server]\ngrace_period = 10.0\n") as server:
        result: dict[str, object] = {}

        def slow_request() -> None:
            try:
                r = httpx.get(server.url + "/slow?s=3", timeout=30)
                result["status"], result["body"] = r.status_code, r.text
            except Exception as exc:  # recorded and asserted below
                result["error"] = exc

        t = threading.Thread(target=slow_request)
        t.start()
        # Signalled once the page runs: before, under load, the request may not have reached a worker yet.
        server.wait_pages_running()
        os.killpg(server.proc.pid, signal.SIGINT)
        assert t.is_alive(), "the request was over before the signal: nothing was in flight"
        t.join(30)
        assert result.get("status") == 200 and result["body"] == "finished\n", (result, server.log())
        assert server.proc.wait(20) == 0


def test_port_0_serves_on_the_port_the_banner_names(site: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dynlan", "serve", str(site), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1].strip("/\n"))
        assert port > 0
        assert httpx.get(f"http://127.0.0.1:{port}/robots.txt", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_replaced_worker_inherits_the_waiting_connections(site: Path) -> None:
    # The supervisor keeps the listening socket: while no worker runs, connections wait in its backlog
    # (instead of being refused) and the replacement answers them.
    with run_dynlan(site) as server:
        worker = server.worker_pid()
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _running(worker)
        r = httpx.get(server.url + "/robots.txt", timeout=30)
        assert r.status_code == 200
        assert server.worker_pid() != worker
        assert "worker 0 (pid" in server.log()


def test_workers_stop_when_the_supervisor_is_killed(site: Path) -> None:
    with run_dynlan(site, "--workers", "2") as server:
        deadline = time.monotonic() + 30
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = server.worker_pids()
        assert len(workers) == 2
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_watchdog_grace_must_be_positive(site: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server]\nwatchdog_grace = 0\n")
    p = dynlan("serve", str(site), "--port", str(free_port()), "--config", str(cfg))
    assert p.returncode == 2 and "server.watchdog_grace" in p.stderr and "Traceback" not in p.stderr
