"""Starting one confined worker process on trio.

The child gets only the pipes it is given (close_fds), a working directory,
its own session (so the whole process group can be killed), and rlimits on
CPU seconds and address space applied before it runs anything.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int | None = None
    """RLIMIT_CPU hard limit for the process's whole life (a backstop; per-request CPU is watched by the host)."""
    address_space: int | None = None
    """RLIMIT_AS in bytes."""
    max_open_files: int | None = 256


def _preexec(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        if limits.cpu_seconds is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        if limits.address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
        if limits.max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def spawn(argv: Sequence[str], *, cwd: str, env: dict[str, str] | None = None, limits: Limits = Limits(),
                stderr: int | None = subprocess.DEVNULL) -> trio.Process:
    """Start `argv` with stdin/stdout pipes and nothing else inherited."""
    return await trio.lowlevel.open_process(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=cwd,
        env=env,
        close_fds=True,
        start_new_session=True,
        preexec_fn=_preexec(limits),
    )


def kill_group(proc: trio.Process) -> None:
    """Kill the worker and anything it started (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
