"""Start a real `dynlan serve` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from dynlan.server._control import send_to_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The worker processes serving now: children of `proc`, the supervisor."""
        pids: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.proc.pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/task/{task}/children") as f:
                    pids.extend(int(p) for p in f.read().split())
        return sorted(pids)

    def worker_pid(self, timeout: float = 30) -> int:
        """The pid of the only worker process (what serves, and what a memory bound is about)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) == 1:
                return pids[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected one worker process, found {pids}")
            time.sleep(0.05)

    def pages_running(self) -> int:
        """The pages the server's processes run now (each answers on its control socket)."""
        return sum(int(reply.get("pages_running", 0)) for reply in send_to_server(self.port, {"op": "stats"}, timeout=30))

    def wait_pages_running(self, count: int = 1, timeout: float = 60) -> None:
        """Until the server runs at least `count` pages: a request sent is being served, not still on its way."""
        until(lambda: self.pages_running() >= count, timeout,
              lambda: f"{self.pages_running()} page(s) running, expected {count}, after {timeout}s:\n{self.log()[-3000:]}")

    def wait_accepted(self, client: socket.socket, timeout: float = 60) -> None:
        """Until the server has accept()ed the connection of `client` (not merely the kernel, in the backlog).

        /proc/net/tcp gives a connection in the listen backlog the inode 0: it has no file yet. Once accepted,
        its inode is that of the server's socket.
        """
        local = client.getsockname()[1]

        def accepted() -> bool:
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    ours = int(fields[1].rsplit(":", 1)[1], 16) == self.port
                    theirs = int(fields[2].rsplit(":", 1)[1], 16) == local
                    if ours and theirs and fields[9] != "0":
                        return True
            return False

        until(accepted, timeout, lambda: f"the server did not accept the connection from port {local} within {timeout}s")

    def wait_log(self, needle: str, count: int = 1, timeout: float = 60) -> str:
        """The server's log once `needle` is in it `count` times (the server writes each line as it logs it; the
        port takes connections before the banner is printed; the access log is written in batches)."""
        until(lambda: self.log().count(needle) >= count, timeout,
              lambda: f"{needle!r} not logged {count} times within {timeout}s:\n{self.log()[-3000:]}")
        return self.log()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def until(check: Callable[[], bool], timeout: float, failure: Callable[[], str], every: float = 0.02) -> None:
    """Until `check()` holds; TimeoutError with `failure()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(failure())
        time.sleep(every)


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dynlan exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"dynlan did not listen on {port} within {timeout}s")


@contextlib.contextmanager
def run_dynlan(
    site: str | Path, *args: str, config: str | None = None, port: int | None = None, env: dict[str, str] | None = None,
    max_files: int | None = None,
) -> Iterator[RunningServer]:
    """`max_files`: the server's limit on open file descriptors (RLIMIT_NOFILE), its workers' too."""
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="dynlan-test-"))
    cmd = [sys.executable, "-m", "dynlan", "serve", str(site), "--port", str(port), *args]
    if config is not None:
        cfg = tmp / "config.toml"
        cfg.write_text(config)
        cmd += ["--config", str(cfg)]
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **env} if env else None,
                                preexec_fn=None if max_files is None else lambda: _limit_files(max_files))
    server = RunningServer(proc, port, log_path)
    try:
        wait_port(port, proc)
        yield server
    finally:
        server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _limit_files(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def curl(*args: str, timeout: int = 30) -> str:
    """Run curl quietly (failing on transport errors) and return what it printed."""
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True, text=True,
                          check=True).stdout


@dataclass
class SpinnerRun:
    """What `p99_beside_spinners` measured."""

    p99: float
    """The p99 of the requests beside the spinners, in seconds."""
    measured: int
    """How many requests were made beside the spinners (in 3 s)."""
    spins: list[httpx.Response]
    quiet_p99: float
    """The p99 of the same requests just before, with nothing spinning: what this machine gives now."""
    quiet_per_second: float

    def latency_budget(self) -> float:
        """100 ms, or ten times what the machine gives without spinners if it is that busy (a spinner that held
        the worker would take its whole 4 s budget)."""
        return max(0.100, 10 * self.quiet_p99)

    def enough_requests(self) -> float:
        """More than 100 requests in the 3 s, or three tenths of what the machine answers without spinners if less."""
        return min(100.0, 0.3 * self.quiet_per_second)


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def _ask_for(client: httpx.Client, path: str, expected: str, seconds: float) -> list[float]:
    """Ask for `path` one request after another for `seconds`; the latencies."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        r = client.get(path)
        latencies.append(time.perf_counter() - started)
        assert r.status_code == 200 and r.text == expected
    return latencies


def p99_beside_spinners(site: Path, hello: str, expected: str) -> SpinnerRun:
    """Ask for `hello` one request after another for 1 s, then for 3 s while two clients ask for `/spin`, a page
    that computes until its wall-time budget (4 s) stops it."""
    config = "[limits]\nwall_time = 4.0\ninstructions = 100000000000\n"
    with run_dynlan(site, "--no-access-log", config=config) as server:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(50):
                c.get(hello)  # warm up
            quiet = _ask_for(c, hello, expected, 1.0)
        spins: list[httpx.Response] = []

        def spin() -> None:
            with httpx.Client(base_url=server.url, timeout=20) as c:
                spins.append(c.get("/spin"))

        spinners = [threading.Thread(target=spin) for _ in range(2)]
        for t in spinners:
            t.start()
        server.wait_pages_running(2)  # both spin from now on, for their whole 4 s: longer than the 3 s measured
        with httpx.Client(base_url=server.url, timeout=10) as c:
            latencies = _ask_for(c, hello, expected, 3.0)
        for t in spinners:
            t.join(20)
    run = SpinnerRun(_p99(latencies), len(latencies), spins, _p99(quiet), len(quiet) / 1.0)
    print(f"{hello} p99 {run.p99 * 1000:.1f} ms over {run.measured} requests; without spinners "
          f"p99 {run.quiet_p99 * 1000:.1f} ms, {run.quiet_per_second:.0f} requests a second")
    return run
