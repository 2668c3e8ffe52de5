"""The watchdog: a worker whose event loop native code keeps blocked is replaced, and the server keeps answering.

Two virtual hosts on one server: `a.test` has pages that block the loop in code
no runtime can interrupt, `b.test` a hello page. Budgets are small
(`wall_time = 1`, `watchdog_grace = 1`) so that the watchdog acts within
seconds; every wait below polls against a generous deadline.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

CONFIG = """
[limits]
wall_time = 1

[server]
watchdog_grace = 1
grace_period = 5

[python]
sandbox = "none"
"""

A_PAGES = {
    # Minutes of backtracking in a pattern: the Lua runtime bounds it (its own matcher, under the budget
    # hook), so this ends at the page's budget without the watchdog.
    "backtrack.lua": 'local s = string.find(string.rep("a", 40), ".-.-.-.-.-.-.-.-.-.-b")\nprint(s)\n',
    # A synchronous in-process Python handler runs on the trio thread; sleep releases the interpreter lock.
    "sleep.py": "import time\n\n\ndef handle(request, response):\n    time.sleep(120)\n",
    # A C loop that holds the interpreter lock: the worker's own watchdog thread cannot run either.
    "hog.py": "def handle(request, response):\n    response.write(str(sum(range(10 ** 13))))\n",
    "pid.py": "import os\n\n\ndef handle(request, response):\n    response.write(str(os.getpid()))\n",
    "hello.php": "<?php echo 'php here';\n",
}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watchdog") / "sites"
    for name, body in A_PAGES.items():
        path = root / "a.test" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    (root / "b.test").mkdir()
    (root / "b.test" / "hello.lua").write_text("print('hello from b')\n")
    (root / "b.test" / "pid.py").write_text(A_PAGES["pid.py"])
    return root


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def hello_answers(server: RunningServer) -> bool:
    try:
        r = httpx.get(server.url + "/hello.lua", headers={"Host": "b.test"}, timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.text == "hello from b\n"


def alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped by whoever inherited it) is dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def block(server: RunningServer, page: str) -> None:
    """Ask for a page that blocks the worker's loop: the answer never comes, the connection ends with the worker."""
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url + "/" + page, headers={"Host": "a.test"}, timeout=60)


def test_a_runtime_that_bounds_its_long_calls_needs_no_watchdog(sites: Path) -> None:
    with run_dynlan(sites, config=CONFIG) as server:
        worker = server.worker_pid()
        started = time.monotonic()
        r = httpx.get(server.url + "/backtrack.lua", headers={"Host": "a.test"}, timeout=60)
        assert r.status_code == 503, r.text
        assert time.monotonic() - started < 30
        assert hello_answers(server)
        assert server.worker_pid() == worker
        assert "was ended by its watchdog" not in server.log()
        assert server.stop() == 0


@pytest.mark.parametrize("page", ["sleep.py"])
def test_a_worker_blocked_in_native_code_is_replaced(sites: Path, page: str) -> None:
    with run_dynlan(sites, config=CONFIG) as server:
        assert hello_answers(server)
        # php-cgi runs in a session of its own: it must not outlive the worker that started it.
        r = httpx.get(server.url + "/hello.php", headers={"Host": "a.test"}, timeout=30)
        assert r.status_code == 200 and r.text == "php here"
        worker = server.worker_pid()
        children = server_children(worker)
        assert children, "php-cgi should run as a child of the worker"
        started = time.monotonic()
        block(server, page)
        # Ended by the watchdog at wall_time + watchdog_grace (2 s), not when the page would have ended.
        assert time.monotonic() - started < 30
        wait_for(lambda: hello_answers(server), "b.test's hello answers again")
        wait_for(lambda: "is serving" in server.log(), "the supervisor logs the replacement")
        log = server.log()
        assert f"in flight: site a.test page {page} (request" in log, log
        assert "was ended by its watchdog" in log and "worker 0 replaced" in log, log
        assert server.worker_pid() != worker
        wait_for(lambda: not any(alive(pid) for pid in children), "the stuck worker's php-cgi processes are gone")
        assert server.stop() == 0


def server_children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(p) for p in f.read().split())
    return out


def test_native_code_holding_the_interpreter_lock_is_killed_by_the_supervisor(sites: Path) -> None:
    with run_dynlan(sites, config=CONFIG) as server:
        assert hello_answers(server)
        worker = server.worker_pid()
        block(server, "hog.py")
        wait_for(lambda: hello_answers(server), "b.test's hello answers again")
        log = server.log()
        assert "its watchdog did not end it" in log and "was killed" in log, log
        # The stacks the worker prints on SIGUSR1 name the page's file.
        assert f"{os.sep}a.test{os.sep}hog.py" in log, log
        assert server.worker_pid() != worker
        assert server.stop() == 0


def pid_of(client: httpx.Client) -> int:
    r = client.get("/pid.py", headers={"Host": "b.test"})
    assert r.status_code == 200
    return int(r.text)


def test_the_other_worker_answers_while_one_is_stuck(sites: Path) -> None:
    with run_dynlan(sites, "--workers", "2", config=CONFIG) as server:
        wait_for(lambda: len(server.worker_pids()) == 2, "two workers")
        # One keep-alive connection per client; the kernel spreads new connections over the two workers.
        clients: dict[int, httpx.Client] = {}
        spare: list[httpx.Client] = []
        try:
            for _ in range(64):
                client = httpx.Client(base_url=server.url, timeout=10, limits=httpx.Limits(max_connections=1))
                pid = pid_of(client)
                if pid in clients:
                    spare.append(client)
                else:
                    clients[pid] = client
                if len(clients) == 2:
                    break
            assert len(clients) == 2, "no connection reached the second worker"
            (stuck_pid, attacker), (other_pid, victim) = clients.items()

            def attack() -> None:
                with pytest.raises(httpx.HTTPError):
                    attacker.get("/sleep.py", headers={"Host": "a.test"}, timeout=60)

            thread = threading.Thread(target=attack)
            started = time.monotonic()
            thread.start()
            latencies: list[float] = []
            deadline = started + 60
            while thread.is_alive() and time.monotonic() < deadline:
                t0 = time.monotonic()
                r = victim.get("/hello.lua", headers={"Host": "b.test"}, timeout=5)
                latencies.append(time.monotonic() - t0)
                assert r.status_code == 200 and r.text == "hello from b\n"
                time.sleep(0.02)
            thread.join(10)
            blocked_for = time.monotonic() - started
            assert not thread.is_alive()
            # The watchdog's limit is 2 s: the hellos above ran while the other worker was stuck.
            assert blocked_for > 1.5 and len(latencies) >= 5, (blocked_for, latencies)
            assert max(latencies) < 2, latencies
            # Same connection, same worker: the other worker never stopped.
            assert pid_of(victim) == other_pid
            wait_for(lambda: "is serving" in server.log(), "the supervisor logs the replacement")
            log = server.log()
            assert "in flight: site a.test page sleep.py (request" in log, log
            wait_for(lambda: len(server.worker_pids()) == 2 and stuck_pid not in server.worker_pids(),
                     "the stuck worker replaced")
            assert other_pid in server.worker_pids()
        finally:
            for client in [*clients.values(), *spare]:
                client.close()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
