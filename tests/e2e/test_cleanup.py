"""Nothing is left behind: a worker killed with SIGKILL, or the server stopped by a signal, leaves no php-cgi or
sandboxed Python process running and no private temporary folder (`dynlan-php-*`, `dynlan-python-*`).

The server runs with a temporary folder of its own (TMPDIR), so what is left in it is the server's alone, and the
processes checked are those found below the server before the fault, each known by its pid and start time (a pid
reused by another process is not taken for a survivor).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.sandboxes import descendants
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

CONFIG = '[python]\nsandbox = "process"\nworkers = 2\n\n[php]\nprocesses = 2\n'
DEADLINE = 30.0
"""Seconds a cleanup may take on a busy machine (it takes a fraction of a second on an idle one)."""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "php.php").write_text("<?php echo 'php ', getmypid();\n")
    (root / "py.py").write_text("import os\n\ndef handle(request, response):\n    response.write(f'py {os.getpid()}')\n")
    return root


@pytest.fixture
def tmpdir_env() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="dynlan-cleanup-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == b"Z":
        return None  # ended; only its exit status waits to be collected
    return fields[19].decode()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _runtime_processes(root: int) -> dict[int, str]:
    """php-cgi and sandboxed Python processes below `root`, each with its start time."""
    found: dict[int, str] = {}
    for pid in descendants(root):
        line = _cmdline(pid)
        if "php-cgi" in line or "dynlan.runtimes.python._worker" in line:
            started = _start_time(pid)
            if started is not None:
                found[pid] = started
    return found


def _alive(processes: dict[int, str]) -> dict[int, str]:
    return {pid: started for pid, started in processes.items() if _start_time(pid) == started}


def _cgroups(processes: dict[int, str]) -> list[str]:
    """The pids cgroups made for `processes` that are still there (`[python] max_processes` is one, as root)."""
    return [group for pid in processes if os.path.exists(group := f"/sys/fs/cgroup/pids/dynlan-{pid}")]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(("dynlan-php-", "dynlan-python-")))


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:g} s: {what}")
        time.sleep(0.05)


def _warm(server: RunningServer) -> dict[int, str]:
    """Run both pages (starting php-cgi and the Python workers) and return the runtime processes found."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(4):
            assert client.get("/php").text.startswith("php ")
            assert client.get("/py").text.startswith("py ")
    processes = _runtime_processes(server.proc.pid)
    lines = [_cmdline(pid) for pid in processes]
    assert any("php-cgi" in line for line in lines), lines
    assert any("python._worker" in line for line in lines), lines
    return processes


def test_a_worker_killed_with_sigkill_leaves_nothing(site: Path, tmpdir_env: Path) -> None:
    with run_dynlan(site, "--no-access-log", config=CONFIG, env={"TMPDIR": str(tmpdir_env)}) as server:
        worker = server.worker_pid()
        processes = _warm(server)
        assert _leftovers(tmpdir_env), "the runtimes made their private folders in TMPDIR"
        os.kill(worker, signal.SIGKILL)
        _wait_for(lambda: not _alive(processes), f"php-cgi and Python workers end: {_alive(processes)}")
        _wait_for(lambda: not _cgroups(processes), f"their cgroups are removed: {_cgroups(processes)}")
        _wait_for(lambda: not any(f"-{worker}-" in name for name in _leftovers(tmpdir_env)),
                  f"the killed worker's folders are removed: {_leftovers(tmpdir_env)}")
        # The replacement serves both languages again, from processes and folders of its own.
        _wait_for(lambda: server.worker_pids() not in ([], [worker]), "a new worker starts")
        again = _warm(server)
        assert not set(again) & set(processes)
    assert server.proc.returncode == 0
    assert _leftovers(tmpdir_env) == []
    assert not _alive(again)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGQUIT", "SIGKILL"])
def test_the_server_stopped_by_a_signal_leaves_nothing(site: Path, tmpdir_env: Path, sig: int) -> None:
    with run_dynlan(site, "--no-access-log", config=CONFIG, env={"TMPDIR": str(tmpdir_env)}) as server:
        worker = server.worker_pid()
        processes = _warm(server)
        assert _leftovers(tmpdir_env)
        os.kill(server.proc.pid, sig)
        server.proc.wait(DEADLINE)
        # SIGKILL ends the supervisor alone: its worker notices, and stops as it would for SIGTERM.
        _wait_for(lambda: _start_time(worker) is None, "the worker ends")
        _wait_for(lambda: not _alive(processes), f"php-cgi and Python workers end: {_alive(processes)}")
        _wait_for(lambda: _leftovers(tmpdir_env) == [], f"the folders are removed: {_leftovers(tmpdir_env)}")
        _wait_for(lambda: not _cgroups(processes), f"their cgroups are removed: {_cgroups(processes)}")
    if sig != signal.SIGKILL:
        assert server.proc.returncode == 0, server.log()


def test_folders_of_a_server_killed_whole_go_with_the_next_server(site: Path, tmpdir_env: Path) -> None:
    # The supervisor and its worker killed at once (the out-of-memory killer, `kill -9` of every dynlan process)
    # run no clean-up anywhere: the next server to make a private folder in the same TMPDIR removes what they left.
    with run_dynlan(site, "--no-access-log", config=CONFIG, env={"TMPDIR": str(tmpdir_env)}) as server:
        worker = server.worker_pid()
        processes = _warm(server)
        for pid in (worker, server.proc.pid):
            os.kill(pid, signal.SIGSTOP)  # neither sees the other die
        for pid in (worker, server.proc.pid):
            os.kill(pid, signal.SIGKILL)
        server.proc.wait(DEADLINE)
        _wait_for(lambda: _start_time(worker) is None, "the worker ends")
        left = _leftovers(tmpdir_env)
        assert left and all(f"-{worker}-" in name for name in left)
        # The runtimes' processes, in sessions of their own, outlive the group: this test stops them.
        for pid in _alive(processes):
            os.kill(pid, signal.SIGKILL)
    foreign = tmpdir_env / f"dynlan-php-{os.getpid()}-live"
    foreign.mkdir()  # a folder of a process still running (this one) stays
    with run_dynlan(site, "--no-access-log", config=CONFIG, env={"TMPDIR": str(tmpdir_env)}) as server:
        _warm(server)
        now = _leftovers(tmpdir_env)
        assert not set(left) & set(now) and foreign.name in now
    foreign.rmdir()
    assert _leftovers(tmpdir_env) == []
