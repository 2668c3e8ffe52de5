"""`spawn` confines a worker before it is given anything to run, whether its limits are set in the forked child
or, for a program that waits for work (php-cgi), from the server once it has started."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from dynlan.sandboxes import Limits, spawn
from dynlan.sandboxes._process import forget, kill_group, tree_size

WAITER = [sys.executable, "-c", "import sys; sys.stdin.read()"]
LIMITS = Limits(address_space=3 << 30, max_open_files=77, cpu_seconds=123, max_processes=5)


def _limits(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/limits") as f:
        return {line[:26].strip(): line[26:47].strip() for line in f.readlines()[1:]}


@pytest.mark.parametrize("waits_for_work", [False, True])
async def test_a_worker_is_confined_when_spawn_returns(waits_for_work: bool) -> None:
    proc = await spawn(WAITER, cwd="/", limits=LIMITS, waits_for_work=waits_for_work)
    try:
        limits = _limits(proc.pid)
        assert limits["Max address space"] == str(3 << 30)
        assert limits["Max open files"] == "77"
        assert limits["Max cpu time"] == "123"
        assert limits["Max core file size"] == "0"
        size = tree_size(proc.pid)
        if size is not None:
            assert size == 1  # in a pids cgroup of its own (capped at max_processes)
            with open(f"/sys/fs/cgroup/pids/dynlan-{proc.pid}/pids.max") as f:
                assert f.read().strip() == "5"
        else:
            assert limits["Max processes"] == "5"  # no pids controller to write: RLIMIT_NPROC
        assert os.getsid(proc.pid) == proc.pid  # a session of its own, for a kill of its whole group
    finally:
        kill_group(proc)
        await proc.wait()
        forget(proc.pid)


async def test_a_worker_that_waits_for_work_is_started_without_forking_the_server() -> None:
    # vfork shares the server's memory until the child executes: no copy of a large server's page tables.
    ballast = [bytearray(1 << 20) for _ in range(256)]  # the size of a busy server, touched
    counts: dict[bool, int] = {}
    for waits in (False, True):
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(10):
            proc = await spawn([sys.executable, "-c", "pass"], cwd="/", stdin=subprocess.DEVNULL,
                               waits_for_work=waits)
            await proc.wait()
            forget(proc.pid)
        after = resource.getrusage(resource.RUSAGE_SELF)
        counts[waits] = after.ru_minflt - before.ru_minflt
    del ballast
    # A fork makes every page the parent writes afterwards fault to be copied; vfork copies nothing.
    assert counts[True] * 3 < counts[False], counts
