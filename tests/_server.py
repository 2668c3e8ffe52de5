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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


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

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


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


def p99_beside_spinners(site: Path, hello: str, expected: str) -> tuple[float, int, list[httpx.Response]]:
    """Ask for `hello` one request after another for 3 s while two clients ask for `/spin`, a page
    that computes until its wall-time budget (4 s) stops it. Returns the p99 in seconds, the number
    of requests measured and the spinners' responses."""
    config = "[limits]\nwall_time = 4.0\ninstructions = 100000000000\n"
    with run_dynlan(site, "--no-access-log", config=config) as server:
        with httpx.Client(base_url=server.url) as c:
            for _ in range(50):
                c.get(hello)  # warm up
        spins: list[httpx.Response] = []

        def spin() -> None:
            with httpx.Client(base_url=server.url, timeout=20) as c:
                spins.append(c.get("/spin"))

        spinners = [threading.Thread(target=spin) for _ in range(2)]
        for t in spinners:
            t.start()
        time.sleep(0.3)
        latencies: list[float] = []
        with httpx.Client(base_url=server.url, timeout=10) as c:
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                r = c.get(hello)
                latencies.append(time.perf_counter() - started)
                assert r.status_code == 200 and r.text == expected
        for t in spinners:
            t.join(20)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"{hello} p99 {p99 * 1000:.1f} ms over {len(latencies)} requests")
    return p99, len(latencies), spins
